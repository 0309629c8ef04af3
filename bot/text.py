"""Plain-text and JSON shapes of a lookup, shared by the CLI and any surface that posts plain text."""

from __future__ import annotations

from storage.knowledge import CodeInfo, LookupResult


def headline(card: CodeInfo) -> str:
    return f"{card.code} — {card.title}"


def render_card(card: CodeInfo) -> str:
    lines = [f"Error {headline(card)}"]
    facts = [fact for fact in (card.product, card.log_level, card.category_label) if fact]
    lines.append(" · ".join(facts))
    lines += ["", card.meaning]
    if card.steps:
        lines += ["", "How to fix it:"]
        lines += [f"  {n}. {step}" for n, step in enumerate(card.steps, 1)]
    if card.evidence:
        lines += ["", f"Evidence for Support: {card.evidence.describe()}."]
    if card.notes:
        lines += ["", "Notes:"]
        lines += [f"  - {note}" for note in card.notes]
    lines += ["", f"Docs: {card.docs_url}"]
    return "\n".join(lines)


def render_lookup(result: LookupResult) -> str:
    if result.kind == "card" and result.card:
        return render_card(result.card)
    lines = [result.message]
    lines += [f"  {headline(card)}" for card in result.matches]
    return "\n".join(lines)


def card_payload(card: CodeInfo) -> dict:
    evidence = card.evidence
    return {
        "code": card.code,
        "title": card.title,
        "product": card.product,
        "log_level": card.log_level,
        "meaning": card.meaning,
        "steps": list(card.steps),
        "category": card.category,
        "category_label": card.category_label,
        "evidence": (
            {"count": evidence.count, "window_hours": evidence.window_hours, "what": evidence.what, "text": evidence.describe()}
            if evidence
            else None
        ),
        "notes": list(card.notes),
        "source": card.source,
        "docs_url": card.docs_url,
    }


def lookup_payload(result: LookupResult) -> dict:
    """The JSON form: kind, query, message, card (or null) and matches (short cards)."""
    return {
        "kind": result.kind,
        "query": result.query,
        "message": result.message,
        "card": card_payload(result.card) if result.card else None,
        "matches": [
            {"code": c.code, "title": c.title, "category": c.category, "source": c.source, "docs_url": c.docs_url}
            for c in result.matches
        ],
    }
