"""A View as Slack Block Kit, through slack_sdk's block models: `blocks(view) -> (blocks, text)`.

Knows Slack's markup (mrkdwn, escaped: only `&`, `<` and `>` are control characters, which is
what keeps `<!channel>` typed by someone from pinging anyone) and its limits: 50 blocks, 150
characters in a header, 3,000 in a section text, 2,000 in a field, 10 fields, 25 elements in an
actions block. Each part of a section text is clipped on its own to its share of the 3,000, so a
cut never breaks a code block. A view with more blocks than Slack takes loses its dividers first.
"""

from __future__ import annotations

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot.mrkdwn import escape, marked
from jobs.views.model import Action, Code, Line, Link, Mention, Section, Span, Strong, Time, View, clip, utc_text

MAX_BLOCKS = 50
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
MAX_FIELDS = 10
MAX_ELEMENTS = 25
TEXT_LIMIT = 3000  # the notification text: Slack allows more; a notification needs far less
SHORTENED = "…shortened to fit one Slack message."


def when(epoch: int, style: str = "{date_short_pretty} {time}") -> str:
    """A Slack date token: shown in each reader's own time zone, with a UTC fallback."""
    return f"<!date^{int(epoch)}^{style}|{utc_text(epoch)}>"


def span(value: Span) -> str:
    if isinstance(value, str):
        return escape(value)
    if isinstance(value, Code):
        return f"`{escape(value.text).replace('`', 'ʹ')}`"
    if isinstance(value, Strong):
        return marked(escape(value.text), "*")
    if isinstance(value, Time):
        return when(value.epoch) if value.epoch else "—"
    if isinstance(value, Link):
        return f"<{value.url}|{escape(value.label).replace('|', '¦')}>"
    if isinstance(value, Mention):
        return f"<@{escape(value.user_id)}>"
    raise TypeError(f"not a span: {value!r}")


def mrkdwn(line: Line) -> str:
    return "".join(span(s) for s in line)


def _text_parts(section: Section, lead: str) -> list[str]:
    parts = []
    if section.title:
        parts.append(f"{lead}*{mrkdwn(section.title)}*".strip())
    parts += [mrkdwn(line) for line in section.lines]
    if section.steps:
        parts.append("\n".join(f"{n}. {mrkdwn(step)}" for n, step in enumerate(section.steps, 1)))
    if section.mono:
        parts.append("```" + escape("\n".join(section.mono)) + "```")
    return parts


def _fit(parts: list[str], limit: int) -> list[str]:
    """The parts of one text, each clipped so that joined by newlines they fit `limit`: the short
    ones keep all they have and the long ones share what is left."""
    budget, shares = limit - len(parts) + 1, {}
    for done, n in enumerate(sorted(range(len(parts)), key=lambda n: len(parts[n]))):
        shares[n] = min(len(parts[n]), budget // (len(parts) - done))
        budget -= shares[n]
    return [_clip_part(part, shares[n]) for n, part in enumerate(parts)]


def _clip_part(part: str, limit: int) -> str:
    if len(part) <= limit or not part.startswith("```"):
        return clip(part, limit)
    return "```" + clip(part[3:-3], limit - 6) + "```" if limit > 6 else ""


def _action(action: Action):
    if action.options:
        return StaticSelectElement(
            action_id=action.id, placeholder=PlainTextObject(text=clip(action.label, 150)),
            options=[Option(text=PlainTextObject(text=clip(o.label, 75)), value=o.value) for o in action.options[:100]])
    if action.url:
        return ButtonElement(text=clip(action.label, 75), action_id=action.id, url=action.url)
    return ButtonElement(text=clip(action.label, 75), action_id=action.id, value=action.value,
                         style="primary" if action.primary else None)


def section_blocks(section: Section, lead: str = "") -> list[Block]:
    blocks: list[Block] = [DividerBlock()] if section.divider else []
    text = "\n".join(_fit(_text_parts(section, lead), SECTION_LIMIT))
    if text:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    for first in range(0, len(section.facts), MAX_FIELDS):  # ten to a block
        blocks.append(SectionBlock(fields=[
            MarkdownTextObject(text=clip(f"*{escape(f.label)}*\n{mrkdwn(f.value) or '—'}", FIELD_LIMIT))
            for f in section.facts[first:first + MAX_FIELDS]]))
    if section.note:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(mrkdwn(section.note), SECTION_LIMIT))]))
    if section.actions:
        blocks.append(ActionsBlock(elements=[_action(a) for a in section.actions[:MAX_ELEMENTS]]))
    return blocks


def blocks(view: View) -> tuple[list[Block], str]:
    """The blocks and the notification text. A view's mention (from the rules) leads both."""
    out: list[Block] = []
    if view.header:
        out.append(HeaderBlock(text=PlainTextObject(text=clip(view.title, HEADER_LIMIT), emoji=True)))
    if view.subtitle:
        out.append(ContextBlock(elements=[MarkdownTextObject(text=clip(mrkdwn(view.subtitle), SECTION_LIMIT))]))
    for n, section in enumerate(view.sections):
        lead = f"{view.mention} " if view.mention and n == 0 and not view.header else ""
        out += section_blocks(section, lead)
    if len(out) > MAX_BLOCKS:  # dividers say nothing: they go before any words do
        out = [block for block in out if not isinstance(block, DividerBlock)]
    if len(out) > MAX_BLOCKS:
        out = out[: MAX_BLOCKS - 1] + [ContextBlock(elements=[MarkdownTextObject(text=SHORTENED)])]
    text = escape(view.fallback)
    return out, clip(f"{view.mention} {text}" if view.mention else text, TEXT_LIMIT)


def to_dicts(view: View) -> tuple[list[dict], str]:
    built, text = blocks(view)
    return [b.to_dict() for b in built], text
