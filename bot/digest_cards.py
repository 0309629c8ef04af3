"""The digest as a Teams Adaptive Card (1.4): `digest_card(report) -> dict` (the card content;
bot/alert_cards.teams_message wraps it for the Workflows webhook).

Pure, and small by construction: the busiest MAX_CODES codes get a container each, the rest
fold into one "…and N more codes" line, every free text is clipped, so even a day with
hundreds of codes stays far under Teams' 28 KB message limit (alert_cards.fit_card remains the
safety net on the way out). Phone numbers arrive masked.
"""

from __future__ import annotations

from typing import Any

from bot.digest_blocks import MAX_ACCOUNTS_PER_CODE, MAX_CODES, MEANING_LIMIT, STEP_LIMIT
from bot.digest_text import (
    account_name,
    change,
    evidence_line,
    hygiene_line,
    plural,
    sparkline,
    summary_line,
)
from bot.mrkdwn import clip
from jobs.digest import DigestReport, as_dict

TEXT_LIMIT = 2000
MORE_CODES_LIMIT = 1500


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": clip(text, TEXT_LIMIT), "wrap": True, **style}


def _code_container(entry: dict[str, Any], several_accounts: bool) -> dict[str, Any]:
    items = [
        _text(f"{entry['code']} · {clip(entry['title'], 150)} · {entry['category_label']}", weight="Bolder"),
        _text(f"{plural(entry['count'], 'failure')} · {change(entry['count'], entry['previous'])} · "
              f"7 days {sparkline(entry['daily'])}", spacing="None"),
    ]
    if several_accounts:
        shown = entry["accounts"][:MAX_ACCOUNTS_PER_CODE]
        more = len(entry["accounts"]) - len(shown)
        items.append(_text("By account: " + " · ".join(f"{sid} {n:,}" for sid, n in shown)
                           + (f" · and {more} more" if more > 0 else ""), isSubtle=True, spacing="None"))
    items.append(_text(clip(entry["meaning"], MEANING_LIMIT)))
    if entry["first_step"]:
        items.append(_text(f"**First step:** {clip(entry['first_step'], STEP_LIMIT)}"))
    evidence = entry.get("evidence")
    if evidence:
        items.append(_text(f"**{evidence_line(evidence)}**"))
        # one TextBlock per line: Teams shows "\r" (or one "\n") as no line break at all
        items += [_text(f"{e['sid']}  to {e['to']}", fontType="Monospace", spacing="None")
                  for e in evidence["examples"]]
    items.append(_text(f"[Twilio docs for {entry['code']}]({entry['docs_url']})", size="Small"))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def digest_card(report: DigestReport | dict[str, Any]) -> dict[str, Any]:
    r = as_dict(report)
    body: list[dict[str, Any]] = [
        _text(r["title"], weight="Bolder", size="Medium"),
        _text(f"{r['window_text']} · times in {r['timezone']}", isSubtle=True, spacing="None"),
    ]
    if not r["total"]:
        body.append(_text(f"✅ {summary_line(r)}"))
    else:
        body.append(_text(f"**{summary_line(r)}**"))
        body.append(_text(f"7-day trend {sparkline(r['daily_total'])} (per 24 h, oldest first)", spacing="None"))
        several = len(r["accounts"]) > 1
        if several:
            body.append({"type": "FactSet", "facts": [
                {"title": clip(account_name(a), 100), "value": plural(a["total"], "failure")} for a in r["accounts"][:10]
            ]})
        body += [_code_container(entry, several) for entry in r["codes"][:MAX_CODES]]
        rest = r["codes"][MAX_CODES:]
        if rest:
            listing = ", ".join(f"{e['code']} ({e['count']:,})" for e in rest)
            failures = sum(e["count"] for e in rest)
            body.append(_text(clip(f"…and {plural(len(rest), 'more code')} ({plural(failures, 'failure')}): {listing}",
                                   MORE_CODES_LIMIT), isSubtle=True, separator=True))
    hygiene = r["hygiene"]
    if r["total"] or hygiene["recipients"]:
        body.append(_text(f"**List hygiene** · {hygiene_line(hygiene)}", separator=True))
        if hygiene["examples"]:
            body.append(_text("For example: " + ", ".join(f"{e['number']} {e['reason']} ({e['code']})"
                                                          for e in hygiene["examples"]), spacing="None"))
            body.append(_text("The full list (full numbers, for your own use only): smserror hygiene --csv FILE",
                              spacing="None"))
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    }
