"""The JSON form of a lookup (`smserror lookup --json`): a stable shape for scripts."""

from __future__ import annotations

from storage.knowledge import CodeInfo, LookupResult


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
            {"count": evidence.count, "window_hours": evidence.window_hours, "what": evidence.what,
             "status": evidence.status, "per_contact": evidence.per_contact, "text": evidence.describe()}
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
