"""A View as an Adaptive Card (1.4): `card(view) -> dict`, and the message a Teams Workflows
webhook takes (`message(card)`), kept under Teams' 28 KB limit.

TextBlock markdown has bold and links but no inline code, so codes read as plain text; times
read as UTC. A webhook card cannot call us back, so only link actions are shown. Every text is
clipped to TEXT_LIMIT; `fit_card` is the safety net that keeps the whole message small enough.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from bot.mrkdwn import marked
from jobs.views.model import Code, Line, Link, Mention, Section, Span, Strong, Time, View, clip, utc_text

MAX_MESSAGE_BYTES = 27 * 1024  # Teams refuses messages over ~28 KB; keep a margin
TEXT_LIMIT = 2000
FACT_TITLE_LIMIT = 100
SHORTENED_NOTE = "(Shortened to fit a Teams message. The full report is in the digest.)"
_COLOURS = {"alert": "Attention", "good": "Good"}


def span(value: Span) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Strong):
        return marked(value.text, "**")
    if isinstance(value, Code):
        return value.text
    if isinstance(value, Time):
        return utc_text(value.epoch)
    if isinstance(value, Link):
        return f"[{value.label}]({value.url})"
    if isinstance(value, Mention):
        return value.user_id
    raise TypeError(f"not a span: {value!r}")


def markdown(line: Line) -> str:
    return "".join(span(s) for s in line)


def text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": clip(text, TEXT_LIMIT), "wrap": True, **style}


def _fact_title(label: str) -> str:
    """Fact titles are short; a long name is cut before the SID in brackets, which must survive."""
    if len(label) <= FACT_TITLE_LIMIT or not label.endswith(")") or " (" not in label:
        return clip(label, FACT_TITLE_LIMIT)
    name, sid = label.rsplit(" (", 1)
    return clip(name, FACT_TITLE_LIMIT - len(sid) - 2) + f" ({sid}"


def section_items(section: Section, *, headline: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if section.title:
        items.append(text_block(markdown(section.title), weight="Bolder", **(headline or {})))
    items += [text_block(markdown(line), spacing="None" if n or section.title else "Default")
              for n, line in enumerate(section.lines)]
    if section.facts:
        items.append({"type": "FactSet", "facts": [
            {"title": _fact_title(f.label), "value": clip(markdown(f.value) or "—", TEXT_LIMIT)}
            for f in section.facts]})
    # one TextBlock per step and per SID: Teams shows "\r" (or one "\n") as no line break at all
    items += [text_block(f"{n}. {markdown(step)}", spacing="None") for n, step in enumerate(section.steps, 1)]
    items += [text_block(mono, fontType="Monospace", spacing="None") for mono in section.mono]
    if section.note:
        items.append(text_block(markdown(section.note), isSubtle=True, size="Small"))
    return items


def card(view: View) -> dict[str, Any]:
    colour = {"color": _COLOURS[view.tone]} if view.tone in _COLOURS else {}
    body: list[dict[str, Any]] = []
    if view.header:
        body.append(text_block(view.title, weight="Bolder", size="Medium", **colour))
    if view.subtitle:
        body.append(text_block(markdown(view.subtitle), isSubtle=True, spacing="None"))
    for n, section in enumerate(view.sections):
        headline = {"size": "Medium", **colour} if n == 0 and not view.header else None
        items = section_items(section, headline=headline)
        if not items:
            continue
        if section.divider:
            body.append({"type": "Container", "separator": True, "spacing": "Medium", "items": items})
        else:
            body += items
    links = [a for s in view.sections for a in s.actions if a.url]
    result: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
    if links:
        result["actions"] = [{"type": "Action.OpenUrl", "title": a.label, "url": a.url} for a in links]
    return result


def message(content: dict[str, Any]) -> dict[str, Any]:
    """The body a Teams Workflows webhook takes, shortened to fit the size limit."""
    return _wrap(fit_card(content))


def _wrap(content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": content}]}


def encode(body: dict[str, Any]) -> bytes:
    """The exact bytes posted to the webhook (and measured against the limit)."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def message_size(content: dict[str, Any]) -> int:
    return len(encode(_wrap(content)))


def fit_card(content: dict[str, Any], limit: int = MAX_MESSAGE_BYTES) -> dict[str, Any]:
    """The card itself if its message fits in `limit` bytes; else a copy with trailing body
    elements dropped (and a note saying so), then long texts cut, until it fits."""
    if message_size(content) <= limit:
        return content
    content = copy.deepcopy(content)
    body: list = content.setdefault("body", [])
    note = text_block(SHORTENED_NOTE, isSubtle=True, size="Small")
    while len(body) > 1 and message_size({**content, "body": body + [note]}) > limit:
        body.pop()
    content["body"] = body + [dict(note)]  # a copy: shortening must not reach the note
    text_limit = TEXT_LIMIT
    while message_size(content) > limit and text_limit > 40:
        text_limit //= 2
        _shorten(content, text_limit)
    if message_size(content) > limit:  # nothing left to shorten sensibly
        content = {**content, "body": [note]}
        content.pop("actions", None)
    return content


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
