"""List hygiene: the full CSV for the operator (full numbers, owner-only file), the masked
summary, the reasons by code, and bad paths."""

from __future__ import annotations

import csv
import io
import os
import stat
import time

import pytest

from bot.cli import main
from jobs.hygiene import CSV_COLUMNS, write_csv
from storage.digest_queries import HYGIENE_REASONS, hygiene_rows
from tests.test_digest import AC2, DAY, END, H, add_failure


def test_reasons_by_code():
    assert HYGIENE_REASONS == {21610: "opted out", 21635: "landline", 30006: "landline or unreachable carrier",
                               21211: "wrong format or typo", 21614: "invalid", 30005: "inactive"}


def test_rows_and_csv(db):
    add_failure(db, "SM1", 21610, END - 5 * H, recipient="+15550000001")
    add_failure(db, "SM2", 21610, END - 1 * H, recipient="+15550000001")
    add_failure(db, "SM3", 21635, END - 2 * H, recipient="+442071234567", account=AC2)
    add_failure(db, "SM4", 30005, END - 3 * H, recipient="=HYPERLINK(\"x\")")
    add_failure(db, "SM5", 30007, END - 1 * H, recipient="+15550000009")  # not a hygiene code
    add_failure(db, "SM6", 21211, END - 2 * DAY, recipient="+15550000008")  # outside the window
    add_failure(db, "SM7", 21211, END - 4 * H, recipient="+1555000000")  # a digit short
    rows = hygiene_rows(db, END - DAY, END)
    assert [(r.number, r.reason, r.code, r.count) for r in rows] == [
        ("+15550000001", "opted out", 21610, 2),
        ("+442071234567", "landline", 21635, 1),
        ('=HYPERLINK("x")', "inactive", 30005, 1),
        ("+1555000000", "wrong format or typo", 21211, 1),
    ]
    out = io.StringIO()
    assert write_csv(rows, out, {"AC" + "1" * 32: "Glow Clinic"}) == 4
    lines = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(lines[0]) == CSV_COLUMNS == ("number", "reason", "code", "last_seen", "count", "account_sid",
                                              "account_name", "action")
    assert lines[1] == ["+15550000001", "opted out", "21610", "2026-03-09T11:00:00Z", "2", "AC" + "1" * 32,
                        "Glow Clinic", "remove"]
    assert lines[2][0] == "+442071234567" and lines[2][5:7] == [AC2, ""]  # no name known
    assert lines[3][0] == "'=HYPERLINK(\"x\")"  # a spreadsheet must not run it
    assert lines[4][1:3] == ["wrong format or typo", "21211"] and lines[4][7] == "correct", "fix the number, keep it"


@pytest.fixture
def cli_db(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSERROR_DB", str(tmp_path / "h.db"))
    from storage.db import open_db

    db = open_db(tmp_path / "h.db")
    now = int(time.time())
    add_failure(db, "SMa", 21610, now - 600, recipient="+15551234567")
    add_failure(db, "SMb", 30006, now - 900, recipient="+15557654321")
    add_failure(db, "SMold", 21614, now - 40 * DAY, recipient="+15550000000")
    yield db
    db.close()


def test_cli_csv_file_has_full_numbers_and_is_private(cli_db, tmp_path, capsys):
    path = tmp_path / "remove.csv"
    assert main(["hygiene", "--csv", str(path)]) == 0
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [(r["number"], r["reason"], r["code"], r["count"]) for r in rows] == [
        ("+15551234567", "opted out", "21610", "1"), ("+15557654321", "landline or unreachable carrier", "30006", "1")]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "full numbers" in capsys.readouterr().err


def test_cli_csv_to_stdout_and_since(cli_db, capsys):
    assert main(["hygiene", "--csv", "--since", "60d"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert "+15550000000" in out and len(out.splitlines()) == 4


def test_cli_summary_is_masked(cli_db, capsys):
    assert main(["hygiene"]) == 0
    out = capsys.readouterr().out
    assert "2 recipients to remove from your lists: 1 landline or unreachable carrier, 1 opted out." in out
    assert "+1••••••4567" in out and "+15551234567" not in out and "+15557654321" not in out


def test_cli_unwritable_csv_path_is_one_line_exit_2(cli_db, tmp_path, capsys):
    assert main(["hygiene", "--csv", str(tmp_path / "missing-dir" / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the CSV file" in err and "Traceback" not in err
    assert main(["hygiene", "--csv", str(tmp_path)]) == 2  # a directory
    assert "cannot write the CSV file" in capsys.readouterr().err


def test_cli_csv_over_an_existing_readable_file_makes_it_private(cli_db, tmp_path, capsys):
    path = tmp_path / "remove.csv"
    path.write_text("an older list\n")
    path.chmod(0o644)
    assert main(["hygiene", "--csv", str(path)]) == 0
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "+15551234567" in path.read_text() and "an older list" not in path.read_text()


def test_cli_csv_refuses_a_symlink(cli_db, tmp_path, capsys):
    target, link = tmp_path / "elsewhere.txt", tmp_path / "remove.csv"
    target.write_text("not ours\n")
    target.chmod(0o644)
    link.symlink_to(target)
    assert main(["hygiene", "--csv", str(link)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "symbolic link" in err and "Traceback" not in err
    assert target.read_text() == "not ours\n" and stat.S_IMODE(os.stat(target).st_mode) == 0o644


def test_cli_summary_counts_numbers_to_correct_apart(cli_db, capsys):
    add_failure(cli_db, "SMc", 21211, int(time.time()) - 300, recipient="+1555123456")
    assert main(["hygiene"]) == 0
    out = capsys.readouterr().out
    assert ("2 recipients to remove from your lists: 1 landline or unreachable carrier, 1 opted out."
            " 1 number to correct (wrong format or a typo).") in out


def test_the_digest_lists_reasons_most_first_whatever_order_the_outbox_kept():
    from jobs.views.digest import hygiene_line

    stored = {"recipients": 6, "by_reason": {"inactive": 1, "landline": 2, "opted out": 3}}  # keys sorted
    assert hygiene_line(stored) == "6 recipients to remove from your lists: 3 opted out, 2 landline, 1 inactive."
