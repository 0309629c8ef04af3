"""The outbox: every alert and digest is stored here before anything is sent.

A row is one message for one destination ("slack", "teams", "stdout"), or for "*" (every
destination configured when it is delivered; `fan_out` turns it into one row per destination).
`dedupe_key` is unique, so enqueueing the same thing twice is a no-op.

Delivery of a row, crash-safe:
  1. `claim` (one committed UPDATE): attempts+1, `last_error` = "in flight by <pid>:<token>",
     and `next_attempt_at` pushed out by a lease, so no other thread or process takes the row.
  2. the send.
  3. `mark_sent` (one transaction with whatever else must record the reference, e.g. the alert
     group's Slack ts) or `mark_retry` / `mark_unknown`.
A process killed between 1 and 3 leaves the row "in flight" under a dead pid: the next
deliverer takes it over at once (`stale_claims`) and, since the send may have happened, asks
the destination whether it did before sending again.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import sqlite_utils

FANOUT = "*"
IN_FLIGHT = "in flight by "
UNKNOWN = "outcome unknown: "
SKIPPED = "skipped: "
LEASE_SECONDS = 300
_TOKEN = secrets.token_hex(4)  # tells this process apart from an earlier one that had the same pid

# Threads may share one connection: one transaction at a time in this process (other
# processes and connections are serialised by SQLite itself, BEGIN IMMEDIATE + busy timeout).
_WRITE_LOCK = threading.RLock()


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """BEGIN IMMEDIATE … COMMIT on `db`, serialised with other threads sharing the connection.
    Nested use joins the outer transaction."""
    with _WRITE_LOCK:
        if db.conn.in_transaction:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.conn.rollback()
            raise
        db.execute("COMMIT")


@dataclass
class OutboxItem:
    id: int
    dedupe_key: str
    destination: str
    kind: str
    payload: dict[str, Any]
    created_at: int
    attempts: int
    next_attempt_at: int
    sent_at: int | None
    response_ts: str | None
    last_error: str | None
    parent: "OutboxItem | None" = field(default=None, repr=False)  # set by the deliverer for replies/edits
    sent_to: str | None = None  # set by a destination: where it went (the Slack channel ID)

    @classmethod
    def from_row(cls, row: dict) -> "OutboxItem":
        data = dict(row)
        data["payload"] = json.loads(data["payload"])
        return cls(**data)

    @property
    def outcome_unknown(self) -> bool:
        """An earlier attempt may have reached the destination: ask before sending again."""
        error = self.last_error or ""
        return self.attempts > 0 and (error.startswith(IN_FLIGHT) or error.startswith(UNKNOWN))


_COLUMNS = "id, dedupe_key, destination, kind, payload, created_at, attempts, next_attempt_at, sent_at, response_ts, last_error"


def _items(db: sqlite_utils.Database, where: str, params: tuple | dict = ()) -> list[OutboxItem]:
    cursor = db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE {where}", params)
    names = [d[0] for d in cursor.description]
    return [OutboxItem.from_row(dict(zip(names, row))) for row in cursor.fetchall()]


def enqueue(db, dedupe_key: str, kind: str, payload: dict, now: int, destination: str = FANOUT) -> bool:
    """Store one message to send. Returns False (and changes nothing) if `dedupe_key` exists."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    with transaction(db):
        cursor = db.execute(
            "INSERT OR IGNORE INTO outbox (dedupe_key, destination, kind, payload, created_at, next_attempt_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (dedupe_key, destination, kind, body, int(now), int(now)),
        )
        return cursor.rowcount == 1


def get(db, dedupe_key: str) -> OutboxItem | None:
    found = _items(db, "dedupe_key = ?", (dedupe_key,))
    return found[0] if found else None


def destination_key(dedupe_key: str, destination: str) -> str:
    return f"{dedupe_key}@{destination}"


def find_for(db, dedupe_key: str, destination: str) -> OutboxItem | None:
    """The row of `dedupe_key` meant for `destination`, whether it was enqueued for it directly or fanned out."""
    found = _items(
        db,
        "destination = ? AND dedupe_key IN (?, ?) ORDER BY id LIMIT 1",
        (destination, dedupe_key, destination_key(dedupe_key, destination)),
    )
    return found[0] if found else None


