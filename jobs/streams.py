"""Event Streams per Twilio account: a webhook sink posting to SMSERROR_PUBLIC_URL/twilio/events
and a subscription of that sink to failed and undelivered messages (`smserror streams`).

The Events API shows an account only its own sinks and subscriptions, so each account is asked
as itself: the main account with the configured credentials, a subaccount with the auth token
the parent reads from the Accounts API (held in memory only).

Setup is idempotent. It reuses a sink that already posts to the destination, and that sink's
subscription (Twilio allows one per sink), adding whichever of the two event types it lacks.
A sink that is not active goes through Twilio's handshake: POST Sinks/{sid}/Test makes Twilio
send the sink a test event, the running `smserror run` keeps its test_id in the store, and
setup hands that back with POST Sinks/{sid}/Validate. Twilio now makes webhook sinks active at
once; the handshake is for those that are not (older sinks, or Twilio changing its mind).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import sqlite_utils
from twilio.base.exceptions import TwilioException
from twilio.rest import Client

from jobs.callback_tokens import subaccounts
from jobs.twilio_client import TwilioAuthError, describe_error
from storage.stream_events import forget_sink_test, sink_test_id

EVENT_TYPES = ("com.twilio.messaging.message.failed", "com.twilio.messaging.message.undelivered")
DESCRIPTION = "smserror: failed and undelivered messages"  # Twilio asks for no PII here
PAGE_SIZE = 1000


@dataclass
class Account:
    sid: str
    name: str | None
    client: Client | None  # None: Twilio gave no auth token to act as it
    main: bool = False

    @property
    def label(self) -> str:
        return f"{self.sid} ({self.name})" if self.name and self.name != self.sid else self.sid


@dataclass
class Outcome:
    """One line per account, and whether the account is done (setup) or active (status):
    `active` per account SID, for the poller (storage/poll_state.py `record_streams`)."""
    lines: list[str] = field(default_factory=list)
    ok: bool = True
    active: dict[str, bool] = field(default_factory=dict)

    def add(self, account: Account, text: str, ok: bool = True) -> None:
        self.lines.append(f"{account.label}: {text}")
        self.ok = self.ok and ok
        self.active[account.sid] = ok


class SinkTests:
    """The test events `smserror run` received, read from the store it shares with setup."""

    def __init__(self, db: Callable[[], sqlite_utils.Database], timeout: float) -> None:
        self.db, self.timeout = db, timeout  # db(): the store, opened on first use

    def forget(self, account_sid: str) -> None:
        forget_sink_test(self.db(), account_sid)

    def wait(self, account_sid: str) -> str | None:
        deadline = time.monotonic() + self.timeout
        while True:
            test_id = sink_test_id(self.db(), account_sid)
            if test_id or time.monotonic() >= deadline:
                return test_id
            time.sleep(0.2)


def accounts(settings, main: Client, as_account: Callable[[str, str], Client], outcome: Outcome) -> list[Account]:
    """The main account and every configured subaccount, each with a client acting as it."""
    found = [Account(settings.twilio_account_sid, None, main, main=True)]
    try:
        listed = subaccounts(main, settings.twilio_account_sid, settings.subaccount_mode)
    except (TwilioException, OSError) as exc:  # TwilioAuthError is neither: wrong credentials end the command
        outcome.lines.append(f"subaccounts: could not be listed: {describe_error(exc)}")
        outcome.ok = False
        return found
    for sub in listed:
        client = as_account(sub.sid, sub.auth_token) if sub.auth_token else None
        found.append(Account(sub.sid, sub.friendly_name, client))
    return found


@dataclass
class Streams:
    sink: Any = None  # SinkInstance, or None
    subscription: Any = None  # SubscriptionInstance, or None
    types: set[str] = field(default_factory=set)

    @property
    def missing(self) -> list[str]:
        return [t for t in EVENT_TYPES if t not in self.types]


def find(client: Client, destination: str) -> Streams:
    """The account's sink posting to `destination` (an active one first), its subscription and
    the event types that subscription has."""
    sinks = [s for s in client.events.v1.sinks.stream(page_size=PAGE_SIZE) if _posts_to(s, destination)]
    if not sinks:
        return Streams()
    sink = min(sinks, key=lambda s: s.status != "active")
    subscription = next(iter(client.events.v1.subscriptions.stream(sink_sid=sink.sid, page_size=PAGE_SIZE)), None)
    types = {t.type for t in subscription.subscribed_events.stream(page_size=PAGE_SIZE)} if subscription else set()
    return Streams(sink, subscription, types)


def _posts_to(sink, destination: str) -> bool:
    config = sink.sink_configuration if isinstance(sink.sink_configuration, dict) else {}
    return (sink.sink_type == "webhook" and config.get("destination") == destination
            and str(config.get("method", "POST")).upper() == "POST")


def setup(accounts_: list[Account], destination: str, tests: SinkTests | None, outcome: Outcome) -> Outcome:
    """Create or reuse each account's sink and subscription; `tests` None is a dry run."""
    for account in accounts_:
        _each(account, outcome, partial(_setup_account, account.sid, destination=destination, tests=tests))
    return outcome


