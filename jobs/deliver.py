"""Deliver what the outbox holds to the configured destinations; lose nothing, post nothing twice.

`deliver_due(db, destinations, now)` is the only entry point: `poll --once` calls it before it
exits; in `run` the delivery thread (jobs/delivery_worker.py) calls it as soon as an alert is
queued (from a poll or a status callback) and on a short timer, so a Slack outage is retried.

Destinations are injected (bot/destinations.py builds them from settings); each takes an
OutboxItem and renders it itself. They raise DeliveryError for a failure they understand:
`retry_after` (Slack 429), `unknown` (the request may have reached them: the next attempt asks
`find_sent` first), anything else is retried with exponential backoff (30 s doubling, at most
an hour), forever: an alert is never dropped, and a fixed setting (a channel, a token) lets
the queue drain.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from jobs import alerts
from jobs.rules import DEFAULT_RULES, Route, Rules
from storage import alert_groups, leases, outbox
from storage.db import transaction
from storage.leases import Lease
from storage.outbox import OutboxItem

log = logging.getLogger("smserror.deliver")

BACKOFF_FIRST = 30
BACKOFF_MAX = 3600
EDIT_KINDS = frozenset({"alert-edit", "watch-edit"})
DEFAULT_SETTLE = 30  # for a destination that does not say how long its sends can take


class DeliveryError(Exception):
    """A send that failed. `retry_after`: seconds the destination asked us to wait.
    `unknown`: the destination may have received it (timeout after sending, dropped connection).
    `permanent`: the destination refused for a reason that waiting will not fix (a missing scope)."""

    def __init__(self, message: str, *, retry_after: float | None = None, unknown: bool = False,
                 permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.unknown = unknown
        self.permanent = permanent


@runtime_checkable
class Destination(Protocol):
    name: str                       # "slack", "teams", "stdout", "slack:<route>"…: the outbox's destination column
    kinds: frozenset[str] | None    # outbox kinds it shows (None: all)
    route: Route | None             # the route whose accounts it serves; None: a default destination
    settle_seconds: float           # longest a send can take: after it, the post exists or never will

    def send(self, item: OutboxItem) -> str | None:
        """Post the item (a reply when item.parent is set); return its reference (Slack: the ts).
        May set item.sent_to: where it went (Slack: the channel ID)."""

    def update(self, item: OutboxItem, ref: str) -> None:
        """Re-render the message `ref` (the parent's reference) from item.payload."""


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)       # dedupe keys
    retrying: list[str] = field(default_factory=list)
    waiting: int = 0        # replies/edits whose parent is not sent yet, or rows for absent destinations
    skipped: int = 0        # superseded edits, rows a destination cannot show
    errors: list[str] = field(default_factory=list)
    leader: str | None = None  # another process leads and delivers: this call sent nothing
    # (destination, "sent" | "failed" | "rate_limited") per attempt: what the caller counts and watches
    outcomes: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"delivered {len(self.sent)}, retrying {len(self.retrying)}, waiting {self.waiting}"
        if self.leader:
            text += f" (the running smserror run, {self.leader.rsplit(':', 1)[0]}, delivers them)"
        return text + (f"; last error: {self.errors[-1]}" if self.errors else "")


def can_edit(destination: Destination) -> bool:
    """It shows edits: an alert's post there is re-rendered as the group changes."""
    return destination.kinds is None or not EDIT_KINDS.isdisjoint(destination.kinds)


def backoff(attempts: int) -> int:
    """Seconds before the next try after `attempts` failed ones: 30, 60, 120 … capped at an hour, ±10 %."""
    base = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1))
    return int(base * random.uniform(0.9, 1.1))


def deliver_due(db, destinations: Iterable[Destination], now: float | None = None, *, lease: Lease | None = None,
                holder: str | None = None, limit: int = 200, rules: Rules = DEFAULT_RULES) -> DeliveryReport:
    """Send every due outbox row to its destination, oldest first.

    The leader passes its `lease`: every claim then checks it is still the leader in the same
    term. Without one (a one-shot command), rows are delivered only while no other process
    leads; otherwise they are left to the leader (`report.leader`). Safe to call from several
    threads or processes at once: each row is claimed before it is sent."""
    clock = _clock(now)
    holder = lease.holder if lease is not None else (holder or leases.process_holder())
    by_name = {d.name: d for d in destinations}
    report = DeliveryReport()
    if lease is None:
        report.leader = leases.holder_other_than(db, leases.LEADER, holder, clock())
    if not by_name or report.leader:
        report.waiting = len(outbox.pending(db))
        return report
    routes = {name: route.name for name, d in by_name.items() if (route := getattr(d, "route", None)) is not None}
    outbox.fan_out(db, clock(), {name: d.kinds for name, d in by_name.items()}, routes)
    items = outbox.due(db, clock(), set(by_name), limit=limit)
    newest_edit: dict[tuple[str, str], int] = {}
    for item in items:
        if item.kind in EDIT_KINDS:
            newest_edit[(item.payload.get("parent", ""), item.destination)] = item.id
    for item in items:
        if item.kind in EDIT_KINDS and newest_edit[(item.payload.get("parent", ""), item.destination)] != item.id:
            # the newest edit renders the current state
            if outbox.mark_skipped(db, item, "superseded by a newer edit", clock()):
                report.skipped += 1
            continue
        _deliver_one(db, by_name[item.destination], item, clock, report, holder, lease, rules)
    report.waiting += len([i for i in outbox.pending(db)
                           if i.destination not in by_name and i.destination != outbox.FANOUT])
    return report


