"""Retention: only what is older than the cutoff goes, in batches, never an unsent post nor what
an open incident still needs."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler

from bot.settings import Settings
from jobs import alerts
from jobs.deliver import deliver_due
from jobs.rules import DEFAULT_RULES
from jobs.scheduler import RETENTION_JOB_ID, add_retention_job, shutdown_scheduler
from storage import alert_groups, leases, outbox, retention
from storage.alert_groups import AlertGroup
from storage.db import transaction
from storage.retention import cutoff_for, prune
from tests.test_alerts import ACCOUNT, SERVICE, failure, seen
from tests.test_digest import AC1, add_failure

DAY = 86400
NOW = int(time.time())
CUTOFF = cutoff_for(NOW, 90)


class Channel:
    """A destination that can edit its posts, keeping what it was asked to do."""

    name, kinds, settle_seconds = "slack", None, 1.0

    def __init__(self):
        self.posts, self.edits = [], []

    def send(self, item):
        self.posts.append(item.kind)
        return f"ts-{len(self.posts)}"

    def update(self, item, ref):
        self.edits.append(ref)


def sent_row(db, key: str, sent_at: int | None, created_at: int) -> None:
    outbox.enqueue(db, key, "digest", {}, created_at, destination="slack")
    if sent_at is not None:
        db.execute("UPDATE outbox SET sent_at = ? WHERE dedupe_key = ?", (sent_at, key))


def group(db, key: str, *, resolved_at: int | None, last_seen: int, first_seen: int | None = None,
          snoozed_until: int | None = None) -> None:
    alert_groups.save(db, AlertGroup(key=key, account_sid=ACCOUNT, error_code=30033, service_sid=SERVICE,
                                     kind="account", count=1, first_seen=first_seen or last_seen, last_seen=last_seen,
                                     posted_at=last_seen, resolved_at=resolved_at, snoozed_until=snoozed_until))


def keys(db, table: str, column: str) -> set:
    return {row[0] for row in db.execute(f"SELECT {column} FROM {table}")}


def test_only_what_is_older_than_the_cutoff_goes(db):
    for sid, at in (("SMold", CUTOFF - 1), ("SMedge", CUTOFF), ("SMnew", NOW)):
        add_failure(db, sid, 30007, at)
    # an incident open since CUTOFF - 5 keeps its failures (its count is read from them), not older ones
    open_key = alerts.group_key(AC1, 30033, None)
    group(db, open_key, resolved_at=None, first_seen=CUTOFF - 5, last_seen=NOW)
    add_failure(db, "SMbefore-the-incident", 30033, CUTOFF - 6)
    add_failure(db, "SMof-the-open-incident", 30033, CUTOFF - 5)
    sent_row(db, "old-sent", CUTOFF - 1, CUTOFF - DAY)
    sent_row(db, "edge-sent", CUTOFF, CUTOFF - DAY)
    sent_row(db, "old-unsent", None, CUTOFF - 30 * DAY)
    for period, at in (("daily:old", CUTOFF - 1), ("daily:edge", CUTOFF)):
        db.execute("INSERT INTO digest_runs (period, ran_at, failures) VALUES (?, ?, 0)", (period, at))
    group(db, "resolved-long-ago", resolved_at=CUTOFF - 1, last_seen=CUTOFF - 2)
    group(db, "resolved-at-the-cutoff", resolved_at=CUTOFF, last_seen=CUTOFF - 2)
    group(db, "open-for-months", resolved_at=None, last_seen=CUTOFF - 2)
    group(db, "resolved-but-snoozed", resolved_at=CUTOFF - 1, last_seen=CUTOFF - 2, snoozed_until=NOW + DAY)

    assert prune(db, CUTOFF) == {"failures": 2, "outbox": 1, "digest_runs": 1, "alert_groups": 1}

    assert keys(db, "failures", "sid") == {"SMedge", "SMnew", "SMof-the-open-incident"}
    assert keys(db, "outbox", "dedupe_key") == {"edge-sent", "old-unsent"}
    assert keys(db, "digest_runs", "period") == {"daily:edge"}
    assert keys(db, "alert_groups", "key") == {"resolved-at-the-cutoff", "open-for-months", "resolved-but-snoozed",
                                               open_key}
    assert prune(db, CUTOFF) == dict.fromkeys(("failures", "outbox", "digest_runs", "alert_groups"), 0)


def test_deletes_in_batches_of_one_transaction_each(db):
    for n in range(10):
        add_failure(db, f"SM{n}", 30007, CUTOFF - 1 - n)
    add_failure(db, "SMkept", 30007, CUTOFF)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)

    assert prune(db, CUTOFF, batch=3, pause=0)["failures"] == 10

    db.conn.set_trace_callback(None)
    on_failures = [s if s in ("BEGIN IMMEDIATE", "COMMIT") else s.split()[0] for s in statements
                   if "failures" in s or s in ("BEGIN IMMEDIATE", "COMMIT")]
    first = on_failures.index("DELETE") - 1
    assert on_failures[first:first + 12] == ["BEGIN IMMEDIATE", "DELETE", "COMMIT"] * 4  # 3 + 3 + 3 + 1
    assert keys(db, "failures", "sid") == {"SMkept"}


@pytest.mark.parametrize("budget, deletes", [(0.0, 1 + 10 + 1), (3600.0, 1 + 1)])
def test_batches_shrink_when_they_hold_the_lock_too_long(db, monkeypatch, budget, deletes):
    """The first batch is FIRST_BATCH rows; the next are sized by how long it held the lock:
    down to MIN_BATCH when over the budget, up to BATCH when well within it."""
    monkeypatch.setattr(retention, "LOCK_BUDGET", budget)
    old = retention.FIRST_BATCH + 10 * retention.MIN_BATCH
    with transaction(db):
        for n in range(old):
            add_failure(db, f"SM{n}", 30007, CUTOFF - 1 - n)
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    assert prune(db, CUTOFF, pause=0)["failures"] == old
    db.conn.set_trace_callback(None)
    assert len([s for s in statements if s.startswith("DELETE FROM failures")]) == deletes


def test_an_open_incident_keeps_its_post_and_its_edits_still_reach_it(db):
    """An incident acknowledged months ago and failing since: its post is older than the cutoff,
    yet a new failure must still edit it (the edit needs the post's reference from the outbox)."""
    start = NOW - 120 * DAY
    channel = Channel()
    seen(db, [failure(at=start)], start)
    deliver_due(db, [channel], start)
    key = alerts.group_key(ACCOUNT, 30033, SERVICE)
    alerts.acknowledge(db, key, "U123", start + 60, DEFAULT_RULES)
    sent_row(db, "someone-else's-old-digest", start, start)

    assert prune(db, CUTOFF)["outbox"] == 1, "only the digest went: the open incident's rows stay"

    seen(db, [failure(at=NOW)], NOW)
    report = deliver_due(db, [channel], NOW)
    assert report.skipped == 0 and channel.edits == ["ts-1"], "the post of months ago was edited"
    assert channel.posts == ["alert", "alert-reply"]
    assert not outbox.pending(db)


# -- the job in `smserror run` ---------------------------------------------------------------

def test_the_job_is_daily_at_03_30_local_with_explicit_options():
    tz = ZoneInfo("America/New_York")
    scheduler = BackgroundScheduler(timezone=tz)
    add_retention_job(scheduler, lambda: None, tz)
    scheduler.start(paused=True)
    try:
        add_retention_job(scheduler, lambda: None, tz)  # replace_existing: still one job, no error
        [job] = scheduler.get_jobs()
    finally:
        shutdown_scheduler(scheduler)
    assert job.id == RETENTION_JOB_ID
    assert (job.coalesce, job.max_instances) == (True, 1) and job.misfire_grace_time > 0
    assert job.next_run_time <= datetime.now(tz), "it also runs as soon as the scheduler starts"
    # the night before and the night of the spring forward (02:00 on 8 March): 03:30 local both times
    fires = [job.trigger.get_next_fire_time(None, datetime(2026, 3, 7, hour, tzinfo=tz)) for hour in (0, 12)]
    assert [(f.hour, f.minute, f.utcoffset().total_seconds() / 3600) for f in fires] == [(3, 30, -5), (3, 30, -4)]


def test_the_leader_prunes_as_it_starts_and_says_how_many_in_one_line(start_service, caplog):
    caplog.set_level(logging.INFO, logger="smserror.service")
    pruned = threading.Event()

    def before_start(service):
        store = service.pipeline.store.get()
        add_failure(store, "SMtoo-old", 30007, int(time.time()) - 90 * DAY - 60)
        add_failure(store, "SMrecent", 30007, int(time.time()) - 89 * DAY)
        service.scheduler.add_listener(lambda event: event.job_id == RETENTION_JOB_ID and pruned.set(),
                                       EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    service = start_service(Settings(retention_days=90), before_start=before_start)
    assert pruned.wait(10), "the retention job did not run at start"
    assert keys(service.pipeline.store.get(), "failures", "sid") == {"SMrecent"}
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retention:")]
    assert lines == ["retention: deleted what was older than 90 days: failures 1, outbox 0, digest runs 0,"
                     " alert groups 0"]


def test_a_standby_deletes_nothing(start_service):
    def another_leads(service):
        store = service.pipeline.store.get()
        leases.acquire(store, leases.LEADER, "another-instance", time.time(), ttl=3600)
        add_failure(store, "SMtoo-old", 30007, CUTOFF - 60)

    service = start_service(Settings(retention_days=90), before_start=another_leads)
    assert service.role == "standby"
    service.retain()
    assert keys(service.pipeline.store.get(), "failures", "sid") == {"SMtoo-old"}
