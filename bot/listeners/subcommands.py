"""`/smserror help|top|status|examples`: what the command does besides the lookup.

A subcommand answers only when its words fit (`top`, `top 7d`, `status`, `examples 30007`);
anything else is a lookup, as it always was, so `/smserror 30007`, `/smserror opted out` and
`/smserror status callback` keep their answers. Each answer reads the store with queries that
seek an index, so it still goes back in the ack.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Callable

import sqlite_utils

from bot.listeners.deps import ListenerDeps
from jobs import overview
from jobs.digest import parse_since
from jobs.views.commands import code_examples_view, help_view, message_view, status_view, top_view
from jobs.views.model import View
from storage.db import StoreError

log = logging.getLogger("smserror.commands")

_WINDOW = re.compile(r"\d{1,4}[hd]", re.IGNORECASE)
_CODE = re.compile(r"\d{1,6}")
TOP_USAGE = "/smserror top takes a window from 1h to 31d, such as 24h (the default) or 7d."
EXAMPLES_USAGE = "Give an error code: /smserror examples 30007"
STORE_DOWN = "The failure store cannot be read right now; the lookup (/smserror 30007) still works."


def answer(text: str, command: dict, deps: ListenerDeps) -> View | None:
    """The subcommand's answer, or None when `text` is a lookup."""
    words = text.split()
    name, args = (words[0].lower(), words[1:]) if words else ("help", [])
    if name == "help" and not args:
        return help_view()
    if name == "top" and len(args) <= 1 and (not args or _WINDOW.fullmatch(args[0])):
        return _from_store(deps, lambda db, now: _top(db, now, args[0] if args else "24h"))
    if name == "status" and not args:
        domain = str(command.get("team_domain") or "")
        return _from_store(deps, lambda db, now: status_view(overview.status(db, now, domain=domain)))
    if name == "examples":
        if len(args) != 1 or not _CODE.fullmatch(args[0]):
            return message_view(EXAMPLES_USAGE)
        code = int(args[0])
        return _from_store(deps, lambda db, now: code_examples_view(
            overview.code_examples(db, code, deps.rules.examples)))
    return None


def _from_store(deps: ListenerDeps, build: Callable[[sqlite_utils.Database, int], View]) -> View:
    try:
        return build(deps.store(), int(time.time()))
    except (sqlite3.Error, StoreError) as exc:
        log.warning("/smserror could not read the store: %s", exc)
        return message_view(STORE_DOWN)


def _top(db: sqlite_utils.Database, now: int, window: str) -> View:
    try:
        seconds, label = parse_since(window)
    except ValueError:
        return message_view(TOP_USAGE)
    return top_view(overview.top_codes(db, seconds, label, now))
