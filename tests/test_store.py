"""The failures store: one row per failed message, idempotent upserts, no regressions, no bodies."""

from __future__ import annotations

import contextlib
import os
import stat

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.db import open_db
from storage.failures import count_by_code, count_failures, failures_between, get_failure, upsert_failures
from storage.poll_state import get_poll_state, record_pass_error, record_pass_ok

ACC = "AC" + "1" * 32
NOW = 1_800_000_000


def msg(sid="SM" + "a" * 32, status="undelivered", code=30003, sent=NOW - 600, updated=None, **extra):
    row = {
        "sid": sid, "account_sid": ACC, "service_sid": "MG" + "2" * 32, "sender": "+12025550100",
        "recipient": "+12025550199", "status": status, "error_code": code, "sent_at": sent,
        "updated_at": updated if updated is not None else sent + 60,
    }
    row.update(extra)
    return row


def test_insert_then_repeat_is_unchanged(db):
    first = upsert_failures(db, [msg()], "poll", NOW)
    assert (first.inserted, first.updated, first.unchanged) == (1, 0, 0)
    assert first.new == [{
        "sid": "SM" + "a" * 32, "account_sid": ACC, "service_sid": "MG" + "2" * 32, "sender": "+12025550100",
        "recipient": "+12025550199", "status": "undelivered", "error_code": 30003, "sent_at": NOW - 600,
    }]
    again = upsert_failures(db, [msg()], "poll", NOW + 60)
    assert (again.inserted, again.updated, again.unchanged, again.new) == (0, 0, 1, [])
    row = get_failure(db, "SM" + "a" * 32)
    assert row["first_seen"] == NOW and row["source"] == "poll"
    assert count_failures(db) == 1


def test_non_failures_are_ignored_and_never_regress(db):
    result = upsert_failures(db, [msg(status="sent", code=None), msg(status="delivered", code=0)], "poll", NOW)
    assert (result.inserted, result.ignored) == (0, 2)
    upsert_failures(db, [msg()], "callback", NOW)
    late = upsert_failures(db, [msg(status="sent", code=None, updated=NOW + 999)], "callback", NOW + 5)
    assert late.ignored == 1
    assert get_failure(db, "SM" + "a" * 32)["status"] == "undelivered"


def test_failed_without_code_is_not_stored(db):
    result = upsert_failures(db, [msg(code=None), msg(code=0), msg(code="x")], "import", NOW)
    assert result.inserted == 0 and count_failures(db) == 0


def test_status_change_updates_the_row_and_older_news_do_not(db):
    upsert_failures(db, [msg(status="failed", code=30007, updated=NOW - 500)], "poll", NOW)
    newer = upsert_failures(db, [msg(status="undelivered", code=30003, updated=NOW - 100)], "poll", NOW)
    assert (newer.updated, newer.new) == (1, [])
    older = upsert_failures(db, [msg(status="failed", code=30007, updated=NOW - 400)], "poll", NOW)
    assert older.unchanged == 1
    row = get_failure(db, "SM" + "a" * 32)
    assert (row["status"], row["error_code"], row["updated_at"]) == ("undelivered", 30003, NOW - 100)
    assert count_failures(db) == 1


def test_poll_corrects_a_callbacks_sent_time_but_not_the_reverse(db):
    upsert_failures(db, [msg(sent=NOW, updated=NOW)], "callback", NOW)
    fixed = upsert_failures(db, [msg(sent=NOW - 30, updated=NOW - 10)], "poll", NOW + 60)
    assert fixed.updated == 1
    assert get_failure(db, "SM" + "a" * 32)["sent_at"] == NOW - 30
    assert upsert_failures(db, [msg(sent=NOW + 90, updated=NOW - 10)], "callback", NOW + 90).unchanged == 1
    row = get_failure(db, "SM" + "a" * 32)
    assert row["sent_at"] == NOW - 30 and row["source"] == "callback"


def test_body_and_unknown_keys_never_reach_the_file(tmp_path):
    path = tmp_path / "s.db"
    store = open_db(path)
    planted = "PLANTED-BODY-7f3a9c appointment reminder"
    upsert_failures(store, [msg(body=planted, Body=planted)], "import", NOW)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("s.db"))
    assert b"PLANTED-BODY" not in data
    assert (b"SM" + b"a" * 32) in data
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_big_batch_with_duplicates_in_one_call(db):
    rows = ([msg(sid=f"SM{i:032x}", sent=NOW - i) for i in range(5000)]
            + [msg(sid=f"SM{i:032x}", sent=NOW - i) for i in range(0, 5000, 7)])
    result = upsert_failures(db, rows, "import", NOW, keep_new=False)
    assert (result.inserted, result.updated, result.unchanged, result.new) == (5000, 0, 715, [])
    assert count_failures(db) == 5000
    assert count_by_code(db) == [(30003, 5000, 1)]
    assert len(failures_between(db, NOW - 9, NOW + 1)) == 10


def test_failed_transaction_rolls_back(db):
    def rows():
        yield msg(sid="SM" + "c" * 32)
        raise OSError("disk went away")

    with contextlib.suppress(OSError):
        upsert_failures(db, rows(), "import", NOW)
    assert count_failures(db) == 0
    assert upsert_failures(db, [msg()], "import", NOW).inserted == 1  # the connection is usable again


def test_poll_state_moves_only_on_success(db):
    record_pass_ok(db, ACC, pass_at=NOW, swept=True, ok_at=NOW + 3, friendly_name="Main")
    record_pass_error(db, ACC, "Twilio timed out")
    state = get_poll_state(db, ACC)
    assert (state["last_pass_at"], state["last_sweep_at"], state["last_error"]) == (NOW, NOW, "Twilio timed out")
    record_pass_ok(db, ACC, pass_at=NOW + 60, swept=False, ok_at=NOW + 61)
    state = get_poll_state(db, ACC)
    assert (state["last_pass_at"], state["last_sweep_at"], state["last_error"], state["friendly_name"]) == (
        NOW + 60, NOW, None, "Main")


EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["queued", "sent", "delivered", "failed", "undelivered", "read"]),
        st.sampled_from([None, 0, 30003, 30005, 30007, 21610]),
        st.integers(0, 1000),
        st.sampled_from(["poll", "callback", "import"]),
    ),
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(EVENTS)
def test_any_event_order_gives_at_most_one_row_that_is_a_failure(tmp_path_factory, events):
    store = open_db(tmp_path_factory.mktemp("h") / "h.db")
    saw_failure = False
    for status, code, updated, source in events:
        upsert_failures(store, [msg(status=status, code=code, updated=NOW + updated)], source, NOW + updated)
        saw_failure |= status in ("failed", "undelivered") and bool(code)
        row = get_failure(store, "SM" + "a" * 32)
        assert (row is not None) == saw_failure
        if row:
            assert row["status"] in ("failed", "undelivered") and row["error_code"]
    assert count_failures(store) == (1 if saw_failure else 0)
    store.close()
