"""Teams outgoing webhook: `@smserror 21610` in a channel, answered within Teams' 5 seconds.

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

from bot.mrkdwn import escape
from storage.knowledge import LookupResult, lookup
from storage.privacy import mask_lookup

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
    # the reply is posted in the channel: a number in the question comes back masked
    return 200, {"type": "message", "text": reply_markdown(mask_lookup(lookup(question_text(activity))))}


def reply_markdown(result: LookupResult) -> str:
    if result.kind == "card":
        info = result.card
        parts = [f"**{info.code} · {escape(info.title)}**"]
        if info.meaning:
            parts.append(escape(info.meaning))
        if info.steps:
            parts.append("\n".join(f"{n}. {escape(step)}" for n, step in enumerate(info.steps, start=1)))
        parts.append(f"Category: {escape(info.category_label)} · [Twilio docs]({info.docs_url})")
        return "\n\n".join(parts)
    if result.matches:
        lines = "\n".join(f"- **{info.code}** · {escape(info.title)}" for info in result.matches)
        return f"{escape(result.message)}\n\n{lines}"
    return escape(result.message)
