"""Feeds jobs/watch.py from `smserror run`: each poll pass's accounts, each delivery pass's
destinations, and the callbacks refused, with the settings each alert names.

Reading Twilio and delivering are the leader's; callbacks reach every instance, so each counts
its own refusals (a burst is BURST refusals within BURST_WINDOW) and the leader resolves the
alert once none has come for SMSERROR_STALE_AFTER.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable

from bot.settings import Settings
from bot.twilio_events import EVENTS_PATH
from bot.twilio_status import STATUS_PATH
from jobs import watch
from jobs.deliver import DeliveryReport
from jobs.poll import PassReport
from storage.db import LocalDb, StoreError

log = logging.getLogger("smserror.watch")

BURST = 10
BURST_WINDOW = 300
CALLBACK_ENDPOINTS = frozenset({STATUS_PATH, EVENTS_PATH})
TOUCH_EVERY = 60  # a burst that goes on writes to the store at most this often, per instance


class Watcher:
    def __init__(self, settings: Settings, store: LocalDb, destinations: list, wake: Callable[[], None],
                 clock: Callable[[], float] = time.time) -> None:
        self.settings, self.store, self.destinations = settings, store, destinations
        self.wake, self.clock = wake, clock
        self._refused: deque[float] = deque()
        self._touched: float | None = None
        self._bursting = False
        self._lock = threading.Lock()

    def polled(self, report: PassReport, now: int) -> None:
        """After a poll pass (the leader): each account was read, or not."""
        db = self.store.get()
        enqueued = []
        for account in report.accounts:
            if account.error:
                trouble = watch.twilio_trouble(account.account_sid, account.friendly_name, account.error)
                enqueued += watch.failing(db, trouble, now, self.settings.stale_after)
            else:
                enqueued += watch.healthy(db, f"twilio:{account.account_sid}", now)
        if enqueued:
            self.wake()

    def callbacks_quiet(self, now: int) -> None:
        """On every poll tick (the leader): a callback burst none has followed for SMSERROR_STALE_AFTER is over."""
        if watch.quiet(self.store.get(), "callbacks", now, self.settings.stale_after):
            self.wake()

    def delivered(self, report: DeliveryReport, now: int) -> None:
        """After a delivery pass (the leader): a destination that sent something works; one that
        only failed fails, and is told of through the others."""
        results: dict[str, set[str]] = {}
        for destination, result in report.outcomes:
            results.setdefault(destination, set()).add(result)
        errors = dict(error.partition(": ")[::2] for error in report.errors)  # "slack: …": the last per destination
        db = self.store.get()
        enqueued = []
        for name, seen in results.items():
            others = {d.name: d.kinds for d in self.destinations if d.name != name}
            if "sent" in seen:
                enqueued += watch.healthy(db, f"delivery:{name}", now, others)
            else:
                trouble = watch.delivery_trouble(name, errors.get(name, ""))
                enqueued += watch.failing(db, trouble, now, self.settings.stale_after, others)
        if enqueued:
            self.wake()

    def refused(self, endpoint: str, status: int, reason: str) -> None:
        """A request was refused (any instance). BURST 403s on the Twilio callback endpoints within
        BURST_WINDOW alert at once; fewer keep an open alert open. Refusals reach the store at most
        once per TOUCH_EVERY, besides the one that makes a burst: a flood costs no more writes."""
        if status != 403 or endpoint not in CALLBACK_ENDPOINTS:
            return
        now = self.clock()
        with self._lock:
            self._refused.append(now)
            while self._refused[0] <= now - BURST_WINDOW:
                self._refused.popleft()
            count = len(self._refused)
            burst_begins = count >= BURST and not self._bursting
            self._bursting = count >= BURST
            if not burst_begins and self._touched is not None and now - self._touched < TOUCH_EVERY:
                return
            self._touched = now
        trouble = watch.callbacks_trouble(endpoint, count, BURST_WINDOW, self._expected_url(endpoint))
        try:
            db = self.store.get()
            if count < BURST:
                watch.extend(db, "callbacks", int(now))
                return
            enqueued = watch.failing(db, trouble, int(now), 0)
        except (sqlite3.Error, StoreError) as exc:
            log.error("%s, and the alert could not be stored: %s", trouble.cause, exc)
            return
        if enqueued:
            self.wake()

    def _expected_url(self, endpoint: str) -> str:
        if self.settings.public_url:
            return self.settings.public_url + endpoint
        return f"http://<the Host header>{endpoint} (SMSERROR_PUBLIC_URL is not set)"
