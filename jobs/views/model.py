"""The view model: every message smserror shows, built once as data.

A digest, an alert, a lookup card or the App Home is a `View`: a title, then `Section`s of
lines, facts, numbered steps, monospace lines (SIDs), a small note and actions. A line is a
tuple of spans: plain strings, `Code`, `Strong`, `Time`, `Link`, `Mention`. The emitters in
bot/emit/ turn a View into Block Kit, an Adaptive Card or plain text; each knows its surface's
markup and limits, so a view builder never escapes, clips or formats a time itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Time:
    """A moment: Slack shows it in each reader's own zone; elsewhere it reads as UTC."""

    epoch: int


@dataclass(frozen=True)
class Link:
    url: str
    label: str


@dataclass(frozen=True)
class Mention:
    """A Slack user (who acknowledged, who snoozed)."""

    user_id: str


Span = str | Code | Strong | Time | Link | Mention
Line = tuple[Span, ...]


@dataclass(frozen=True)
class Fact:
    label: str
    value: Line


@dataclass(frozen=True)
class Option:
    label: str
    value: str


@dataclass(frozen=True)
class Action:
    """A button (`value` or `url`) or, with `options`, a menu. `id` is an ActionId value."""

    id: str
    label: str
    value: str = ""
    url: str = ""
    primary: bool = False
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class Section:
    title: Line = ()
    lines: tuple[Line, ...] = ()
    facts: tuple[Fact, ...] = ()
    steps: tuple[Line, ...] = ()
    mono: tuple[str, ...] = ()
    note: Line = ()
    actions: tuple[Action, ...] = ()
    divider: bool = False  # a rule above it


@dataclass(frozen=True)
class View:
    title: str
    fallback: str  # the one-line notification text, plain
    subtitle: Line = ()
    sections: tuple[Section, ...] = field(default_factory=tuple)
    header: bool = True  # a large title (digest, lookup); alerts lead with their first section instead
    mention: str = ""  # Slack markup to notify with (<!here>, a user group), from the rules
    tone: str = "info"  # "alert", "good" or "info": colour where a surface has it


def line(*spans: Span) -> Line:
    """A line, dropping empty spans, so builders can write optional parts inline."""
    return tuple(span for span in spans if span not in ("", None))


def account_label(sid: str, name: str | None = None) -> Line:
    """'Glow Clinic (`AC…`)': an account by its Twilio friendly name when one is known, the SID always."""
    return line(name, " (", Code(sid), ")") if name and name != sid else line(Code(sid))


def clip(text: str, limit: int) -> str:
    """Shorten to at most `limit` characters, marking the cut (views and emitters alike)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def utc_text(epoch: int | None) -> str:
    """How a Time reads where a surface has no date tokens (Teams, text, fallbacks)."""
    if not epoch:
        return "—"
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%d %H:%M UTC")


def plain(spans: Line) -> str:
    """A line as text with no markup."""
    out = []
    for span in spans:
        if isinstance(span, str):
            out.append(span)
        elif isinstance(span, Time):
            out.append(utc_text(span.epoch))
        elif isinstance(span, Link):
            out.append(f"{span.label} ({span.url})")
        elif isinstance(span, Mention):
            out.append(f"@{span.user_id}")
        else:
            out.append(span.text)
    return "".join(out)
