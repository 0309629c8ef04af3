"""Property tests for `smserror import`: any broken export file gets a clear answer (never a
traceback), the report's counts are exact, only real failures are stored, no body reaches the
database file, a second import of the same file changes nothing, and a crash mid-import loses and
doubles nothing."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import importer
from jobs.importer import import_file
from storage.db import open_db
from storage.failures import count_failures
from tests.test_import import ACC, PLANTED, record, run_cli, write_day_file

FAST = settings(max_examples=150, deadline=None)
CLI = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NOW = 1_800_000_000
SEED_SIDS = 3  # every store starts with record(0..2), so "nothing lost" is checked too

# a stored row that breaks the storage rule: only failed/undelivered, a non-zero integer code,
# text (or NULL) where text belongs, integer times
INVALID_ROWS = """
SELECT sid FROM failures WHERE status NOT IN ('failed', 'undelivered')
   OR typeof(error_code) != 'integer' OR error_code = 0 OR typeof(sid) != 'text' OR sid = ''
   OR typeof(account_sid) != 'text' OR typeof(service_sid) NOT IN ('text', 'null')
   OR typeof(sender) NOT IN ('text', 'null') OR typeof(recipient) NOT IN ('text', 'null')
   OR typeof(sent_at) != 'integer' OR typeof(updated_at) != 'integer' OR source != 'import'
"""


def dump(db, first_seen: bool = True) -> list[tuple]:
    columns = "sid, account_sid, service_sid, sender, recipient, status, error_code, sent_at, updated_at, source"
    more = ", first_seen" if first_seen else ""
    return db.conn.execute(f"SELECT {columns}{more} FROM failures ORDER BY sid").fetchall()


def _lines_in(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def import_twice(data: bytes, name: str):
    """Import `data` (saved as `name`) twice into a seeded store; check what holds for ANY file.
    Returns (first report, rows added by the file)."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        store = open_db(folder / "s.db")
        try:
            seed = write_day_file(folder / "seed.json.gz", [record(i) for i in range(SEED_SIDS)])
            import_file(store, seed, now=NOW - 99)
            seeded = dump(store)
            path = folder / name
            path.write_bytes(data)
            first, second = (import_file(store, str(path), now=NOW) for _ in range(2))  # no exception escapes
            after = dump(store)
            _check_report(first, data, name)
            if first.error:
                assert after == seeded  # nothing from a broken file, nothing lost
            else:
                assert len(after) - len(seeded) == first.inserted
                assert {r[0] for r in seeded} <= {r[0] for r in after}  # nothing lost
            assert store.conn.execute(INVALID_ROWS).fetchall() == []
            # the second import changes nothing: same store, same answer, nothing new
            assert (second.error, second.lines, second.bad_lines, second.failures, second.inserted) == (
                first.error, first.lines, first.bad_lines, first.failures, 0)
            again = import_file(store, path, now=NOW + 500)
            assert dump(store) == after and again.updated == 0
            store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            store.close()
        stored = b"".join(p.read_bytes() for p in folder.iterdir() if p.name.startswith("s.db"))
        assert b"PLANTED-BODY" not in stored
        return first, [r for r in after if r[0] not in {s[0] for s in seeded}]


def _check_report(report, data: bytes, name: str) -> None:
    line = report.line()
    assert "\n" not in line and line.startswith(report.path) and "Traceback" not in line
    if report.error:
        assert report.error.strip() and "\n" not in report.error
        assert (report.failures, report.inserted, report.updated, report.unchanged) == (0, 0, 0, 0)
        return
    assert report.kind in ("bulkexport", "csv")
    assert report.failures == report.inserted + report.updated + report.unchanged
    assert report.failures + report.bad_lines <= report.lines
    assert len(report.bad_line_numbers) == min(report.bad_lines, importer.BAD_LINES_SHOWN)
    assert report.bad_line_numbers == sorted(report.bad_line_numbers) and all(n >= 1 for n in report.bad_line_numbers)
    text = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    if report.kind == "bulkexport":
        assert report.lines == _lines_in(text)
        assert len(set(report.bad_line_numbers)) == len(report.bad_line_numbers)
        assert all(n <= report.lines for n in report.bad_line_numbers)


