"""List hygiene: recipients the practice should take off its lists, from the failures in a window.

Reasons, by code: opted out (21610), landline (21635, 30006), invalid (21211, 21614),
inactive (30005). The digest shows a count and a few masked examples; `write_csv` writes the
full list -- FULL phone numbers -- for the operator's own use: a local file or stdout, never a
channel.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime, timezone
from typing import TextIO

from storage.digest_queries import HYGIENE_REASONS, HygieneRow, hygiene_rows

CSV_COLUMNS = ("number", "reason", "code", "last_seen", "count", "account_sid")
_FORMULA = re.compile(r"^[=@\t\r-]|^\+(?!\d)")  # a cell a spreadsheet would run as a formula

__all__ = ["CSV_COLUMNS", "HYGIENE_REASONS", "HygieneRow", "hygiene_rows", "write_csv"]


def _cell(value: str) -> str:
    return "'" + value if _FORMULA.match(value) else value


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_csv(rows: list[HygieneRow], stream: TextIO) -> int:
    """One line per (recipient, code), most recently seen first, with a header. Returns rows written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.number), row.reason, row.code, _utc(row.last_seen), row.count, _cell(row.account_sid)])
    return len(rows)
