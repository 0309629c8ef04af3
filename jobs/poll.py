"""The poller: read every configured Twilio account's Messages list and keep its failures.

Twilio's Messages list has no status filter and returns newest first (by date sent), with a
`DateSent>=` filter of day granularity. Each account gets one of two kinds of pass:

* **recent** (every pass): from `last_pass_at - OVERLAP` to now. The server-side filter is the
  window's day; streaming stops at the first message sent before the window, so a pass costs
  ceil(messages in window / 1000) requests (at least one).
* **sweep** (the first pass, and then at most once per `SWEEP_SECONDS`): the whole
  SMSERROR_LOOKBACK_HOURS, to catch status changes that came after the recent window moved on
  (`sent` -> `undelivered` minutes or hours later).

Pages are read one at a time (the SDK's Page/next_page, records kept as JSON dicts) and each
page's failures are upserted by SID in one transaction, so memory stays constant and a pass killed
half-way loses nothing: its state did not move, the next pass re-reads the same window and the
upsert makes the repeat a no-op. A pass that fails leaves its state where
it was and logs one line.

Accounts are read SMSERROR_TWILIO_CONCURRENCY at a time, on one shared client (a 429 holds every
worker back: jobs/twilio_client.py). Poll states are read once, up front; the workers only
write, each write a transaction, which the store serialises (storage/db.py).

An account whose Event Streams sink was seen working within 48 h (by `smserror
streams setup` / `status`, or a delivery from it) gets only the hourly sweep: its events arrive
in real time, and the sweep catches what Twilio dropped after its 4-hour retries.
"""

from __future__ import annotations

import calendar
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

import sqlite_utils
from twilio.base.exceptions import TwilioException
from twilio.base.page import Page
from twilio.rest import Client

from jobs.config import TwilioConfig
from jobs.importer import parse_time, record_to_row
from jobs.twilio_client import TwilioAuthError, describe_error, make_client
from storage.failures import FAILED_STATUSES, UpsertResult, upsert_failures
from storage.poll_state import all_poll_states, record_names, record_pass_error, record_pass_ok, streamed

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
    kind: str = "recent"  # or "sweep", or "stream" (nothing read: Event Streams covers it until its sweep)
    window_start: int = 0  # for "stream": when the next sweep is due
    messages_read: int = 0
    failures_seen: int = 0
    failures_new: int = 0
    failures_updated: int = 0
    requests: int = 0
    error: str | None = None
    auth_failed: bool = False
    new_failures: list[dict] = field(default_factory=list, repr=False)

    def line(self) -> str:
        name = f" ({self.friendly_name})" if self.friendly_name and self.friendly_name != self.account_sid else ""
        if self.kind == "stream":
            return f"{self.account_sid}{name}: covered by Event Streams, next sweep due {_iso(self.window_start)}"
        since = datetime.fromtimestamp(self.window_start, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
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
    accounts: list[str] | None = None,
    sweep_seconds: int = SWEEP_SECONDS,
    overlap: int = OVERLAP,
) -> PassReport:
    """One pass over every configured account, `config.concurrency` at a time. `accounts`: their
    SIDs, main account first, when the caller has listed them (bot/pipeline.py does hourly); else
    they are listed here. Never raises for Twilio trouble: errors are in the report (and logged,
    one line each). Raises ConfigError if Twilio is not configured."""
    now = int(time.time()) if now is None else int(now)
    client = client or client_factory(config)
    http = client.http_client
    report = PassReport(started_at=now)
    before = getattr(http, "requests_made", 0)
    if accounts is None:
        accounts = _accounts(db, client, config, report)
    states = {state["account_sid"]: state for state in all_poll_states(db)}

    def one(account_sid: str) -> AccountReport:
        return poll_account(db, client, account_sid, config.lookback_hours, now, state=states.get(account_sid, {}),
                            sweep_seconds=sweep_seconds, overlap=overlap, ingest=ingest)

    workers = min(config.concurrency, len(accounts))
    if workers > 1:
        with ThreadPoolExecutor(workers, thread_name_prefix="poll") as pool:
            report.accounts = list(pool.map(one, accounts))
    else:
        report.accounts = [one(sid) for sid in accounts]
    for account in report.accounts:
        report.new_failures.extend(account.new_failures)
        if account.auth_failed and account.account_sid == config.account_sid:
            report.auth_failed = True
    report.requests = getattr(http, "requests_made", 0) - before
    return report