# -- strategies -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
ODD_STRINGS = ["NaN", "nan", "Infinity", "-inf", "1e309", "0x7531", "30003.5", "30003.0", " 30003 ", "٣٠٠٠٣", "3_0003",
               "", "null", "0", "-0", "99999999999999999999999", "failed", "yesterday", "2026-13-45T00:00:00Z"]
offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(datetime(1971, 1, 2), datetime(9998, 12, 30), timezones=offsets)


@st.composite
def good_times(draw):
    """(text, epoch seconds): ISO 8601 with odd offsets, Z, naive (= UTC), basic format, or RFC 2822."""
    moment = draw(moments).replace(microsecond=0)
    style = draw(st.sampled_from(["iso", "z", "naive", "space", "rfc"]))
    if style == "rfc":
        return format_datetime(moment), int(moment.timestamp())
    utc = moment.astimezone(UTC)
    if style == "z":
        return utc.strftime("%Y-%m-%dT%H:%M:%SZ"), int(moment.timestamp())
    if style in ("naive", "space"):
        return utc.replace(tzinfo=None).isoformat(" " if style == "space" else "T"), int(moment.timestamp())
    return moment.isoformat(), int(moment.timestamp())


BAD_TIMES = st.sampled_from(["yesterday", "2026-13-45T00:00:00Z", "2026-01-14T25:00:00Z",
                             "Wed, 32 Jan 2026 10:00:00 +0000", "NaN", "1768384801", "T10:00", 1768384801, 1.5, True,
                             [], {"at": "2026-01-14"}, ["2026-01-14"]])
BAD_CODES = st.sampled_from([True, False, 30003.5, float("nan"), float("inf"), "NaN", "inf", "thirty", "30003.5", "1e5",
                             2**63, -(2**63) - 1, 10**30, [30003], {"code": 30003}, "9" * 5000,
                             -5, "-30003", 10**6, 12025550187, "12025550187", 1.2025550187e10])
GOOD_CODES = st.integers(1, 999_999) | st.integers(1, 99999).map(str) \
    | st.integers(1, 99999).map(lambda c: f" {c} ") | st.integers(1, 99999).map(float)
FAILED = st.sampled_from(["failed", "undelivered"])
NOT_FAILED = st.sampled_from(["delivered", "sent", "queued", "accepted", "received", "canceled", "Failed", "FAILED",
                              ""])
bodies = st.text(max_size=30).map(lambda t: f"{PLANTED} {t}")


def _sid(i: int) -> str:
    return f"SMab{i:030x}"  # never one of the seed's SIDs


@st.composite
def json_line(draw, i: int):
    """(bytes, expected outcome 'stored'/'ignored'/'bad', expected row values or None)."""
    kind = draw(st.sampled_from(["stored", "ignored", "zero", "bad_time", "bad_code", "bad_field", "bad_json",
                                 "not_object"]))
    base = {"sid": _sid(i), "account_sid": ACC, "status": draw(FAILED), "body": draw(bodies), "error_code": 30003,
            "from": "+12025550100", "to": "+12025550199",
            "messaging_service_sid": draw(st.none() | st.just("MG" + "4" * 32))}
    sent, epoch = draw(good_times())
    if draw(st.booleans()):
        base.update(date_sent=sent)
    else:  # failed before sending: date_created stands in
        base.update(date_sent=draw(st.none() | st.just("")), date_created=sent)
    expected = None
    if kind == "stored":
        base["error_code"] = draw(GOOD_CODES)
        expected = (int(base["error_code"]), epoch)
    elif kind == "ignored":
        base["status"] = draw(NOT_FAILED)
        base["error_code"] = draw(st.none() | BAD_CODES | GOOD_CODES)  # a non-failure is never judged by its code
    elif kind == "zero":
        base["error_code"] = draw(st.sampled_from([None, "", 0, "0", 0.0]))
    elif kind == "bad_time":
        base["date_sent"] = draw(BAD_TIMES)
    elif kind == "bad_code":
        base["error_code"] = draw(BAD_CODES)
    elif kind == "bad_field":
        key = draw(st.sampled_from(["from", "to", "account_sid", "messaging_service_sid", "sid", "status"]))
        base[key] = draw(st.sampled_from([["+12025550100"], {"number": "+1"}, 12025550100, 10**30, True, 1.5]))
    elif kind == "bad_json":
        broken = [b"{not json", b'{"sid": "SM1",', b"\xff\xfe\x00", b"[" * 50_000, b'{"a":' * 50_000]
        return draw(st.sampled_from(broken)), "bad", None
    elif kind == "not_object":
        return json.dumps(draw(json_values.filter(lambda v: not isinstance(v, dict)))).encode(), "bad", None
    outcome = {"stored": "stored", "ignored": "ignored", "zero": "ignored"}.get(kind, "bad")
    return json.dumps(base).encode(), outcome, expected


