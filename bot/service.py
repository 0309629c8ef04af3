"""Assembles `smserror run`: the store, the pipeline, the Bolt app, the routes, the server, the
leader heartbeat, the scheduler and the delivery thread, all in this one process.

Every instance serves HTTP (lookups, callbacks, buttons). Only the leader (jobs/leader.py)
delivers and runs its scheduler, which is paused while the instance stands by; at each
takeover its jobs run at once, as the catch-up poll and digest."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.base import STATE_RUNNING
from slack_bolt import App

from bot.listeners.deps import ListenerDeps
from bot.metrics import StoreCollector, metrics_route
from bot.pipeline import Pipeline
from bot.poll_log import PollLog
from bot.routes import health_route, ready_route, slack_route, teams_route, twilio_status_route
from bot.server import HttpServer, Rejected, Route, WsgiApp
from bot.settings import Settings
from bot.slack_app import build_app
from bot.socket_mode import SocketMode
from bot.twilio_events import EVENTS_PATH, twilio_events_route
from bot.twilio_status import STATUS_PATH
from bot.watching import Watcher
from jobs.delivery_worker import DeliveryWorker
from jobs.digest import run_due_digest
from jobs.leader import Leadership
from jobs.scheduler import add_retention_job, build_scheduler, next_digest, shutdown_scheduler
from storage import retention
from storage.db import LocalDb
from storage.leases import Lease

log = logging.getLogger("smserror.service")


def build_slack_app(settings: Settings, pipeline: Pipeline) -> App:
    def next_digest_at() -> int:
        return int(next_digest(datetime.now(settings.tz), settings.digest_at, settings.tz).timestamp())

    return build_app(settings, ListenerDeps(store=pipeline.store.get, rules=pipeline.rules, next_digest=next_digest_at))


def build_wsgi(settings: Settings, pipeline: Pipeline, slack_app: App | None = None,
               readiness: Callable[[], dict] | None = None, on_rejected: Rejected | None = None) -> WsgiApp:
    """The routes. Refused requests are counted in the pipeline's metrics, then told to `on_rejected`."""
    store, metrics = pipeline.store, pipeline.metrics
    routes: dict[tuple[str, str], Route] = {
        ("GET", "/healthz"): health_route(store),
        ("GET", "/readyz"): ready_route(store, readiness or (lambda: {"role": "standby"})),
        ("GET", "/metrics"): metrics_route(metrics),
        ("POST", STATUS_PATH): twilio_status_route(settings, store, pipeline.callback_tokens, pipeline.ingest),
        ("POST", EVENTS_PATH): twilio_events_route(settings, store, pipeline.signing_tokens, pipeline.ingest,
                                                   lambda: pipeline.on_enqueued(), metrics.received),
    }
    if settings.slack_signing_secret:
        app = slack_app or build_slack_app(settings, pipeline)
        routes[("POST", "/slack/events")] = slack_route(app, settings.slack_signing_secret)
    if settings.teams_outgoing_secret:
        routes[("POST", "/teams/messages")] = teams_route(settings.teams_outgoing_secret)

    def rejected(endpoint: str, status: int, reason: str) -> None:
        metrics.rejected(endpoint, status, reason)
        if on_rejected is not None:
            on_rejected(endpoint, status, reason)

    return WsgiApp(routes, rejected)


