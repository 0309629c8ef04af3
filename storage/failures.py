"""The failures table: one row per failed or undelivered message, keyed by message SID.

Every ingest path (poller, status callbacks, Event Streams, file import) goes through
`upsert_failures`, so the rules live in one place:

* only `failed` / `undelivered` with a non-zero error code are stored; any other status is
  ignored and never deletes or regresses a stored row (a late `sent` callback changes nothing);
* a status change updates the message's row, never adds one; the latest change wins (by the
  incoming row's `updated_at`, which callbacks set to their arrival time);
* a row's `first_seen` and `source` are those of its first sighting;
* `sent_at` from Twilio's own records (poll, import) corrects the arrival time a callback used;
* message bodies are never stored: rows are built from a fixed set of keys.

The batch is classified in Python inside one `BEGIN IMMEDIATE` transaction (so the counts are
exact even with another process writing) and written with one `executemany` upsert per chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice

import sqlite_utils

from storage.db import transaction

FAILED_STATUSES = frozenset({"failed", "undelivered"})
SOURCES = frozenset({"poll", "callback", "import", "event"})
# sources whose rows carry no date_sent of Twilio's: a callback's arrival time, an event's timestamp
_UNDATED = frozenset({"callback", "event"})
COLUMNS = ("sid", "account_sid", "service_sid", "sender", "recipient", "status", "error_code", "sent_at", "updated_at")
NEW_KEYS = ("sid", "account_sid", "service_sid", "sender", "recipient", "status", "error_code", "sent_at")
CHUNK = 2000
_SELECT_CHUNK = 500  # well under SQLite's bound-parameter limit

_UPSERT_SQL = """
INSERT INTO failures (sid, account_sid, service_sid, sender, recipient, status, error_code,
                      sent_at, updated_at, first_seen, source)
VALUES (:sid, :account_sid, :service_sid, :sender, :recipient, :status, :error_code,
        :sent_at, :updated_at, :first_seen, :source)
ON CONFLICT(sid) DO UPDATE SET
    account_sid = excluded.account_sid, service_sid = excluded.service_sid,
    sender = excluded.sender, recipient = excluded.recipient, status = excluded.status,
    error_code = excluded.error_code, sent_at = excluded.sent_at, updated_at = excluded.updated_at
