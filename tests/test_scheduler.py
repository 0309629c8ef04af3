"""The scheduler: jobs and their options, the daily fire times across DST (through the trigger
itself), the start-up catch-up, and never sending a period twice."""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.settings import Settings
from jobs.digest import run_due_digest
from jobs.scheduler import (
    DIGEST_GRACE,
    DIGEST_JOB_ID,
    POLL_JOB_ID,
    build_scheduler,
    digest_due,
    digest_occurrences,
    latest_period,
    shutdown_scheduler,
)
from storage import digest_runs, outbox
from storage.db import open_db
from tests.test_digest import RecordingDestination, add_failure

NY = ZoneInfo("America/New_York")
UTC = UTC


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _scheduler(tz=NY, digest_at=time(8, 0), poll=lambda: None, digest=lambda: None, poll_seconds=60):
    return build_scheduler(poll=poll, digest=digest, poll_seconds=poll_seconds, digest_at=digest_at, tz=tz)


def fire_times(job, start: datetime, n: int) -> list[datetime]:
    """The next `n` fire times the job's own trigger gives, walking it like the scheduler does."""
    fires, previous, now = [], None, start
    for _ in range(n):
        fire = job.trigger.get_next_fire_time(previous, now)
        fires.append(fire.astimezone(UTC))
        previous, now = fire, fire + timedelta(microseconds=1)
    return fires


def test_jobs_have_stable_ids_and_explicit_options():
    scheduler = _scheduler()
    poll, digest = scheduler.get_job(POLL_JOB_ID), scheduler.get_job(DIGEST_JOB_ID)
    assert poll is not None and digest is not None
    assert len(scheduler.get_jobs()) == 2
    for job in (poll, digest):
        assert job.coalesce is True
        assert job.max_instances == 1
        assert job.misfire_grace_time > 0
    assert digest.misfire_grace_time == int(DIGEST_GRACE.total_seconds())
    assert poll.trigger.interval == timedelta(seconds=60)
    assert digest.trigger.timezone == NY and poll.trigger.timezone == NY
    assert scheduler.timezone == NY
    # both run once at start: the first poll, and the digest's catch-up of a missed morning
    assert all(job.next_run_time <= datetime.now(NY) for job in (poll, digest))
    # replace_existing: building on a running scheduler's ids replaces, never duplicates or raises
    scheduler.start(paused=True)
    try:
        scheduler.add_job(lambda: None, digest.trigger, id=DIGEST_JOB_ID, replace_existing=True)
        assert sorted(job.id for job in scheduler.get_jobs()) == [DIGEST_JOB_ID, POLL_JOB_ID]
    finally:
        shutdown_scheduler(scheduler)


@pytest.mark.parametrize(
    "start, expected",
    [
        # spring forward on Sunday 2026-03-08: 08:00 EST = 13:00Z, then 08:00 EDT = 12:00Z
        ("2026-03-06T14:00", ["2026-03-07T13:00", "2026-03-08T12:00", "2026-03-09T12:00"]),
        # fall back on Sunday 2026-11-01: 08:00 EDT = 12:00Z, then 08:00 EST = 13:00Z
        ("2026-10-30T13:00", ["2026-10-31T12:00", "2026-11-01T13:00", "2026-11-02T13:00"]),
    ],
)
def test_daily_digest_fires_at_local_0800_across_dst(start, expected):
    job = _scheduler().get_job(DIGEST_JOB_ID)
    assert fire_times(job, utc(start), 3) == [utc(e) for e in expected]
    # the catch-up's view of the schedule is the same trigger's
    occurrences = digest_occurrences(utc(start), utc(expected[-1]), time(8, 0), NY)
    assert [o.astimezone(UTC) for o in occurrences] == [utc(e) for e in expected]


def _hours(a: datetime, b: datetime) -> float:
    return (b.timestamp() - a.timestamp()) / 3600  # aware datetimes in one zone subtract as wall time


def test_periods_tile_time_across_dst():
    spring = latest_period(utc("2026-03-08T12:30"), time(8, 0), NY)
    assert spring.key == "daily:2026-03-08"
    assert _hours(spring.start, spring.end) == 23
    autumn = latest_period(utc("2026-11-01T13:00"), time(8, 0), NY)
    assert autumn.key == "daily:2026-11-01" and _hours(autumn.start, autumn.end) == 25
    before = latest_period(utc("2026-11-01T12:59:59"), time(8, 0), NY)
    assert before.key == "daily:2026-10-31" and before.end == autumn.start


def test_an_ambiguous_fall_back_time_is_one_digest_per_day():
    fires = digest_occurrences(utc("2026-10-31T00:00"), utc("2026-11-03T00:00"), time(1, 30), NY)
    assert [f.date().isoformat() for f in fires] == ["2026-10-31", "2026-11-01", "2026-11-02"]
    assert _hours(fires[1], fires[2]) == 25