@st.composite
def json_files(draw):
    lines = [draw(json_line(i)) for i in range(draw(st.integers(0, 25)))]
    blank = draw(st.sets(st.integers(0, len(lines)), max_size=3))
    out, numbered = [], []
    for at, line in enumerate(lines + [None]):
        if at in blank:
            out.append(draw(st.sampled_from([b"", b"  ", b"\r"])))
        if line is not None:
            out.append(line[0])
            numbered.append((len(out), at, line[1], line[2]))
    return b"\n".join(out) + draw(st.sampled_from([b"\n", b""])), numbered


# -- JSON lines -----------------------------------------------------------------------------------

@FAST
@given(json_files(), st.booleans())
def test_json_lines_exact_counts_and_rows(file, zipped):
    plain, numbered = file
    report, added = import_twice(gzip.compress(plain) if zipped else plain, "day.json.gz" if zipped else "day.jsonl")
    if not plain.lstrip(b" \t\r\n").startswith(b"{"):
        assert report.kind == "csv" or report.error  # opens with no JSON object: read as a CSV, or refused
        return
    assert report.error is None and report.kind == "bulkexport"
    bad = [n for n, _, outcome, _ in numbered if outcome == "bad"]
    stored = {_sid(i): values for _, i, outcome, values in numbered if outcome == "stored"}
    assert (report.bad_lines, report.failures, report.inserted) == (len(bad), len(stored), len(stored))
    assert report.bad_line_numbers == bad[: importer.BAD_LINES_SHOWN]
    assert {row[0]: (row[6], row[7]) for row in added} == stored


@FAST
@given(st.lists(json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=40), max_size=12),
       st.dictionaries(st.sampled_from(["sid", "status", "error_code", "date_sent", "date_created", "date_updated",
                                         "from", "to", "account_sid", "messaging_service_sid"]),
                       json_values | st.sampled_from(ODD_STRINGS) | good_times().map(lambda t: t[0]) | FAILED))
def test_json_lines_with_random_values_never_break_the_rules(lines, fields):
    """Random JSON values and random field types: the generic checks (no exception, honest counts,
    only valid failures stored, no body, idempotent) must hold whatever the values."""
    fields = dict(fields, body=PLANTED)
    data = b"\n".join([json.dumps(fields).encode()] + lines)
    report, _ = import_twice(gzip.compress(data), "day.json.gz")
    assert report.error is None and report.lines == _lines_in(data)


# -- broken files ---------------------------------------------------------------------------------

@FAST
@given(st.binary(max_size=3000), st.sampled_from(["x.json.gz", "x.csv", "x.jsonl", "x", "x.csv.gz"]), st.booleans())
def test_random_bytes_and_random_gzip(data, name, zipped):
    import_twice(gzip.compress(data) if zipped else data, name)


_WHOLE = gzip.compress(b"".join(json.dumps(record(100 + i)).encode() + b"\n" for i in range(400)))


@FAST
@given(st.integers(0, len(_WHOLE) - 1), st.sampled_from(["cut.json.gz", "cut.bin"]))
def test_truncated_gzip_imports_nothing(cut, name):
    report, added = import_twice(_WHOLE[:cut], name)
    if cut == 0 and name == "cut.bin":
        assert report.error is None and report.lines == 0  # an empty file: nothing to import, not an error
    else:
        assert report.error and added == []


