"""The ack every button shares. Bolt runs the app with process_before_response, so a listener's
own code runs before the HTTP answer; button work that calls Slack back is registered as a lazy
listener behind this ack, and runs on Bolt's thread pool after Slack has its 200."""

from slack_bolt import Ack


def ack_only(ack: Ack) -> None:
    ack()
