"""Teams outgoing webhook: `@smserror 21610` in a channel, answered within Teams' 5 seconds
with an Adaptive Card (the same lookup view as Slack's), and its text for clients without cards.

Teams signs each request with HMAC-SHA256 over the raw body, keyed by the base64 security
token shown when the webhook is created, and sends `Authorization: HMAC <base64 digest>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re

from bot.emit.teams import card, message
from jobs.views.lookup import lookup_view
from storage.knowledge import lookup

_MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def signature_ok(secret_b64: str, body: bytes, authorization: str | None) -> bool:
    if not secret_b64 or not authorization or not authorization.startswith("HMAC ") or not authorization.isascii():
        return False
    try:
        key = base64.b64decode(secret_b64)
    except ValueError:
        return False
    expected = base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, authorization[len("HMAC ") :].strip())


def question_text(activity: dict) -> str:
    """The words after the @mention, as plain text (Teams sends the message as HTML)."""
    raw = activity.get("text") if isinstance(activity, dict) else None
    if not isinstance(raw, str):
        return ""
    return " ".join(html.unescape(_TAG.sub(" ", _MENTION.sub(" ", raw))).split())


def handle_teams_message(secret_b64: str, body: bytes, authorization: str | None) -> tuple[int, dict]:
    if not signature_ok(secret_b64, body, authorization):
        return 401, {"type": "message", "text": "Signature check failed."}
    try:
        activity = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly deep nesting
        return 400, {"type": "message", "text": "The request was not JSON."}
    # the reply is posted in the channel: a number in the question comes back masked (lookup_view)
    view = lookup_view(lookup(question_text(activity)))
    return 200, {**message(card(view)), "text": view.fallback}
