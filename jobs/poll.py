"""The poller: read every configured Twilio account's Messages list and keep its failures.

Twilio's Messages list has no status filter and returns newest first (by date sent), with a
`DateSent>=` filter of day granularity. Each account gets one of two kinds of pass:

* **recent** (every pass): from `last_pass_at - OVERLAP` to now. The server-side filter is the
  window's day; streaming stops at the first message sent before the window, so a pass costs
  ceil(messages in window / 1000) requests (at least one).
* **sweep** (the first pass, and then at most once per `SWEEP_SECONDS`): the whole
  SMSERROR_LOOKBACK_HOURS, to catch status changes that came after the recent window moved on
  (`sent` -> `undelivered` minutes or hours later).

Pages are read one at a time (the SDK's Page/next_page, records kept as JSON dicts) and each page's failures are upserted by
SID in one transaction, so memory stays constant and a pass killed half-way loses nothing: its state did not move, the next pass re-reads
the same window and the upsert makes the repeat a no-op. A pass that fails leaves its state where
it was and logs one line.
"""

from __future__ import annotations

import calendar
import logging
import sqlite3
import time
from functools import partial
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import sqlite_utils
from twilio.base.exceptions import TwilioException
from twilio.base.page import Page
from twilio.rest import Client

from jobs.config import TwilioConfig
from jobs.importer import parse_time, record_to_row
from jobs.twilio_client import TwilioAuthError, describe_error, make_client
from storage.failures import FAILED_STATUSES, UpsertResult, upsert_failures
from storage.poll_state import all_poll_states, get_poll_state, record_pass_error, record_pass_ok

log = logging.getLogger("smserror.poll")

# Stores a page's failure rows and queues their alerts, in one transaction (jobs/ingest.py);
# the poll alone (tests, benches) only stores them.
Ingest = Callable[[list[dict], str, int], UpsertResult]

OVERLAP = 120  # seconds re-read before the last pass's start: clock skew, late date_sent
SWEEP_SECONDS = 3600  # at most one full-lookback sweep per account per hour
PAGE_SIZE = 1000


