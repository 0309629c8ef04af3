"""The answers of `/smserror help|top|status|examples` as views, from jobs/overview.py's dicts.

The sections for Twilio reads, delivery, open alerts and top codes also make up the App Home
(jobs/views/home.py). Long lists are capped with "…and N more", so an answer fits one message
(50 blocks) whatever the store holds.
"""

from __future__ import annotations

from typing import Any

from jobs.views.alerts import examples_view, plural_failures
from jobs.views.digest import account_name, change, plural, summary_line
from jobs.views.model import Code, Line, Link, Mention, Section, Strong, Time, View, account_label, line

MAX_CODES = 10
MAX_ACCOUNTS = 10
MAX_ALERTS = 10

# (what to type after /smserror, what it answers)
USAGE = (
    ("30007", "what a Twilio error code means and how to fix it"),
    ("opted out", "search the codes by words"),
    ("top 7d", "the most frequent codes of the last 24h (the default) or 7d, "
               "with the change against the window before"),
    ("status", "when each Twilio account was last read, the delivery backlog and the open alerts"),
    ("examples 30007", "the latest failed messages with a code: SIDs and masked numbers, for Support"),
    ("help", "this list"),
)


def message_view(text: str) -> View:
    """A one-line answer (a usage hint, an empty result)."""
    return View(title=text, header=False, sections=(Section(lines=(line(text),)),), fallback=text)


def help_view() -> View:
    lines = tuple(line(Code(f"/smserror {typed}"), f" · {what}") for typed, what in USAGE)
    return View(title="smserror commands", sections=(Section(
        lines=lines, note=line("Answers are visible only to you. Open smserror's Home tab for the open alerts "
                               "and the day's top codes.")),),
        fallback="smserror commands: " + ", ".join(f"/smserror {typed}" for typed, _ in USAGE))


# -- top codes ---------------------------------------------------------------------------

def code_section(rank: int, entry: dict[str, Any]) -> Section:
    lines = [line(Strong(f"{rank}. {entry['code']} · {entry['title']}"), " · ",
                  f"{plural(entry['count'], 'failure')} · {change(entry['count'], entry['previous'])} · ",
                  Link(entry["docs_url"], "docs"))]
    if entry["first_step"]:
        lines.append(line("First step: ", entry["first_step"]))
    return Section(lines=tuple(lines))


def top_sections(top: dict[str, Any], limit: int, title: Line = ()) -> list[Section]:
    """The summary, one section per code up to `limit`, and the rest in one line."""
    sections = [Section(title=title, lines=(line(Strong(summary_line(top))),), divider=bool(title))]
    sections += [code_section(n, entry) for n, entry in enumerate(top["codes"][:limit], 1)]
    rest = top["codes"][limit:]
    if rest:
        failures = sum(entry["count"] for entry in rest)
        sections.append(Section(note=line(f"…and {plural(len(rest), 'more code')} ({plural(failures, 'failure')}).")))
    return sections


def top_view(top: dict[str, Any]) -> View:
    """`/smserror top [24h|7d]`."""
    return View(title=f"Top error codes · last {top['window_label']}",
                subtitle=line(Time(top["start"]), " – ", Time(top["end"])),
                sections=tuple(top_sections(top, MAX_CODES)),
                fallback=f"Top error codes, last {top['window_label']}: {summary_line(top)}")


# -- status ------------------------------------------------------------------------------

def accounts_section(accounts: list[dict[str, Any]]) -> Section:
    """When each Twilio account was last read whole; failing and stale accounts first."""
    title = line("Twilio")
    if not accounts:
        return Section(title=title, divider=True, lines=(line(
            "No Twilio account has been read yet: polling is not configured, or the first poll has not finished."),))
    ordered = sorted(accounts, key=lambda a: (not a["last_error"], a["last_ok_at"] or 0, a["sid"]))
    lines = []
    for account in ordered[:MAX_ACCOUNTS]:
        read = line("last read ", Time(account["last_ok_at"])) if account["last_ok_at"] else line("never read")
        if account.get("streamed"):
            read += (" · Event Streams, swept hourly",)
        failing = line(" · ⚠️ latest attempt failed: ", account["last_error"]) if account["last_error"] else ()
        lines.append(line("• ", account_name(account), ": ") + read + failing)
    rest = ordered[MAX_ACCOUNTS:]
    failing_rest = sum(1 for a in rest if a["last_error"])
    note = line(f"…and {plural(len(rest), 'more account')}", f", {failing_rest} failing" if failing_rest else "") \
        if rest else ()
    return Section(title=title, lines=tuple(lines), note=note, divider=True)


