"""The one scheduler inside `smserror run`: poll every SMSERROR_POLL_SECONDS, digest daily at
SMSERROR_DIGEST_AT in SMSERROR_TIMEZONE, retention daily at RETENTION_AT.

A BackgroundScheduler, because the HTTP server owns the main thread. Jobs live in memory, so a
restart forgets a fire time it slept through; `digest_due` is the start-up catch-up for that,
and `digest_runs` in the store makes sure a period goes out once even when the catch-up and the
cron job both try. The daily schedule is a timezone-aware CronTrigger, so 08:00 stays 08:00
local across DST; `digest_occurrences` asks that same trigger for fire times, so the catch-up
and the scheduler can never disagree about when a digest was due.

Wiring: bot/service.py builds it with the service's poll and digest callables, starts it, and
shuts it down (waiting for a running job) on SIGTERM/SIGINT.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from storage import digest_runs

log = logging.getLogger(__name__)

POLL_JOB_ID = "smserror.poll"
DIGEST_JOB_ID = "smserror.digest"
RETENTION_JOB_ID = "smserror.retention"
RETENTION_AT = time(3, 30)  # local: far from the morning digest and office hours
# How late a scheduled digest may still go out: after a restart (catch-up) or a busy scheduler
# (APScheduler's misfire_grace_time). Later than this, the period is skipped, not sent stale.
DIGEST_GRACE = timedelta(hours=6)


@dataclass(frozen=True)
class DigestPeriod:
    """One scheduled digest: it covers [start, end) and is due at `end`. `key` names it in
    digest_runs and in outbox dedupe keys: the local date of `end`, e.g. 'daily:2026-03-09'."""

    key: str
    start: datetime
    end: datetime


def digest_trigger(digest_at: time, tz: ZoneInfo) -> CronTrigger:
    return CronTrigger(hour=digest_at.hour, minute=digest_at.minute, second=0, timezone=tz)


def build_scheduler(
    *,
    poll: Callable[[], object],
    digest: Callable[[], object],
    poll_seconds: int,
    digest_at: time,
    tz: ZoneInfo,
) -> BackgroundScheduler:
    """An unstarted scheduler with the two jobs. Both run once as soon as it starts: the first
    poll, and the digest's catch-up (which sends nothing unless a digest is due and unsent)."""
    scheduler = BackgroundScheduler(timezone=tz, daemon=True)
    scheduler.add_job(
        poll,
        IntervalTrigger(seconds=poll_seconds, timezone=tz),
        id=POLL_JOB_ID,
        name="poll Twilio for failures",
        replace_existing=True,
        coalesce=True,  # a backlog of missed polls is one poll
        max_instances=1,  # a slow poll is never overlapped by the next
        misfire_grace_time=max(1, poll_seconds),
        next_run_time=datetime.now(tz),
    )
    scheduler.add_job(
        digest,
        digest_trigger(digest_at, tz),
        id=DIGEST_JOB_ID,
        name="daily failure digest",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=int(DIGEST_GRACE.total_seconds()),
        # also once at start: the cron trigger only knows future fire times, so a digest slept
        # through while the service was down goes out now (the job sends only what is due, once)
        next_run_time=datetime.now(tz),
    )
    return scheduler


def add_retention_job(scheduler: BackgroundScheduler, retention: Callable[[], object], tz: ZoneInfo) -> None:
    """Retention, daily at RETENTION_AT local time, and once as soon as the scheduler starts: a
    store kept by a version without retention is pruned now, not the next night."""
    scheduler.add_job(
        retention,
        CronTrigger(hour=RETENTION_AT.hour, minute=RETENTION_AT.minute, second=0, timezone=tz),
        id=RETENTION_JOB_ID,
        name="delete what is older than SMSERROR_RETENTION_DAYS",
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=12 * 3600,  # hours late is harmless; skipped, it runs the next night
        next_run_time=datetime.now(tz),
    )


def shutdown_scheduler(scheduler: BackgroundScheduler, wait: bool = True) -> None:
    """Stop taking new jobs and (by default) wait for a running one. Safe to call twice."""
    if scheduler.running:
        scheduler.shutdown(wait=wait)


def digest_occurrences(since: datetime, until: datetime, digest_at: time, tz: ZoneInfo) -> list[datetime]:
    """The trigger's fire times in [since, until], one per local date (an ambiguous wall time in
    a DST fall-back keeps the first), as aware datetimes in `tz`."""
    trigger = digest_trigger(digest_at, tz)
    fires: list[datetime] = []
    fire = trigger.get_next_fire_time(None, since.astimezone(tz))
    while fire is not None and fire <= until:
        if not fires or fires[-1].date() != fire.date():
            fires.append(fire)
        # step in UTC: wall-clock arithmetic would forget `fold` and loop in a fall-back hour
        fire = trigger.get_next_fire_time(None, (fire.astimezone(UTC) + timedelta(seconds=1)).astimezone(tz))
    return fires


def next_digest(now: datetime, digest_at: time, tz: ZoneInfo) -> datetime:
    """When the scheduler will next start the digest (the App Home shows it)."""
    return digest_trigger(digest_at, tz).get_next_fire_time(None, now.astimezone(tz))


def latest_period(now: datetime, digest_at: time, tz: ZoneInfo) -> DigestPeriod:
    """The most recent scheduled digest due at or before `now`."""
    fires = digest_occurrences(now - timedelta(days=4), now, digest_at, tz)
    start, end = fires[-2], fires[-1]
    return DigestPeriod(key=f"daily:{end.date().isoformat()}", start=start, end=end)


def digest_due(db, now: datetime, digest_at: time, tz: ZoneInfo,
               grace: timedelta = DIGEST_GRACE) -> DigestPeriod | None:
    """The scheduled digest that should go out now, or None: the latest period due at or before
    `now`, when it is at most `grace` late and digest_runs has no row for it."""
    period = latest_period(now, digest_at, tz)
    if now - period.end > grace:
        return None
    if digest_runs.has_run(db, period.key):
        return None
    return period
