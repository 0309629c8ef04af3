"""Leases: which process is the leader, for how long, and in which term.

A lease row names its holder and an `epoch` that grows at every change of holder. The holder
renews it well before `expires_at`; anyone may take it once it has expired. Writes that only
the leader may make (outbox claims) check the holder and epoch in the same statement, so a
leader that lost its lease (paused, partitioned, killed and restarted) changes nothing.

Each operation is one statement; times are wall-clock epoch seconds, shared by every process
on the store (on one host, or hosts whose clocks agree to well within a TTL).
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

from storage.db import transaction

LEADER = "leader"


@dataclass(frozen=True)
class Lease:
    name: str
    holder: str
    epoch: int
    expires_at: float

    @property
    def token(self) -> str:
        """Names this holder's term in the claims it makes."""
        return f"{self.holder}@{self.epoch}"


def process_holder() -> str:
    """This process, told apart from any other on any host, and from an earlier process that
    had the same pid."""
    return f"{socket.gethostname()}:{os.getpid()}:{_TOKEN}"


_TOKEN = secrets.token_hex(4)

_COLUMNS = "name, holder, epoch, expires_at"


def acquire(db, name: str, holder: str, now: float, ttl: float) -> Lease | None:
    """Take the lease if it is free, expired or already ours; None while someone else holds it.
    A new holder starts a new epoch."""
    with transaction(db):
        row = db.execute(
            f"""
            INSERT INTO leases (name, holder, epoch, expires_at, acquired_at)
            VALUES (:name, :holder, 1, :expires, :now)
            ON CONFLICT(name) DO UPDATE SET
                epoch = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > :now
                             THEN leases.epoch ELSE leases.epoch + 1 END,
                acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > :now
                                   THEN leases.acquired_at ELSE :now END,
                holder = excluded.holder,
                expires_at = excluded.expires_at
            WHERE leases.holder = excluded.holder OR leases.expires_at <= :now
            RETURNING {_COLUMNS}
            """,
            {"name": name, "holder": holder, "now": now, "expires": now + ttl},
        ).fetchone()
    return Lease(*row) if row else None


def renew(db, lease: Lease, now: float, ttl: float) -> Lease | None:
    """Extend our lease; None when it is no longer ours (someone took over after it expired)."""
    with transaction(db):
        row = db.execute(
            f"UPDATE leases SET expires_at = :expires WHERE name = :name AND holder = :holder AND epoch = :epoch"
            f" RETURNING {_COLUMNS}",
            {"name": lease.name, "holder": lease.holder, "epoch": lease.epoch, "expires": now + ttl},
        ).fetchone()
    return Lease(*row) if row else None


def release(db, lease: Lease) -> None:
    """Give the lease up at once (a clean stop), so another instance need not wait out the TTL."""
    with transaction(db):
        db.execute(
            "UPDATE leases SET expires_at = 0 WHERE name = :name AND holder = :holder AND epoch = :epoch",
            {"name": lease.name, "holder": lease.holder, "epoch": lease.epoch},
        )


def holder_other_than(db, name: str, holder: str, now: float) -> str | None:
    """Who else holds `name` right now, if anyone."""
    row = db.execute(
        "SELECT holder FROM leases WHERE name = ? AND holder != ? AND expires_at > ?", (name, holder, now)
    ).fetchone()
    return row[0] if row else None
