"""`smserror import`: Twilio BulkExport "Messages" day files and message-log CSV exports.

* BulkExport day files: gzip, one JSON record per line, like the Message resource but with ISO
  8601 UTC times and no error message (`error_code` is there).
* CSV exports (Console "Export CSV" style): columns are found by header name in any order,
  case/space/underscore-insensitive (Sid, From, To, Status, ErrorCode / Error Code, SentDate /
  Date Sent, AccountSid, ...); plain or gzipped.

Each file streams through `upsert_failures` as ONE transaction (all of it or none of it), so
importing a file twice changes nothing and memory stays flat. Lines that cannot be parsed are
skipped and counted (with the first few line numbers). A file that cannot be read at all (missing,
not gzip when it claims to be, truncated, a CSV without the needed columns) is rolled back and
reported as an error; the command exits 1. Bodies are read past and dropped, never stored.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO

import sqlite_utils

from storage.failures import FAILED_STATUSES, upsert_failures

BAD_LINES_SHOWN = 5
DEMO_FILE = Path(__file__).resolve().parent / "data" / "demo-messages.jsonl.gz"
DEMO_DAY_END = 1768435200  # 2026-01-15T00:00:00Z: the end of the demo file's (synthetic) day

_CSV_COLUMNS = {
    "sid": ("sid", "messagesid", "smssid"),
    "account_sid": ("accountsid",),
    "service_sid": ("messagingservicesid", "servicesid"),
    "sender": ("from",),
    "recipient": ("to",),
    "status": ("status", "messagestatus"),
    "error_code": ("errorcode",),
    "date_sent": ("sentdate", "datesent"),
    "date_created": ("datecreated", "createddate"),
    "date_updated": ("dateupdated", "updateddate"),
}
_RECORD_KEYS = {"sender": "from", "recipient": "to", "service_sid": "messaging_service_sid"}
_CSV_REQUIRED = {"sid": "Sid", "status": "Status", "error_code": "ErrorCode"}


class UnreadableFile(Exception):
    """The file as a whole cannot be imported; the message says why, in one line."""


@dataclass
class ImportReport:
    path: str
    kind: str = ""  # "bulkexport" or "csv"
    lines: int = 0
    failures: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    bad_lines: int = 0
    bad_line_numbers: list[int] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def bad(self, line_number: int) -> None:
        self.bad_lines += 1
        if len(self.bad_line_numbers) < BAD_LINES_SHOWN:
            self.bad_line_numbers.append(line_number)

    def line(self) -> str:
        if self.error:
            return f"{self.path}: not imported: {self.error}"
        text = (
            f"{self.path}: {self.lines} lines, {self.failures} failures "
            f"({self.inserted} new, {self.updated} updated, {self.unchanged} unchanged)"
        )
        if self.bad_lines:
            more = ", ..." if self.bad_lines > len(self.bad_line_numbers) else ""
            shown = ", ".join(map(str, self.bad_line_numbers)) + more
            text += f", {self.bad_lines} bad lines skipped (lines {shown})"
        return text + f", {self.seconds:.2f}s"


def import_file(
    db: sqlite_utils.Database, path: str | Path, *, now: int | None = None, progress: bool | None = None,
    time_shift: int = 0,
) -> ImportReport:
    """Import one file in one transaction. Never raises for a bad file: see `.error`.
    `progress`: draw a bar on stderr (default: only when stderr is a terminal).
    `time_shift`: seconds added to every time read (the demo moves its day up to now)."""
    report = ImportReport(str(path))
    now = int(time.time()) if now is None else int(now)
    started = time.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    try:
        with _open(Path(path)) as (raw, text_kind, stream):
            report.kind = text_kind
            bar = _Progress(Path(path).name, raw, show)
            read_rows = _json_rows if text_kind == "bulkexport" else _csv_rows
            rows = read_rows(stream, report, time_shift, bar)
            result = upsert_failures(db, rows, "import", now, keep_new=False)
            bar.done()
    except UnreadableFile as exc:
        report.error = str(exc)
    else:
        report.inserted, report.updated, report.unchanged = result.inserted, result.updated, result.unchanged
        report.failures = result.inserted + result.updated + result.unchanged
    report.seconds = time.perf_counter() - started
    return report


def load_demo(db: sqlite_utils.Database, now: int | None = None) -> ImportReport:
    """Import the bundled synthetic day file, its day moved to end at `now` (so 'the last 24 h'
    holds it). No network, no credentials."""
    now = int(time.time()) if now is None else int(now)
    report = import_file(db, DEMO_FILE, now=now, progress=False, time_shift=now - DEMO_DAY_END)
    if report.error:
        raise UnreadableFile(f"the bundled demo file is damaged: {report.error}")
    return report


# -- opening --------------------------------------------------------------------------------

class _open:
    """Context manager -> (raw binary file, kind, line stream). Sniffs gzip and JSON vs CSV."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: list[io.IOBase] = []

    def __enter__(self):
        try:
            raw = open(self.path, "rb")
        except OSError as exc:
            raise UnreadableFile(f"cannot be read: {exc.strerror or exc}") from None
        self.files.append(raw)
        magic = raw.read(2)
        raw.seek(0)
        binary: io.BufferedReader | gzip.GzipFile = raw
        if magic == b"\x1f\x8b":
            binary = gzip.GzipFile(fileobj=raw, mode="rb")
            self.files.append(binary)
        elif self.path.suffix == ".gz":
            raise UnreadableFile("is named .gz but is not a gzip file")
        try:
            head = binary.peek(512)[:512]
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFile(f"is not a readable gzip file ({_why(exc)})") from None
        kind = "bulkexport" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"
        if kind == "csv":
            stream = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="replace", newline="")
            self.files.append(stream)
            return raw, kind, stream
        return raw, kind, binary

    def __exit__(self, *exc) -> None:
        for f in reversed(self.files):
            with contextlib.suppress(Exception):
                f.close()


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _reading(lines: Iterator, what: str):
    """Iterate, turning a decompression/IO failure mid-file into UnreadableFile."""
    while True:
        try:
            item = next(lines)
        except StopIteration:
            return
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFile(f"{what} ({_why(exc)}); nothing from this file was imported") from None
        yield item


