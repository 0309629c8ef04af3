"""Failures in, alerts queued: the one write every ingest path makes (poll, status callbacks,
Event Streams), so a failure and the alert it calls for commit together or not at all. Once
`ingest` returns, the alert is durable; Twilio is answered 200 only after that."""

from __future__ import annotations

from jobs import alerts
from jobs.alerts import ObserveResult
from jobs.rules import Rules
from storage.db import transaction
from storage.failures import UpsertResult, upsert_failures


def ingest(db, rows: list[dict], source: str, now: int, rules: Rules) -> tuple[UpsertResult, ObserveResult]:
    """Upsert `rows` and observe the failures seen for the first time, in one transaction."""
    with transaction(db):
        stored = upsert_failures(db, rows, source, now)
        observed = alerts.observe(db, stored.new, now, rules)
    return stored, observed
