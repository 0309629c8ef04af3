"""Event Streams bookkeeping: the ids of events already taken, and sink test events.

Twilio delivers each event at least once, so an event's id is recorded in the transaction that
ingests it and a redelivery finds it here. Ids are kept KEEP_SECONDS, far beyond the 4 hours
Twilio retries for, and pruned as new ones arrive: a range delete on an index, which costs next
to nothing when there is nothing to prune.

A sink test event carries a `test_id` that `smserror streams setup` hands back to Twilio to
validate the sink; the service that received the event keeps the last one per account here.
"""

from __future__ import annotations

import sqlite_utils

from storage.db import transaction

KEEP_SECONDS = 5 * 86400


def take_new_events(db: sqlite_utils.Database, ids: list[str], now: int) -> set[str]:
    """Record `ids` as taken and return those never seen before. Call it inside the transaction
    that ingests them, so an id is only recorded together with what its event changed."""
    fresh: set[str] = set()
    with transaction(db):
        db.conn.execute("DELETE FROM stream_events WHERE received_at < ?", (now - KEEP_SECONDS,))
        for event_id in dict.fromkeys(ids):
            cursor = db.conn.execute("INSERT OR IGNORE INTO stream_events (id, received_at) VALUES (?, ?)",
                                     (event_id, now))
            if cursor.rowcount:
                fresh.add(event_id)
    return fresh


def record_sink_test(db: sqlite_utils.Database, account_sid: str, test_id: str, now: int) -> None:
    with transaction(db):
        db.conn.execute(
            "INSERT INTO sink_tests (account_sid, test_id, received_at) VALUES (?, ?, ?)"
            " ON CONFLICT(account_sid) DO UPDATE SET test_id = excluded.test_id, received_at = excluded.received_at",
            (account_sid, test_id, now),
        )


def forget_sink_test(db: sqlite_utils.Database, account_sid: str) -> None:
    with transaction(db):
        db.conn.execute("DELETE FROM sink_tests WHERE account_sid = ?", (account_sid,))


def sink_test_id(db: sqlite_utils.Database, account_sid: str) -> str | None:
    row = db.conn.execute("SELECT test_id FROM sink_tests WHERE account_sid = ?", (account_sid,)).fetchone()
    return row[0] if row else None
