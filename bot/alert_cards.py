"""Adaptive Cards (1.4) for real-time alerts, posted to a Teams Workflows webhook.

Pure functions from an alert report (jobs/alerts.py) to card dicts. `teams_message(card)` wraps
a card the way a Workflows webhook takes it and keeps the whole body under Teams' 28 KB limit
(`fit_card` shortens a card that would not fit; it is used for digest cards too).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from bot.alert_blocks import utc_text, what_happened
from bot.mrkdwn import clip

MAX_MESSAGE_BYTES = 27 * 1024  # Teams refuses messages over ~28 KB; keep a margin
TEXT_LIMIT = 2000
SHORTENED_NOTE = "(Shortened to fit a Teams message. The full report is in the digest.)"


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": clip(text, TEXT_LIMIT), "wrap": True, **style}


def _card(body: list[dict], actions: list[dict] | None = None) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return card


def _headline(report: dict[str, Any]) -> str:
    return f"{report['title']} ({report['error_code']})"


def alert_card(report: dict[str, Any]) -> dict[str, Any]:
    """The alert as a card: title, what happened, facts, meaning, steps, a link to Twilio's docs."""
    resolved = report.get("state") == "resolved"
    icon = "✅" if resolved else ("🚨" if report["kind"] == "account" else "📈")
    what = what_happened(report, utc_text)
    facts = [
        {"title": "Account", "value": report["account_sid"]},
        {"title": "Messaging service", "value": report.get("service_sid") or "—"},
        {"title": "Category", "value": report.get("category_label") or report.get("category") or "Other"},
        {"title": "Failures", "value": str(report["count"])},
    ]
    if report.get("senders"):
        facts.append({"title": "Sender", "value": ", ".join(report["senders"])})
    latest = report.get("latest") or {}
    if latest:
        facts.append({"title": "Latest", "value": f"{latest['sid']} to {latest['recipient']}"})
    if report.get("repeat"):
        facts.append({"title": "Repeat", "value": "Still failing (not acknowledged)"})
    body = [
        _text(f"{icon} {_headline(report)}" + (" resolved" if resolved else ""), weight="Bolder", size="Medium",
              color="Good" if resolved else "Attention"),
        _text(what, spacing="None", isSubtle=True),
        {"type": "FactSet", "facts": facts},
    ]
    if report.get("meaning") and not resolved:
        body.append(_text("**What it means:** " + report["meaning"]))
    if report.get("steps") and not resolved:
        body.append(_text("**What to do:**"))  # one TextBlock per step: Teams shows "\r" as no break
        body += [_text(f"{n}. {s}", spacing="None") for n, s in enumerate(report["steps"][:5], 1)]
    actions = [{"type": "Action.OpenUrl", "title": "Twilio docs", "url": report["docs_url"]}] if report.get("docs_url") else None
    return _card(body, actions)


def resolved_card(report: dict[str, Any]) -> dict[str, Any]:
    quiet = int(report.get("quiet_for") or 0)
    hours, minutes = divmod(quiet // 60, 60)
    body = [
        _text(f"✅ Resolved: {_headline(report)}", weight="Bolder", color="Good"),
        _text(f"No failures for {hours} h {minutes:02d} min (last {utc_text(report['last_seen'])}); "
              f"{report['count']} in this incident.", spacing="None"),
        {"type": "FactSet", "facts": [
            {"title": "Account", "value": report["account_sid"]},
            {"title": "Messaging service", "value": report.get("service_sid") or "—"},
        ]},
    ]
    return _card(body)


def teams_message(card: dict[str, Any]) -> dict[str, Any]:
    """The body a Teams Workflows webhook takes, shortened to fit the size limit."""
    return _wrap(fit_card(card))


def _wrap(card: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}]}


def encode(message: dict[str, Any]) -> bytes:
    """The exact bytes posted to the webhook (and measured against the limit)."""
    return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def message_size(card: dict[str, Any]) -> int:
    return len(encode(_wrap(card)))


def fit_card(card: dict[str, Any], limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """The card itself if its message fits in `limit` bytes; else a copy with trailing body
    elements dropped (and a note saying so), then long texts cut, until it fits."""
    if message_size(card) <= limit:
        return card
    card = copy.deepcopy(card)
    body: list = card.setdefault("body", [])
    note = _text(SHORTENED_NOTE, isSubtle=True, size="Small")
    while len(body) > 1 and message_size({**card, "body": body + [note]}) > limit:
        body.pop()
    card["body"] = body + [note]
    text_limit = TEXT_LIMIT
    while message_size(card) > limit and text_limit > 40:
        text_limit //= 2
        _shorten(card, text_limit)
    if message_size(card) > limit:  # nothing left to shorten sensibly
        card = _card([note])
    return card


def _shorten(node: Any, limit: int) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("text", "value", "title") and isinstance(value, str):
                node[key] = clip(value, limit)
            else:
                _shorten(value, limit)
    elif isinstance(node, list):
        for value in node:
            _shorten(value, limit)