"""


@dataclass
class UpsertResult:
    new: list[dict] = field(default_factory=list)
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0  # rows that are not failures (or lack a SID / error code)

    def add(self, other: UpsertResult) -> None:
        self.new.extend(other.new)
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.ignored += other.ignored


def failure_row(raw: dict, now: int) -> dict | None:
    """The storable form of a message dict, or None when it is not a failure worth storing."""
    status = raw.get("status")
    if status not in FAILED_STATUSES:
        return None
    sid = raw.get("sid")
    code = raw.get("error_code")
    try:
        code = int(code) if code not in (None, "") else 0
    except (TypeError, ValueError):
        return None
    if not sid or not code:
        return None
    sent_at = raw.get("sent_at") or raw.get("updated_at") or now
    return {
        "sid": str(sid),
        "account_sid": str(raw.get("account_sid") or ""),
        "service_sid": raw.get("service_sid") or None,
        "sender": raw.get("sender") or None,
        "recipient": raw.get("recipient") or None,
        "status": status,
        "error_code": code,
        "sent_at": int(sent_at),
        "updated_at": int(raw.get("updated_at") or sent_at),
    }


def _merge(old: dict, new: dict, source: str) -> dict | None:
    """The row after applying `new` to the stored `old`, or None when nothing changes."""
    out = dict(old)
    changed = (new["status"], new["error_code"]) != (old["status"], old["error_code"])
    if changed and new["updated_at"] >= old["updated_at"]:
        out.update(status=new["status"], error_code=new["error_code"], updated_at=new["updated_at"])
    for key in ("account_sid", "service_sid", "sender", "recipient"):
        if not old[key] and new[key]:
            out[key] = new[key]
    if source not in _UNDATED and new["sent_at"] != old["sent_at"]:
        out["sent_at"] = new["sent_at"]  # Twilio's date_sent beats a callback's arrival time
    return None if out == old else out


def upsert_failures(
    db: sqlite_utils.Database, rows: Iterable[dict], source: str, now: int, *, keep_new: bool = True
) -> UpsertResult:
    """Upsert message dicts (keys: sid, account_sid, service_sid, sender, recipient, status,
    error_code, sent_at, optional updated_at; anything else, a body included, is dropped) in ONE
    transaction, streaming `rows` in chunks. `.new` lists the rows seen as failures for the first
    time (NEW_KEYS); `keep_new=False` only counts them (bulk imports)."""
    if source not in SOURCES:
        raise ValueError(f"source must be one of {sorted(SOURCES)}")
    result = UpsertResult()
    iterator = iter(rows)
    with transaction(db):
        while True:
            chunk = list(islice(iterator, CHUNK))
            if not chunk:
                break
            _upsert_chunk(db.conn, chunk, source, int(now), result, keep_new)
    return result


def _upsert_chunk(conn, chunk: list[dict], source: str, now: int, result: UpsertResult, keep_new: bool) -> None:
    wanted: list[dict] = []
    for raw in chunk:
        row = failure_row(raw, now)
        if row is None:
            result.ignored += 1
        else:
            wanted.append(row)
    if not wanted:
        return
    current = _existing(conn, {row["sid"] for row in wanted})
    writes: dict[str, dict] = {}
    for row in wanted:
        sid = row["sid"]
        old = current.get(sid)
        if old is None:
            row["first_seen"], row["source"] = now, source
            current[sid] = writes[sid] = row
            result.inserted += 1
            if keep_new:
                result.new.append({key: row[key] for key in NEW_KEYS})
            continue
        merged = _merge(old, row, source)
        if merged is None:
            result.unchanged += 1
            continue
        current[sid] = writes[sid] = merged
        result.updated += 1
    conn.executemany(_UPSERT_SQL, list(writes.values()))


def _existing(conn, sids: set[str]) -> dict[str, dict]:
    found: dict[str, dict] = {}
    ordered = list(sids)
    for start in range(0, len(ordered), _SELECT_CHUNK):
        part = ordered[start : start + _SELECT_CHUNK]
        cursor = conn.execute(
            f"SELECT sid, account_sid, service_sid, sender, recipient, status, error_code, sent_at, updated_at,"
            f" first_seen, source FROM failures WHERE sid IN ({','.join('?' * len(part))})",
            part,
        )
        names = [d[0] for d in cursor.description]
        for values in cursor:
            found[values[0]] = dict(zip(names, values, strict=True))
    return found


# -- queries -------------------------------------------------------------------------------

def get_failure(db: sqlite_utils.Database, sid: str) -> dict | None:
    cursor = db.conn.execute("SELECT * FROM failures WHERE sid = ?", (sid,))
    values = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], values, strict=True)) if values else None


def failures_between(db: sqlite_utils.Database, since: int, until: int, account_sid: str | None = None) -> list[dict]:
    """Failures with since <= sent_at < until, oldest first."""
    sql = "SELECT * FROM failures WHERE sent_at >= ? AND sent_at < ?"
    params: list = [since, until]
    if account_sid:
        sql += " AND account_sid = ?"
        params.append(account_sid)
    cursor = db.conn.execute(sql + " ORDER BY sent_at, sid", params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor]


def count_by_code(
    db: sqlite_utils.Database, since: int | None = None, until: int | None = None
) -> list[tuple[int, int, int]]:
    """[(error_code, failures, accounts)] most frequent first, optionally within [since, until)."""
    sql = "SELECT error_code, COUNT(*), COUNT(DISTINCT account_sid) FROM failures"
    params: list = []
    if since is not None and until is not None:
        sql += " WHERE sent_at >= ? AND sent_at < ?"
        params = [since, until]
    return [tuple(r) for r in db.conn.execute(sql + " GROUP BY error_code ORDER BY 2 DESC, 1", params)]


def count_failures(db: sqlite_utils.Database) -> int:
    return db.conn.execute("SELECT COUNT(*) FROM failures").fetchone()[0]


def latest_with_code(db: sqlite_utils.Database, code: int, limit: int) -> tuple[list[dict], int]:
    """The newest `limit` failures with `code` in any account, newest first, and how many are
    stored. Both seek failures_by_code. Numbers are FULL: mask them before showing them."""
    cursor = db.conn.execute(
        "SELECT sid, account_sid, sender, recipient, sent_at FROM failures WHERE error_code = ?"
        " ORDER BY sent_at DESC, sid LIMIT ?", (int(code), int(limit)))
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, values, strict=True)) for values in cursor]
    (total,) = db.conn.execute("SELECT COUNT(*) FROM failures WHERE error_code = ?", (int(code),)).fetchone()
    return rows, total
