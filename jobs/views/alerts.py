"""Real-time alerts as views, from an alert report (jobs/alerts.py `group_report`, as the outbox
stores it, numbers already masked): the post (`alert_view`, also what an edit re-renders), the
thread reply for more failures (`reply_view`), the resolved note (`resolved_view`) and the
ephemeral "Show examples" answer (`examples_view`).

States: firing (Acknowledge, the Snooze menu, Show examples, Twilio docs), acknowledged (who and
when), snoozed (who and until when; the menu adds Unsnooze), resolved (only examples and docs).
A fleet alert (kind "fleet": one code hitting many accounts at once) has the same states; it
says it is probably carrier- or platform-side and its facts are the accounts it has hit.
"""

from __future__ import annotations

from typing import Any

from jobs.rules import SNOOZE_CHOICES
from jobs.views.actions import ActionId
from jobs.views.digest import account_name
from jobs.views.model import (
    Action,
    Code,
    Fact,
    Line,
    Link,
    Mention,
    Option,
    Section,
    Strong,
    Time,
    View,
    account_label,
    line,
)

MAX_STEPS = 5
MAX_FLEET_ACCOUNTS = 20
TWILIO_STATUS = "https://status.twilio.com"
UNSNOOZE = "unsnooze"


def plural_failures(count: int) -> str:
    return f"{count} failure{'s' if count != 1 else ''}"


def clinics(count: int) -> str:
    return f"{count} clinic{'s' if count != 1 else ''}"


def headline(report: dict[str, Any]) -> str:
    """One plain line: what, where, how many (the notification text)."""
    if report["kind"] == "fleet":
        return (f"{report['title']} ({report['error_code']}) in {clinics(len(report['accounts']))} at once: "
                f"{plural_failures(report['count'])}")
    scope = account_name({"sid": report["account_sid"], "name": report.get("account_name")})
    scope += f" / {report['service_sid']}" if report.get("service_sid") else ""
    return f"{report['title']} ({report['error_code']}) on {scope}: {plural_failures(report['count'])}"


def what_happened(report: dict[str, Any]) -> Line:
    """How many since when (and the rate, for a spike; what a fleet alert means)."""
    if report["kind"] == "fleet":
        rule = report["fleet"]
        return line(f"Probably carrier- or platform-side: the same code hit {clinics(len(report['accounts']))} at "
                    f"once, each with at least {plural_failures(rule['min_per_account'])} within "
                    f"{duration_label(rule['window'])}. {plural_failures(report['count'])} across the fleet since ",
                    Time(report["first_seen"]), ", latest ", Time(report["last_seen"]), ". Check ",
                    Link(TWILIO_STATUS, "Twilio's status page"), " before changing anything in one clinic.")
    if report["kind"] == "spike" and report.get("spike"):
        spike = report["spike"]
        return line(f"Spike: {spike['last_hour']} failures in the last hour against a usual "
                    f"{spike['baseline_per_hour']}/hour; {report['count']} since ", Time(report["first_seen"]), ".")
    return line(f"{plural_failures(report['count'])} since ", Time(report["first_seen"]), ", latest ",
                Time(report["last_seen"]), ".")


def _fleet_facts(report: dict[str, Any]) -> tuple[Fact, ...]:
    """The accounts a fleet alert has hit, most failures first."""
    accounts = report["accounts"]
    facts = [Fact(account_name(a), line(plural_failures(a["count"]))) for a in accounts[:MAX_FLEET_ACCOUNTS]]
    if len(accounts) > MAX_FLEET_ACCOUNTS:
        facts.append(Fact("More", line(f"{clinics(len(accounts) - MAX_FLEET_ACCOUNTS)} more")))
    return tuple(facts)


def _facts(report: dict[str, Any]) -> tuple[Fact, ...]:
    if report["kind"] == "fleet":
        return _fleet_facts(report)
    facts = [
        Fact("Account", account_label(report["account_sid"], report.get("account_name"))),
        Fact("Messaging service", line(Code(report["service_sid"])) if report.get("service_sid") else line("—")),
        Fact("Category", line(report.get("category_label") or report.get("category") or "Other")),
        Fact("Failures", line(str(report["count"]))),
    ]
    if report.get("senders"):
        facts.append(Fact("Sender", line(", ".join(report["senders"]))))
    latest = report.get("latest") or {}
    if latest:
        facts.append(Fact("Latest", line(Code(latest["sid"]), f" to {latest['recipient']}")))
    return tuple(facts)


def _state(report: dict[str, Any]) -> Line:
    if report.get("state") == "resolved":
        quiet = "no longer hitting several clinics at once" if report["kind"] == "fleet" else "no new failures"
        return line("✅ Resolved ", Time(report.get("resolved_at") or 0), f": {quiet} since ",
                    Time(report["last_seen"]))
    parts: list = []
    if report.get("acked_by"):
        parts += ["👀 Acknowledged by ", Mention(report["acked_by"]), " ", Time(report.get("acked_at") or 0)]
    if report.get("snoozed_until"):
        by = ["by ", Mention(report["snoozed_by"]), " "] if report.get("snoozed_by") else []
        parts += [" · " if parts else "", "💤 Snoozed ", *by, "until ", Time(report["snoozed_until"])]
    woke = report.get("after_snooze")
    if woke:
        by = [" by ", Mention(woke["by"])] if woke.get("by") else []
        missed = plural_failures(woke.get("missed") or 0)
        parts += [" · " if parts else "", "🔁 The snooze", *by,
                  f" has ended and it is still failing: {missed} since it was snoozed"]
    elif report.get("repeat"):
        parts += [" · " if parts else "",
                  "🔁 Still failing: this alert repeats because the group was not acknowledged"]
    return line(*parts)


