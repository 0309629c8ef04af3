"""The digest as plain text (`smserror digest --dry-run`), and the small formatting pieces the
Slack and Teams renderers share: sparkline, change against the previous window, counts.

Input is a DigestReport or its dict (jobs/digest.py). Every code is listed: a terminal has no
block limit. Numbers in the report are already masked.
"""

from __future__ import annotations

import re
from typing import Any

from bot.mrkdwn import clip
from jobs.digest import DigestReport, as_dict

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[int]) -> str:
    """One bar per day: ▁ for none, ▂…█ scaled to the busiest day (so any failure shows)."""
    top = max(values, default=0)
    if top <= 0:
        return BARS[0] * len(values)
    return "".join(BARS[0] if v <= 0 else BARS[1 + round((v / top) * (len(BARS) - 2))] for v in values)


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def change(count: int, previous: int) -> str:
    """'▲ +35 (+9%) vs 377', '▼ −12 (−40%) vs 30', 'new, none before', 'no change'."""
    if previous == 0:
        return "new, none before" if count else "no change"
    diff = count - previous
    if diff == 0:
        return f"no change vs {previous:,}"
    arrow, sign = ("▲", "+") if diff > 0 else ("▼", "−")
    return f"{arrow} {sign}{abs(diff):,} ({sign}{abs(diff) * 100 // previous}%) vs {previous:,}"


def account_name(account: dict[str, Any]) -> str:
    return f"{account['name']} ({account['sid']})" if account.get("name") else account["sid"]


def hygiene_line(hygiene: dict[str, Any]) -> str:
    """'4 recipients to remove from your lists: 2 opted out, 1 landline, 1 inactive.'"""
    if not hygiene["recipients"]:
        return "No recipients to remove from your lists."
    reasons = ", ".join(f"{n:,} {reason}" for reason, n in hygiene["by_reason"].items())
    return f"{plural(hygiene['recipients'], 'recipient')} to remove from your lists: {reasons}."


def evidence_line(evidence: dict[str, Any]) -> str:
    """'For Support (3 or more message SIDs from the last 24 hours):', noting a shortfall, and
    for asks other than message IDs (30007: contact links) how the SIDs lead there."""
    have = len(evidence["examples"])
    text = f"For Support ({evidence['ask']})"
    if have < evidence["needed"]:
        text += f": only {have} in that window so far"
    if not re.search(r"\b(SIDs?|IDs?)\b", evidence["what"]):
        text += "; these failed messages lead you to the contacts"
    return text + ":"


def summary_line(report: dict[str, Any]) -> str:
    """'5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the 24 h before · 2 codes.'"""
    if not report["total"]:
        return f"No failed or undelivered messages in the last {report['window_label']}."
    versus = change(report["total"], report["previous_total"])
    if report["previous_total"]:
        versus += f" in the {report['window_label']} before"
    return (f"{plural(report['total'], 'failure')} in the last {report['window_label']} · {versus} · "
            f"{plural(len(report['codes']), 'code')}.")


def fallback_text(report: dict[str, Any], limit: int = 3000) -> str:
    """The one-line notification text: title, total, the top codes."""
    text = f"{report['title']}: {summary_line(report)}"
    top = ", ".join(f"{c['code']} {c['title']} ({c['count']:,})" for c in report["codes"][:5])
    if top:
        text += f" Top: {top}."
    return clip(text, limit)


def render_text(report: DigestReport | dict[str, Any]) -> str:
    r = as_dict(report)
    lines = [r["title"], r["window_text"], "", summary_line(r)]
    if r["total"]:
        lines.append(f"7-day trend: {sparkline(r['daily_total'])}  (per 24 h, oldest first)")
    if len(r["accounts"]) > 1:
        lines.append("Accounts: " + "; ".join(f"{account_name(a)} {a['total']:,}" for a in r["accounts"]))
    for entry in r["codes"]:
        lines += ["", f"{entry['code']} · {entry['title']} · {entry['category_label']}",
                  f"  {plural(entry['count'], 'failure')}  {change(entry['count'], entry['previous'])}  "
                  f"7 days: {sparkline(entry['daily'])}"]
        if len(r["accounts"]) > 1:
            lines.append("  by account: " + ", ".join(f"{sid} {n:,}" for sid, n in entry["accounts"]))
        lines.append(f"  What it means: {entry['meaning']}")
        if entry["first_step"]:
            lines.append(f"  First step: {entry['first_step']}")
        evidence = entry.get("evidence")
        if evidence:
            lines.append("  " + evidence_line(evidence))
            lines += [f"    {e['sid']}  to {e['to']}" for e in evidence["examples"]]
        lines.append(f"  Docs: {entry['docs_url']}")
    hygiene = r["hygiene"]
    lines += ["", "List hygiene: " + hygiene_line(hygiene)]
    if hygiene["examples"]:
        lines.append("  e.g. " + ", ".join(f"{e['number']} ({e['reason']}, {e['code']})" for e in hygiene["examples"]))
        lines.append("  Full list (full numbers, for your own use): smserror hygiene --csv FILE")
    return "\n".join(lines) + "\n"
