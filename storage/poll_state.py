"""Per-account poll state: where the last successful pass and the last full sweep started, the
account's Twilio friendly name, and when its Event Streams sink was last seen working.

A pass that fails never moves `last_pass_at` / `last_sweep_at`; it only records `last_error`,
so the next pass re-reads the same window (upserts are idempotent, so nothing is duplicated).
"""

from __future__ import annotations

import sqlite_utils

from storage.db import transaction

STREAM_TRUST_SECONDS = 48 * 3600  # a daily `smserror streams status` (or setup) may miss one run


def get_poll_state(db: sqlite_utils.Database, account_sid: str) -> dict | None:
    cursor = db.conn.execute("SELECT * FROM poll_state WHERE account_sid = ?", (account_sid,))
    values = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], values, strict=True)) if values else None


def friendly_name(db: sqlite_utils.Database, account_sid: str) -> str:
    """The account's Twilio friendly name; "" when none is known."""
    row = db.conn.execute("SELECT friendly_name FROM poll_state WHERE account_sid = ?", (account_sid,)).fetchone()
    return (row[0] or "") if row else ""


def all_poll_states(db: sqlite_utils.Database) -> list[dict]:
    cursor = db.conn.execute("SELECT * FROM poll_state ORDER BY account_sid")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor]


def record_pass_ok(
    db: sqlite_utils.Database, account_sid: str, *, pass_at: int, swept: bool, ok_at: int,
    friendly_name: str | None = None,
) -> None:
    """A pass that started at `pass_at` read its whole window: the next one may start from there."""
    with transaction(db):
        db.conn.execute(
            """
            INSERT INTO poll_state (account_sid, friendly_name, last_pass_at, last_sweep_at, last_ok_at, last_error)
            VALUES (:sid, :name, :pass_at, CASE WHEN :swept THEN :pass_at END, :ok_at, NULL)
            ON CONFLICT(account_sid) DO UPDATE SET
                friendly_name = COALESCE(excluded.friendly_name, poll_state.friendly_name),
                last_pass_at = excluded.last_pass_at,
                last_sweep_at = CASE WHEN :swept THEN excluded.last_pass_at ELSE poll_state.last_sweep_at END,
                last_ok_at = excluded.last_ok_at,
                last_error = NULL
            """,
            {"sid": account_sid, "name": friendly_name, "pass_at": pass_at, "swept": 1 if swept else 0, "ok_at": ok_at},
        )


def record_pass_error(db: sqlite_utils.Database, account_sid: str, error: str) -> None:
    """Note the error without moving the window."""
    with transaction(db):
        db.conn.execute(
            """
            INSERT INTO poll_state (account_sid, last_error) VALUES (?, ?)
            ON CONFLICT(account_sid) DO UPDATE SET last_error = excluded.last_error
            """,
            (account_sid, error[:500]),
        )


def record_names(db: sqlite_utils.Database, names: dict[str, str]) -> None:
    """Friendly names from Twilio's Accounts listing; an account not polled yet gets its row now."""
    with transaction(db):
        db.conn.executemany(
            "INSERT INTO poll_state (account_sid, friendly_name) VALUES (?, ?)"
            " ON CONFLICT(account_sid) DO UPDATE SET friendly_name = excluded.friendly_name",
            list(names.items()),
        )


def streamed(state: dict, now: int) -> bool:
    """Whether the account's Event Streams sink was seen working recently enough for the poller
    to leave the account to it and its hourly sweep."""
    seen = state.get("stream_seen_at")
    return seen is not None and now - seen < STREAM_TRUST_SECONDS


def record_streams(db: sqlite_utils.Database, active: dict[str, bool], now: int) -> None:
    """Whether each account's Event Streams sink works: seen working now, or (False) not at all."""
    with transaction(db):
        db.conn.executemany(
            "INSERT INTO poll_state (account_sid, stream_seen_at) VALUES (:sid, :seen)"
            " ON CONFLICT(account_sid) DO UPDATE SET stream_seen_at = excluded.stream_seen_at",
            [{"sid": sid, "seen": now if ok else None} for sid, ok in active.items()],
        )