# -- CSV ------------------------------------------------------------------------------------------

COLUMN_NAMES = {
    "sid": ["Sid", "SID", "sid", "Message Sid", "message_sid"],
    "status": ["Status", "status", "MESSAGE STATUS"],
    "error_code": ["ErrorCode", "Error Code", "error_code", " errorcode "],
    "date_sent": ["SentDate", "Date Sent", "date_sent"],
    "from": ["From", "from"], "to": ["To", "TO"], "account_sid": ["AccountSid", "Account Sid"],
}
EXTRA = ["Body", "Direction", "Body", "NumSegments", "Price", ""]  # "Body" twice: duplicate headers


@st.composite
def csv_files(draw):
    """(bytes, [(end line, i, outcome, expected)]) for a message-log CSV with shuffled, renamed,
    extra and duplicate columns, BOM or not, CRLF or LF, UTF-8 or latin-1, quoted newlines."""
    keys = draw(st.permutations(list(COLUMN_NAMES) + draw(st.lists(st.sampled_from(EXTRA), max_size=3))))
    header = [draw(st.sampled_from(COLUMN_NAMES[k])) if k in COLUMN_NAMES else k for k in keys]
    latin = draw(st.booleans())
    body_text = st.text(st.characters(max_codepoint=255 if latin else 0x10FFFF, exclude_categories=("Cs",)),
                        max_size=20)
    terminator = draw(st.sampled_from(["\r\n", "\n"]))
    out = io.StringIO()
    # csv.writer quotes a field holding any character of its line terminator: with "\n" alone, a
    # stray "\r" in a body would go out bare (no exporter does that), so quote everything then
    writer = csv.writer(out, lineterminator=terminator,
                        quoting=csv.QUOTE_MINIMAL if terminator == "\r\n" else csv.QUOTE_ALL)
    writer.writerow(header)
    rows, line = [], 1
    for i in range(draw(st.integers(0, 20))):
        kind = draw(st.sampled_from(["stored", "ignored", "zero", "bad_time", "bad_code", "short", "blank"]))
        sent, epoch = draw(good_times())
        values = {"sid": _sid(i), "status": draw(FAILED).capitalize() if draw(st.booleans()) else "failed",
                  "error_code": str(draw(st.integers(1, 99999))), "date_sent": sent, "from": "+12025550100",
                  "to": "+12025550199", "account_sid": ACC}
        expected, outcome = None, "bad"
        if kind == "stored":
            expected, outcome = (int(values["error_code"]), epoch), "stored"
        elif kind == "ignored":
            values["status"], outcome = draw(st.sampled_from(["delivered", "Sent", "queued", "receiving"])), "ignored"
        elif kind == "zero":
            values["error_code"], outcome = draw(st.sampled_from(["", "0", " 0 "])), "ignored"
        elif kind == "bad_time":
            values["date_sent"] = draw(st.sampled_from(["yesterday", "2026-13-45T00:00:00Z", "", "1768384801"]))
        elif kind == "bad_code":
            values["error_code"] = draw(st.sampled_from(["30003.5", "NaN", "thirty", "1e5", "99999999999999999999999"]))
        fields = [values.get(k, "") if k != "Body" else f"{PLANTED};{draw(body_text)}" for k in keys]
        if kind == "short":
            fields = fields[: max(keys.index(k) for k in COLUMN_NAMES)]
        if kind == "blank":
            fields, outcome = [], "ignored"
        start = out.tell()
        writer.writerow(fields)
        line += len(re.findall(r"\r\n|\r|\n", out.getvalue()[start:]))
        rows.append((line, i, outcome, expected))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    return bom + out.getvalue().encode("latin-1" if latin else "utf-8"), rows


@FAST
@given(csv_files(), st.booleans())
def test_csv_exact_counts_and_rows(file, zipped):
    data, rows = file
    report, added = import_twice(gzip.compress(data) if zipped else data, "log.csv.gz" if zipped else "log.csv")
    assert report.error is None and report.kind == "csv"
    bad = [n for n, _, outcome, _ in rows if outcome == "bad"]
    stored = {_sid(i): values for _, i, outcome, values in rows if outcome == "stored"}
    assert (report.lines, report.bad_lines, report.failures, report.inserted) == (
        len(rows), len(bad), len(stored), len(stored))
    assert report.bad_line_numbers == bad[: importer.BAD_LINES_SHOWN]
    assert {row[0]: (row[6], row[7]) for row in added} == stored


