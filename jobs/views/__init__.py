"""Every message as data (model.py), built once per kind of message; bot/emit/ renders it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jobs.views.alerts import alert_view, reply_view, resolved_view
from jobs.views.digest import digest_view, fixes_view
from jobs.views.model import View
from jobs.views.watch import watch_view, working_again_view

# outbox kind -> the view of its payload
BY_KIND: dict[str, Callable[[dict[str, Any]], View]] = {
    "alert": alert_view,
    "alert-edit": alert_view,
    "alert-reply": reply_view,
    "alert-resolved": resolved_view,
    "digest": digest_view,
    "digest-fixes": fixes_view,
    "watch": watch_view,
    "watch-edit": watch_view,
    "watch-resolved": working_again_view,
}


def view_for(kind: str, payload: dict[str, Any]) -> View:
    if kind not in BY_KIND:
        raise ValueError(f"no view for outbox kind {kind!r}")
    return BY_KIND[kind](payload)
