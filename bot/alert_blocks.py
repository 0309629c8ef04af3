"""Block Kit for real-time alerts: pure functions from an alert report (jobs/alerts.py) to
`(blocks, fallback_text)`. Reports arrive with numbers already masked; everything that did
not come from us is escaped, and every text is clipped to Block Kit's limits.

States: firing (buttons: Acknowledge, Snooze 24 h, Show examples, Twilio docs), acknowledged
(who and when; no Acknowledge button), snoozed (until when), resolved (no buttons but examples).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.action_ids import ActionId
from bot.mrkdwn import clip, escape

SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
TEXT_LIMIT = 3000  # fallback text: Slack allows far more; a notification needs far less


def utc_text(epoch: int | None) -> str:
    """A time as plain text, for surfaces without Slack's date tokens (Teams cards, fallbacks)."""
    if not epoch:
        return "—"
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def when(epoch: int | None, style: str = "{date_short_pretty} {time}") -> str:
    """A Slack date token: shown in each reader's own time zone, with a UTC fallback."""
    if not epoch:
        return "—"
    return f"<!date^{int(epoch)}^{style}|{utc_text(epoch)}>"


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(text, FIELD_LIMIT))


def headline(report: dict[str, Any]) -> str:
    """One plain line: what, where, how many (used as the notification text too)."""
    scope = report["account_sid"] + (f" / {report['service_sid']}" if report.get("service_sid") else "")
    count = report["count"]
    return f"{report['title']} ({report['error_code']}) on {scope}: {count} failure{'s' if count != 1 else ''}"


def what_happened(report: dict[str, Any], show_time: Callable[[int | None], str]) -> str:
    """The sentence under the title: how many since when (and the rate, for a spike)."""
    if report["kind"] == "spike" and report.get("spike"):
        spike = report["spike"]
        return (f"Spike: {spike['last_hour']} failures in the last hour against a usual "
                f"{spike['baseline_per_hour']}/hour; {report['count']} since {show_time(report['first_seen'])}.")
    count = report["count"]
    return (f"{count} failure{'s' if count != 1 else ''} since {show_time(report['first_seen'])}, "
            f"latest {show_time(report['last_seen'])}.")


def _state_line(report: dict[str, Any]) -> str | None:
    if report.get("state") == "resolved":
        return f":white_check_mark: Resolved {when(report.get('resolved_at'))}: no new failures since {when(report['last_seen'])}"
    parts = []
    if report.get("acked_by"):
        parts.append(f":eyes: Acknowledged by <@{escape(report['acked_by'])}> {when(report.get('acked_at'))}")
    if report.get("snoozed_until"):
        parts.append(f":zzz: Snoozed until {when(report['snoozed_until'])}")
    if report.get("repeat"):
        parts.append(":repeat: Still failing: this alert repeats because the group was not acknowledged")
    return " · ".join(parts) or None


def alert_blocks(report: dict[str, Any]) -> tuple[list[Block], str]:
    """The top-level alert message (also what chat.update re-renders)."""
    resolved = report.get("state") == "resolved"
    icon = ":white_check_mark:" if resolved else (":rotating_light:" if report["kind"] == "account" else ":chart_with_upwards_trend:")
    mention = (report.get("mention") or "") if not resolved else ""
    title = f"*{escape(report['title'])}* (`{report['error_code']}`)"
    if resolved:
        title = f"~{title}~ resolved"
    what = what_happened(report, when)
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=clip(f"{mention} {icon} {title}\n{what}".strip(), SECTION_LIMIT)))]
    latest = report.get("latest") or {}
    fields = [
        _md(f"*Account*\n`{escape(report['account_sid'])}`"),
        _md(f"*Messaging service*\n`{escape(report['service_sid'])}`" if report.get("service_sid") else "*Messaging service*\n—"),
        _md(f"*Category*\n{escape(report.get('category_label') or report.get('category') or 'Other')}"),
        _md(f"*Failures*\n{report['count']}"),
    ]
    if report.get("senders"):
        fields.append(_md("*Sender*\n" + ", ".join(escape(s) for s in report["senders"])))
    if latest:
        fields.append(_md(f"*Latest*\n`{escape(latest['sid'])}` to {escape(latest['recipient'])}"))
    blocks.append(SectionBlock(fields=fields))
    if report.get("meaning") and not resolved:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip("*What it means*\n" + escape(report["meaning"]), SECTION_LIMIT))))
    if report.get("steps") and not resolved:
        steps = "\n".join(f"{n}. {escape(step)}" for n, step in enumerate(report["steps"][:5], start=1))
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip("*What to do*\n" + steps, SECTION_LIMIT))))
    state = _state_line(report)
    if state:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(state, SECTION_LIMIT))]))
    blocks.append(ActionsBlock(elements=_buttons(report)))
    text = escape(headline(report))  # the notification text is mrkdwn too
    if resolved:
        text = "Resolved: " + text
    elif mention:
        text = f"{mention} {text}"
    return blocks, clip(text, TEXT_LIMIT)


