"""GET /metrics: what Prometheus reads from `smserror run` (the text exposition format).

One registry per Metrics, not prometheus_client's global one, so a process (the tests) can hold
several services. Counters move as things happen here: requests refused, failures stored,
delivery attempts, Event Streams events, poll passes. What the store holds (the outbox backlog,
when each account was last read, how long a destination has been failing) is read at scrape
time by StoreCollector, so every instance tells the same truth, leader or not.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping

import sqlite_utils
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.server import Response, Route
from jobs import watch
from jobs.deliver import DeliveryReport
from storage import outbox
from storage.db import StoreError
from storage.poll_state import all_poll_states

DELIVERY_RESULTS = ("sent", "failed", "rate_limited")


class Metrics:
    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry()
        self.requests_rejected = Counter(
            "smserror_requests_rejected", "Requests refused (400, 401, 403, 413, 431), by endpoint and reason",
            ["endpoint", "reason"], registry=registry)
        self.failures_ingested = Counter(
            "smserror_failures_ingested", "Failures stored for the first time, by source", ["source"],
            registry=registry)
        self.poll_duration = Histogram(
            "smserror_poll_duration_seconds", "How long one poll pass over every Twilio account took",
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300), registry=registry)
        self.deliveries = Counter(
            "smserror_deliveries", "Delivery attempts, by destination and result (sent, failed, rate_limited)",
            ["destination", "result"], registry=registry)
        self.slack_rate_limited = Counter(
            "smserror_slack_rate_limited", "Deliveries Slack answered with 429 (rate limited)", registry=registry)
        self.events_received = Counter(
            "smserror_twilio_events_received", "Event Streams events in accepted deliveries, by outcome "
            "(taken, repeated, ignored)", ["outcome"], registry=registry)
        for source in ("poll", "callback", "event"):  # present from the start, so rate() sees the first one
            self.failures_ingested.labels(source)

    def expect(self, *, endpoints: Iterable[str] = (), destinations: Iterable[str] = ()) -> None:
        """Create the series an alert rule watches at 0, before anything has happened."""
        for endpoint in endpoints:
            self.requests_rejected.labels(endpoint, "bad_signature")
        for destination in destinations:
            for result in DELIVERY_RESULTS:
                self.deliveries.labels(destination, result)

    def rejected(self, endpoint: str, status: int, reason: str) -> None:
        self.requests_rejected.labels(endpoint, reason).inc()

    def ingested(self, source: str, count: int) -> None:
        if count:
            self.failures_ingested.labels(source).inc(count)

    def delivered(self, report: DeliveryReport) -> None:
        for destination, result in report.outcomes:
            self.deliveries.labels(destination, result).inc()
            if destination == "slack" and result == "rate_limited":
                self.slack_rate_limited.inc()

    def received(self, outcome: str, count: int) -> None:
        self.events_received.labels(outcome).inc(count)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class StoreCollector(Collector):
    """The gauges read at scrape time. `accounts()`: the Twilio accounts configured (None: every
    account the poller has met, as with TWILIO_SUBACCOUNTS=all), which bounds the account label."""

    def __init__(self, db: Callable[[], sqlite_utils.Database], *, accounts: Callable[[], set[str] | None],
                 destinations: Iterable[str], twilio_results: Callable[[], Mapping[str, int]],
                 role: Callable[[], str], clock: Callable[[], float] = time.time) -> None:
        self._db, self._accounts, self._destinations = db, accounts, tuple(destinations)
        self._twilio_results, self._role, self._clock = twilio_results, role, clock

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily("smserror_twilio_requests", "HTTP requests to Twilio, by result",
                                       labels=["result"])
        for result, count in sorted(self._twilio_results().items()):
            requests.add_metric([result], count)
        yield requests
        yield GaugeMetricFamily("smserror_leader", "1 when this instance leads (polls, delivers), else 0",
                                value=1 if self._role() == "leader" else 0)
        now = self._clock()
        try:
            db = self._db()
            pending, oldest = outbox.backlog(db)
            states = all_poll_states(db)
            failing = watch.streaks(db, "delivery:")
        except (sqlite3.Error, StoreError):
            yield GaugeMetricFamily("smserror_store_up", "1 when the store could be read for this scrape", value=0)
            return
        yield GaugeMetricFamily("smserror_store_up", "1 when the store could be read for this scrape", value=1)
        yield GaugeMetricFamily("smserror_outbox_pending", "Messages waiting to be delivered", value=pending)
        yield GaugeMetricFamily("smserror_outbox_oldest_age_seconds",
                                "Age of the oldest message waiting to be delivered (0 when none waits)",
                                value=max(0.0, now - oldest) if oldest is not None else 0)
        polled = GaugeMetricFamily("smserror_last_successful_poll_timestamp_seconds",
                                   "When each Twilio account was last read whole (Unix time)", labels=["account"])
        wanted = self._accounts()
        for state in states:
            if state["last_ok_at"] and (wanted is None or state["account_sid"] in wanted):
                polled.add_metric([state["account_sid"]], state["last_ok_at"])
        yield polled
        stale = GaugeMetricFamily("smserror_delivery_failing_seconds",
                                  "How long delivering to a destination has failed without a success (0: it works)",
                                  labels=["destination"])
        for name in self._destinations:
            since = failing.get(f"delivery:{name}")
            stale.add_metric([name], max(0.0, now - since) if since is not None else 0)
        yield stale


def metrics_route(metrics: Metrics) -> Route:
    def exposition(request) -> Response:
        return Response(200, metrics.exposition(), {"Content-Type": CONTENT_TYPE_LATEST})

    return exposition