@FAST
@given(st.lists(st.lists(st.text(st.sampled_from('ab,;"\r\n\ufeff\xe9\x00 0'), max_size=8), max_size=6), max_size=8),
       st.sampled_from(["utf-8", "latin-1"]))
def test_csv_with_random_cells(cells, encoding):
    header = "Sid,Status,ErrorCode,SentDate,Body\n"
    data = header + "\n".join(",".join(row) for row in cells)
    import_twice(data.encode(encoding, errors="replace"), "log.csv")


@FAST
@given(st.sets(st.sampled_from(["sid", "status", "error_code", "date_sent"]), min_size=1),
       st.sampled_from([",", ";", "\t"]), st.booleans())
def test_csv_without_the_needed_columns_names_them(dropped, delimiter, header_only):
    keys = [k for k in ["sid", "status", "error_code", "date_sent", "from"] if k not in dropped or delimiter != ","]
    lines = [delimiter.join(COLUMN_NAMES[k][0] for k in keys)]
    if not header_only:
        lines.append(delimiter.join([_sid(1), "failed", "30003", "2026-01-14T10:00:00Z", "+1"][: len(keys)]))
    report, _ = import_twice("\r\n".join(lines).encode(), "log.csv")
    assert report.error
    assert report.error.startswith("is neither a BulkExport day file nor a message-log CSV with the columns")
    wanted = {"sid": "Sid", "status": "Status", "error_code": "ErrorCode", "date_sent": "SentDate"}
    named = set(report.error.rsplit("columns ", 1)[1].split(", "))
    assert named == ({wanted[k] for k in dropped} if delimiter == "," else set(wanted.values()))


def test_empty_file_and_header_only_are_not_errors():
    for data in (b"", b"\xef\xbb\xbf", b"Sid,Status,ErrorCode,SentDate\r\n",
                 b"\xef\xbb\xbfSid,Status,ErrorCode,SentDate"):
        report, added = import_twice(data, "log.csv")
        assert (report.error, report.kind, report.lines, report.failures, added) == (None, "csv", 0, 0, [])


# -- the command ----------------------------------------------------------------------------------

def _one_clear_line(err: str, name: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"smserror: {name}: not imported: ")


@CLI
@given(st.binary(max_size=500) | st.integers(1, len(_WHOLE) - 1).map(lambda n: _WHOLE[:n])
       | st.binary(max_size=500).map(gzip.compress),
       st.sampled_from(["f.json.gz", "f.csv", "f"]))
def test_cli_answers_any_file_in_one_line(monkeypatch, tmp_path, capsys, data, name):
    (tmp_path / name).write_bytes(data)
    code = run_cli(monkeypatch, tmp_path, "import", name)
    out, err = capsys.readouterr()
    assert code in (0, 1) and "Traceback" not in out + err
    if code == 1:
        _one_clear_line(err, name)
        assert out == ""
    else:
        assert err == "" and out.startswith(f"{name}: ") and len(out.strip().splitlines()) == 1


def test_cli_directory_missing_and_unopenable_paths(monkeypatch, tmp_path, capsys):
    write_day_file(tmp_path / "good.json.gz", [record(i) for i in range(4)])
    (tmp_path / "folder").mkdir()
    (tmp_path / "plain.csv").write_text("Sid,Status,ErrorCode,SentDate\n")
    argv = ["folder", "missing.csv", "plain.csv/inside", "good.json.gz", "x" * 300 + ".csv"]
    assert run_cli(monkeypatch, tmp_path, "import", *argv) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 4 and "Traceback" not in err
    whys = ["Is a directory", "No such file or directory", "Not a directory", "File name too long"]
    for line, path, why in zip(lines, argv[:3] + argv[4:], whys, strict=True):
        assert line == f"smserror: {path}: not imported: cannot be read: {why}"
    assert out.startswith("good.json.gz: 4 lines, 4 failures (4 new")
    store = open_db(tmp_path / "import.db")
    assert count_failures(store) == 4
    store.close()


