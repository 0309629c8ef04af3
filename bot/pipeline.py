"""What moves a failure toward a channel: poll → alert groups → outbox → destinations.

Shared by `smserror poll --once` (one pass, deliver, exit) and `smserror run` (scheduled passes,
status callbacks, a delivery thread). Clients and destinations are built once from settings and
injected into the jobs, which never read settings or the environment themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from twilio.rest import Client

from bot.destinations import build_destinations
from bot.metrics import Metrics
from bot.settings import Settings
from jobs import alerts
from jobs.callback_tokens import Fleet, read_fleet
from jobs.deliver import DeliveryReport, deliver_due
from jobs.ingest import ingest
from jobs.poll import PassReport, run_poll_pass
from jobs.rules import Rules, load_rules
from jobs.twilio_client import make_client
from storage.db import LocalDb
from storage.failures import UpsertResult
from storage.leases import Lease
from storage.poll_state import record_names

FLEET_REFRESH_SECONDS = 3600  # a subaccount added, renamed or re-keyed is picked up within the hour
FLEET_RETRY_SECONDS = 300  # after a failed read: soon, but not on every pass


class Pipeline:
    def __init__(self, settings: Settings, store: LocalDb, *, destinations: list | None = None,
                 rules: Rules | None = None, clock: Callable[[], float] = time.time,
                 metrics: Metrics | None = None, twilio: Client | None = None) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics or Metrics()
        self.rules = rules if rules is not None else load_rules(settings.rules_path)
        self.destinations = destinations if destinations is not None else build_destinations(settings)
        self.clock = clock
        self.on_enqueued: Callable[[], None] = lambda: None  # `run` wakes its delivery thread here
        self._twilio: Client | None = twilio  # built from settings at the first poll unless given
        self._fleet: Fleet | None = None
        self._fleet_due_at: float | None = None

    def poll(self) -> PassReport:
        """One pass over every Twilio account; each page's new failures join their alert groups
        as soon as the page is stored, so an account-level failure is queued within the pass."""
        if self._twilio is None:
            self._twilio = make_client(self.settings.twilio)  # ConfigError naming what is missing
        db, now = self.store.get(), int(self.clock())
        before = self._twilio.http_client.requests_made
        self._refresh_fleet(db, now)
        report = run_poll_pass(db, self.settings.twilio, now, client=self._twilio, ingest=self.ingest,
                               accounts=self._fleet.accounts if self._fleet else None)
        report.requests = self._twilio.http_client.requests_made - before  # the listing's requests are the pass's too
        self.resolve()
        return report

    def callback_tokens(self) -> list[str]:
        """Every auth token a genuine status callback can be signed with."""
        return list(self.signing_tokens().values())

    def signing_tokens(self) -> dict[str, str]:
        """{account SID: auth token} of every account whose callbacks and events come here: an
        Event Streams sink signs with the token of the account that owns it."""
        main = {self.settings.twilio_account_sid: self.settings.twilio_auth_token}
        tokens = self._fleet.tokens if self._fleet else {}
        return {sid: token for sid, token in {**main, **tokens}.items() if token}

    def _refresh_fleet(self, db, now: int) -> None:
        """Names, tokens and which subaccounts there are: one listing an hour serves every pass
        (until one succeeds, each pass lists the subaccounts it reads itself)."""
        if self._fleet_due_at is not None and now < self._fleet_due_at:
            return
        fleet = read_fleet(self._twilio, self.settings.twilio_account_sid, self.settings.subaccount_mode)
        if fleet is None:
            self._fleet_due_at = now + FLEET_RETRY_SECONDS
            return
        record_names(db, fleet.names)
        self._fleet, self._fleet_due_at = fleet, now + FLEET_REFRESH_SECONDS

    def ingest(self, rows: list[dict], source: str, now: int) -> UpsertResult:
        """Store failures and queue their alerts in one transaction (poll pages, callbacks)."""
        stored, observed = ingest(self.store.get(), rows, source, now, self.rules)
        self.metrics.ingested(source, stored.inserted)
        if observed.enqueued:
            self.on_enqueued()
        return stored

    def observe(self, new_failures: list[dict], now: int | None = None) -> None:
        now = int(self.clock()) if now is None else now
        if alerts.observe(self.store.get(), new_failures, now, self.rules).enqueued:
            self.on_enqueued()

    def resolve(self) -> None:
        if alerts.check_resolved(self.store.get(), int(self.clock()), self.rules):
            self.on_enqueued()

    def deliver(self, lease: Lease | None = None) -> DeliveryReport:
        """Deliver what is due: as the leader (`lease`), or as a one-shot command that leaves it
        to a running leader if there is one."""
        report = deliver_due(self.store.get(), self.destinations, self.clock(), lease=lease, rules=self.rules)
        self.metrics.delivered(report)
        return report

    def twilio_results(self) -> dict[str, int]:
        """This process's requests to Twilio so far, by result (jobs/twilio_client.result_of)."""
        return dict(self._twilio.http_client.results) if self._twilio is not None else {}