def _clock(now: float | None) -> Callable[[], float]:
    """The time of each step: `now` (tests pass a fixed one) plus what has elapsed since the call,
    so a claim made late in a long pass is dated when it is made."""
    start, base = time.monotonic(), time.time() if now is None else now
    return lambda: base + (time.monotonic() - start)


def _deliver_one(db, destination: Destination, item: OutboxItem, clock: Callable[[], float], report: DeliveryReport,
                 holder: str, lease: Lease | None, rules: Rules) -> None:
    parent_key = item.payload.get("parent")
    if parent_key:
        parent = outbox.find_for(db, parent_key, item.destination)
        if parent is None or (parent.sent_at is not None and not parent.response_ts):
            if outbox.mark_skipped(db, item, "its parent was never posted to this destination", clock()):
                report.skipped += 1
            return
        if parent.sent_at is None:
            report.waiting += 1  # deliver after the parent: its ts is needed
            return
        item.parent = parent
    maybe_sent = item.outcome_unknown
    settle = getattr(destination, "settle_seconds", DEFAULT_SETTLE)
    if not outbox.claim(db, item, clock(), settle, holder=holder, lease=lease):
        return  # another deliverer has it, or this one may no longer deliver
    try:
        ref = _already_sent(destination, item) if maybe_sent else None
        maybe_sent = False  # the lookup answered: an earlier attempt did not get through
        if ref is None:
            if item.kind in EDIT_KINDS:
                if item.kind == "alert-edit":  # a watch edit carries its state whole
                    item.payload = alerts.refresh(db, item.payload, int(clock()), rules)
                assert item.parent is not None and item.parent.response_ts  # an edit's parent was posted (above)
                destination.update(item, item.parent.response_ts)
                ref = item.parent.response_ts
            else:
                ref = destination.send(item)
    except DeliveryError as exc:
        retry_at = clock() + max(1.0, exc.retry_after if exc.retry_after is not None else backoff(item.attempts))
        if exc.unknown:  # this send may yet land: look for it only once its fate is settled
            retry_at = max(retry_at, item.settle_at or retry_at)
        outbox.mark_retry(db, item, str(exc), retry_at, unknown=exc.unknown or maybe_sent)
        report.retrying.append(item.dedupe_key)
        report.errors.append(f"{item.destination}: {exc}")
        report.outcomes.append((item.destination, "rate_limited" if exc.retry_after is not None else "failed"))
        log.warning("delivery of %s to %s failed (attempt %d): %s", item.kind, item.destination, item.attempts, exc)
        return
    except BrokenPipeError:  # our own stdout is gone (`smserror demo | head`): nothing more to show
        outbox.mark_retry(db, item, "stdout closed", clock(), unknown=maybe_sent)
        raise
    except Exception as exc:  # a renderer bug must not stop the queue; keep the row
        outbox.mark_retry(db, item, f"{type(exc).__name__}: {exc}", clock() + backoff(item.attempts),
                          unknown=maybe_sent)
        report.retrying.append(item.dedupe_key)
        report.errors.append(f"{item.destination}: {type(exc).__name__}: {exc}")
        report.outcomes.append((item.destination, "failed"))
        log.error("delivery of %s to %s raised %s: %s", item.kind, item.destination, type(exc).__name__, exc)
        return
    with transaction(db):  # the ts and "sent" are recorded together, or not at all
        if not outbox.mark_sent(db, item, ref or "", clock()):
            log.warning("%s was posted, but its claim had been taken over: the new deliverer finds it by its "
                        "metadata", item.dedupe_key)
            return
        if item.kind == "alert" and ref and can_edit(destination):
            alert_groups.record_post(db, item.payload["group"], item.payload["posted_at"], destination.name,
                                     item.sent_to, ref)
    report.sent.append(item.dedupe_key)
    report.outcomes.append((item.destination, "sent"))


def _already_sent(destination: Destination, item: OutboxItem) -> str | None:
    """An earlier attempt may have got through: ask the destination (Slack: message metadata).
    A DeliveryError here means it cannot tell yet: the row is retried, and asked again, later."""
    find = getattr(destination, "find_sent", None)
    if find is None:
        return None
    try:
        return find(item)
    except DeliveryError as exc:
        if not exc.permanent:
            raise
        # it never will be able to tell (a scope is missing): a duplicate beats a loss
        log.warning("could not check whether %s reached %s (%s): posting again", item.dedupe_key, item.destination, exc)
        return None