# -- BulkExport JSON lines ------------------------------------------------------------------

def _json_rows(stream: IO[bytes], report: ImportReport, shift: int, bar: _Progress) -> Iterator[dict]:
    loads = json.loads
    for number, line in enumerate(_reading(iter(stream), "broke off mid-file: not a complete gzip file"), 1):
        report.lines = number
        if not number & 0x3FFF:
            bar.update(number)
        if not line.strip():
            continue
        try:
            record = loads(line)
            status = record["status"]
            sid = record["sid"]
        except (ValueError, TypeError, KeyError, RecursionError):  # RecursionError: absurdly deep nesting
            report.bad(number)
            continue
        if not (isinstance(status, str) and isinstance(sid, str)):
            report.bad(number)
            continue
        if status not in FAILED_STATUSES:
            continue
        row = record_to_row(record.get, shift)
        if row is None:
            report.bad(number)
            continue
        yield row


def record_to_row(get: Callable[[str], object], shift: int = 0) -> dict | None:
    """A failure record with the Message resource's field names (BulkExport line, REST API JSON,
    or a CSV row mapped to them), given as a dict.get-like function -> upsert row (never the
    body); None if its fields are malformed."""
    sid = get("sid")
    try:
        code = error_code(get("error_code"))
        sent = parse_time(get("date_sent")) or parse_time(get("date_created"))
        updated = parse_time(get("date_updated")) or sent
    except (TypeError, ValueError, OverflowError):
        return None
    if not isinstance(sid, str) or not sid or sent is None:
        return None
    if not all(isinstance(get(key) or "", str) for key in ("account_sid", "messaging_service_sid", "from", "to")):
        return None  # a list, number or object where a SID or phone number belongs
    return {
        "sid": sid, "account_sid": get("account_sid") or "", "service_sid": get("messaging_service_sid") or None,
        "sender": get("from") or None, "recipient": get("to") or None, "status": get("status"),
        "error_code": code, "sent_at": sent + shift, "updated_at": (updated or sent) + shift,
    }


