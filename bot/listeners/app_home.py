"""The App Home tab: on `app_home_opened` (tab "home"), publish the home view for whoever
opened it: open alerts with their buttons, the top codes of the last 24 h, Twilio reads,
delivery and the next digest (jobs/views/home.py).

views.publish is a Web API call, so it runs lazily, after Bolt has acked the event. Alert
buttons on the tab have no message to answer in place (Slack sends no response_url from a
view), so their clicks are taken here, ahead of bot/listeners/alert_actions.py, and done by its
AlertActions: Acknowledge and Snooze also edit the alert's post in the channel, Show examples
opens a modal, and the tab is published again with the new state.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.views import View as SlackView

from bot.emit.slack import blocks
from bot.listeners.acks import ack_only, button_value
from bot.listeners.alert_actions import AlertActions, snooze_choice
from bot.listeners.deps import ListenerDeps
from jobs import overview
from jobs.views.actions import ActionId
from jobs.views.home import MAX_ALERTS, home_view
from storage import alert_groups

log = logging.getLogger("smserror.app_home")

EVENTS = ("app_home_opened",)


def publish(client: WebClient, user_id: str, deps: ListenerDeps, team: str = "") -> None:
    data = overview.home(deps.store(), int(time.time()), deps.rules, alerts_shown=MAX_ALERTS, team=team,
                         next_digest=deps.next_digest() if deps.next_digest else None)
    shown, _ = blocks(home_view(data))
    try:
        client.views_publish(user_id=user_id, view=SlackView(type="home", blocks=shown))
    except SlackApiError as exc:
        log.warning("views.publish failed (%s)", exc.response.get("error"))


def on_home_opened(event: dict[str, Any], body: dict[str, Any], client: WebClient, deps: ListenerDeps) -> None:
    if event.get("tab") == "home" and event.get("user"):
        publish(client, str(event["user"]), deps, team=str(body.get("team_id") or ""))


def from_home(body: dict[str, Any]) -> bool:
    view = body.get("view")
    return isinstance(view, dict) and view.get("type") == "home"


def _id(body: dict[str, Any], field: str) -> str:
    value = body.get(field)
    return str(value.get("id") or "") if isinstance(value, dict) else ""


def on_change(body: dict[str, Any], client: WebClient, deps: ListenerDeps, key: str,
              change: Callable[[], tuple[list, str] | None]) -> None:
    """Acknowledge or Snooze from the tab: the same change as in the channel, then the channel's
    post shows it (as a click there would) and so does the tab."""
    rendered = change()
    group = alert_groups.get(deps.store(), key)
    if rendered and group and group.post_channel and group.post_ref and group.posted_in_slack:
        shown, text = rendered
        try:
            client.chat_update(channel=group.post_channel, ts=group.post_ref, blocks=shown, text=text)
        except SlackApiError as exc:
            log.warning("chat.update of the alert failed (%s)", exc.response.get("error"))
    publish(client, _id(body, "user"), deps, team=_id(body, "team"))


def on_snooze(body: dict[str, Any], client: WebClient, deps: ListenerDeps, actions: AlertActions) -> None:
    choice = snooze_choice(body, actions.rules)
    if choice is not None:
        on_change(body, client, deps, choice[0], lambda: actions.snooze(*choice, _id(body, "user") or None))


def on_examples(body: dict[str, Any], client: WebClient, actions: AlertActions) -> None:
    shown, _ = actions.examples(button_value(body))
    try:
        client.views_open(trigger_id=str(body.get("trigger_id") or ""),
                          view=SlackView(type="modal", title="Examples", close="Close", blocks=shown))
    except SlackApiError as exc:
        log.warning("views.open failed (%s)", exc.response.get("error"))


def register(app: App, deps: ListenerDeps) -> None:
    app.event("app_home_opened")(
        ack=ack_only, lazy=[lambda event, body, client: on_home_opened(event, body, client, deps)])
    actions = AlertActions(deps.store, deps.rules)
    home = [from_home]
    app.action(ActionId.ALERT_ACK.value, matchers=home)(ack=ack_only, lazy=[lambda body, client: on_change(
        body, client, deps, button_value(body), lambda: actions.acknowledge(button_value(body),
                                                                            _id(body, "user") or "someone"))])
    app.action(ActionId.ALERT_SNOOZE.value, matchers=home)(ack=ack_only, lazy=[lambda body, client: on_snooze(
        body, client, deps, actions)])
    app.action(ActionId.ALERT_EXAMPLES.value, matchers=home)(
        ack=ack_only, lazy=[lambda body, client: on_examples(body, client, actions)])
