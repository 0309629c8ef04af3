"""A View as plain text, for the terminal (`smserror digest --dry-run`, `lookup`, stdout
delivery): no markup, times in UTC, links written out, nothing clipped."""

from __future__ import annotations

from jobs.views.model import Section, View, plain


def section_lines(section: Section) -> list[str]:
    lines = [plain(section.title)] if section.title else []
    indent = "  " if section.title else ""
    lines += [indent + plain(line) for line in section.lines]
    lines += [f"{indent}{f.label}: {plain(f.value) or '—'}" for f in section.facts]
    lines += [f"{indent}{n}. {plain(step)}" for n, step in enumerate(section.steps, 1)]
    lines += [f"{indent}    {mono}" for mono in section.mono]
    if section.note:
        lines.append(indent + plain(section.note))
    lines += [f"{indent}{a.label}: {a.url}" for a in section.actions if a.url]
    return lines


def text(view: View) -> str:
    lines = [view.title] if view.header else []
    if view.subtitle:
        lines.append(plain(view.subtitle))
    for section in view.sections:
        body = section_lines(section)
        if body:
            if lines:
                lines.append("")
            lines += body
    return "\n".join(lines) + "\n"
