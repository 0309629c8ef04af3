"""The outbox: every alert and digest is stored here before anything is sent.

A row is one message for one destination ("slack", "teams", "stdout", or a route's own
"slack:<route>" / "teams:<route>"), or for "*" (the destinations configured when it is
delivered that are meant to get it: `fan_out` turns it into one row per destination).
`dedupe_key` is unique, so enqueueing the same thing twice is a no-op.

Delivery of a row, exactly once:
  1. `claim` (one conditional UPDATE): attempts+1, `claim` = the deliverer's term and attempt,
     `claimed_at` = the moment of the claim, `settle_at` = when the send's fate will be known
     (the destination's own client timeout has passed: by then it has stored the post or never
     will). Only the leader claims, and the statement checks its lease and epoch; a one-shot
     command claims only while no leader is alive. It takes the row only as the deliverer read
     it (the same `attempts`): that read says whether to look before sending.
  2. the send.
  3. `mark_sent` / `mark_retry` / `mark_skipped`, each conditional on the claim: a deliverer
     whose claim was taken over changes nothing.
A claim still set after `settle_at` belonged to a deliverer that died mid-send: the next one
takes the row and, since the post may have gone out, asks the destination before sending again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from storage.db import transaction
from storage.leases import LEADER, Lease

FANOUT = "*"
UNKNOWN = "outcome unknown: "
SKIPPED = "skipped: "


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
    claim: str | None = None
    claimed_at: float | None = None
    settle_at: float | None = None
    parent: OutboxItem | None = field(default=None, repr=False)  # set by the deliverer for replies/edits
    sent_to: str | None = None  # set by a destination: where it went (the Slack channel ID)

    @classmethod
    def from_row(cls, row: dict) -> OutboxItem:
        data = dict(row)
        data["payload"] = json.loads(data["payload"])
        return cls(**data)

    @property
    def outcome_unknown(self) -> bool:
        """An earlier attempt may have reached the destination: ask before sending again."""
        return self.attempts > 0 and (self.claim is not None or (self.last_error or "").startswith(UNKNOWN))


_COLUMNS = ("id, dedupe_key, destination, kind, payload, created_at, attempts, next_attempt_at, sent_at, response_ts,"
            " last_error, claim, claimed_at, settle_at")


def _items(db: sqlite_utils.Database, where: str, params: tuple | dict = ()) -> list[OutboxItem]:
    cursor = db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE {where}", params)
    names = [d[0] for d in cursor.description]
    return [OutboxItem.from_row(dict(zip(names, row, strict=True))) for row in cursor.fetchall()]


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


def fan_out(db, now: float, destinations: dict[str, frozenset[str] | None],
            routes: dict[str, str] | None = None) -> int:
    """Turn every unsent "*" row into one row per destination meant to get it that takes its
    kind. `destinations` maps a name to the kinds it takes (None: all); `routes` maps the name of
    each route's destination to its route (the others are the default destinations). A row stays
    "*" while none of the destinations meant for it is here. Returns rows created."""
    created = 0
    with transaction(db):
        for item in _items(db, "sent_at IS NULL AND destination = ?", (FANOUT,)):
            targets = _targets(db, item, destinations, routes or {})
            if not targets:
                continue
            for name in targets:
                kinds = destinations[name]
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
                (int(now), SKIPPED + "fanned out to " + ",".join(targets), item.id),
            )
    return created


def _targets(db, item: OutboxItem, destinations: dict[str, frozenset[str] | None], routes: dict[str, str]) -> list[str]:
    """Where a "*" row goes: a thread reply or an edit (it has a `parent`) where its parent went;
    anything else to the routes its payload names (`routes`), and to the default destinations
    unless its payload says `to_default: false`."""
    parent = item.payload.get("parent")
    if parent:
        return sorted(name for name in destinations if find_for(db, parent, name) is not None)
    wanted = set(item.payload.get("routes") or ())
    default = item.payload.get("to_default", True)
    return sorted(name for name in destinations if (routes[name] in wanted if name in routes else default))


def due(db, now: float, destinations: set[str], limit: int = 200) -> list[OutboxItem]:
    """Unsent rows for these destinations whose time has come, oldest first: unclaimed, or
    claimed by a deliverer that did not finish before the send's fate was settled."""
    if not destinations:
        return []
    marks = ",".join("?" * len(destinations))
    return _items(
        db, f"sent_at IS NULL AND destination IN ({marks}) AND next_attempt_at <= ?"
        " AND (claim IS NULL OR settle_at <= ?) ORDER BY id LIMIT ?",
        (*sorted(destinations), now, now, limit),
    )