MAX_ERROR_CODE = 999_999  # Twilio's codes have up to 6 digits; a longer "code" is a shifted column


def error_code(value) -> int:
    """30003, "30003" or 30003.0 -> 30003; empty -> 0. Raises ValueError/TypeError for anything
    else: a bool, a fraction, NaN, text, a negative number, or more than six digits (a phone
    number in the wrong column must not be stored, and later shown, as an error code)."""
    if value in (None, ""):
        return 0
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("error code is not an integer")
    if isinstance(value, float) and abs(value) > 2**53:
        raise ValueError("error code out of range")
    code = int(value)
    if not 0 <= code <= MAX_ERROR_CODE:
        raise ValueError("error code out of range")
    return code


def parse_time(value) -> int | None:
    """ISO 8601 (Z or offset; naive = UTC) or RFC 2822 -> epoch seconds; None if empty."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise TypeError("time is not a string")
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = parsedate_to_datetime(text)  # raises ValueError/TypeError when it is not one either
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


# -- CSV --------------------------------------------------------------------------------------

def _csv_rows(stream: IO[str], report: ImportReport, shift: int, bar: _Progress) -> Iterator[dict]:
    reader = csv.reader(_reading(iter(stream), "broke off mid-file: not a complete gzip file"))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise UnreadableFile(f"has no readable CSV header ({exc})") from None
    names = {"".join(h.split()).replace("_", "").lower(): i for i, h in enumerate(header)}
    index = {key: next((names[a] for a in aliases if a in names), None) for key, aliases in _CSV_COLUMNS.items()}
    missing = [label for key, label in _CSV_REQUIRED.items() if index[key] is None]
    if index["date_sent"] is None and index["date_created"] is None:
        missing.append("SentDate")
    if missing:
        raise UnreadableFile(
            f"is neither a BulkExport day file nor a message-log CSV with the columns {', '.join(missing)}"
        )
    status_at = index["status"]
    assert status_at is not None  # a required column (above)
    # the record keys _row reads (BulkExport names) -> column positions
    fields = [(_RECORD_KEYS.get(key, key), at) for key, at in index.items() if at is not None and key != "status"]
    width = max(i for i in index.values() if i is not None) + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error:
            report.lines += 1
            report.bad(reader.line_num)
            continue
        report.lines += 1  # records, the header not counted (a quoted body may span lines)
        if not report.lines & 0x3FFF:
            bar.update(report.lines)
        if not values:
            continue
        if len(values) < width:
            report.bad(reader.line_num)
            continue
        status = values[status_at].strip().lower()
        if status not in FAILED_STATUSES:
            continue
        record = {name: values[at].strip() for name, at in fields}
        record["status"] = status
        row = record_to_row(record.get, shift)
        if row is None:
            report.bad(reader.line_num)
            continue
        yield row


# -- progress -----------------------------------------------------------------------------------

class _Progress:
    """A one-line bar on stderr, by compressed bytes read; silent unless `show`."""

    def __init__(self, name: str, raw: IO[bytes], show: bool) -> None:
        self.name, self.raw, self.show = name, raw, show
        try:
            self.total = Path(raw.name).stat().st_size or 1
        except (OSError, TypeError, AttributeError):
            self.total = 1
        self.drawn = False

    def update(self, lines: int) -> None:
        if not self.show:
            return
        try:
            share = min(1.0, self.raw.tell() / self.total)
        except (OSError, ValueError):
            return
        filled = int(share * 30)
        sys.stderr.write(f"\r{self.name} [{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} {lines} lines")
        sys.stderr.flush()
        self.drawn = True

    def done(self) -> None:
        if self.show and self.drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
