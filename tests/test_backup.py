"""`smserror backup FILE`: a consistent copy while `run` takes callbacks, that restores and
digests; private (0600); one line and exit 2 for every target it must not write."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading

import pytest

from bot.cli import main
from storage.backup import backup
from storage.db import open_db, transaction
from tests.fakes.server import wait_until
from tests.processes import RunProcess, callback_form, cli, service_env, signed_callback
from tests.test_digest import add_failure


def sid(n: int) -> str:
    return f"SM{n:032x}"


def integrity(path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_a_backup_taken_while_run_takes_callbacks_restores_and_digests(tmp_path, slack):
    env = service_env(tmp_path / "live.db", slack)
    copy = tmp_path / "copies" / "smserror-backup.db"
    copy.parent.mkdir()
    answers: list[int] = []
    stop = threading.Event()
    with RunProcess(env) as run:
        before = [signed_callback(run.url, callback_form(sid(n), 30003)) for n in range(5)]
        assert before == [200] * 5

        def keep_calling() -> None:  # Twilio keeps calling back for the whole backup
            n = 100
            while not stop.is_set():
                answers.append(signed_callback(run.url, callback_form(sid(n), 30005)))
                n += 1

        caller = threading.Thread(target=keep_calling)
        caller.start()
        try:
            taken = cli(env, "backup", str(copy))
            during = len(answers)
            assert slack.wait_for(lambda: len(answers) > during + 2), "callbacks go on after the backup"
        finally:
            stop.set()
            caller.join(15)
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.count("\n") == 1 and str(copy) in taken.stdout
    assert set(answers) == {200}, "no callback was refused or dropped while the backup ran"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert integrity(copy) == "ok"
    assert sorted(os.listdir(copy.parent)) == [copy.name], "no temporary file or WAL left beside it"

    restored = cli({**env, "SMSERROR_DB": str(copy)}, "digest", "--dry-run", "--json", "--since", "24h")
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    counts = {entry["code"]: entry["count"] for entry in report["codes"]}
    assert counts[30003] == 5, "everything stored before the backup is in it"
    assert 5 <= report["total"] <= 5 + len(answers)


def test_the_copy_is_consistent_and_finishes_under_a_continuous_writer(tmp_path):
    """Two rows per transaction, committed without pause while the copy is made: the copy holds
    whole transactions only (an even count), and it finishes while the writer goes on."""
    store = tmp_path / "busy.db"
    db = open_db(store)
    with transaction(db):
        for n in range(60_000):
            add_failure(db, sid(n), 30007, 1_700_000_000 + n)
    stop, commits = threading.Event(), [0]

    def write() -> None:
        writer = open_db(store)
        n = 1_000_000
        while not stop.is_set():
            with transaction(writer):
                add_failure(writer, sid(n), 30008, 1_700_000_000)
                add_failure(writer, sid(n + 1), 30008, 1_700_000_000)
            n += 2
            commits[0] += 1
        writer.close()

    writer = threading.Thread(target=write)
    writer.start()
    result: dict = {}
    copier = threading.Thread(target=lambda: result.update(size=backup(store, tmp_path / "copy.db")))
    try:
        assert wait_for_commits(commits, 1)
        copier.start()
        copier.join(60)
        assert not copier.is_alive(), "the copy did not finish while the writer kept committing"
        at_end = commits[0]
        assert wait_for_commits(commits, at_end + 1), "the writer was still committing after the copy"
    finally:
        stop.set()
        writer.join(10)
    assert result["size"] > 0 and integrity(tmp_path / "copy.db") == "ok"
    copy = open_db(tmp_path / "copy.db")
    assert copy.execute("SELECT count(*) FROM failures WHERE error_code = 30007").fetchone()[0] == 60_000
    assert copy.execute("SELECT count(*) FROM failures WHERE error_code = 30008").fetchone()[0] % 2 == 0
    copy.close()
    db.close()


def wait_for_commits(commits: list[int], at_least: int) -> bool:
    return wait_until(lambda: commits[0] >= at_least, timeout=10)


# -- what it refuses -------------------------------------------------------------------------

@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env here
    path = tmp_path / "smserror.db"
    monkeypatch.setenv("SMSERROR_DB", str(path))
    db = open_db(path)
    add_failure(db, sid(1), 30007, 1_700_000_000)
    db.close()
    return path


def refused(capsys, target, naming: str) -> None:
    assert main(["backup", str(target)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("smserror: ") and naming in err, err


def failures_in(path) -> int:
    db = open_db(path)
    try:
        return db.execute("SELECT count(*) FROM failures").fetchone()[0]
    finally:
        db.close()


def test_it_refuses_the_live_store_and_its_companion_files(store, capsys, tmp_path):
    os.link(store, tmp_path / "hard-link.db")
    for target in (store, tmp_path / "." / "smserror.db", tmp_path / "hard-link.db",
                   tmp_path / "smserror.db-wal", tmp_path / "smserror.db-shm"):
        refused(capsys, target, "live store")
    assert failures_in(store) == 1 and integrity(store) == "ok"


def test_it_refuses_a_symbolic_link_and_leaves_what_it_points_at(store, capsys, tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not ours")
    (tmp_path / "link.db").symlink_to(elsewhere)
    refused(capsys, tmp_path / "link.db", "symbolic link")
    assert elsewhere.read_text() == "not ours" and (tmp_path / "link.db").is_symlink()


def test_it_refuses_a_directory_a_missing_folder_and_a_missing_store(store, capsys, tmp_path, monkeypatch):
    refused(capsys, tmp_path, "directory")
    refused(capsys, tmp_path / "no-such-folder" / "copy.db", "No such file or directory")
    monkeypatch.setenv("SMSERROR_DB", str(tmp_path / "never-created.db"))
    refused(capsys, tmp_path / "copy.db", "no store to back up")
    assert not (tmp_path / "never-created.db").exists() and not (tmp_path / "copy.db").exists()


def test_an_older_backup_is_replaced_whole_and_made_private(store, capsys, tmp_path):
    older = tmp_path / "nightly.db"
    older.write_text("yesterday's backup")
    older.chmod(0o644)
    assert main(["backup", str(older)]) == 0
    assert "nightly.db" in capsys.readouterr().out
    assert stat.S_IMODE(older.stat().st_mode) == 0o600
    assert failures_in(older) == 1
    assert [p.name for p in tmp_path.iterdir() if "nightly" in p.name] == ["nightly.db"], "no temporary file left"
