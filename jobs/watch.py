"""smserror watching itself: what it says when it cannot do its job.

An alerting tool's worst failure is silence. Three things make smserror blind or mute: reading
a Twilio account keeps failing (a rotated auth token, timeouts, Twilio's 5xx), delivering to a
destination keeps failing (Slack down, a revoked token), and Twilio's callbacks keep being
refused (SMSERROR_PUBLIC_URL not the URL Twilio calls). Each is a *subject* ("twilio:AC…",
"delivery:slack", "callbacks") with an alert group of kind "watch", keyed `watch:<subject>`,
in the same table and outbox as the failure alerts:

* a failing check opens the group's streak (first_seen) or extends it (count, last_seen);
* once the streak has lasted `stale_after`, one alert is posted; a new cause edits it;
* the first passing check resolves it: an edit of the post and a thread reply. A streak that
  ends before it is announced ends silently.

Outbox kinds written here; every key starts with the post's, P = `watch:<subject>:<posted_at>`:
  watch           the alert                                        P
  watch-edit      the alert re-rendered (a new cause, resolved)    P:edit-<n>, P:resolved-edit
  watch-resolved  "working again" (a thread reply in Slack)        P:resolved
Trouble delivering to a destination is told to the others (`targets`), never to itself.
Payloads carry the whole state (title, cause, fix, facts): an edit is not re-read from the store.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from storage import alert_groups, outbox
from storage.alert_groups import WATCH, AlertGroup
from storage.db import transaction

log = logging.getLogger("smserror.watch")

# name -> the outbox kinds it shows (None: all), as outbox.fan_out takes them; None: every destination
Targets = dict[str, frozenset[str] | None] | None


@dataclass(frozen=True)
class Trouble:
    subject: str
    title: str        # what smserror cannot do, naming the account or destination
    cause_id: str     # one word; the post is edited when it changes
    cause: str        # the cause, in words
    fix: str          # what to change, naming the setting
    facts: tuple[tuple[str, str, bool], ...] = ()  # (label, value, monospace)
    account_sid: str = ""


def group_key(subject: str) -> str:
    return f"watch:{subject}"


# -- the troubles ----------------------------------------------------------------------------

_TWILIO_CAUSES = (  # (pattern in the poller's error, cause id, cause, fix)
    (r"rejected the credentials", "credentials", "Twilio rejected the credentials (HTTP 401, error 20003)",
     "Set TWILIO_AUTH_TOKEN to the account's current auth token (or TWILIO_API_KEY and TWILIO_API_SECRET to a "
     "live API key), then restart smserror run. A rotated or expired token is the usual cause."),
    (r"no answer within", "timeouts", "Twilio did not answer in time (timeouts)",
     "Check that this host reaches TWILIO_API_URL (proxy, firewall, DNS); raise SMSERROR_TWILIO_TIMEOUT if "
     "Twilio is only slow."),
    (r"connection failed|unreachable", "unreachable", "smserror cannot connect to Twilio",
     "Check TWILIO_API_URL and this host's network access to it (proxy, firewall, DNS)."),
    (r"HTTP 429", "rate_limited", "Twilio keeps answering 429 (too many requests)",
     "Another client shares the account's API concurrency: raise SMSERROR_POLL_SECONDS or lower the load."),
    (r"HTTP 5\d\d", "server_errors", "Twilio keeps answering with server errors (HTTP 5xx)",
     "Usually Twilio's own trouble (status.twilio.com); smserror retries every poll. Nothing to change unless "
     "it lasts."),
    (r"HTTP 40[34]", "forbidden", "Twilio refuses this account to these credentials (HTTP 403/404)",
     "Check that TWILIO_SUBACCOUNTS lists subaccounts of TWILIO_ACCOUNT_SID, and that the API key (if any) "
     "may read them."),
    (r"store error", "store", "smserror cannot write what it read to its store",
     "Check SMSERROR_DB: the disk may be full, or the file read-only."),
)


def twilio_trouble(account_sid: str, name: str | None, error: str) -> Trouble:
    """Reading `account_sid` failed with `error` (jobs/twilio_client.describe_error's words)."""
    cause_id, cause, fix = _cause(_TWILIO_CAUSES, error, f"reading it fails: {error}")
    label = f"{account_sid} ({name})" if name and name != account_sid else account_sid
    return Trouble(subject=f"twilio:{account_sid}", title=f"smserror cannot read Twilio account {label}",
                   cause_id=cause_id, cause=cause, fix=fix, account_sid=account_sid,
                   facts=(("Account", account_sid, True), ("Last error", error[:300], False)))


_DELIVERY_CAUSES = (  # (pattern in the DeliveryError, cause id, cause, fix), Slack's error codes first
    (r"invalid_auth|not_authed|token_revoked|token_expired|account_inactive|HTTP 401", "credentials",
     "the token is refused", "Set SLACK_BOT_TOKEN to the app's current Bot User OAuth Token (xoxb-…)."),
    (r"missing_scope", "scopes", "the app lacks a scope it needs",
     "Add the scopes in manifest.yml under OAuth & Permissions and reinstall the app (smserror doctor "
     "lists the missing ones)."),
    (r"channel_not_found|not_in_channel|is_archived", "channel", "the channel cannot be posted in",
     "Check SLACK_CHANNEL (a channel ID such as C0123456789) and invite the bot to it."),
    (r"rate limit", "rate_limited", "it keeps answering 429 (rate limited)",
     "Something else posts a lot with the same app; smserror waits as asked."),
    (r"HTTP 40[34]", "webhook", "the webhook is refused (HTTP 403/404)",
     "Set TEAMS_WEBHOOK_URL to the workflow's current URL (Workflows → When a Teams webhook request is "
     "received)."),
    (r"unreachable|connection", "unreachable", "it cannot be reached",
     "Check this host's network access to it (SLACK_API_URL, TEAMS_WEBHOOK_URL; proxy, firewall, DNS)."),
    (r"HTTP 5\d\d", "server_errors", "it keeps answering with server errors (HTTP 5xx)",
     "Usually the service's own trouble; smserror retries. Nothing to change unless it lasts."),
)


def delivery_trouble(destination: str, error: str) -> Trouble:
    """Delivering to `destination` failed with `error` (a DeliveryError's words, no secrets)."""
    cause_id, cause, fix = _cause(_DELIVERY_CAUSES, error, "it keeps failing")
    label = destination.capitalize()
    return Trouble(subject=f"delivery:{destination}", title=f"smserror cannot deliver to {label}",
                   cause_id=cause_id, cause=f"{label}: {cause}", fix=fix,
                   facts=(("Destination", label, False), ("Last error", error[:300], False)))


def _cause(causes: tuple, error: str, otherwise: str) -> tuple[str, str, str]:
    """(cause id, cause, fix) of the first pattern `error` matches; else "other" in `otherwise`'s words."""
    return next(((cause_id, cause, fix) for pattern, cause_id, cause, fix in causes if re.search(pattern, error)),
                ("other", otherwise, "See the log of smserror run for the error."))


def callbacks_trouble(endpoint: str, refused: int, window: int, expected_url: str) -> Trouble:
    """`refused` callbacks to `endpoint` in the last `window` seconds were refused (403)."""
    return Trouble(
        subject="callbacks", title="Twilio's callbacks to smserror are being refused", cause_id="signature",
        cause=(f"{refused} requests to {endpoint} in {window // 60} minutes were refused (403): Twilio signs them "
               "for a URL other than the one smserror checks, or with another auth token"),
        fix=(f"smserror expected Twilio to call {expected_url}. Set SMSERROR_PUBLIC_URL to the public base URL "
             "only (such as https://smserror.example.com, without /twilio/status), exactly as Twilio calls it, "
             "and TWILIO_AUTH_TOKEN to the account's current auth token."),
        facts=(("Endpoint", endpoint, True), ("Expected URL", expected_url, True)))


# -- the checks ------------------------------------------------------------------------------

def failing(db, trouble: Trouble, now: int, stale_after: int, targets: Targets = None) -> list[str]:
    """A check of `trouble.subject` failed at `now`. Returns the outbox keys it enqueued: the
    alert once the streak has lasted `stale_after`, an edit when the cause has changed."""
    now, key = int(now), group_key(trouble.subject)
    with transaction(db):
        group = alert_groups.get(db, key)
        if group is None or group.resolved_at is not None:  # a new streak
            group = AlertGroup(key=key, account_sid=trouble.account_sid, error_code=0, service_sid="", kind=WATCH,
                               count=0, first_seen=now, last_seen=now)
        group.count, group.last_seen = group.count + 1, max(group.last_seen, now)
        if group.posted_at is None and now - group.first_seen < stale_after:
            alert_groups.save(db, group)
            return []
        if group.posted_at is None:
            group.posted_at = now
            alert_groups.save(db, group)
            log.error("%s since %d s: %s. %s", trouble.title, now - group.first_seen, trouble.cause, trouble.fix)
            return _enqueue(db, _post_key(group), "watch", _report(group, trouble, now), now, targets)
        alert_groups.save(db, group)
        told = _last_told(db, group)
        if told is None or told.get("cause_id") == trouble.cause_id:  # nowhere to edit (no other destination)
            return []
        log.error("%s: now %s", trouble.title, trouble.cause)
        report = {**_report(group, trouble, now), "parent": _post_key(group)}
        return _enqueue(db, f"{_post_key(group)}:edit-{group.count}", "watch-edit", report, now, targets)


def healthy(db, subject: str, now: int, targets: Targets = None) -> list[str]:
    """A check of `subject` passed at `now`: its streak ends; an announced one is resolved with
    an edit of the alert and a thread reply."""
    now, key = int(now), group_key(subject)
    with transaction(db):
        group = alert_groups.get(db, key)
        if group is None or group.resolved_at is not None:
            return []
        group.resolved_at = now
        alert_groups.save(db, group)
        if group.posted_at is None:
            return []  # it ended before anyone had to hear of it
        told = _last_told(db, group) or {"title": f"smserror: {subject}", "cause": "", "fix": "", "facts": []}
        report = {**told, "state": "resolved", "resolved_at": now, "checks": group.count, "generated_at": now,
                  "parent": _post_key(group)}
        log.warning("%s: working again after %d min", told["title"], (now - group.first_seen) // 60)
        return (_enqueue(db, f"{_post_key(group)}:resolved-edit", "watch-edit", report, now, targets)
                + _enqueue(db, f"{_post_key(group)}:resolved", "watch-resolved", report, now, targets))


def extend(db, subject: str, now: int) -> bool:
    """One more failure of an open streak, not a check of its own (a lone refused callback after
    a burst): it only keeps the streak from going quiet. False when no streak is open."""
    with transaction(db):
        group = alert_groups.get(db, group_key(subject))
        if group is None or group.resolved_at is not None:
            return False
        group.last_seen = max(group.last_seen, int(now))
        alert_groups.save(db, group)
        return True


def quiet(db, subject: str, now: int, after: int, targets: Targets = None) -> list[str]:
    """For a subject whose failures come unasked (refused callbacks): healthy once none has come
    for `after` seconds."""
    group = alert_groups.get(db, group_key(subject))
    if group is None or group.resolved_at is not None or now - group.last_seen < after:
        return []
    return healthy(db, subject, now, targets)


def streaks(db, prefix: str = "") -> dict[str, int]:
    """{subject: when its failing began} of every open streak whose subject starts with `prefix`."""
    rows = db.execute("SELECT key, first_seen FROM alert_groups WHERE kind = ? AND resolved_at IS NULL",
                      (WATCH,)).fetchall()
    subjects = {key.removeprefix("watch:"): first_seen for key, first_seen in rows}
    return {subject: since for subject, since in subjects.items() if subject.startswith(prefix)}


# -- the outbox ------------------------------------------------------------------------------

def _post_key(group: AlertGroup) -> str:
    return f"{group.key}:{group.posted_at}"


def _report(group: AlertGroup, trouble: Trouble, now: int) -> dict[str, Any]:
    return {
        "group": group.key, "subject": trouble.subject, "state": "firing", "title": trouble.title,
        "cause_id": trouble.cause_id, "cause": trouble.cause, "fix": trouble.fix,
        "facts": [list(fact) for fact in trouble.facts], "since": group.first_seen, "checks": group.count,
        "posted_at": group.posted_at, "resolved_at": None, "generated_at": now,
    }


def _last_told(db, group: AlertGroup) -> dict[str, Any] | None:
    """The payload of the incident's latest post or edit (all their keys start with the post's)."""
    prefix = _post_key(group)
    row = db.execute(
        "SELECT payload FROM outbox WHERE kind IN ('watch', 'watch-edit') AND dedupe_key >= ? AND dedupe_key < ?"
        " ORDER BY id DESC LIMIT 1", (prefix, prefix + "~")).fetchone()
    return json.loads(row[0]) if row else None


def _enqueue(db, key: str, kind: str, payload: dict[str, Any], now: int, targets: Targets) -> list[str]:
    if targets is None:
        return [key] if outbox.enqueue(db, key, kind, payload, now) else []
    enqueued = []
    for name, kinds in sorted(targets.items()):
        if kinds is None or kind in kinds:
            row_key = outbox.destination_key(key, name)
            if outbox.enqueue(db, row_key, kind, payload, now, destination=name):
                enqueued.append(row_key)
    return enqueued