class Service:
    def __init__(self, settings: Settings, *, delivery_interval: float = 2.0) -> None:
        self.settings = settings
        self.pipeline = Pipeline(settings, LocalDb(settings.db_path))
        # the courier also picks up, within `delivery_interval`, alerts a standby instance queued
        self.courier = DeliveryWorker(self._deliver, interval=delivery_interval)
        self.pipeline.on_enqueued = self.courier.wake
        self.watcher = Watcher(settings, self.pipeline.store, self.pipeline.destinations, self.courier.wake)
        self.poll_log = PollLog()
        self.leadership = Leadership(self.pipeline.store.get, ttl=settings.leader_ttl,
                                     on_gain=self._lead, on_loss=self._follow)
        self.scheduler = build_scheduler(poll=self.tick, digest=self.digest, poll_seconds=settings.poll_seconds,
                                         digest_at=settings.digest_at, tz=settings.tz)
        add_retention_job(self.scheduler, self.retain, settings.tz)
        # Socket Mode serves the same Bolt app (same listeners) as /slack/events
        slack_app = build_slack_app(settings, self.pipeline) if settings.slack_app_token else None
        self.socket_mode = (SocketMode(slack_app, settings.slack_app_token, settings.slack_api_url)
                            if slack_app else None)
        self.server = HttpServer(build_wsgi(settings, self.pipeline, slack_app, self.readiness, self.watcher.refused),
                                 settings.host, settings.port)
        self._watch_metrics()
        self._warn_about_partial_setup()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def role(self) -> str:
        return self.leadership.role

    def readiness(self) -> dict:
        """What /readyz reports besides the store: this instance's role and its scheduler."""
        running = self.scheduler.state == STATE_RUNNING
        return {"role": self.role, "holder": self.leadership.holder,
                "scheduler": "running" if running else ("stopped" if self.role == "leader" else "standby"),
                "ready": self.role == "standby" or running}

    def tick(self) -> None:
        """The poll job: a Twilio pass when Twilio is configured, and what it says about reading
        each account; alert groups that went quiet are resolved either way (callbacks alone can
        open them)."""
        if self.leadership.lease is None:
            return
        if self.settings.twilio_configured:
            with self.pipeline.metrics.poll_duration.time():
                report = self.pipeline.poll()
            self.poll_log.add(report)
            self.watcher.polled(report, int(self.pipeline.clock()))
        else:
            self.pipeline.resolve()
        self.watcher.callbacks_quiet(int(self.pipeline.clock()))

    def digest(self) -> None:
        lease = self.leadership.lease
        if lease is None:
            return
        outcome = run_due_digest(self.pipeline.store.get(), self.settings.digest_at, self.settings.tz,
                                 self.pipeline.destinations, lease=lease, rules=self.pipeline.rules)
        if outcome is not None:  # already delivered; what failed is the courier's to retry
            log.info("digest %s: %d failures; %s", outcome.report.period, outcome.report.total,
                     outcome.delivery.summary())
            self.pipeline.metrics.delivered(outcome.delivery)
            self.watcher.delivered(outcome.delivery, int(self.pipeline.clock()))

    def retain(self) -> None:
        """The retention job: forget what is older than SMSERROR_RETENTION_DAYS, in one log line."""
        if self.leadership.lease is None:
            return
        days = self.settings.retention_days
        deleted = retention.prune(self.pipeline.store.get(), retention.cutoff_for(time.time(), days))
        log.info("retention: deleted what was older than %d days: %s", days,
                 ", ".join(f"{table.replace('_', ' ')} {count:,}" for table, count in deleted.items()))

    def _deliver(self) -> None:
        lease = self.leadership.lease
        if lease is not None:
            self.watcher.delivered(self.pipeline.deliver(lease), int(self.pipeline.clock()))

    def _lead(self, lease: Lease) -> None:
        """This instance became the leader: its jobs run now (the catch-up poll, and a digest
        missed meanwhile), and what is queued is delivered."""
        now = datetime.now(self.settings.tz)
        for job in self.scheduler.get_jobs():
            job.modify(next_run_time=now)
        self.scheduler.resume()
        self.courier.wake()

    def _follow(self) -> None:
        self.scheduler.pause()

    def start(self) -> None:
        """Start the courier, then the leader heartbeat (which, if this instance leads, starts
        the scheduler and resumes anything a previous run left unsent)."""
        self.courier.start()
        self.scheduler.start(paused=True)
        self.leadership.start()
        if self.socket_mode is not None:
            self.socket_mode.start()  # returns at once; connects (and retries) on its own thread

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def start_in_background(self) -> Service:
        self.start()
        self.server.start_in_background()
        return self

    def stop(self) -> None:
        if self.socket_mode is not None:
            self.socket_mode.stop()
        self.server.stop()
        self.courier.stop()
        self.leadership.stop()
        shutdown_scheduler(self.scheduler)

    def _watch_metrics(self) -> None:
        s, metrics = self.settings, self.pipeline.metrics
        mode = s.subaccount_mode
        accounts = None if mode == "all" else {s.twilio_account_sid, *(mode or ())}
        destinations = [d.name for d in self.pipeline.destinations]
        metrics.expect(endpoints=(STATUS_PATH, EVENTS_PATH), destinations=destinations)
        metrics.registry.register(StoreCollector(
            self.pipeline.store.get, accounts=lambda: accounts, destinations=destinations,
            twilio_results=self.pipeline.twilio_results, role=lambda: self.role))

    def _warn_about_partial_setup(self) -> None:
        s = self.settings
        if not s.twilio_configured:
            log.warning("Twilio is not configured (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN): no polling")
        if not s.public_url:
            log.warning("SMSERROR_PUBLIC_URL is not set: Twilio status callbacks are checked against the Host header")
        if s.slack_bot_token and not s.slack_channel:
            log.warning("SLACK_CHANNEL is not set: digests and alerts will not go to Slack")
