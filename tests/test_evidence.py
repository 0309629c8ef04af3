"""Evidence for Support, by the help article's rule per code: the window, which failures count
(status), how many, and different contacts where it asks for contacts; the digest's wording;
`smserror evidence`, the operator's own list of the numbers to find contacts by."""

from __future__ import annotations

import csv
import os
import stat
import time

import pytest

from bot.cli import main
from bot.emit.text import text
from jobs.views.digest import digest_view, evidence_line
from tests.test_digest import DAY, END, H, add_failure, report

PATIENT_A, PATIENT_B, PATIENT_C = "+15550000001", "+15550000002", "+15550000003"


def codes(db, **kw):
    return {entry.code: entry for entry in report(db, **kw).codes}


def test_30007_lists_different_contacts_and_counts_contacts(db):
    """The issue's case: 5 failures to one patient and 1 to another gave 3 SIDs of one patient."""
    for i in range(5):
        add_failure(db, f"SMa{i}", 30007, END - H - i * 60, recipient=PATIENT_A)
    add_failure(db, "SMb", 30007, END - 3 * H, recipient=PATIENT_B)
    evidence = codes(db)[30007].evidence
    assert [(e["sid"], e["to"]) for e in evidence.examples] == [("SMa0", "+1••••••0001"), ("SMb", "+1••••••0002")]
    assert evidence.available == 2 and evidence.unit == "contact" and evidence.needed == 3
    assert evidence_line(evidence.__dict__).endswith(": only 2 contacts in that window so far:")


def test_30007_contacts_are_the_newest_ones_from_the_past_7_days(db):
    add_failure(db, "SMold", 30007, END - 7 * DAY - H, recipient=PATIENT_A)  # outside the 7 days
    add_failure(db, "SMc1", 30007, END - 2 * DAY, recipient=PATIENT_C)
    add_failure(db, "SMc2", 30007, END - 5 * H, recipient=PATIENT_C)
    add_failure(db, "SMb", 30007, END - 3 * DAY, recipient=PATIENT_B)
    add_failure(db, "SMa", 30007, END - 4 * DAY, recipient=PATIENT_A)
    add_failure(db, "SMa2", 30007, END - 6 * DAY, recipient="+15550000004")
    evidence = codes(db, start=END - DAY)[30007].evidence
    assert [e["sid"] for e in evidence.examples] == ["SMc2", "SMb", "SMa"]
    assert evidence.available == 4 and evidence.start == END - 7 * DAY


@pytest.mark.parametrize("code", [30007, 30024])
def test_only_undelivered_counts_where_the_article_says_undelivered(db, code):
    add_failure(db, "SMf1", code, END - H, recipient=PATIENT_A, status="failed")
    add_failure(db, "SMu1", code, END - 2 * H, recipient=PATIENT_B)
    add_failure(db, "SMf2", code, END - 3 * H, recipient=PATIENT_C, status="failed")
    evidence = codes(db)[code].evidence
    assert [e["sid"] for e in evidence.examples] == ["SMu1"] and evidence.available == 1
    assert evidence.status == "undelivered"


def test_other_codes_take_failed_and_undelivered_alike(db):
    add_failure(db, "SMf", 30003, END - H, status="failed")
    add_failure(db, "SMu", 30003, END - 2 * H)
    add_failure(db, "SMu2", 30003, END - 3 * H)  # the same patient thrice: Support wants messages here
    evidence = codes(db)[30003].evidence
    assert [e["sid"] for e in evidence.examples] == ["SMf", "SMu", "SMu2"]
    assert evidence.unit == "message" and evidence.status is None
    assert evidence_line(evidence.__dict__) == "For Support (3 or more message IDs from the last 24 hours):"


def test_the_digest_names_what_to_hand_support_and_how_to_find_contacts(db):
    add_failure(db, "SMa", 30007, END - H, recipient=PATIENT_A)
    add_failure(db, "SMd", 30008, END - H, recipient=PATIENT_B)
    out = text(digest_view(report(db).to_dict()))
    assert ("For Support (contact links for 3 or more different contacts whose texts were marked undelivered, from the"
            " past 7 days): only 1 contact in that window so far:") in out
    assert "Find each contact in the Inbox by their number" in out and "smserror evidence 30007 --csv FILE" in out
    assert "For Support (3 or more message IDs no older than 48 hours): only 1 message in that window so far:" in out
    assert "SID" not in out and PATIENT_A not in out and "+1••••••0001" in out


# ------------------------------------------------------------------ smserror evidence


@pytest.fixture
def cli_db(cli_env):
    db = cli_env  # a store that `smserror` opens (SMSERROR_DB), no stray settings
    now = int(time.time())
    for i in range(5):
        add_failure(db, f"SMa{i}", 30007, now - 600 - i, recipient=PATIENT_A)
    add_failure(db, "SMb", 30007, now - 900, recipient=PATIENT_B)
    add_failure(db, "SMf", 30007, now - 300, recipient=PATIENT_C, status="failed")  # not undelivered
    add_failure(db, "SMd", 30003, now - 300, recipient="+15550000009", status="failed")
    return db


def test_cli_csv_gives_the_operator_the_numbers_to_search_the_inbox_by(cli_db, tmp_path, capsys):
    path = tmp_path / "evidence.csv"
    assert main(["evidence", "30007", "--csv", str(path)]) == 0
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert [(r["code"], r["number"], r["message_id"], r["status"]) for r in rows] == [
        ("30007", PATIENT_A, "SMa0", "undelivered"), ("30007", PATIENT_B, "SMb", "undelivered")]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert "full numbers" in capsys.readouterr().err


def test_cli_without_csv_is_masked_and_covers_every_evidence_code(cli_db, capsys):
    assert main(["evidence"]) == 0
    out = capsys.readouterr().out
    assert "30007 · For Support (contact links for 3 or more different contacts" in out
    assert "only 2 contacts in that window so far" in out
    assert "30003 · For Support (3 or more message IDs from the last 24 hours): only 1 message" in out
    assert "+1••••••0001" in out and PATIENT_A not in out and PATIENT_B not in out
    assert "smserror evidence CODE --csv FILE" in out


def test_cli_csv_to_stdout(cli_db, capsys):
    assert main(["evidence", "--csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "code,number,message_id,status,sent_at,account_sid"
    assert {line.split(",")[0] for line in lines[1:]} == {"30003", "30007"}


def test_cli_refuses_a_symlink_and_a_code_without_an_evidence_rule(cli_db, tmp_path, capsys):
    target, link = tmp_path / "elsewhere.txt", tmp_path / "evidence.csv"
    target.write_text("not ours\n")
    link.symlink_to(target)
    assert main(["evidence", "--csv", str(link)]) == 2
    assert "symbolic link" in capsys.readouterr().err and target.read_text() == "not ours\n"
    with pytest.raises(SystemExit) as exit_:
        main(["evidence", "21610"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Support asks for examples only for 30003, 30004, 30005, 30007, 30008, 30024" in err
