"""smserror's alerts about itself as views, from a watch report (jobs/watch.py): the post, also
what an edit re-renders (`watch_view`: firing or resolved), and the "working again" thread reply
(`working_again_view`)."""

from __future__ import annotations

from typing import Any

from jobs.views.model import Code, Fact, Section, Time, View, line


def _facts(report: dict[str, Any]) -> tuple[Fact, ...]:
    return tuple(Fact(label, line(Code(value) if mono else value)) for label, value, mono in report.get("facts") or ())


def watch_view(report: dict[str, Any]) -> View:
    resolved = report.get("state") == "resolved"
    if resolved:
        head = line("✅ ", report["title"], ": working again")
        when = line("Working again since ", Time(report["resolved_at"]), ", after failing since ",
                    Time(report["since"]), ".")
    else:
        head = line("⚠️ ", report["title"])
        when = line(report["cause"], ". Failing since ", Time(report["since"]), ".")
    sections = [Section(title=head, lines=(when,), facts=_facts(report))]
    if not resolved and report.get("fix"):
        sections.append(Section(title=line("What to do"), steps=(line(report["fix"]),)))
    fallback = f"Working again: {report['title']}" if resolved else f"{report['title']}: {report['cause']}"
    return View(title=report["title"], header=False, sections=tuple(sections), fallback=fallback,
                tone="good" if resolved else "alert")


def working_again_view(report: dict[str, Any]) -> View:
    minutes = max(0, int(report["resolved_at"]) - int(report["since"])) // 60
    text = line("✅ Working again ", Time(report["resolved_at"]), f" after {minutes} min: ", report["title"], ".")
    return View(title=f"Working again: {report['title']}", header=False, sections=(Section(lines=(text,)),),
                fallback=f"Working again: {report['title']}", tone="good")