def delivery_section(delivery: dict[str, Any]) -> Section:
    if delivery["pending"]:
        backlog = line(f"⚠️ {plural(delivery['pending'], 'message')} waiting to be sent, the oldest queued ",
                       Time(delivery["oldest_at"]),
                       f". Latest error: {delivery['last_error']}" if delivery["last_error"] else ".")
    else:
        backlog = line("Nothing waiting to be sent.")
    if delivery["leader_is_me"]:
        role = line("This instance leads: it polls Twilio and delivers.")
    elif delivery["leader"]:
        role = line("This instance stands by; ", Code(delivery["leader"]), " leads: it polls Twilio and delivers.")
    else:
        role = line("⚠️ No instance leads right now: nothing is polled or delivered until one does.")
    return Section(title=line("Delivery"), lines=(backlog, role), divider=True)


def alert_icon(alert: dict[str, Any]) -> str:
    return "🚨" if alert["kind"] == "account" else "📈"


def alert_state(alert: dict[str, Any]) -> Line:
    """Who acknowledged it and until when it is snoozed, if anyone did."""
    parts: list = []
    if alert.get("acked_by"):
        parts += ["👀 acknowledged by ", Mention(alert["acked_by"])]
    if alert.get("snoozed_until"):
        parts += [" · " if parts else "", "💤 snoozed until ", Time(alert["snoozed_until"])]
    return line(*parts)


def alert_line(alert: dict[str, Any]) -> Line:
    state = alert_state(alert)
    return (line(f"{alert_icon(alert)} ", Strong(alert["title"]), " (", Code(str(alert["error_code"])), ") · ")
            + account_label(alert["account_sid"], alert.get("account_name"))
            + line(f" · {plural_failures(alert['count'])} since ", Time(alert["first_seen"]))
            + (line(" · ") + state if state else ())
            + (line(" · ", Link(alert["link"], "open")) if alert.get("link") else ()))


def alerts_title(count: int) -> Line:
    return line(f"Open alerts ({count})" if count else "Open alerts")


def more_alerts(rest: int) -> list[Section]:
    return [Section(note=line(f"…and {plural(rest, 'more open alert')}."))] if rest > 0 else []


def status_view(status: dict[str, Any]) -> View:
    """`/smserror status`."""
    alerts = status["alerts"]
    sections = [accounts_section(status["accounts"]), delivery_section(status["delivery"]),
                Section(title=alerts_title(len(alerts)), divider=True,
                        lines=() if alerts else (line("No open alerts."),))]
    sections += [Section(lines=(alert_line(alert),)) for alert in alerts[:MAX_ALERTS]]
    sections += more_alerts(len(alerts) - MAX_ALERTS)
    failing = sum(1 for a in status["accounts"] if a["last_error"])
    fallback = (f"smserror status: {plural(len(status['accounts']), 'Twilio account')}"
                f"{f' ({failing} failing)' if failing else ''}, {status['delivery']['pending']} waiting to be sent, "
                f"{plural(len(alerts), 'open alert')}")
    return View(title="smserror status", sections=tuple(sections), fallback=fallback)


# -- examples ----------------------------------------------------------------------------

def code_examples_view(found: dict[str, Any]) -> View:
    """`/smserror examples CODE`: the same list as an alert's Show examples."""
    if not found["examples"]:
        return message_view(f"No stored failures with code {found['error_code']} ({found['title']}).")
    return examples_view(found, found["examples"])
