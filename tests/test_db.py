"""Opening the store: private file, WAL, busy timeout, versioned schema, clear errors."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
import time

import pytest

from bot import cli
from storage import alert_groups
from storage.db import BUSY_TIMEOUT_MS, LocalDb, StoreError, open_db, schema_version
from storage.migrations import MIGRATIONS


def test_new_store_is_private_wal_and_current(tmp_path):
    path = tmp_path / "nested" / "s.db"
    db = open_db(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == BUSY_TIMEOUT_MS
    assert schema_version(db) == len(MIGRATIONS)
    assert {"failures", "poll_state", "alert_groups", "outbox", "digest_runs"} <= set(db.table_names())


def test_reopening_runs_no_migration_twice(tmp_path):
    open_db(tmp_path / "s.db").execute("INSERT INTO digest_runs VALUES ('daily:x', 1, 0)")
    db = open_db(tmp_path / "s.db")
    assert db.execute("SELECT count(*) FROM digest_runs").fetchone()[0] == 1


def test_an_old_stores_alert_groups_are_carried_over(tmp_path):
    old = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    for script in MIGRATIONS[:2]:
        old.executescript(script)
    old.execute("PRAGMA user_version = 2")
    for key, snoozed_until in (("AC1:30033:-", 4), ("AC2:30033:-", int(time.time()) + 3600)):
        old.execute("INSERT INTO alert_groups (key, account_sid, error_code, kind, first_seen, last_seen, posted_at,"
                    " slack_channel, slack_ts, snoozed_until) VALUES (?, 'AC1', 30033, 'account', 1, 2, 3, 'C1',"
                    " '3.000100', ?)", (key, snoozed_until))
    old.close()
    db = open_db(tmp_path / "s.db")
    group = alert_groups.get(db, "AC1:30033:-")
    assert (group.post_destination, group.post_channel, group.post_ref) == ("slack", "C1", "3.000100")
    # a snooze that ended before the upgrade said nothing then, and is not woken now
    assert (group.snoozed_until, group.snoozed_by, group.snooze_missed) == (None, None, 0)
    assert alert_groups.get(db, "AC2:30033:-").snoozed_until > time.time()


def test_a_store_from_a_newer_version_is_refused(tmp_path):
    open_db(tmp_path / "s.db").execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer"):
        open_db(tmp_path / "s.db")


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "s.db").write_bytes(b"this is a spreadsheet, honest" * 100)
    with pytest.raises(StoreError, match="SMSERROR_DB"):
        open_db(tmp_path / "s.db")


def test_cli_names_the_bad_store_and_exits_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "s.db").write_bytes(b"not sqlite" * 100)
    monkeypatch.setenv("SMSERROR_DB", str(tmp_path / "s.db"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["digest", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "SMSERROR_DB" in err and "Traceback" not in err


def test_a_directory_in_the_way_is_a_clear_error(tmp_path):
    (tmp_path / "s.db").mkdir()
    with pytest.raises(StoreError, match="SMSERROR_DB"):
        open_db(tmp_path / "s.db")


def test_each_thread_gets_its_own_connection(tmp_path):
    store = LocalDb(tmp_path / "s.db")
    seen = []
    thread = threading.Thread(target=lambda: seen.append(store.get()))
    thread.start()
    thread.join()
    assert seen[0] is not store.get() and store.get() is store.get()