def _accounts(db, client: Client, config: TwilioConfig, report: PassReport) -> list[str]:
    main = config.account_sid
    mode = config.subaccounts
    if mode == "":
        return [main]
    if isinstance(mode, list):
        return [main] + [sid for sid in dict.fromkeys(mode) if sid != main]
    try:
        listed = [(a.sid, a.friendly_name)
                  for a in client.api.v2010.accounts.stream(status="active", page_size=PAGE_SIZE)]
    except (TwilioException, TwilioAuthError, OSError) as exc:
        report.error = describe_error(exc)
        report.auth_failed = isinstance(exc, TwilioAuthError)
        log.error("listing the subaccounts of %s failed: %s; polling the accounts already known", main, report.error)
        listed = [(s["account_sid"], None) for s in all_poll_states(db)]
    record_names(db, {sid: name for sid, name in listed if name})
    return [main] + [sid for sid, _ in listed if sid != main]


def poll_account(
    db: sqlite_utils.Database,
    client: Client,
    account_sid: str,
    lookback_hours: int,
    now: int,
    *,
    state: dict,
    sweep_seconds: int = SWEEP_SECONDS,
    overlap: int = OVERLAP,
    ingest: Ingest | None = None,
) -> AccountReport:
    """Read one account's window (`state`: its poll_state row, {} for a new account). Safe to run
    in several threads at once: it only writes, in transactions."""
    lookback_start = now - lookback_hours * 3600
    last_pass, last_sweep = state.get("last_pass_at"), state.get("last_sweep_at")
    if last_pass is None or last_sweep is None:  # never read, or never swept: the whole lookback
        sweep, start = True, lookback_start
    else:
        sweep = now - last_sweep >= sweep_seconds or last_pass - overlap <= lookback_start
        if not sweep and streamed(state, now):
            return AccountReport(account_sid, state.get("friendly_name"), "stream", last_sweep + sweep_seconds)
        start = lookback_start if sweep else max(lookback_start, last_pass - overlap)
    report = AccountReport(account_sid, state.get("friendly_name"), "sweep" if sweep else "recent", start)
    http = client.http_client
    before = getattr(http, "requests_by_this_thread", 0)

    def flush(rows: list[dict]) -> None:
        result = (ingest or partial(upsert_failures, db))(rows, "poll", now)
        report.failures_new += result.inserted
        report.failures_updated += result.updated
        report.new_failures.extend(result.new)
        rows.clear()

    try:
        page: RawMessagePage | None = first_message_page(client, account_sid, start)
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
        report.requests = getattr(http, "requests_by_this_thread", 0) - before
        log.error(
            "poll of %s failed: %s; its window stays at %s, the next pass re-reads it",
            account_sid, report.error, _iso(last_pass) if last_pass else "the full lookback",
        )
        with contextlib.suppress(sqlite3.Error):
            record_pass_error(db, account_sid, report.error)
        return report
    report.requests = getattr(http, "requests_by_this_thread", 0) - before
    record_pass_ok(db, account_sid, pass_at=now, swept=sweep, ok_at=int(time.time()))
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
    day = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")
    response = client.request(
        "GET", version.absolute_url(f"Accounts/{account_sid}/Messages.json"),
        params={"DateSent>": day, "PageSize": PAGE_SIZE},
    )
    return RawMessagePage(version, response, {"account_sid": account_sid})


_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}


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
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