def test_digest_due_only_within_grace_and_only_once(db):
    at = time(8, 0)
    assert digest_due(db, utc("2026-03-09T12:00"), at, NY).key == "daily:2026-03-09"
    assert digest_due(db, utc("2026-03-09T17:59"), at, NY).key == "daily:2026-03-09"
    assert digest_due(db, utc("2026-03-09T18:01"), at, NY) is None  # more than 6 h late: skipped
    assert digest_due(db, utc("2026-03-09T11:59"), at, NY) is None  # yesterday's is long past grace
    digest_runs.claim(db, "daily:2026-03-09", 0, 0)
    assert digest_due(db, utc("2026-03-09T12:30"), at, NY) is None


def _settings(tmp_path) -> Settings:
    return Settings(db_path=str(tmp_path / "smserror.db"), timezone="America/New_York", digest_at=time(8, 0))


def test_a_digest_missed_by_a_restart_goes_out_once(tmp_path):
    settings = _settings(tmp_path)
    db = open_db(settings.db_path)
    add_failure(db, "SM1", 30007, int(utc("2026-03-09T03:00").timestamp()))
    # the service was down at 08:00 EDT (12:00Z) and comes back at 09:10 local
    back = utc("2026-03-09T13:10")
    slack, teams = RecordingDestination("slack"), RecordingDestination("teams")
    outcome = run_due_digest(db, settings.digest_at, settings.tz, now=back, destinations=[slack, teams])
    assert outcome is not None and outcome.report.period == "daily:2026-03-09"
    assert outcome.report.total == 1
    assert outcome.report.title == "Daily SMS failure digest · Mon 9 Mar 2026"
    assert outcome.report.window_text == "Sun 8 Mar 08:00 – Mon 9 Mar 08:00 EDT"
    assert (outcome.report.start, outcome.report.end) == (int(utc("2026-03-08T12:00").timestamp()),
                                                          int(utc("2026-03-09T12:00").timestamp()))
    assert [i.dedupe_key for i in slack.sent] == ["digest:daily:2026-03-09@slack",
                                                  "digest:daily:2026-03-09:fixes@slack"]
    assert [i.kind for i in teams.sent] == ["digest", "digest-fixes"], "the post, then its fixes"
    db.close()

    # restart again a minute later (a new connection, as after a process restart): nothing more
    db = open_db(settings.db_path)
    assert run_due_digest(db, settings.digest_at, settings.tz, now=back + timedelta(minutes=1),
                          destinations=[slack, teams]) is None
    # and the cron job firing for the same period later is a no-op too
    assert run_due_digest(db, settings.digest_at, settings.tz, now=back + timedelta(hours=1),
                          destinations=[slack, teams]) is None
    assert len(slack.sent) == 2 and len(teams.sent) == 2
    assert [r["period"] for r in digest_runs.recent(db)] == ["daily:2026-03-09"]
    # the next day's digest is its own period
    nxt = run_due_digest(db, settings.digest_at, settings.tz, now=utc("2026-03-10T12:00"), destinations=[slack])
    assert nxt is not None and nxt.report.period == "daily:2026-03-10"
    assert nxt.report.start == outcome.report.end  # no gap, no overlap
    # the spring-forward day's digest covers 23 h and says so
    spring = run_due_digest(db, settings.digest_at, settings.tz, now=utc("2026-03-08T12:05"), destinations=[slack])
    assert spring is not None and spring.report.window_label == "23 h"
    db.close()


def test_racing_catch_up_and_cron_job_post_once(tmp_path):
    settings = _settings(tmp_path)
    open_db(settings.db_path).close()
    now = utc("2026-03-09T12:00:05")
    slack = RecordingDestination("slack")
    results = []
    barrier = threading.Barrier(4)

    def attempt():
        db = open_db(settings.db_path)
        barrier.wait()
        results.append(run_due_digest(db, settings.digest_at, settings.tz, now=now, destinations=[slack]))
        db.close()

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r is not None for r in results) == 1
    assert len(slack.sent) == 1
    db = open_db(settings.db_path)
    assert len(outbox.pending(db)) == 0
    db.close()


def test_scheduler_runs_the_first_poll_at_once_and_shuts_down_cleanly():
    started, finished = threading.Event(), threading.Event()

    def slow_poll():
        started.set()
        _time.sleep(0.3)
        finished.set()

    scheduler = _scheduler(poll=slow_poll, poll_seconds=3600)
    scheduler.start()
    try:
        assert started.wait(5), "the first poll should run as soon as the scheduler starts"
    finally:
        shutdown_scheduler(scheduler)  # what run does on SIGTERM: waits for the running poll
    assert finished.is_set()
    assert not scheduler.running
    shutdown_scheduler(scheduler)  # twice is harmless