@dataclass
class AccountReport:
    account_sid: str
    friendly_name: str | None = None
    kind: str = "recent"  # or "sweep"
    window_start: int = 0
    messages_read: int = 0
    failures_seen: int = 0
    failures_new: int = 0
    failures_updated: int = 0
    requests: int = 0
    error: str | None = None
    auth_failed: bool = False

    def line(self) -> str:
        name = f" ({self.friendly_name})" if self.friendly_name and self.friendly_name != self.account_sid else ""
        since = datetime.fromtimestamp(self.window_start, timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        head = f"{self.account_sid}{name}: {self.kind} since {since}: {self.messages_read} messages read, "
        head += f"{self.failures_new} new failures, {self.failures_updated} updated, {self.requests} requests"
        return head + (f"; FAILED: {self.error}" if self.error else "")


@dataclass
class PassReport:
    started_at: int
    accounts: list[AccountReport] = field(default_factory=list)
    new_failures: list[dict] = field(default_factory=list)
    error: str | None = None  # listing subaccounts failed
    auth_failed: bool = False
    requests: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None and not any(a.error for a in self.accounts)

    def lines(self) -> list[str]:
        out = [a.line() for a in self.accounts]
        if self.error:
            out.append(f"listing subaccounts FAILED: {self.error}")
        return out


def run_poll_pass(
    db: sqlite_utils.Database,
    config: TwilioConfig,
    now: int | None = None,
    *,
    client: Client | None = None,
    client_factory: Callable[[TwilioConfig], Client] = make_client,
    ingest: Ingest | None = None,
    sweep_seconds: int = SWEEP_SECONDS,
    overlap: int = OVERLAP,
) -> PassReport:
    """One pass over every configured account. Never raises for Twilio trouble: errors are in the
    report (and logged, one line each). Raises ConfigError if Twilio is not configured."""
    now = int(time.time()) if now is None else int(now)
    client = client or client_factory(config)
    http = client.http_client
    report = PassReport(started_at=now)
    before = getattr(http, "requests_made", 0)
    for account_sid, name in _accounts(db, client, config, report):
        account = poll_account(
            db, client, account_sid, config.lookback_hours, now,
            friendly_name=name, sweep_seconds=sweep_seconds, overlap=overlap, ingest=ingest,
            into=report.new_failures,
        )
        report.accounts.append(account)
        if account.auth_failed and account_sid == config.account_sid:
            report.auth_failed = True
    report.requests = getattr(http, "requests_made", 0) - before
    return report


def _accounts(db, client: Client, config: TwilioConfig, report: PassReport) -> list[tuple[str, str | None]]:
    main = config.account_sid
    mode = config.subaccounts
    if mode == "":
        return [(main, None)]
    if isinstance(mode, list):
        return [(main, None)] + [(sid, None) for sid in dict.fromkeys(mode) if sid != main]
    try:
        listed = [(a.sid, a.friendly_name) for a in client.api.v2010.accounts.stream(status="active", page_size=PAGE_SIZE)]
    except (TwilioException, TwilioAuthError, OSError) as exc:
        report.error = describe_error(exc)
        report.auth_failed = isinstance(exc, TwilioAuthError)
        log.error("listing the subaccounts of %s failed: %s; polling the accounts already known", main, report.error)
        listed = [(s["account_sid"], s["friendly_name"]) for s in all_poll_states(db)]
    names = dict(listed)
    return [(main, names.get(main))] + [(sid, name) for sid, name in listed if sid != main]


def poll_account(
    db: sqlite_utils.Database,
    client: Client,
    account_sid: str,
    lookback_hours: int,
    now: int,
    *,
    friendly_name: str | None = None,
    sweep_seconds: int = SWEEP_SECONDS,
    overlap: int = OVERLAP,
    ingest: Ingest | None = None,
    into: list[dict] | None = None,
) -> AccountReport:
    lookback_start = now - lookback_hours * 3600
    state = get_poll_state(db, account_sid) or {}
    last_pass, last_sweep = state.get("last_pass_at"), state.get("last_sweep_at")
    sweep = last_pass is None or last_sweep is None or now - last_sweep >= sweep_seconds or last_pass - overlap <= lookback_start
    start = lookback_start if sweep else max(lookback_start, last_pass - overlap)
    report = AccountReport(account_sid, friendly_name or state.get("friendly_name"), "sweep" if sweep else "recent", start)
    http = client.http_client
    before = getattr(http, "requests_made", 0)

    def flush(rows: list[dict]) -> None:
        result = (ingest or partial(upsert_failures, db))(rows, "poll", now)
        report.failures_new += result.inserted
        report.failures_updated += result.updated
        if into is not None:
            into.extend(result.new)
        rows.clear()

    try:
        page = first_message_page(client, account_sid, start)
        while page is not None:
            buffer: list[dict] = []
            reached_end = False
            for record in page:
                sent = sent_epoch(record.get("date_sent"))
                if sent is not None and sent < start:
                    reached_end = True  # newest first: the rest is older than the window
                    break
                report.messages_read += 1
                if record.get("status") in FAILED_STATUSES and record.get("error_code"):
                    row = record_to_row(record.get)
                    if row is not None:
                        row["account_sid"] = row["account_sid"] or account_sid  # Twilio may leave it null
                        report.failures_seen += 1
                        buffer.append(row)
            if buffer:
                flush(buffer)  # one transaction per page: a kill loses at most the page in hand
            page = None if reached_end else page.next_page()
    except (TwilioException, TwilioAuthError, OSError, ValueError, sqlite3.Error) as exc:
        if isinstance(exc, sqlite3.Error):
            report.error = f"store error: {exc}"
        elif isinstance(exc, ValueError) and not isinstance(exc, TwilioAuthError):
            report.error = "Twilio sent a page that is not JSON"
        else:
            report.error = describe_error(exc)
        report.auth_failed = isinstance(exc, TwilioAuthError)
        report.requests = getattr(http, "requests_made", 0) - before
        log.error(
            "poll of %s failed: %s; its window stays at %s, the next pass re-reads it",
            account_sid, report.error, _iso(last_pass) if last_pass else "the full lookback",
        )
        try:
            record_pass_error(db, account_sid, report.error)
        except sqlite3.Error:
            pass
        return report
    report.requests = getattr(http, "requests_made", 0) - before
    record_pass_ok(db, account_sid, pass_at=now, swept=sweep, ok_at=int(time.time()), friendly_name=friendly_name)
    return report


class RawMessagePage(Page):
    """A Messages list page whose records stay the API's JSON dicts. The SDK's MessagePage builds a
    MessageInstance per record, parsing three RFC 2822 dates each: most of a pass's CPU for
    records that are dropped a moment later. `next_page()` keeps the class, so paging is the SDK's."""

    def get_instance(self, payload: dict) -> dict:
        return payload


def first_message_page(client: Client, account_sid: str, start: int) -> RawMessagePage:
    """GET .../Messages.json?DateSent>=<day of start>&PageSize=1000 (the API filters by day only)."""
    version = client.api.v2010
    day = datetime.fromtimestamp(start, timezone.utc).strftime("%Y-%m-%d")
    response = client.request(
        "GET", version.absolute_url(f"Accounts/{account_sid}/Messages.json"),
        params={"DateSent>": day, "PageSize": PAGE_SIZE},
    )
    return RawMessagePage(version, response, {"account_sid": account_sid})


_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


def sent_epoch(value) -> int | None:
    """Epoch seconds of the API's RFC 2822 'Mon, 01 Jan 2024 10:00:00 +0000' (fast path for the
    +0000 form Twilio uses; anything else through the importer's general parser)."""
    if not value:
        return None
    try:
        _, day, month, year, clock, zone = value.split()
        if zone == "+0000":
            hour, minute, second = clock.split(":")
            return calendar.timegm((int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second)))
    except (ValueError, KeyError, AttributeError):
        pass
    try:
        return parse_time(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