def _buttons(report: dict[str, Any]) -> list[ButtonElement]:
    key = report["group"]
    buttons = []
    if report.get("state") != "resolved":
        if not report.get("acked_by"):
            buttons.append(ButtonElement(text="Acknowledge", action_id=ActionId.ALERT_ACK, value=key, style="primary"))
        if not report.get("snoozed_until"):
            buttons.append(ButtonElement(text="Snooze 24 h", action_id=ActionId.ALERT_SNOOZE, value=key))
    buttons.append(ButtonElement(text="Show examples", action_id=ActionId.ALERT_EXAMPLES, value=key))
    if report.get("docs_url"):
        buttons.append(ButtonElement(text="Twilio docs", action_id=ActionId.OPEN_DOCS, url=report["docs_url"]))
    return buttons


def reply_blocks(report: dict[str, Any]) -> tuple[list[Block], str]:
    """Thread reply under the alert: more failures of the same group."""
    latest = report.get("latest") or {}
    new = report.get("new_failures") or 0
    if report.get("reopened"):
        text = f"Failing again: {new} new failure{'s' if new != 1 else ''} after it was resolved; {report['count']} in this incident."
    else:
        text = f"+{new} more failure{'s' if new != 1 else ''}, {report['count']} in all."
    if latest:
        text += f" Latest `{escape(latest['sid'])}` to {escape(latest['recipient'])} {when(latest.get('sent_at'))}."
    return [SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))], clip(
        escape(f"{report['title']} ({report['error_code']}): {report['count']} failures"), TEXT_LIMIT)


def resolved_blocks(report: dict[str, Any]) -> tuple[list[Block], str]:
    """Thread reply when the group has been quiet long enough."""
    quiet = int(report.get("quiet_for") or 0)
    hours, minutes = divmod(quiet // 60, 60)
    text = (f":white_check_mark: Resolved: no {report['error_code']} failures for {hours} h {minutes:02d} min "
            f"(last {when(report['last_seen'])}). {report['count']} in this incident.")
    return [SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))], clip("Resolved: " + escape(headline(report)), TEXT_LIMIT)


def examples_blocks(report: dict[str, Any] | None, examples: list[dict[str, Any]]) -> tuple[list[Block], str]:
    """The ephemeral "Show examples" answer: message SIDs with time and masked recipient."""
    if report is None:
        text = "This alert is no longer in the store."
        return [SectionBlock(text=MarkdownTextObject(text=text))], text
    if not examples:
        text = f"No stored failures for {report['title']} ({report['error_code']}) in this incident."
        return [SectionBlock(text=MarkdownTextObject(text=escape(text)))], text
    lines = [f"• `{escape(e['sid'])}` {when(e['sent_at'])} from {escape(e['sender'])} to {escape(e['recipient'])}" for e in examples]
    head = f"*Latest {len(examples)} of {report['count']}: {escape(report['title'])} ({report['error_code']})*"
    body = clip(head + "\n" + "\n".join(lines), SECTION_LIMIT)
    return [SectionBlock(text=MarkdownTextObject(text=body))], clip(
        "Examples: " + ", ".join(e["sid"] for e in examples), TEXT_LIMIT)


def plain_text(kind: str, report: dict[str, Any]) -> str:
    """One readable line per outbox item, for stdout (no Slack markup)."""
    if kind == "alert-resolved":
        return f"[resolved] {headline(report)}"
    if kind == "alert-reply":
        return f"[update] {headline(report)} (+{report.get('new_failures') or 0})"
    if kind == "alert-edit":
        return f"[{report.get('state', 'firing')}] {headline(report)}"
    latest = report.get("latest") or {}
    tail = f"; latest {latest['sid']} to {latest['recipient']}" if latest else ""
    prefix = "[ALERT]" if report["kind"] == "account" else "[SPIKE]"
    return f"{prefix} {headline(report)}{tail}; see {report.get('docs_url', '')}"
