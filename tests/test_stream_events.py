"""The store's side of Event Streams: event ids kept and pruned, the migration that lets a
failure's source be 'event', and message text gone from an event as soon as it is read."""

from __future__ import annotations

import json
import sqlite3

import pytest
import sqlite_utils

from bot.twilio_events import read_events
from storage.db import open_db, schema_version
from storage.failures import get_failure, upsert_failures
from storage.migrations import MIGRATIONS
from storage.stream_events import KEEP_SECONDS, take_new_events

NOW = 1_800_000_000


def test_an_event_id_is_new_once_and_forgotten_after_the_keep_period(db):
    assert take_new_events(db, ["EZ1", "EZ2", "EZ1"], NOW) == {"EZ1", "EZ2"}
    assert take_new_events(db, ["EZ1", "EZ3"], NOW + 60) == {"EZ3"}
    assert take_new_events(db, ["EZ1"], NOW + KEEP_SECONDS - 1) == set()
    take_new_events(db, [], NOW + KEEP_SECONDS + 30)  # prunes EZ1 and EZ2 (taken at NOW), keeps EZ3
    assert [r[0] for r in db.execute("SELECT id FROM stream_events ORDER BY id")] == ["EZ3"]


def test_the_migration_keeps_every_failure_and_index_and_admits_event_as_a_source(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    before = MIGRATIONS.index(next(m for m in MIGRATIONS if "failures_rebuilt" in m))
    for script in MIGRATIONS[:before]:
        old.conn.executescript(script)
    old.execute(f"PRAGMA user_version = {before}")
    old.execute("INSERT INTO failures VALUES ('SM1', 'AC1', NULL, '+1', '+2', 'failed', 30003, 10, 11, 12, 'poll')")
    old.conn.close()

    db = open_db(path)
    assert schema_version(db) == len(MIGRATIONS)
    row = get_failure(db, "SM1")
    assert (row["error_code"], row["sent_at"], row["first_seen"], row["source"]) == (30003, 10, 12, "poll")
    indexes = {r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'failures'")}
    assert {"failures_by_time", "failures_by_code"} <= indexes
    upsert_failures(db, [{"sid": "SM2", "account_sid": "AC1", "status": "undelivered", "error_code": 30005,
                          "sent_at": NOW}], "event", NOW)
    assert get_failure(db, "SM2")["source"] == "event"
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE failures SET source = 'bogus' WHERE sid = 'SM2'")


def test_message_text_is_gone_from_each_event_once_read():
    body = json.dumps([
        {"type": "com.twilio.messaging.message.failed", "data": {"messageSid": "SM1", "body": "hello Ana"}},
        {"type": "com.twilio.messaging.message.failed", "data": json.dumps({"messageSid": "SM2", "body": "hi"})},
        {"type": "x", "data": "not json: hello Ana"},
    ]).encode()
    events = read_events(body)
    assert [e["data"] for e in events] == [{"messageSid": "SM1"}, {"messageSid": "SM2"}, {}]
