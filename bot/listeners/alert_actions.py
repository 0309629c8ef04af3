"""Buttons on real-time alerts: Acknowledge, the Snooze menu, Show examples (and the docs link).

Each button's value is the alert group key; a Snooze menu option's value is the duration and
the key (jobs.views.alerts.snooze_value), or "unsnooze" and the key. The work is done by plain
functions over the store (jobs.alerts.acknowledge / snooze / unsnooze / examples); the Bolt
handlers only ack, call them, and answer: Acknowledge and Snooze re-render the alert in place
(through the interaction's response_url), Show examples posts an ephemeral list of message SIDs
to whoever clicked. A "Snooze 24 h" button on a post made before the menu still works: it
snoozes for the rules' `alerts.snooze`.

The docs link button is acked by card_actions, which owns OPEN_DOCS for every card.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.emit.slack import blocks
from bot.listeners.acks import ack_only, button_value
from bot.listeners.deps import ListenerDeps
from jobs import alerts
from jobs.rules import Rules
from jobs.views.actions import ActionId
from jobs.views.alerts import alert_view, examples_view, read_snooze_value

log = logging.getLogger("smserror.alert_actions")

GONE = "This alert is no longer in the store."
NOT_OFFERED = "That snooze is not offered any more: pick another one from the menu."


@dataclass
class AlertActions:
    """What the alert buttons do, without Slack: each returns (blocks, text) to show."""

    store: Callable[[], sqlite_utils.Database]
    rules: Rules
    clock: Callable[[], float] = field(default=time.time)

    def acknowledge(self, key: str, user_id: str) -> tuple[list, str] | None:
        report = alerts.acknowledge(self.store(), key, user_id, int(self.clock()), self.rules)
        return blocks(alert_view(report)) if report else None

    def snooze(self, key: str, seconds: int | None, user_id: str | None) -> tuple[list, str] | None:
        """Snooze for `seconds` (one of the menu's), or unsnooze (None)."""
        if seconds is None:
            report = alerts.unsnooze(self.store(), key, int(self.clock()), self.rules)
        else:
            report = alerts.snooze(self.store(), key, int(self.clock()), seconds, self.rules, by=user_id)
        return blocks(alert_view(report)) if report else None

    def examples(self, key: str) -> tuple[list, str]:
        db = self.store()
        group = alerts.alert_groups.get(db, key)
        if group is None:
            return blocks(examples_view(None, []))
        report = alerts.group_report(db, group, int(self.clock()), rules=self.rules)
        return blocks(examples_view(report, alerts.examples(db, key, self.rules.examples)))


def _user(body: dict[str, Any]) -> str:
    return str((body.get("user") or {}).get("id") or "")


def _replace(respond: Respond, rendered: tuple[list, str] | None) -> None:
    if rendered is None:
        respond(text=GONE, response_type="ephemeral", replace_original=False)
        return
    blocks, text = rendered
    respond(replace_original=True, blocks=blocks, text=text)


def on_acknowledge(body: dict, respond: Respond, actions: AlertActions) -> None:
    _replace(respond, actions.acknowledge(button_value(body), _user(body) or "someone"))


def snooze_choice(body: dict, rules: Rules) -> tuple[str, int | None] | None:
    """(group key, seconds or None to unsnooze) from a click on the menu, or None if the
    choice is not one the menu offers."""
    selected = ((body.get("actions") or [{}])[0] or {}).get("selected_option")
    if selected is None:  # the button of a post made before the menu: its value is the key
        return button_value(body), rules.snooze
    choice = read_snooze_value(str(selected.get("value") or "")[:300])
    if choice is None or (choice[1] is not None and choice[1] not in rules.snooze_choices):
        return None
    return choice


def on_snooze(body: dict, respond: Respond, actions: AlertActions) -> None:
    choice = snooze_choice(body, actions.rules)
    if choice is None:
        respond(text=NOT_OFFERED, response_type="ephemeral", replace_original=False)
        return
    _replace(respond, actions.snooze(*choice, _user(body) or None))


def on_examples(body: dict, client: WebClient, respond: Respond, actions: AlertActions) -> None:
    blocks, text = actions.examples(button_value(body))
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    user = _user(body)
    if channel and user:
        try:
            client.chat_postEphemeral(channel=channel, user=user, blocks=blocks, text=text)
            return
        except SlackApiError as exc:
            log.warning("chat.postEphemeral failed (%s); answering through response_url", exc.response.get("error"))
    respond(blocks=blocks, text=text, response_type="ephemeral", replace_original=False)


def register(app: App, deps: ListenerDeps) -> None:
    """Add the alert button listeners to a Bolt app."""
    actions = AlertActions(deps.store, deps.rules)
    app.action(ActionId.ALERT_ACK.value)(
        ack=ack_only, lazy=[lambda body, respond: on_acknowledge(body, respond, actions)])
    app.action(ActionId.ALERT_SNOOZE.value)(
        ack=ack_only, lazy=[lambda body, respond: on_snooze(body, respond, actions)])
    app.action(ActionId.ALERT_EXAMPLES.value)(
        ack=ack_only, lazy=[lambda body, client, respond: on_examples(body, client, respond, actions)])
