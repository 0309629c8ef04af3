"""`smserror import` and `smserror demo`: BulkExport day files and CSV exports, streamed, one
transaction per file, bad lines counted, unreadable files rejected without a traceback."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli
from jobs.importer import DEMO_FILE, import_file, load_demo
from storage.db import open_db
from storage.failures import count_by_code, count_failures, get_failure

ROOT = Path(__file__).resolve().parents[1]
ACC = "AC" + "3" * 32
PLANTED = "PLANTED-BODY-91b2 your lab results"


def record(i, status="undelivered", code=30003, **extra):
    values = {
        "account_sid": ACC, "sid": f"SM{i:032x}", "messaging_service_sid": "MG" + "4" * 32,
        "from": "+12025550100", "to": f"+120255501{i % 100:02d}", "body": PLANTED, "status": status,
        "error_code": code, "direction": "outbound-api", "date_created": "2026-01-14T10:00:00Z",
        "date_sent": "2026-01-14T10:00:01Z", "date_updated": "2026-01-14T10:05:00Z",
    }
    values.update(extra)
    return values


def write_day_file(path: Path, records, extra_lines=()) -> Path:
    with gzip.open(path, "wb") as out:
        for r in records:
            out.write(json.dumps(r).encode() + b"\n")
        for line in extra_lines:
            out.write(line + b"\n")
    return path


def run_cli(monkeypatch, tmp_path, *argv):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSERROR_DB", str(tmp_path / "import.db"))
    return cli.main(list(argv))


def test_bulkexport_day_file_import_is_exact_and_idempotent(db, tmp_path):
    rows = [record(i) for i in range(10)] + [record(100 + i, status="delivered", code=None) for i in range(30)]
    rows.append(record(200, status="failed", code=30007, date_sent=None))  # failed before sending
    path = write_day_file(tmp_path / "day.json.gz", rows)
    report = import_file(db, path, now=1_800_000_000)
    assert report.error is None and report.kind == "bulkexport"
    assert (report.lines, report.failures, report.inserted, report.bad_lines) == (41, 11, 11, 0)
    row = get_failure(db, f"SM{3:032x}")
    assert (row["status"], row["error_code"], row["sent_at"], row["updated_at"], row["source"]) == (
        "undelivered", 30003, 1768384801, 1768385100, "import")
    assert get_failure(db, f"SM{200:032x}")["sent_at"] == 1768384800  # date_created stands in
    again = import_file(db, path, now=1_800_000_100)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 11)
    assert count_failures(db) == 11


def test_bodies_are_never_in_the_database_file(tmp_path):
    store = open_db(tmp_path / "b.db")
    import_file(store, write_day_file(tmp_path / "day.json.gz", [record(i) for i in range(50)]))
    csv_path = tmp_path / "log.csv"
    csv_path.write_text("Sid,Body,Status,ErrorCode,SentDate,AccountSid\n"
                        f"SM{999:032x},\"{PLANTED}, ok\",failed,30007,2026-01-14T10:00:00Z,{ACC}\n")
    assert import_file(store, csv_path).inserted == 1
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("b.db"))
    assert b"PLANTED-BODY" not in data and count_failures(open_db(tmp_path / "b.db")) == 51


def test_csv_columns_by_header_name_in_any_order(db, tmp_path):
    path = tmp_path / "Messages.csv"
    path.write_text(
        "\ufeffDate Sent, Error Code ,to,FROM,Body,status,SID,Account Sid,Direction\n"
        "2026-01-14 10:00:00,30006,+12025550142,+12025550100,\"multi\nline, body\","
        f"undelivered,SM{1:032x},{ACC},outbound-api\n"
        "\"Wed, 14 Jan 2026 11:00:00 +0000\",,+12025550143,+12025550100,hello,"
        f"delivered,SM{2:032x},{ACC},outbound-api\n"
        f"2026-01-14T12:00:00-05:00,21610,+12025550144,+12025550100,hi,Failed,SM{3:032x},{ACC},outbound-api\n"
        f"\"Wed, 14 Jan 2026 13:00:00 +0000\",30007,+12025550145,+12025550100,hi,failed,SM{4:032x}\n"
        f"not a time,30007,+12025550146,+12025550100,hi,failed,SM{5:032x},{ACC},outbound-api\n",
        encoding="utf-8",
    )
    report = import_file(db, path, now=1_800_000_000)
    assert report.error is None and report.kind == "csv"
    assert (report.lines, report.inserted, report.bad_lines, report.bad_line_numbers) == (5, 2, 2, [6, 7])
    first = get_failure(db, f"SM{1:032x}")
    assert (first["error_code"], first["recipient"], first["sent_at"], first["account_sid"]) == (
        30006, "+12025550142", 1768384800, ACC)
    assert get_failure(db, f"SM{3:032x}")["sent_at"] == 1768410000  # the offset is honoured


def test_bad_lines_are_skipped_counted_and_located(db, tmp_path):
    path = write_day_file(
        tmp_path / "day.json.gz", [record(i) for i in range(3)],
        extra_lines=[b"{not json", b"[1, 2]", b"\xff\xfe", json.dumps(record(7, date_sent="yesterday-ish")).encode(),
                     b"", json.dumps(record(8)).encode(), b"42", b'{"sid": 5, "status": "delivered"}'],
    )
    report = import_file(db, path)
    assert report.error is None
    assert (report.inserted, report.bad_lines, report.bad_line_numbers) == (4, 6, [4, 5, 6, 7, 10])
    assert "6 bad lines skipped (lines 4, 5, 6, 7, 10, ...)" in report.line()


@pytest.mark.parametrize("name, content, message", [
    ("bad.json.gz", b"\x1f\x8b\x08\x00garbage that is not deflate", "not a readable gzip file"),
    ("plain.json.gz", b'{"sid": "x"}\n', "is named .gz but is not a gzip file"),
    ("columns.csv", b"Sid,From,To,Body\nSM1,+1,+2,hi\n", "with the columns Status, ErrorCode, SentDate"),
    ("picture.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "with the columns Sid, Status, ErrorCode, SentDate"),
])
def test_unreadable_files_exit_1_with_one_clear_line(monkeypatch, tmp_path, capsys, name, content, message):
    (tmp_path / name).write_bytes(content)
    assert run_cli(monkeypatch, tmp_path, "import", name) == 1
    err = capsys.readouterr().err
    assert message in err and name in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_truncated_gzip_imports_nothing(db, tmp_path):
    whole = write_day_file(tmp_path / "whole.json.gz", [record(i) for i in range(5000)]).read_bytes()
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    report = import_file(db, cut)
    assert "broke off mid-file" in report.error and "nothing from this file was imported" in report.error
    assert count_failures(db) == 0


def test_missing_file_and_a_good_one_together(monkeypatch, tmp_path, capsys):
    write_day_file(tmp_path / "good.json.gz", [record(i) for i in range(4)])
    assert run_cli(monkeypatch, tmp_path, "import", "nope.json.gz", "good.json.gz") == 1
    captured = capsys.readouterr()
    assert "nope.json.gz: not imported: cannot be read: No such file or directory" in captured.err
    assert "good.json.gz: 4 lines, 4 failures (4 new, 0 updated, 0 unchanged)" in captured.out
    assert run_cli(monkeypatch, tmp_path, "import", "good.json.gz") == 0
    assert "(0 new, 0 updated, 4 unchanged)" in capsys.readouterr().out


def test_progress_bar_only_when_asked(db, tmp_path, capsys):
    path = write_day_file(tmp_path / "big.json.gz", [record(i, status="delivered", code=None) for i in range(17000)])
    import_file(db, path, progress=False)
    assert capsys.readouterr().err == ""
    import_file(db, path, progress=True)
    assert "big.json.gz [" in capsys.readouterr().err


# -- demo --------------------------------------------------------------------------------------

def test_demo_file_is_reproducible_and_synthetic(tmp_path):
    out = tmp_path / "demo.jsonl.gz"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_demo_export.py"), "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == DEMO_FILE.read_bytes()
    codes = set()
    with gzip.open(DEMO_FILE, "rt") as lines:
        for line in lines:
            r = json.loads(line)
            assert re.fullmatch(r"\+1\d{3}55501\d\d", r["to"]) and re.fullmatch(r"\+1\d{3}55501\d\d", r["from"])
            codes.add(r["error_code"])
    assert {30033, 30034, 30007, 21610, 30003, 30006} <= codes


def test_load_demo_puts_the_day_in_the_last_24_hours(db):
    now = 1_800_000_000
    report = load_demo(db, now=now)
    assert report.error is None and report.failures > 300
    summary = {code: n for code, n, _ in count_by_code(db, now - 86400, now)}
    assert summary[30034] >= 10 and summary[30033] >= 5 and sum(summary.values()) == report.failures


def test_demo_command_needs_no_credentials(monkeypatch, tmp_path, capsys):
    for name in [n for n in os.environ if n.startswith(("TWILIO_", "SLACK_", "SMSERROR_"))]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    digest, alerts = out.split("Real-time alerts")
    assert "30034 · " in digest and "18 failures" in digest and "List hygiene" in digest
    assert re.search(r"🚨 .*\(30034\)\n  18 failures since", alerts)
    assert re.search(r"🚨 .*\(30033\)\n", alerts)
    assert "30007" not in alerts  # carrier codes go to the digest, not one alert each
    assert not re.search(r"\+1\d{10}", out)
    assert list(tmp_path.iterdir()) == []  # the temporary store is gone
