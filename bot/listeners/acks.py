"""What every button shares. Bolt runs the app with process_before_response, so a listener's
own code runs before the HTTP answer; button work that calls Slack back is registered as a lazy
listener behind `ack_only`, and runs on Bolt's thread pool after Slack has its 200."""

from typing import Any

from slack_bolt import Ack


def ack_only(ack: Ack) -> None:
    ack()


def button_value(body: dict[str, Any]) -> str:
    """The clicked button's value, bounded: it comes back from the client, so it is input."""
    actions = body.get("actions") or [{}]
    return str((actions[0] or {}).get("value") or "")[:300]