def _fence(lease: Lease | None, holder: str) -> tuple[str, dict[str, Any]]:
    """The condition a deliverer's claim carries: the leader's lease is still its own, in the
    same term; or, for a one-shot command, that no other process leads."""
    if lease is not None:
        return ("EXISTS (SELECT 1 FROM leases WHERE name = :lease AND holder = :holder AND epoch = :epoch"
                " AND expires_at > :now)", {"lease": lease.name, "holder": lease.holder, "epoch": lease.epoch})
    return ("NOT EXISTS (SELECT 1 FROM leases WHERE name = :lease AND holder != :holder AND expires_at > :now)",
            {"lease": LEADER, "holder": holder})


def claim(db, item: OutboxItem, now: float, settle_seconds: float, *, holder: str, lease: Lease | None = None) -> bool:
    """Take the row for one attempt, dated `now`. False if another deliverer has it, it was sent
    meanwhile, another deliverer tried it since `item` was read (whether to look before sending
    is judged from that read), or the fence fails (this deliverer may not, or no longer, deliver)."""
    fence, params = _fence(lease, holder)
    with transaction(db):
        row = db.execute(
            f"""
            UPDATE outbox SET attempts = attempts + 1, claim = :who || '#' || (attempts + 1),
                              claimed_at = :now, settle_at = :settle
            WHERE id = :id AND attempts = :attempts AND sent_at IS NULL AND next_attempt_at <= :now
              AND (claim IS NULL OR settle_at <= :now) AND {fence}
            RETURNING attempts, claim, claimed_at, settle_at
            """,
            {**params, "id": item.id, "attempts": item.attempts, "now": now, "settle": now + settle_seconds,
             "who": lease.token if lease is not None else holder},
        ).fetchone()
    if row is None:
        return False
    item.attempts, item.claim, item.claimed_at, item.settle_at = row
    return True


def _finish(db, item: OutboxItem, sets: str, params: dict[str, Any]) -> bool:
    """Apply `sets` to the row if `item`'s claim (or, unclaimed, its unsent state) still holds."""
    with transaction(db):
        cursor = db.execute(
            f"UPDATE outbox SET {sets}, claim = NULL WHERE id = :id AND sent_at IS NULL AND claim IS :claim",
            {**params, "id": item.id, "claim": item.claim},
        )
    return cursor.rowcount == 1


def mark_sent(db, item: OutboxItem, ref: str | None, now: float) -> bool:
    """Record the send; False (nothing changed) if the claim was taken over meanwhile. Call
    inside `transaction(db)` together with anything else that must record `ref`."""
    if not _finish(db, item, "sent_at = :now, response_ts = :ref, last_error = NULL", {"now": int(now), "ref": ref}):
        return False
    item.sent_at, item.response_ts, item.last_error, item.claim = int(now), ref, None, None
    return True


def mark_skipped(db, item: OutboxItem, reason: str, now: float) -> bool:
    """Done without sending (superseded edit, destination that cannot show it). Kept for the record."""
    text = SKIPPED + reason
    if not _finish(db, item, "sent_at = :now, last_error = :text", {"now": int(now), "text": text}):
        return False
    item.sent_at, item.last_error, item.claim = int(now), text, None
    return True


def mark_retry(db, item: OutboxItem, error: str, retry_at: float, unknown: bool = False) -> bool:
    """The attempt failed; try again at `retry_at`. `unknown`: a post may exist, so the next
    attempt looks for it before sending."""
    text = (UNKNOWN if unknown else "") + error[:500]
    retry = round(retry_at)
    if not _finish(db, item, "next_attempt_at = :retry, last_error = :text", {"retry": retry, "text": text}):
        return False
    item.next_attempt_at, item.last_error, item.claim = retry, text, None
    return True


def pending(db) -> list[OutboxItem]:
    """Every unsent row, oldest first (for status output and tests)."""
    return _items(db, "sent_at IS NULL ORDER BY id")



def backlog(db) -> tuple[int, int | None]:
    """(how many rows are unsent, when the oldest of them was created): what /metrics shows."""
    count, oldest = db.execute("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL").fetchone()
    return count, oldest
