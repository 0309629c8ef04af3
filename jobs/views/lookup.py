"""Lookup answers as views: the card for one code, a list to choose from, or a message.

The same view answers `/smserror` (ephemeral, with Share in channel), a shared card (who
shared it), a Teams @mention (an Adaptive Card) and `smserror lookup` in a terminal. A phone
number in what was typed comes back masked, on every surface.
"""

from __future__ import annotations

from jobs.views.actions import ActionId
from jobs.views.model import Action, Mention, Section, Strong, View, line
from storage.knowledge import CodeInfo, LookupResult
from storage.privacy import mask_lookup

MAX_CHOICES = 5


def card_view(info: CodeInfo, *, shareable: bool = False, shared_by: str | None = None) -> View:
    sections = []
    if info.meaning:
        sections.append(Section(title=line("What it means"), lines=(line(info.meaning),)))
    if info.steps:
        sections.append(Section(title=line("How to fix it"), steps=tuple(line(step) for step in info.steps)))
    if info.evidence:
        sections.append(Section(title=line("What Support will ask for"), lines=(line(f"{info.evidence.describe()}."),)))
    if info.notes:
        sections.append(Section(title=line("Good to know"), lines=tuple(line("• ", note) for note in info.notes)))
    note = line(f"Category: {info.category_label} · Product: {info.product or 'Twilio'}",
                *((" · Shared by ", Mention(shared_by)) if shared_by else ()))
    actions = [Action(ActionId.OPEN_DOCS, "Twilio docs", url=info.docs_url)]
    if shareable:
        actions.append(Action(ActionId.SHARE_IN_CHANNEL, "Share in channel", value=str(info.code)))
    sections.append(Section(note=note, actions=tuple(actions)))
    return View(title=f"{info.code} · {info.title}", sections=tuple(sections),
                fallback=f"Twilio error {info.code}: {info.title}")


def choices_view(result: LookupResult) -> View:
    lines = tuple(line("• ", Strong(str(info.code)), f" · {info.title}") for info in result.matches)
    buttons = tuple(Action(f"{ActionId.SHOW_CODE.value}_{n}", str(info.code), value=str(info.code))
                    for n, info in enumerate(result.matches[:MAX_CHOICES]))
    return View(title=result.message, header=False, fallback=result.message,
                sections=(Section(lines=(line(result.message), *lines)), Section(actions=buttons, divider=True)))


def lookup_view(result: LookupResult, *, shareable: bool = False) -> View:
    """Any lookup answer; what was typed is masked first."""
    result = mask_lookup(result)
    if result.kind == "card" and result.card:
        return card_view(result.card, shareable=shareable)
    if result.kind in ("matches", "did_you_mean") and result.matches:
        return choices_view(result)
    return View(title=result.message, header=False, sections=(Section(lines=(line(result.message),)),),
                fallback=result.message)