def test_cli_unreadable_file(monkeypatch, tmp_path, capsys):
    path = write_day_file(tmp_path / "secret.json.gz", [record(1)])
    path.chmod(0)
    code = run_cli(monkeypatch, tmp_path, "import", path.name)
    out, err = capsys.readouterr()
    if os.access(path, os.R_OK):  # root reads a mode-000 file anyway: then it simply imports
        assert (code, err) == (0, "") and "1 new" in out
    else:
        assert code == 1 and err == "smserror: secret.json.gz: not imported: cannot be read: Permission denied\n"
    # what a non-root reader meets, whoever runs the tests: open() refusing with EACCES

    def refuse(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(importer, "open", refuse, raising=False)
    assert run_cli(monkeypatch, tmp_path, "import", path.name) == 1
    out, err = capsys.readouterr()
    assert (out, err) == ("", "smserror: secret.json.gz: not imported: cannot be read: Permission denied\n")


# -- a crash mid-import ----------------------------------------------------------------------------

BIG_LINES = 200_000


def _big_day_file(path: Path) -> Path:
    """200k BulkExport lines (1 in 4 a failure, some SIDs repeated), written in well under a second."""
    template = (f'{{"account_sid": "{ACC}", "sid": "SMbb%030x", "from": "+12025550100", "to": "+120255501%02d", '
                f'"body": "{PLANTED}", "status": "%s", "error_code": %s, "date_sent": "2026-01-14T10:%02d:00Z", '
                '"date_updated": "2026-01-14T11:00:00Z"}\n')
    lines = (template % (i % 190_000, i % 100, "undelivered" if i % 4 == 0 else "delivered",
                         30000 + i % 9 if i % 4 == 0 else "null", i % 60)
             for i in range(BIG_LINES))
    path.write_bytes(gzip.compress("".join(lines).encode(), compresslevel=1))
    return path


def _read_position(pid: int, target: Path) -> int | None:
    """How far process `pid` has read `target` (from /proc), or None while it has not opened it."""
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(target):
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    return int(re.search(r"pos:\s*(\d+)", info.read()).group(1))
    except (OSError, AttributeError):
        return None
    return None


def test_sigkill_mid_import_then_rerun_equals_one_clean_import(tmp_path):
    big = _big_day_file(tmp_path / "big.json.gz")
    env = dict(os.environ, SMSERROR_DB=str(tmp_path / "crash.db"))
    command = [sys.executable, "-m", "bot.cli", "import", str(big)]
    seed = write_day_file(tmp_path / "seed.json.gz", [record(i) for i in range(SEED_SIDS)])
    subprocess.run([sys.executable, "-m", "bot.cli", "import", str(seed)],
                   env=env, cwd=tmp_path, check=True, capture_output=True)
    store = open_db(tmp_path / "crash.db")
    seeded = dump(store)
    store.close()

    size = big.stat().st_size
    victim = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        position = _read_position(victim.pid, big)
        if position is not None and size // 4 <= position < size:
            break
        assert victim.poll() is None, "the import finished before it could be killed: make the file bigger"
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    assert victim.returncode == -signal.SIGKILL and position is not None and size // 4 <= position < size

    store = open_db(tmp_path / "crash.db")
    assert dump(store) == seeded  # the killed import left nothing behind and took nothing away
    store.close()
    rerun = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0 and rerun.stderr == ""
    assert re.match(rf"{re.escape(str(big))}: {BIG_LINES} lines, 50000 failures "
                    r"\(47500 new, 2500 updated, 0 unchanged\)", rerun.stdout)

    clean = open_db(tmp_path / "clean.db")
    for path in (tmp_path / "seed.json.gz", big):
        assert import_file(clean, path).error is None
    crashed = open_db(tmp_path / "crash.db")
    assert dump(crashed, first_seen=False) == dump(clean, first_seen=False)
    assert count_failures(crashed) == SEED_SIDS + 47_500
    assert crashed.conn.execute(INVALID_ROWS).fetchall() == []
