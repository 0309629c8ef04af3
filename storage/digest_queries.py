"""The SQL behind the daily digest and list hygiene. Read-only; every window is [start, end) in
UTC epoch seconds.

Each query is shaped to use one of the schema's indexes (`EXPLAIN QUERY PLAN` is checked in
tests/test_digest.py):
- counts and the 7-day series read only an index, never the table: the per-account counts
  range-scan failures_by_time (sent_at, error_code, account_sid), pinned with INDEXED BY; the
  per-code counts and the series may use either index (both cover them), as the planner likes;
- evidence seeks failures_by_code (error_code, sent_at) newest first, LIMIT n (per contact: the
  window's rows of the code, grouped);
- hygiene seeks failures_by_code once per hygiene code.
A route's digest passes `accounts`: the same queries, limited to those accounts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass

import sqlite_utils

DAY = 86_400

# Recipients whose list entry needs work, by the code that says so: most come off the lists;
# a 21211 number is to be corrected (its format, or a typo), not removed.
HYGIENE_REASONS: dict[int, str] = {
    21610: "opted out",
    21635: "landline",
    30006: "landline or unreachable carrier",
    21211: "wrong format or typo",
    21614: "invalid",
    30005: "inactive",
}
TO_CORRECT = frozenset({21211})


Accounts = Collection[str] | None  # None: every account


def _of(accounts: Accounts) -> tuple[str, list[str]]:
    """The condition (and its parameters) that limits a query to `accounts`."""
    if accounts is None:
        return "", []
    return f" AND account_sid IN ({','.join('?' * len(accounts))})", sorted(accounts)


def counts_by_code_account(db: sqlite_utils.Database, start: int, end: int,
                           accounts: Accounts = None) -> dict[int, dict[str, int]]:
    """{error_code: {account_sid: failures}} for the window."""
    out: dict[int, dict[str, int]] = defaultdict(dict)
    of, params = _of(accounts)
    # INDEXED BY: after ANALYZE the planner prefers a skip-scan of failures_by_code, which lacks
    # account_sid and so reads every row from the table: 4-5x slower over a week of 1M rows.
    rows = db.execute(
        "SELECT error_code, account_sid, COUNT(*) FROM failures INDEXED BY failures_by_time"
        f" WHERE sent_at >= ? AND sent_at < ?{of} GROUP BY error_code, account_sid",
        [start, end, *params],
    )
    for code, account, count in rows:
        out[code][account] = count
    return dict(out)


def counts_by_code(db: sqlite_utils.Database, start: int, end: int, accounts: Accounts = None) -> dict[int, int]:
    """{error_code: failures} for the window."""
    of, params = _of(accounts)
    rows = db.execute(
        "SELECT error_code, COUNT(*) FROM failures"
        f" WHERE sent_at >= ? AND sent_at < ?{of} GROUP BY error_code",
        [start, end, *params],
    )
    return dict(rows.fetchall())


def counts_by_account(db: sqlite_utils.Database, start: int, end: int) -> dict[str, int]:
    """{account_sid: failures} for the window."""
    rows = db.execute(
        "SELECT account_sid, COUNT(*) FROM failures INDEXED BY failures_by_time"
        " WHERE sent_at >= ? AND sent_at < ? GROUP BY account_sid",
        [start, end],
    )
    return dict(rows.fetchall())


def daily_series(db: sqlite_utils.Database, end: int, days: int = 7, accounts: Accounts = None) -> dict[int, list[int]]:
    """{error_code: [failures per 24 h bucket, oldest first]} for the `days` buckets ending at `end`."""
    start = end - days * DAY
    series: dict[int, list[int]] = {}
    of, params = _of(accounts)
    rows = db.execute(
        "SELECT error_code, (sent_at - ?) / ? AS bucket, COUNT(*) FROM failures"
        f" WHERE sent_at >= ? AND sent_at < ?{of} GROUP BY error_code, bucket",
        [start, DAY, start, end, *params],
    )
    for code, bucket, count in rows:
        series.setdefault(code, [0] * days)[bucket] = count
    return series


@dataclass(frozen=True)
class EvidenceRow:
    """One failure to show Support. `recipient` is the FULL number: mask it before posting."""

    sid: str
    recipient: str | None
    status: str
    sent_at: int
    account_sid: str


def evidence_examples(db: sqlite_utils.Database, code: int, start: int, end: int, limit: int, *,
                      status: str | None = None, per_contact: bool = False,
                      accounts: Accounts = None) -> tuple[list[EvidenceRow], int]:
    """The newest `limit` failures with `code` in the window (only those with `status`, when
    given), and how many there are. `per_contact`: the newest failure of each contact (recipient
    of an account), newest contact first, and the count is of contacts."""
    where = "error_code = ? AND sent_at >= ? AND sent_at < ?"
    params: list = [code, start, end]
    if status:
        where += " AND status = ?"
        params.append(status)
    of, among = _of(accounts)
    where += of
    params += among
    if per_contact:
        where += " AND recipient IS NOT NULL AND recipient != ''"
        # MAX() makes SQLite take the other columns from the newest row of each group
        sql = (f"SELECT sid, recipient, status, MAX(sent_at), account_sid FROM failures WHERE {where}"
               " GROUP BY recipient, account_sid ORDER BY MAX(sent_at) DESC, recipient LIMIT ?")
        count = f"SELECT COUNT(*) FROM (SELECT 1 FROM failures WHERE {where} GROUP BY recipient, account_sid)"
    else:
        sql = (f"SELECT sid, recipient, status, sent_at, account_sid FROM failures WHERE {where}"
               " ORDER BY sent_at DESC, sid LIMIT ?")
        count = f"SELECT COUNT(*) FROM failures WHERE {where}"
    rows = [EvidenceRow(*row) for row in db.execute(sql, [*params, limit]).fetchall()]
    if len(rows) < limit:
        return rows, len(rows)
    return rows, db.execute(count, params).fetchone()[0]


def account_names(db: sqlite_utils.Database) -> dict[str, str]:
    """Friendly names of the accounts the poller has seen (empty when it never ran)."""
    return {sid: name for sid, name in db.execute("SELECT account_sid, friendly_name FROM poll_state") if name}


@dataclass(frozen=True)
class HygieneRow:
    """One recipient that failed with one hygiene code. `number` is the FULL number: it is for
    the operator's own CSV only, and is masked before anything reaches a channel."""

    number: str
    reason: str
    code: int
    last_seen: int
    count: int
    account_sid: str


def hygiene_rows(db: sqlite_utils.Database, start: int, end: int, accounts: Accounts = None) -> list[HygieneRow]:
    """Every (recipient, code) in the window with a hygiene code, most recently seen first."""
    rows: list[HygieneRow] = []
    of, params = _of(accounts)
    for code, reason in HYGIENE_REASONS.items():
        for number, account, last_seen, count in db.execute(
            "SELECT recipient, account_sid, MAX(sent_at), COUNT(*) FROM failures"
            " WHERE error_code = ? AND sent_at >= ? AND sent_at < ? AND recipient IS NOT NULL AND recipient != ''"
            f"{of} GROUP BY recipient, account_sid",
            [code, start, end, *params],
        ):
            rows.append(HygieneRow(number, reason, code, last_seen, count, account))
    rows.sort(key=lambda r: (-r.last_seen, r.number, r.code))
    return rows