def status(accounts_: list[Account], destination: str, outcome: Outcome) -> Outcome:
    for account in accounts_:
        _each(account, outcome, partial(_status_account, destination=destination))
    return outcome


def _each(account: Account, outcome: Outcome, step: Callable[[Client], tuple[str, bool]]) -> None:
    if account.client is None:
        outcome.add(account, "FAILED: Twilio gave no auth token to act as this subaccount", ok=False)
        return
    try:
        text, ok = step(account.client)
    except TwilioAuthError:
        if account.main:
            raise  # the configured credentials are wrong: bad configuration, exit 2
        outcome.add(account, "FAILED: Twilio rejected this subaccount's auth token", ok=False)
    except (TwilioException, OSError) as exc:
        outcome.add(account, f"FAILED: {describe_error(exc)}", ok=False)
    else:
        outcome.add(account, text, ok)


def _setup_account(account_sid: str, client: Client, destination: str, tests: SinkTests | None) -> tuple[str, bool]:
    dry_run = tests is None
    found = find(client, destination)
    sink = found.sink
    if sink is None:
        if dry_run:
            return f"would create a webhook sink to {destination} and subscribe it to {_names(EVENT_TYPES)}", True
        sink = client.events.v1.sinks.create(
            description=DESCRIPTION, sink_type="webhook",
            sink_configuration={"destination": destination, "method": "POST", "batch_events": True})
        done = [f"sink {sink.sid} created"]
    else:
        done = [f"sink {sink.sid} reused"]
    if sink.status != "active":
        if tests is None:
            return f"sink {sink.sid} is {sink.status}: would validate it, then subscribe it", True
        problem = _validate(client, account_sid, sink.sid, destination, tests)
        if problem:
            return "; ".join(done + [problem]), False
        done[-1] += " and validated"
    if found.subscription is None:
        if dry_run:
            return f"sink {sink.sid} reused; would subscribe it to {_names(EVENT_TYPES)}", True
        subscription = client.events.v1.subscriptions.create(
            description=DESCRIPTION, sink_sid=sink.sid, types=[{"type": t} for t in EVENT_TYPES])
        done.append(f"subscription {subscription.sid} created ({_names(EVENT_TYPES)})")
    elif found.missing:
        if dry_run:
            return f"sink {sink.sid} reused; would add {_names(found.missing)} to {found.subscription.sid}", True
        for kind in found.missing:
            found.subscription.subscribed_events.create(type=kind)
        done.append(f"subscription {found.subscription.sid}: added {_names(found.missing)}")
    else:
        done.append(f"subscription {found.subscription.sid} reused")
    return ("nothing to do: " if dry_run else "") + "; ".join(done), True


def _validate(client: Client, account_sid: str, sink_sid: str, destination: str, tests: SinkTests) -> str | None:
    """Twilio's test/validate handshake; None when the sink is now active, else what stopped it."""
    tests.forget(account_sid)
    client.events.v1.sinks(sink_sid).sink_test.create()
    test_id = tests.wait(account_sid)
    if not test_id:
        return (f"not validated: no test event reached {destination} within {tests.timeout:g} s. Start `smserror run` "
                "where SMSERROR_PUBLIC_URL reaches it, with the same SMSERROR_DB, then rerun `smserror streams setup`")
    result = client.events.v1.sinks(sink_sid).sink_validate.create(test_id=test_id)
    if result.result != "valid":
        return f"not validated: Twilio answered {result.result!r}"
    return None


def _status_account(client: Client, destination: str) -> tuple[str, bool]:
    found = find(client, destination)
    sink = found.sink
    if sink is None:
        return f"no sink posts to {destination}: not active (run `smserror streams setup`)", False
    batched = ", batched" if sink.sink_configuration.get("batch_events") else ""
    text = f"sink {sink.sid} {sink.status} (POST {destination}{batched})"
    if found.subscription is None:
        return f"{text}; no subscription: not active (run `smserror streams setup`)", False
    ours = _names([t for t in EVENT_TYPES if t in found.types]) or "none of ours"
    text += f"; subscription {found.subscription.sid} ({ours})"
    if found.missing:
        return f"{text}, lacks {_names(found.missing)}: not active (run `smserror streams setup`)", False
    if sink.status != "active":
        return f"{text}: not active (the sink is {sink.status}; run `smserror streams setup`)", False
    return f"{text}: active", True


def _names(types) -> str:
    return " and ".join(t.rsplit(".", 1)[-1] for t in types)
