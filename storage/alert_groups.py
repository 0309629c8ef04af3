"""Alert groups: one row per (account, error code, messaging service), and one per error code
hitting many accounts at once (a fleet group: kind "fleet", account_sid "fleet", key fleet:<code>).

A group remembers its current incident (first_seen .. last_seen, count), the top-level post
that announced it (posted_at; and, once a destination that can edit it has taken it, which one,
where and its reference), and what people did to it (acked_by, snoozed_until and snoozed_by;
snooze_missed counts the failures a snooze kept from the channel). Writes happen inside the
callers' transactions (storage.db.transaction).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class AlertGroup:
    key: str
    account_sid: str
    error_code: int
    service_sid: str
    kind: str  # "account" | "spike" | "fleet"
    count: int
    first_seen: int
    last_seen: int
    posted_at: int | None = None
    resolved_at: int | None = None
    post_channel: str | None = None
    post_ref: str | None = None
    acked_by: str | None = None
    acked_at: int | None = None
    snoozed_until: int | None = None
    post_destination: str | None = None
    snoozed_by: str | None = None
    snooze_missed: int = 0

    def snoozed(self, now: int) -> bool:
        return bool(self.snoozed_until and self.snoozed_until > now)

    def end_snooze(self) -> None:
        self.snoozed_until, self.snoozed_by, self.snooze_missed = None, None, 0

    @property
    def open(self) -> bool:
        """Announced and not yet resolved."""
        return self.posted_at is not None and self.resolved_at is None

    @property
    def posted_in_slack(self) -> bool:
        """Its post is a Slack message: in the default channel ("slack") or a route's ("slack:<route>")."""
        return (self.post_destination or "").partition(":")[0] == "slack"


FLEET = "fleet"  # the account_sid of a fleet group: it spans accounts


def group_key(account_sid: str, error_code: int, service_sid: str | None) -> str:
    return f"{account_sid}:{int(error_code)}:{service_sid or '-'}"


def fleet_key(error_code: int) -> str:
    return f"{FLEET}:{int(error_code)}"


_FIELDS = tuple(AlertGroup.__dataclass_fields__)


def get(db, key: str) -> AlertGroup | None:
    row = db.execute(f"SELECT {', '.join(_FIELDS)} FROM alert_groups WHERE key = ?", (key,)).fetchone()
    return AlertGroup(*row) if row else None


def save(db, group: AlertGroup) -> None:
    values: dict[str, Any] = asdict(group)
    names = ", ".join(_FIELDS)
    marks = ", ".join(f":{name}" for name in _FIELDS)
    updates = ", ".join(f"{name} = excluded.{name}" for name in _FIELDS if name != "key")
    db.execute(f"INSERT INTO alert_groups ({names}) VALUES ({marks}) ON CONFLICT(key) DO UPDATE SET {updates}", values)


def unresolved(db) -> list[AlertGroup]:
    rows = db.execute(
        f"SELECT {', '.join(_FIELDS)} FROM alert_groups"
        " WHERE posted_at IS NOT NULL AND resolved_at IS NULL ORDER BY key"
    ).fetchall()
    return [AlertGroup(*row) for row in rows]


def snooze_ended(db, now: int) -> list[AlertGroup]:
    """Groups whose snooze is over and not yet answered (jobs.alerts wakes them)."""
    rows = db.execute(
        f"SELECT {', '.join(_FIELDS)} FROM alert_groups WHERE snoozed_until <= ? ORDER BY key", (int(now),)
    ).fetchall()
    return [AlertGroup(*row) for row in rows]


def record_post(db, key: str, posted_at: int, destination: str, channel: str | None, ref: str) -> None:
    """The top-level post of the group's current incident reached `destination` (in `channel`)
    as `ref`. The first destination to take it is kept."""
    db.execute(
        "UPDATE alert_groups SET post_destination = ?, post_channel = ?, post_ref = ?"
        " WHERE key = ? AND posted_at = ? AND post_ref IS NULL",
        (destination, channel, ref, key, posted_at),
    )
