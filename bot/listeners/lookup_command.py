"""`/smserror CODE|WORDS` and its subcommands: answer ephemerally, inside Slack's 3-second window.

The lookup is in-memory and sub-millisecond, and the subcommands (bot/listeners/subcommands.py)
read the store through its indexes, so the whole answer goes back in the ack itself: no second
request to Slack, nothing that can time out after the user hit enter.
"""

from __future__ import annotations

from slack_bolt import Ack, App

from bot.emit.slack import to_dicts
from bot.listeners import subcommands
from bot.listeners.deps import ListenerDeps
from jobs.views.lookup import lookup_view
from storage.knowledge import lookup

COMMANDS = ("/smserror",)


def reply(text: object, command: dict, deps: ListenerDeps) -> dict:
    typed = text if isinstance(text, str) else ""  # a signed body may still carry any JSON
    view = subcommands.answer(typed, command, deps) or lookup_view(lookup(typed), shareable=True)
    blocks, fallback = to_dicts(view)
    return {"response_type": "ephemeral", "blocks": blocks, "text": fallback}


def register(app: App, deps: ListenerDeps) -> None:
    def handle(ack: Ack, command: dict) -> None:
        ack(**reply(command.get("text"), command, deps))

    for name in COMMANDS:
        app.command(name)(handle)
