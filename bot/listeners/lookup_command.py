"""`/smserror CODE|WORDS`: answer ephemerally, inside Slack's 3-second window.

The lookup is in-memory and sub-millisecond, so the whole card goes back in the ack itself:
no second request to Slack, nothing that can time out after the user hit enter.
"""

from __future__ import annotations

from bot.listeners.deps import ListenerDeps
from slack_bolt import Ack, App

from bot.emit.slack import to_dicts
from jobs.views.lookup import lookup_view
from storage.knowledge import lookup

COMMANDS = ("/smserror",)


def lookup_reply(text: str) -> dict:
    blocks, fallback = to_dicts(lookup_view(lookup(text), shareable=True))
    return {"response_type": "ephemeral", "blocks": blocks, "text": fallback}


def handle_lookup(ack: Ack, command: dict) -> None:
    ack(**lookup_reply(command.get("text") or ""))


def register(app: App, deps: ListenerDeps) -> None:
    for name in COMMANDS:
        app.command(name)(handle_lookup)