def fan_out(db, now: int, destinations: dict[str, set[str] | None]) -> int:
    """Turn every unsent "*" row into one row per destination that takes its kind.
    `destinations` maps a name to the kinds it takes (None: all). Returns rows created."""
    created = 0
    with transaction(db):
        for item in _items(db, "sent_at IS NULL AND destination = ?", (FANOUT,)):
            for name, kinds in destinations.items():
                if kinds is not None and item.kind not in kinds:
                    continue
                cursor = db.execute(
                    "INSERT OR IGNORE INTO outbox (dedupe_key, destination, kind, payload, created_at, next_attempt_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (destination_key(item.dedupe_key, name), name, item.kind, json.dumps(item.payload, sort_keys=True),
                     item.created_at, int(now)),
                )
                created += cursor.rowcount
            db.execute(
                "UPDATE outbox SET sent_at = ?, last_error = ? WHERE id = ?",
                (int(now), SKIPPED + "fanned out to " + ",".join(sorted(destinations)), item.id),
            )
    return created


def due(db, now: int, destinations: set[str], limit: int = 200) -> list[OutboxItem]:
    """Unsent rows for these destinations whose time has come, oldest first; includes rows
    claimed by a process that no longer exists."""
    if not destinations:
        return []
    marks = ",".join("?" * len(destinations))
    names = tuple(sorted(destinations))
    ready = _items(
        db, f"sent_at IS NULL AND destination IN ({marks}) AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (*names, int(now), limit),
    )
    stale = [item for item in _items(
        db, f"sent_at IS NULL AND destination IN ({marks}) AND next_attempt_at > ? AND last_error LIKE ?",
        (*names, int(now), IN_FLIGHT + "%"),
    ) if _claim_is_stale(item.last_error or "")]
    return sorted(ready + stale, key=lambda item: item.id)[:limit]


def _claim_is_stale(last_error: str) -> bool:
    owner = last_error.removeprefix(IN_FLIGHT)
    pid_text, _, token = owner.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return True
    if pid == os.getpid():
        return token != _TOKEN
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return False


def claim(db, item: OutboxItem, now: int, lease: int = LEASE_SECONDS) -> bool:
    """Take the row for one attempt. False if someone else has it or it was sent meanwhile."""
    with transaction(db):
        row = db.execute("SELECT sent_at, next_attempt_at, last_error FROM outbox WHERE id = ?", (item.id,)).fetchone()
        if row is None or row[0] is not None:
            return False
        in_flight = (row[2] or "").startswith(IN_FLIGHT)
        if row[1] > now and not (in_flight and _claim_is_stale(row[2])):
            return False
        db.execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
            (int(now) + lease, f"{IN_FLIGHT}{os.getpid()}:{_TOKEN}", item.id),
        )
    item.attempts += 1
    item.last_error = f"{IN_FLIGHT}{os.getpid()}:{_TOKEN}"
    return True


def mark_sent(db, item: OutboxItem, ref: str | None, now: int) -> None:
    """Record the send. Call inside `transaction(db)` together with anything else that must
    record `ref` (the caller's transaction is joined)."""
    with transaction(db):
        db.execute(
            "UPDATE outbox SET sent_at = ?, response_ts = ?, last_error = NULL WHERE id = ?",
            (int(now), ref, item.id),
        )
    item.sent_at, item.response_ts, item.last_error = int(now), ref, None


def mark_skipped(db, item: OutboxItem, reason: str, now: int) -> None:
    """Done without sending (superseded edit, destination that cannot show it). Kept for the record."""
    with transaction(db):
        db.execute("UPDATE outbox SET sent_at = ?, last_error = ? WHERE id = ?", (int(now), SKIPPED + reason, item.id))
    item.sent_at, item.last_error = int(now), SKIPPED + reason


def mark_retry(db, item: OutboxItem, error: str, retry_at: int, unknown: bool = False) -> None:
    """The attempt failed; try again at `retry_at`. `unknown`: it may have been delivered."""
    text = (UNKNOWN if unknown else "") + error[:500]
    with transaction(db):
        db.execute("UPDATE outbox SET next_attempt_at = ?, last_error = ? WHERE id = ?", (int(retry_at), text, item.id))
    item.next_attempt_at, item.last_error = int(retry_at), text


def pending(db) -> list[OutboxItem]:
    """Every unsent row, oldest first (for status output and tests)."""
    return _items(db, "sent_at IS NULL ORDER BY id")

