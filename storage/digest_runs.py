"""Which scheduled digests have gone out: one row per period in `digest_runs`, so a digest is
never sent twice, whether the cron job, the start-up catch-up or a second process gets there.

A period is claimed (INSERT OR IGNORE on the primary key) in the same transaction that
enqueues its posts; whoever inserts the row owns the period.
"""

from __future__ import annotations

import sqlite_utils


def has_run(db: sqlite_utils.Database, period: str) -> bool:
    return db.execute("SELECT 1 FROM digest_runs WHERE period = ?", [period]).fetchone() is not None


def claim(db: sqlite_utils.Database, period: str, ran_at: int, failures: int) -> bool:
    """Record `period` as run. True when this call recorded it, False when it was already there.
    Call inside the transaction that does the work, so the claim and the work commit together."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO digest_runs (period, ran_at, failures) VALUES (?, ?, ?)",
        [period, ran_at, failures],
    )
    return cursor.rowcount == 1


def recent(db: sqlite_utils.Database, limit: int = 10) -> list[dict]:
    """The latest runs, newest first: {period, ran_at, failures}."""
    rows = db.execute("SELECT period, ran_at, failures FROM digest_runs ORDER BY ran_at DESC LIMIT ?", [limit])
    return [dict(zip(("period", "ran_at", "failures"), row, strict=True)) for row in rows]
