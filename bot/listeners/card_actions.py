"""Buttons on lookup cards: share the card publicly, or open one of several matches."""

from __future__ import annotations

import re

from slack_bolt import App, Respond

from bot.emit.slack import blocks
from bot.listeners.acks import ack_only, button_value
from bot.listeners.deps import ListenerDeps
from jobs.views.actions import ActionId
from jobs.views.lookup import card_view
from storage.knowledge import get


def share_in_channel(body: dict, respond: Respond) -> None:
    """Repost the card publicly in place of the ephemeral one, credited to whoever shared it."""
    info = get(button_value(body))
    if info is None:
        respond(text="That code is no longer in the knowledge base.", response_type="ephemeral", replace_original=False)
        return
    shown, text = blocks(card_view(info, shared_by=(body.get("user") or {}).get("id")))
    respond(response_type="in_channel", delete_original=True, blocks=shown, text=text)


def show_code(body: dict, respond: Respond) -> None:
    info = get(button_value(body))
    if info is not None:
        shown, text = blocks(card_view(info, shareable=True))
        respond(replace_original=True, blocks=shown, text=text)


def register(app: App, deps: ListenerDeps) -> None:
    app.action(ActionId.SHARE_IN_CHANNEL.value)(ack=ack_only, lazy=[share_in_channel])
    app.action(re.compile(rf"^{ActionId.SHOW_CODE.value}_\d+$"))(ack=ack_only, lazy=[show_code])
    # link buttons still send an interaction; Slack shows an error icon unless it is acked
    app.action(ActionId.OPEN_DOCS.value)(ack_only)
