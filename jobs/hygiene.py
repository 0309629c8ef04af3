"""The operator's own files with FULL phone numbers: list hygiene and the evidence export.

List hygiene: recipients whose list entry needs work, from the failures in a window. Most come
off the lists: opted out (21610), landline (21635), landline or unreachable carrier (30006),
invalid (21614), inactive (30005); a 21211 number is to be corrected (wrong format or a typo).
The evidence export: the failures the help article tells Support to look at, with the numbers
the operator searches the CRM Inbox by (30007 asks for contact links).

The digest shows counts and masked examples; `write_csv` and `write_evidence_csv` write FULL
numbers for the operator's own use: a local file or stdout, never a channel.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from storage.digest_queries import HYGIENE_REASONS, TO_CORRECT, EvidenceRow, HygieneRow, hygiene_rows

CSV_COLUMNS = ("number", "reason", "code", "last_seen", "count", "account_sid", "account_name", "action")
EVIDENCE_COLUMNS = ("code", "number", "message_id", "status", "sent_at", "account_sid")
_FORMULA = re.compile(r"^[=@\t\r-]|^\+(?!\d)")  # a cell a spreadsheet would run as a formula

__all__ = ["CSV_COLUMNS", "EVIDENCE_COLUMNS", "HYGIENE_REASONS", "HygieneRow", "hygiene_rows", "write_csv",
           "write_evidence_csv"]


def _cell(value: str | None) -> str:
    value = value or ""
    return "'" + value if _FORMULA.match(value) else value


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_csv(rows: list[HygieneRow], stream: TextIO, names: dict[str, str] | None = None) -> int:
    """One line per (recipient, code), most recently seen first, with a header; the account by
    SID and by its friendly name (`names`, where known); `action` says whether the number comes
    off the lists (remove) or is to be fixed (correct). Returns rows written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        action = "correct" if row.code in TO_CORRECT else "remove"
        writer.writerow([_cell(row.number), row.reason, row.code, _utc(row.last_seen), row.count,
                         _cell(row.account_sid), _cell((names or {}).get(row.account_sid)), action])
    return len(rows)


def write_evidence_csv(rows: Iterable[tuple[int, EvidenceRow]], stream: TextIO) -> int:
    """One line per (code, failure) to show Support, with a header. Returns rows written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(EVIDENCE_COLUMNS)
    written = 0
    for code, row in rows:
        writer.writerow([code, _cell(row.recipient), _cell(row.sid), row.status, _utc(row.sent_at),
                         _cell(row.account_sid)])
        written += 1
    return written
