"""The digest as Slack Block Kit: `digest_blocks(report) -> (blocks, fallback text)`.

Pure: a DigestReport (or its dict, as stored in the outbox) in, slack_sdk block objects out.
Within Block Kit's limits by construction: at most 50 blocks (the busiest MAX_CODES codes get a
section each, the tail folds into "…and N more codes"), a header of at most 150 characters and
sections of at most 3,000 (every free-text part is clipped on its own, so a cut never breaks
the code block of SIDs). Phone numbers arrive masked; free text is escaped for mrkdwn.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.digest_text import (
    account_name,
    change,
    evidence_line,
    fallback_text,
    hygiene_line,
    plural,
    sparkline,
    summary_line,
)
from bot.mrkdwn import clip, escape
from jobs.digest import DigestReport, as_dict

MAX_BLOCKS = 50
HEADER_LIMIT = 150
SECTION_LIMIT = 3000
MAX_CODES = 15  # sections with full detail; readable on a phone. At most 2 + 2 + 15 + 1 + 2 = 22 blocks
MAX_ACCOUNTS_PER_CODE = 6
MEANING_LIMIT = 700
STEP_LIMIT = 500


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=clip(text, SECTION_LIMIT))])


def code_section(entry: dict[str, Any], several_accounts: bool) -> SectionBlock:
    lines = [
        f"*{entry['code']} · {escape(clip(entry['title'], 150))}*  ·  _{escape(entry['category_label'])}_",
        f"*{plural(entry['count'], 'failure')}* · {change(entry['count'], entry['previous'])} · "
        f"7 days `{sparkline(entry['daily'])}`",
    ]
    if several_accounts:
        shown = entry["accounts"][:MAX_ACCOUNTS_PER_CODE]
        more = len(entry["accounts"]) - len(shown)
        lines.append("By account: " + " · ".join(f"`{sid}` {n:,}" for sid, n in shown)
                     + (f" · and {more} more" if more > 0 else ""))
    lines.append(escape(clip(entry["meaning"], MEANING_LIMIT)))
    if entry["first_step"]:
        lines.append(f"*First step:* {escape(clip(entry['first_step'], STEP_LIMIT))}")
    evidence = entry.get("evidence")
    if evidence:
        lines.append(f"*{escape(evidence_line(evidence))}*")
        if evidence["examples"]:
            lines.append("```" + "\n".join(f"{e['sid']}  to {e['to']}" for e in evidence["examples"]) + "```")
    lines.append(f"<{entry['docs_url']}|Twilio docs for {entry['code']}>")
    return _section("\n".join(lines))


def _more_codes(rest: list[dict[str, Any]]) -> ContextBlock:
    failures = sum(e["count"] for e in rest)
    listing = ", ".join(f"{e['code']} ({e['count']:,})" for e in rest)
    return _context(f"…and {plural(len(rest), 'more code')} ({plural(failures, 'failure')}): {listing}")


def _hygiene(hygiene: dict[str, Any]) -> SectionBlock:
    text = f"*List hygiene* · {hygiene_line(hygiene)}"
    if hygiene["examples"]:
        text += "\nFor example: " + ", ".join(f"`{e['number']}` {e['reason']} ({e['code']})" for e in hygiene["examples"])
        text += "\nThe full list (full numbers, for your own use only): `smserror hygiene --csv FILE`"
    return _section(text)


def digest_blocks(report: DigestReport | dict[str, Any]) -> tuple[list[Block], str]:
    r = as_dict(report)
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=clip(r["title"], HEADER_LIMIT), emoji=True)),
        _context(f"{escape(r['window_text'])} · times in {escape(r['timezone'])}"),
    ]
    if not r["total"]:
        blocks.append(_section(f":white_check_mark: {summary_line(r)}"))
        if r["hygiene"]["recipients"]:
            blocks.append(_hygiene(r["hygiene"]))
        return blocks, escape(fallback_text(r))  # the notification text is mrkdwn too

    summary = f"*{summary_line(r)}*\n7-day trend `{sparkline(r['daily_total'])}` (per 24 h, oldest first)"
    several = len(r["accounts"]) > 1
    if several:
        summary += "\n" + "\n".join(
            f"• {escape(account_name(a))}: {plural(a['total'], 'failure')}" for a in r["accounts"][:10])
        if len(r["accounts"]) > 10:
            summary += f"\n• and {len(r['accounts']) - 10} more accounts"
    blocks += [_section(summary), DividerBlock()]

    codes = r["codes"]
    blocks += [code_section(entry, several) for entry in codes[:MAX_CODES]]
    if len(codes) > MAX_CODES:
        blocks.append(_more_codes(codes[MAX_CODES:]))
    blocks += [DividerBlock(), _hygiene(r["hygiene"])]
    return blocks, escape(fallback_text(r))  # the notification text is mrkdwn too
