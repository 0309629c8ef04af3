"""The digest as views: the scannable top-level post (`digest_view`) and its thread, which
carries the full meaning and every fix step of each listed code (`fixes_view`).

Input is a DigestReport's dict (jobs/digest.py; what the outbox stores). The fleet's digest
leads with the clinics that changed most against the previous window. The busiest
MAX_CODES codes get a section each and the tail folds into one line, so the post stays within
Block Kit's 50 blocks and Teams' 28 KB whatever the day; the text emitter shows what it is given.
"""

from __future__ import annotations

from typing import Any

from jobs.views.model import Code, Fact, Line, Link, Section, Strong, View, account_label, clip, line

MAX_CODES = 15  # sections with detail; readable on a phone
MAX_ACCOUNTS = 10
MAX_ACCOUNTS_PER_CODE = 6
MEANING_LIMIT = 700
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
    """'Glow Clinic (AC…)': the friendly name first, the SID always."""
    return f"{account['name']} ({account['sid']})" if account.get("name") else account["sid"]


def hygiene_line(hygiene: dict[str, Any]) -> str:
    """'4 recipients to remove from your lists: 2 opted out, 1 landline, 1 inactive. 1 number to
    correct (wrong format or a typo).'"""
    fix = hygiene.get("to_correct", 0)
    to_correct = f" {plural(fix, 'number')} to correct (wrong format or a typo)." if fix else ""
    if not hygiene["recipients"]:
        return "No recipients to remove from your lists." + to_correct
    # most first: the outbox stores the report with its keys sorted, so the dict's order is lost
    by_count = sorted(hygiene["by_reason"].items(), key=lambda kv: (-kv[1], kv[0]))
    reasons = ", ".join(f"{n:,} {reason}" for reason, n in by_count)
    return f"{plural(hygiene['recipients'], 'recipient')} to remove from your lists: {reasons}." + to_correct


def evidence_line(evidence: dict[str, Any]) -> str:
    """'For Support (3 or more message IDs from the last 24 hours):', noting a shortfall
    ('only 2 contacts in that window so far')."""
    have = len(evidence["examples"])
    text = f"For Support ({evidence['ask']})"
    if have < evidence["needed"]:
        text += f": only {plural(have, evidence.get('unit') or 'message')} in that window so far"
    return text + ":"


def contact_route(code: int) -> Line:
    """How the operator turns a masked contact into the contact link Support wants."""
    return line("Find each contact in the Inbox by their number, open their details and copy the link "
                "from the browser. Their full numbers, for your own use only: ",
                Code(f"smserror evidence {code} --csv FILE"))


def summary_line(report: dict[str, Any]) -> str:
    """'5 failures in the last 24 h · ▲ +1 (+25%) vs 4 in the 24 h before · 2 codes.'"""
    if not report["total"]:
        return f"No failed or undelivered messages in the last {report['window_label']}."
    versus = change(report["total"], report["previous_total"])
    if report["previous_total"]:
        versus += f" in the {report['window_label']} before"
    return (f"{plural(report['total'], 'failure')} in the last {report['window_label']} · {versus} · "
            f"{plural(len(report['codes']), 'code')}.")


def fallback_text(report: dict[str, Any]) -> str:
    """The one-line notification text: title, total, the top codes."""
    text = f"{report['title']}: {summary_line(report)}"
    top = ", ".join(f"{c['code']} {c['title']} ({c['count']:,})" for c in report["codes"][:5])
    return text + (f" Top: {top}." if top else "")


def _summary(r: dict[str, Any]) -> Section:
    accounts = r["accounts"] if len(r["accounts"]) > 1 else []
    facts = tuple(Fact(account_name(a), line(plural(a["total"], "failure"))) for a in accounts[:MAX_ACCOUNTS])
    more = len(accounts) - MAX_ACCOUNTS
    return Section(
        lines=(line(Strong(summary_line(r))),
               line("7-day trend ", Code(sparkline(r["daily_total"])), " (per 24 h, oldest first)")),
        facts=facts,
        note=line(f"…and {plural(more, 'more account')}") if more > 0 else (),
    )


def _changed(changed: list[dict[str, Any]]) -> Section:
    """The fleet's clinics whose failures changed most, up or down."""
    return Section(title=line("Clinics that changed most"),
                   facts=tuple(Fact(account_name(a), line(plural(a["total"], "failure"), " · ",
                                                          change(a["total"], a["previous"])))
                               for a in changed))


