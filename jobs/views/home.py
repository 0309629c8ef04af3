"""The App Home tab as a view, from jobs/overview.py `home`: the open alerts with their buttons,
the top codes of the last 24 h, when each Twilio account was last read, delivery, and when the
next digest is due.

A Home tab takes 100 blocks, a message 50 (the Slack emitter's own cap): this stays under 50
whatever the store holds: MAX_ALERTS alerts (three blocks each), MAX_CODES codes and the
accounts of jobs/views/commands.py, the rest counted ("…and N more").
"""

from __future__ import annotations

from typing import Any

from jobs.views.alerts import alert_actions, what_happened
from jobs.views.commands import (
    accounts_section,
    alert_icon,
    alert_state,
    alerts_title,
    delivery_section,
    more_alerts,
    top_sections,
)
from jobs.views.model import Code, Link, Section, Time, View, account_label, line

MAX_ALERTS = 8
MAX_CODES = 5


def alert_section(report: dict[str, Any]) -> Section:
    state = alert_state(report)
    link = line(Link(report["link"], "Open in channel")) if report.get("link") else ()
    return Section(
        title=line(f"{alert_icon(report)} {report['title']} (", Code(str(report["error_code"])), ")"),
        lines=(account_label(report["account_sid"], report.get("account_name")) + (" · ",) + what_happened(report),),
        note=state + (line(" · ") if state and link else ()) + link,
        actions=alert_actions(report))


def home_view(home: dict[str, Any]) -> View:
    subtitle = line("Updated ", Time(home["now"]),
                    *((" · next digest ", Time(home["next_digest"])) if home["next_digest"] else ()))
    alerts = home["alerts"]
    sections = [Section(title=alerts_title(home["open"]), lines=() if alerts else (line("✅ No open alerts."),))]
    sections += [alert_section(report) for report in alerts]
    sections += more_alerts(home["open"] - len(alerts))
    sections += top_sections(home["top"], MAX_CODES, title=line(f"Top codes, last {home['top']['window_label']}"))
    sections += [accounts_section(home["accounts"]), delivery_section(home["delivery"]),
                 Section(note=line("Type ", Code("/smserror help"), " for every command."), divider=True)]
    return View(title="smserror", subtitle=subtitle, sections=tuple(sections),
                fallback=f"smserror: {home['open']} open alert{'s' if home['open'] != 1 else ''}")