def duration_label(seconds: int) -> str:
    """3600 -> "1 h", 86400 -> "24 h", 604800 -> "7 d"."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0 and (unit != "d" or seconds >= 2 * size):
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def snooze_value(key: str, seconds: int | None) -> str:
    """A Snooze menu option's value: the duration (or "unsnooze"), then the group key. Slack allows
    150 characters; a key is at most ~80 (AC…:code:MG…)."""
    return f"{UNSNOOZE if seconds is None else int(seconds)}:{key}"


def read_snooze_value(value: str) -> tuple[str, int | None] | None:
    """(group key, seconds or None to unsnooze) from an option's value; None if it is not one."""
    head, _, key = value.partition(":")
    if not key or not (head == UNSNOOZE or head.isdecimal()):
        return None
    return key, None if head == UNSNOOZE else int(head)


def snooze_menu(report: dict[str, Any]) -> Action:
    key = report["group"]
    options = [Option(duration_label(seconds), snooze_value(key, seconds))
               for seconds in report.get("snooze_choices") or SNOOZE_CHOICES]
    if report.get("snoozed_until"):
        options.append(Option("Unsnooze", snooze_value(key, None)))
    return Action(ActionId.ALERT_SNOOZE, "Snooze", options=tuple(options))


def alert_actions(report: dict[str, Any]) -> tuple[Action, ...]:
    key = report["group"]
    actions = []
    if report.get("state") != "resolved":
        if not report.get("acked_by"):
            actions.append(Action(ActionId.ALERT_ACK, "Acknowledge", value=key, primary=True))
        actions.append(snooze_menu(report))
    actions.append(Action(ActionId.ALERT_EXAMPLES, "Show examples", value=key))
    if report.get("docs_url"):
        actions.append(Action(ActionId.OPEN_DOCS, "Twilio docs", url=report["docs_url"]))
    return tuple(actions)


def alert_view(report: dict[str, Any]) -> View:
    """The top-level alert message (also what an edit re-renders)."""
    resolved = report.get("state") == "resolved"
    icon = "✅" if resolved else {"account": "🚨", "fleet": "🌐"}.get(report["kind"], "📈")
    sections = [
        Section(title=line(f"{icon} {report['title']} (", Code(str(report["error_code"])), ")",
                           " resolved" if resolved else ""),
                lines=(what_happened(report),), facts=_facts(report)),
    ]
    if not resolved:
        if report.get("meaning"):
            sections.append(Section(title=line("What it means"), lines=(line(report["meaning"]),)))
        if report.get("steps"):
            sections.append(Section(title=line("What to do"),
                                    steps=tuple(line(step) for step in report["steps"][:MAX_STEPS])))
    sections.append(Section(note=_state(report), actions=alert_actions(report)))
    fallback = ("Resolved: " if resolved else "") + headline(report)
    return View(title=headline(report), header=False, sections=tuple(sections), fallback=fallback,
                mention="" if resolved else (report.get("mention") or ""), tone="good" if resolved else "alert")


def reply_view(report: dict[str, Any]) -> View:
    """Thread reply under the alert: more failures of the same group."""
    latest = report.get("latest") or {}
    new = report.get("new_failures") or 0
    if report.get("reopened"):
        text = line(f"Failing again: {new} new failure{'s' if new != 1 else ''} after it was resolved; "
                    f"{report['count']} in this incident.")
    else:
        where = f", in {clinics(len(report['accounts']))}" if report["kind"] == "fleet" else ""
        text = line(f"+{new} more failure{'s' if new != 1 else ''}, {report['count']} in all{where}.")
    if latest:
        text += line(" Latest ", Code(latest["sid"]), f" to {latest['recipient']} ",
                     Time(latest.get("sent_at") or 0), ".")
    return View(title=headline(report), header=False, sections=(Section(lines=(text,)),),
                fallback=f"{report['title']} ({report['error_code']}): {report['count']} failures")


def resolved_view(report: dict[str, Any]) -> View:
    """The note when the group has been quiet long enough (a thread reply in Slack)."""
    hours, minutes = divmod(int(report.get("quiet_for") or 0) // 60, 60)
    fleet = report["kind"] == "fleet"
    quiet = "has not hit several clinics at once" if fleet else "failures"
    text = line(f"✅ Resolved: {'' if fleet else 'no '}{report['error_code']} {quiet} for {hours} h {minutes:02d} min "
                "(last ", Time(report["last_seen"]), f"). {report['count']} in this incident"
                + (f", in {clinics(len(report['accounts']))}." if fleet else "."))
    return View(title=f"Resolved: {report['title']} ({report['error_code']})", header=False,
                sections=(Section(lines=(text,), facts=() if fleet else _facts(report)[:2]),),
                fallback="Resolved: " + headline(report), tone="good")


def examples_view(report: dict[str, Any] | None, examples: list[dict[str, Any]]) -> View:
    """The ephemeral "Show examples" answer: message SIDs with time and masked numbers."""
    if report is None:
        text = "This alert is no longer in the store."
        return View(title=text, header=False, sections=(Section(lines=(line(text),)),), fallback=text)
    if not examples:
        text = f"No stored failures for {report['title']} ({report['error_code']}) in this incident."
        return View(title=text, header=False, sections=(Section(lines=(line(text),)),), fallback=text)
    lines = tuple(line("• ", Code(e["sid"]), " ", Time(e["sent_at"]), f" from {e['sender']} to {e['recipient']}")
                  for e in examples)
    head = line(Strong(f"Latest {len(examples)} of {report['count']}: {report['title']} ({report['error_code']})"))
    return View(title="Examples", header=False, sections=(Section(lines=(head, *lines)),),
                fallback="Examples: " + ", ".join(e["sid"] for e in examples))
