"""Retention: what the store forgets once it is older than SMSERROR_RETENTION_DAYS.

Failures hold full phone numbers, which are personal data: deleting them is what bounds how
long we keep them. The other tables that grow without end go too: delivered outbox rows,
digest runs, and alert groups resolved long ago (stream_events prunes itself).

Deletes run in batches, one transaction each, with a short pause between them, so callbacks and
the courier keep writing while a large backlog is pruned. A batch is at most BATCH rows, fewer
when deleting them holds the write lock longer than LOCK_BUDGET: the cost is in the index pages
a delete touches, and random message SIDs (Twilio's are) scatter those across the store. Measured
on a million failures, 5,000 rows held the lock 15 ms with keys in time order, 280 ms with random
SIDs, 420 ms with rows scattered at random; sized by the budget, 50 ms at the median.

What the service still needs stays, whatever its age: unsent outbox rows; the failures of an
incident still open (its count is read from them: deleted, the alert would stop counting until
new ones outnumbered them), until it resolves; the outbox rows of an incident still open or
snoozed (its edits and replies need its post's reference); a snoozed group.
"""

from __future__ import annotations

import time

import sqlite_utils

from storage.db import transaction

BATCH = 5000
FIRST_BATCH = 1000  # quick wherever the rows lie; the next batches are sized by how long it took
MIN_BATCH = 100
LOCK_BUDGET = 0.05  # seconds a batch should hold the write lock: a callback waits at most about that
PAUSE_SECONDS = 0.02  # between batches: lets a writer waiting on the lock in before the next one

# table -> which rows are old enough to go, given :cutoff (epoch seconds). `x < :cutoff` is false
# for NULL: an unsent outbox row never matches. A group's key is jobs.alerts.group_key's.
_OPEN = "g.posted_at IS NOT NULL AND g.resolved_at IS NULL"
_OLD = {
    "failures": "sent_at < :cutoff AND NOT EXISTS (SELECT 1 FROM alert_groups g WHERE g.key = failures.account_sid"
                " || ':' || failures.error_code || ':' || COALESCE(NULLIF(failures.service_sid, ''), '-')"
                f" AND failures.sent_at >= g.first_seen AND {_OPEN})",
    "outbox": "sent_at < :cutoff AND NOT EXISTS (SELECT 1 FROM alert_groups g WHERE g.key ="
              " json_extract(outbox.payload, '$.group') AND g.posted_at = json_extract(outbox.payload, '$.posted_at')"
              f" AND ({_OPEN} OR g.snoozed_until IS NOT NULL))",
    "digest_runs": "ran_at < :cutoff",
    "alert_groups": "resolved_at < :cutoff AND last_seen < :cutoff AND snoozed_until IS NULL",
}


def cutoff_for(now: float, days: int) -> int:
    return int(now) - days * 86400


def prune(db: sqlite_utils.Database, cutoff: int, *, batch: int = BATCH,
          pause: float = PAUSE_SECONDS) -> dict[str, int]:
    """Delete what is older than `cutoff` (epoch seconds) from each table; {table: rows deleted}."""
    return {table: _delete_in_batches(db, table, where, cutoff, batch, pause) for table, where in _OLD.items()}


def _delete_in_batches(db: sqlite_utils.Database, table: str, where: str, cutoff: int, batch: int,
                       pause: float) -> int:
    deleted, size = 0, min(batch, FIRST_BATCH)
    while True:
        started = time.monotonic()
        with transaction(db):
            count = db.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where} LIMIT :size)",
                {"cutoff": cutoff, "size": size},
            ).rowcount
        deleted += count
        if count < size:
            return deleted
        took = max(time.monotonic() - started, 0.001)
        size = min(batch, max(MIN_BATCH, int(size * LOCK_BUDGET / took)))
        time.sleep(pause)
