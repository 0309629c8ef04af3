"""Real-time alerts: decide what to say about new failures, and put it in the outbox.

Call `observe(db, upsert_result.new, now, rules)` right after `upsert_failures` (from a poll or
a status callback): the failures must already be in the `failures` table, because group counts
and spike rates are read from it, which also makes `observe` idempotent (calling it twice with
the same failures enqueues nothing new). Call `check_resolved(db, now, rules)` on every poll: it
resolves quiet groups and wakes groups whose snooze has ended.

With `[fleet]` in the rules, `observe` also watches every code but the contact category's
(one patient's number each) across accounts: when it hits `fleet_min_accounts` accounts, each
with `fleet_min_per_account` failures within `fleet_window`, the fleet group `fleet:<code>`
alerts in the default destinations, and then updates and resolves like any group.

Nothing here talks to Slack or Teams: every message is a JSON-serialisable report with phone
numbers already masked, stored in the outbox under a dedupe key; jobs/deliver.py sends them.
A post names the routes its account's alerts go to (`routes`, `to_default`); its edits and
replies go where it went (storage/outbox.py `fan_out`).

Outbox kinds written here (all with destination "*"):
  alert           top-level post of a group's incident          alert:<group>:<posted_at>
                  (the first, a repeat, or after a snooze)
  alert-edit      re-render the top-level post (count, state)   alert-edit:<group>:<posted_at>:<count|state>
  alert-reply     thread reply: more failures arrived           alert-reply:<group>:<posted_at>:<count>
  alert-resolved  "resolved" note (thread reply in Slack)       alert-resolved:<group>:<posted_at>
Edits and replies carry `parent` (the alert's dedupe key) and wait until the parent is sent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from jobs.rules import DEFAULT_RULES, Rules
from storage import alert_groups, knowledge, outbox
from storage.alert_groups import FLEET, AlertGroup, fleet_key, group_key
from storage.db import transaction
from storage.digest_queries import account_names
from storage.poll_state import friendly_name
from storage.privacy import mask_number, mask_numbers_in_text

log = logging.getLogger("smserror.alerts")

REPORT_VERSION = 1

@dataclass
class ObserveResult:
    enqueued: list[str] = field(default_factory=list)   # dedupe keys added to the outbox
    groups: list[str] = field(default_factory=list)     # groups touched
    ignored: int = 0                                    # failures with no alert rule, too old, or malformed


# -- describing a code ---------------------------------------------------------------------

def describe(code: int) -> dict[str, Any]:
    """Title, category, meaning, steps and docs link for a code, from the knowledge base."""
    info = knowledge.get(code) or knowledge.CodeInfo(
        code=code, title=f"Twilio error {code}", product="", log_level="", meaning="", steps=(),
        category=knowledge.category_of(code), evidence=None, notes=(), source="dictionary")
    return {
        "title": info.title,
        "category": info.category,
        "category_label": info.category_label,
        "meaning": info.meaning,
        "steps": list(info.steps)[:5],
        "docs_url": info.docs_url,
    }


# -- reading failures ----------------------------------------------------------------------

_GROUP_WHERE = "account_sid = ? AND error_code = ? AND COALESCE(service_sid, '') = ?"


def _scope(group: AlertGroup) -> tuple[str, tuple]:
    """The failures a group counts: its account's, service's and code's (a fleet group: the code's,
    in every account)."""
    if group.kind == "fleet":
        return "error_code = ?", (group.error_code,)
    return _GROUP_WHERE, (group.account_sid, group.error_code, group.service_sid or "")


def _count(db, scope: tuple[str, tuple], since: int, until: int | None = None) -> int:
    where, params = scope
    sql = f"SELECT COUNT(*) FROM failures WHERE {where} AND sent_at >= ?"
    args: list = [*params, since]
    if until is not None:
        sql += " AND sent_at < ?"
        args.append(until)
    return db.execute(sql, args).fetchone()[0]


def spike_rate(db, account_sid: str, code: int, service_sid: str, now: int, rules: Rules) -> tuple[int, float]:
    """(failures in the last hour, average failures per hour over the baseline days before it)."""
    scope = (_GROUP_WHERE, (account_sid, code, service_sid))
    hour_ago = now - 3600
    last_hour = _count(db, scope, hour_ago + 1, now + 1)
    hours = rules.baseline_days * 24
    baseline = _count(db, scope, hour_ago - hours * 3600 + 1, hour_ago + 1) / hours
    return last_hour, baseline


def fleet_accounts(db, code: int, since: int, until: int, min_failures: int) -> list[tuple[str, int, int]]:
    """[(account SID, failures, the first one's time)] of every account with at least
    `min_failures` of `code` sent in [since, until], most first."""
    return db.execute(
        "SELECT account_sid, COUNT(*) AS n, MIN(sent_at) FROM failures WHERE error_code = ? AND sent_at BETWEEN ? AND ?"
        " GROUP BY account_sid HAVING n >= ? ORDER BY n DESC, account_sid",
        (code, since, until, min_failures),
    ).fetchall()


def is_spike(last_hour: int, baseline: float, rules: Rules) -> bool:
    return last_hour >= rules.spike_min_count and last_hour >= rules.spike_factor * baseline


def examples(db, key: str, limit: int = 10) -> list[dict[str, Any]]:
    """The group's latest failures of its current incident: SID, time, masked numbers."""
    group = alert_groups.get(db, key)
    if group is None:
        return []
    where, params = _scope(group)
    rows = db.execute(
        f"SELECT sid, sent_at, sender, recipient FROM failures WHERE {where} AND sent_at >= ?"
        " ORDER BY sent_at DESC, sid LIMIT ?",
        (*params, group.first_seen, int(limit)),
    ).fetchall()
    return [{"sid": sid, "sent_at": sent_at, "sender": mask_number(sender), "recipient": mask_number(recipient)}
            for sid, sent_at, sender, recipient in rows]


def _senders(db, group: AlertGroup, limit: int = 3) -> list[str]:
    where, params = _scope(group)
    rows = db.execute(
        f"SELECT sender, COUNT(*) AS n FROM failures WHERE {where} AND sent_at >= ?"
        " GROUP BY sender ORDER BY n DESC, sender LIMIT ?",
        (*params, group.first_seen, limit),
    ).fetchall()
    return [mask_number(sender) for sender, _ in rows]


def _fleet_report(db, group: AlertGroup, rules: Rules) -> dict[str, Any]:
    """The accounts a fleet incident has hit so far (at least the rules' failures each), named."""
    names = account_names(db)
    hit = fleet_accounts(db, group.error_code, group.first_seen, group.last_seen, rules.fleet_min_per_account)
    return {
        "accounts": [{"sid": sid, "name": names.get(sid, ""), "count": n} for sid, n, _ in hit],
        "fleet": {"min_accounts": rules.fleet_min_accounts, "min_per_account": rules.fleet_min_per_account,
                  "window": rules.fleet_window},
    }


# -- the report every renderer reads -------------------------------------------------------

def group_report(db, group: AlertGroup, now: int, *, rules: Rules, mention: str = "", channel: str | None = None,
                 repeat: bool = False) -> dict[str, Any]:
    """A JSON-serialisable description of the group as it is now; numbers masked. `rules` is
    required: a spike's baseline depends on them, and must not change when the alert is re-rendered."""
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "group": group.key,
        "kind": group.kind,
        "state": "resolved" if group.resolved_at else "firing",
        "account_sid": group.account_sid,
        "account_name": mask_numbers_in_text(friendly_name(db, group.account_sid)),
        "service_sid": group.service_sid or "",
        "error_code": group.error_code,
        "count": group.count,
        "first_seen": group.first_seen,
        "last_seen": group.last_seen,
        "posted_at": group.posted_at,
        "resolved_at": group.resolved_at,
        "acked_by": group.acked_by,
        "acked_at": group.acked_at,
        "snoozed_until": group.snoozed_until if group.snoozed(now) else None,
        "snoozed_by": group.snoozed_by if group.snoozed(now) else None,
        "snooze_choices": list(rules.snooze_choices),
        "senders": [] if group.kind == "fleet" else _senders(db, group),
        "latest": next(iter(examples(db, group.key, 1)), None),
        "mention": mention,
        "channel": channel,
        "repeat": repeat,
        "generated_at": now,
    }
    report.update(describe(group.error_code))
    if group.kind == "spike":
        last_hour, baseline = spike_rate(db, group.account_sid, group.error_code, group.service_sid, now, rules)
        report["spike"] = {"last_hour": last_hour, "baseline_per_hour": round(baseline, 2)}
    if group.kind == "fleet":
        report.update(_fleet_report(db, group, rules))
    return report


def refresh(db, payload: dict[str, Any], now: int, rules: Rules) -> dict[str, Any]:
    """An edit's payload re-read from the group's current state (an Acknowledge clicked after
    the edit was queued must not be undone by it). Keeps the payload if the group is gone."""
    group = alert_groups.get(db, payload.get("group", ""))
    if group is None:
        return payload
    fresh = group_report(db, group, now, channel=payload.get("channel"), rules=rules)
    fresh["parent"] = payload.get("parent")
    return fresh


# -- observe: new failures -> outbox -------------------------------------------------------

def _valid(failure: dict) -> tuple[str, int, str, int] | None:
    try:
        return (str(failure["account_sid"]), int(failure["error_code"]), str(failure.get("service_sid") or ""),
                int(failure["sent_at"]))
    except (KeyError, TypeError, ValueError):
        return None


def observe(db, new_failures: Iterable[dict], now: int, rules: Rules = DEFAULT_RULES) -> ObserveResult:
    """Group new failures and enqueue what the channel should see. Account-level codes alert on
    the first sighting; spike codes only when their last-hour rate is a spike; everything else
    is left to the digest. With `[fleet]`, a code hitting many accounts at once alerts too."""
    now = int(now)
    result = ObserveResult()
    batches: dict[str, list[tuple[str, int, str, int]]] = defaultdict(list)
    fleet: dict[int, list[int]] = defaultdict(list)
    for failure in new_failures:
        parts = _valid(failure)
        if parts is None or parts[3] < now - rules.max_age:
            result.ignored += 1
            continue
        watched = rules.fleet and knowledge.category_of(parts[1]) != "contact"
        if watched:
            fleet[parts[1]].append(parts[3])
        if rules.kind_of(parts[1]) is None:
            result.ignored += not watched
            continue
        batches[group_key(parts[0], parts[1], parts[2])].append(parts)
    with transaction(db):
        for code, times in fleet.items():
            latest = max(times)
            hit = fleet_accounts(db, code, latest - rules.fleet_window, latest, rules.fleet_min_per_account)
            if len(hit) < rules.fleet_min_accounts:
                continue  # below the line: an open fleet group stays quiet, and resolves once quiet long enough
            earliest = min(first for *_, first in hit)  # the incident began with the failures that make it one
            key = fleet_key(code)
            group = alert_groups.get(db, key) or AlertGroup(
                key=key, account_sid=FLEET, error_code=code, service_sid="", kind="fleet", count=0,
                first_seen=earliest, last_seen=latest)
            result.groups.append(key)
            result.enqueued += _advance(db, group, earliest, latest, now, rules)
        for key, batch in batches.items():
            account_sid, code, service_sid, _ = batch[0]
            kind = rules.kind_of(code)
            assert kind is not None  # batches hold only the codes that alert (above)
            if kind == "spike":
                last_hour, baseline = spike_rate(db, account_sid, code, service_sid, now, rules)
                if not is_spike(last_hour, baseline, rules):
                    continue  # below the spike line: the digest covers it, and an open spike group stays quiet
            times = [sent_at for *_, sent_at in batch]
            group = alert_groups.get(db, key) or AlertGroup(
                key=key, account_sid=account_sid, error_code=code, service_sid=service_sid, kind=kind,
                count=0, first_seen=min(times), last_seen=max(times))
            result.groups.append(key)
            result.enqueued += _advance(db, group, min(times), max(times), now, rules)
    return result


def _advance(db, group: AlertGroup, earliest: int, latest: int, now: int, rules: Rules) -> list[str]:
    """Fold new failures into the group, save it, and enqueue the post / edit / reply they call for."""
    new_incident = group.posted_at is None and group.count == 0
    reopened = group.resolved_at is not None
    if new_incident or reopened:
        group.first_seen, group.resolved_at, group.acked_by, group.acked_at = earliest, None, None, None
    group.first_seen = min(group.first_seen, earliest)
    group.last_seen = max(group.last_seen, latest)
    previous = 0 if (new_incident or reopened) else group.count
    group.count = max(_count(db, _scope(group), group.first_seen), previous, 1)
    enqueued: list[str] = []
    if group.snoozed(now):
        group.snooze_missed += group.count - previous
        alert_groups.save(db, group)  # muted: keep counting, say nothing
        return enqueued
    if group.snooze_missed:  # it failed during a snooze that has ended since: alert again
        group.snooze_missed += group.count - previous
        return _wake(db, group, now, rules)
    due_repeat = group.posted_at is not None and now - group.posted_at >= rules.repeat_interval and not group.acked_by
    if group.posted_at is None or (due_repeat and group.count > previous):
        return _post(db, group, now, rules, repeat=group.posted_at is not None and not reopened)
    alert_groups.save(db, group)
    if group.count == previous and not reopened:
        return enqueued  # nothing new (a repeated observe of the same failures)
    report = _thread_report(db, group, now, rules)
    report["reopened"] = reopened
    suffix = f"{group.posted_at}:{group.count}" + (f":reopened-{now}" if reopened else "")
    key = f"alert-edit:{group.key}:{suffix}"
    if outbox.enqueue(db, key, "alert-edit", report, now):  # edits notify nobody: always
        enqueued.append(key)
    told_at, told_count = _last_told(db, group, report["parent"])
    if reopened or now - told_at >= rules.update_interval:  # replies do notify: at most one per interval
        report["new_failures"] = group.count if reopened else group.count - told_count
        key = f"alert-reply:{group.key}:{suffix}"
        if outbox.enqueue(db, key, "alert-reply", report, now):
            enqueued.append(key)
    return enqueued


def _channel(group: AlertGroup, rules: Rules) -> str | None:
    return rules.channel_for(describe(group.error_code)["category"])


def _post(db, group: AlertGroup, now: int, rules: Rules, *, repeat: bool = False,
          after_snooze: dict[str, Any] | None = None) -> list[str]:
    """A new top-level post for the group's incident (its edits and replies hang off the newest)."""
    group.posted_at, group.post_destination, group.post_channel, group.post_ref = now, None, None, None
    alert_groups.save(db, group)
    mention = rules.mention_markup if group.kind in ("account", "fleet") else ""
    payload = group_report(db, group, now, mention=mention, channel=_channel(group, rules), repeat=repeat, rules=rules)
    routes, to_default = ((), True) if group.kind == "fleet" else rules.routes_for(group.account_sid)
    payload["routes"], payload["to_default"] = list(routes), to_default
    if after_snooze:
        payload["after_snooze"] = after_snooze
    key = f"alert:{group.key}:{now}"
    return [key] if outbox.enqueue(db, key, "alert", payload, now) else []


def _thread_report(db, group: AlertGroup, now: int, rules: Rules) -> dict[str, Any]:
    """The group's report for an edit of its post, or a reply in its thread."""
    report = group_report(db, group, now, channel=_channel(group, rules), rules=rules)
    report["parent"] = f"alert:{group.key}:{group.posted_at}"
    return report


def _wake(db, group: AlertGroup, now: int, rules: Rules) -> list[str]:
    """The group's snooze has ended. Still open after failing during the snooze: a new post that
    notifies, like a repeat, whether or not the group was acknowledged. Otherwise (quiet all
    along, or resolved meanwhile) its post is edited back to its current state, without the
    snooze."""
    by, missed = group.snoozed_by, group.snooze_missed
    group.end_snooze()
    if group.open and missed:
        return _post(db, group, now, rules, after_snooze={"by": by, "missed": missed})
    alert_groups.save(db, group)
    key = f"alert-edit:{group.key}:{group.posted_at}:snooze-ended-{now}"
    return [key] if outbox.enqueue(db, key, "alert-edit", _thread_report(db, group, now, rules), now) else []


def _last_told(db, group: AlertGroup, parent: str) -> tuple[int, int]:
    """(when, at what count) the channel last heard about this incident: its last thread reply, else its post."""
    prefix = f"alert-reply:{group.key}:{group.posted_at}:"
    row = db.execute(
        "SELECT created_at, json_extract(payload, '$.count') FROM outbox WHERE destination = ? AND kind = 'alert-reply'"
        " AND substr(dedupe_key, 1, ?) = ? ORDER BY id DESC LIMIT 1",
        (outbox.FANOUT, len(prefix), prefix),
    ).fetchone() or db.execute(
        "SELECT created_at, json_extract(payload, '$.count') FROM outbox WHERE dedupe_key = ?", (parent,)
    ).fetchone()
    return (row[0], row[1] or 0) if row else (group.posted_at or 0, 0)


# -- resolving -----------------------------------------------------------------------------

def _last_heard(db, group: AlertGroup) -> int:
    """When we last learned of a failure of the incident: its time, or when we stored it if that
    was later (a poll catching up finds a failure hours after it happened)."""
    where, params = _scope(group)
    stored = db.execute(
        f"SELECT MAX(first_seen) FROM failures WHERE {where} AND sent_at BETWEEN ? AND ?",
        (*params, group.first_seen, group.last_seen),
    ).fetchone()[0]
    return max(group.last_seen, stored or 0)


def check_resolved(db, now: int, rules: Rules = DEFAULT_RULES) -> list[str]:
    """Resolve every announced group quiet for `rules.resolve_after`, both since its last failure
    and since we learned of it (a late find stays firing that long: someone must see it); enqueue
    the resolved note and the edit of its post. Then wake every group whose snooze has ended
    (`_wake`), so one that kept failing is announced when the snooze ends, not only at its next
    failure. Returns the keys of the groups resolved or woken."""
    now = int(now)
    changed: list[str] = []
    with transaction(db):
        for group in alert_groups.unresolved(db):
            if now - _last_heard(db, group) < rules.resolve_after:
                continue
            group.resolved_at = now
            changed.append(group.key)
            if group.snoozed(now):
                group.snooze_missed = 0  # what it missed is over: no reason to alert again
                alert_groups.save(db, group)
                continue
            group.end_snooze()  # one that has just ended is answered by the resolved note
            alert_groups.save(db, group)
            report = _thread_report(db, group, now, rules)
            report["quiet_for"] = now - group.last_seen
            outbox.enqueue(db, f"alert-resolved:{group.key}:{group.posted_at}:{now}", "alert-resolved", report, now)
            outbox.enqueue(db, f"alert-edit:{group.key}:{group.posted_at}:resolved-{now}", "alert-edit", report, now)
        for group in alert_groups.snooze_ended(db, now):
            _wake(db, group, now, rules)
            changed.append(group.key)
    return changed


# -- what the buttons do -------------------------------------------------------------------

def acknowledge(db, key: str, user_id: str, now: int, rules: Rules) -> dict[str, Any] | None:
    """Record who acknowledged the group; returns its fresh report, or None for an unknown group."""
    with transaction(db):
        group = alert_groups.get(db, key)
        if group is None:
            return None
        if not group.acked_by:
            group.acked_by, group.acked_at = user_id, int(now)
            alert_groups.save(db, group)
        return group_report(db, group, int(now), channel=group.post_channel, rules=rules)


def snooze(db, key: str, now: int, seconds: int, rules: Rules, by: str | None = None) -> dict[str, Any] | None:
    """Mute the group for `seconds` from now, replacing any snooze: it keeps counting but posts
    nothing; when the snooze ends, `_wake` decides what the channel hears. Returns the group's
    fresh report, or None for an unknown group."""
    return _set_snooze(db, key, int(now), rules, until=int(now) + int(seconds), by=by)


def unsnooze(db, key: str, now: int, rules: Rules) -> dict[str, Any] | None:
    """End the group's snooze now. Returns its fresh report, or None for an unknown group."""
    return _set_snooze(db, key, int(now), rules)


def _set_snooze(db, key: str, now: int, rules: Rules, until: int | None = None,
                by: str | None = None) -> dict[str, Any] | None:
    with transaction(db):
        group = alert_groups.get(db, key)
        if group is None:
            return None
        group.end_snooze()  # the clicker is shown the current count: nothing is missed so far
        group.snoozed_until, group.snoozed_by = until, by
        alert_groups.save(db, group)
        return group_report(db, group, now, channel=group.post_channel, rules=rules)