def _by_account(entry: dict[str, Any], names: dict[str, str]) -> Line:
    shown = entry["accounts"][:MAX_ACCOUNTS_PER_CODE]
    spans: list = ["By account: "]
    for n, (sid, count) in enumerate(shown):
        spans += [" · " if n else "", *account_label(sid, names.get(sid)), f" {count:,}"]
    more = len(entry["accounts"]) - len(shown)
    return line(*spans, f" · and {more} more" if more > 0 else "")


def code_section(entry: dict[str, Any], names: dict[str, str] | None) -> Section:
    """`names` (account SID -> friendly name) when the digest covers several accounts: the
    section then says which accounts the failures came from."""
    lines = [line(Strong(plural(entry["count"], "failure")), f" · {change(entry['count'], entry['previous'])}",
                  " · 7 days ", Code(sparkline(entry["daily"])))]
    if names is not None:
        lines.append(_by_account(entry, names))
    lines.append(line(clip(entry["meaning"], MEANING_LIMIT)))
    if entry["first_step"]:
        lines.append(line(Strong("First step: "), entry["first_step"]))
    evidence = entry.get("evidence")
    if evidence:
        if evidence.get("unit") == "contact":
            lines.append(contact_route(entry["code"]))
        lines.append(line(Strong(evidence_line(evidence))))
    return Section(
        title=line(f"{entry['code']} · {entry['title']} · {entry['category_label']}"),
        lines=tuple(lines),
        mono=tuple(f"{e['sid']}  to {e['to']}" for e in evidence["examples"]) if evidence else (),
        note=line(Link(entry["docs_url"], f"Twilio docs for {entry['code']}")),
        divider=True,
    )


def _more_codes(rest: list[dict[str, Any]]) -> Section:
    failures = sum(e["count"] for e in rest)
    listing = ", ".join(f"{e['code']} ({e['count']:,})" for e in rest)
    return Section(note=line(clip(f"…and {plural(len(rest), 'more code')} ({plural(failures, 'failure')}): "
                                   f"{listing}", 1500)), divider=True)


def _hygiene(hygiene: dict[str, Any]) -> Section:
    lines = [line(Strong("List hygiene"), " · ", hygiene_line(hygiene))]
    if hygiene["examples"]:
        examples: list = ["For example: "]
        for n, e in enumerate(hygiene["examples"]):
            examples += [", " if n else "", Code(e["number"]), f" {e['reason']} ({e['code']})"]
        lines += [line(*examples),
                  line("The full list (full numbers, for your own use only): ", Code("smserror hygiene --csv FILE"))]
    return Section(lines=tuple(lines), divider=True)


def digest_view(r: dict[str, Any], *, full: bool = False) -> View:
    """The top-level post. `full`: every code gets its section (the terminal has no limits)."""
    subtitle = line(f"{r['window_text']} · times in {r['timezone']}")
    if not r["total"]:
        sections = [Section(lines=(line("✅ ", summary_line(r)),))]
        if r["hygiene"]["recipients"]:
            sections.append(_hygiene(r["hygiene"]))
        return View(title=r["title"], subtitle=subtitle, sections=tuple(sections), fallback=fallback_text(r),
                    tone="good")
    names = {a["sid"]: a["name"] for a in r["accounts"]} if len(r["accounts"]) > 1 else None
    codes = r["codes"] if full else r["codes"][:MAX_CODES]
    sections = [*([_changed(r["changed"])] if r.get("changed") else []), _summary(r),
                *(code_section(entry, names) for entry in codes)]
    if len(r["codes"]) > len(codes):
        sections.append(_more_codes(r["codes"][len(codes):]))
    sections.append(_hygiene(r["hygiene"]))
    return View(title=r["title"], subtitle=subtitle, sections=tuple(sections), fallback=fallback_text(r))


def fixes_view(r: dict[str, Any]) -> View:
    """The digest's thread: what each listed code means and every step to fix it."""
    sections = tuple(
        Section(title=line(f"{e['code']} · {e['title']}"), lines=(line(e["meaning"]),),
                steps=tuple(line(step) for step in (e.get("steps") or [e["first_step"]]) if step),
                divider=n > 0)
        for n, e in enumerate(r["codes"][:MAX_CODES]))
    return View(title=f"How to fix: {r['title']}", header=False, sections=sections,
                fallback=f"How to fix each code in {r['title']}")
