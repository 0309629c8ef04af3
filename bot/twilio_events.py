"""Twilio Event Streams webhook sink (POST /twilio/events).

Twilio posts CloudEvents as JSON: an array when the sink batches them, else one object. It
appends `?bodySHA256=<hex SHA-256 of the body>` to the sink's URL and signs that URL, with no
parameters, with the auth token of the account that owns the sink (X-Twilio-Signature). Checked
here: the hash against the raw bytes of the body (the SDK's own check hashes a str, so it could
not tell a signed body that is not UTF-8 from a forged one), and the signature with the twilio
SDK's RequestValidator over SMSERROR_PUBLIC_URL + path + query, with each account's token in
turn. The token that matches names the sender: a subaccount's sink is not believed about
another account's messages.

`data.body` (the message text) is dropped as soon as the JSON is read. Failed and undelivered
message events go to `ingest` like status callbacks (source "event"), in one transaction with
their event ids. Delivery is at least once and in no set order, so a repeated id is skipped and
the upsert, dated by each event's own timestamp, never lets an older state overwrite a newer
one. A sink test event's test_id is kept for `smserror streams setup`; other types are
acknowledged and ignored. Any verified delivery dates its account's stream as working, which
leaves that account to the poller's hourly sweep.

Answers: 200 taken or ignored, 400 signed but unreadable, 403 unsigned, forged or tampered,
503 store unavailable. Never 500: nothing in here lets an exception escape.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from urllib.parse import parse_qs

import sqlite_utils
from twilio.request_validator import RequestValidator

from bot.server import Request, Response, Route
from bot.settings import Settings
from jobs.importer import parse_time
from storage.db import LocalDb, transaction
from storage.failures import FAILED_STATUSES
from storage.poll_state import record_streams
from storage.stream_events import record_sink_test, take_new_events

log = logging.getLogger("smserror.twilio_events")

EVENTS_PATH = "/twilio/events"
FAILURE_TYPES = {
    "com.twilio.messaging.message.failed": "failed",
    "com.twilio.messaging.message.undelivered": "undelivered",
}
TEST_TYPE = "com.twilio.eventstreams.test-event"
_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
_ACCOUNT = re.compile(r"AC[0-9a-fA-F]{32}")
_TOKEN = re.compile(r"[!-~]{1,100}")  # event ids and test ids: printable ASCII, bounded

Ingest = Callable[[list[dict], str, int], object]
Received = Callable[[str, int], None]  # (outcome: taken, repeated or ignored; how many events)


class MalformedEvents(ValueError):
    pass


def twilio_events_route(settings: Settings, store: LocalDb, tokens: Callable[[], dict[str, str]],
                        ingest: Ingest, wake: Callable[[], None],
                        received: Received = lambda outcome, n: None) -> Route:
    def twilio_events(request: Request) -> Response:
        status, reason = handle_events(
            store.get(), public_url=settings.public_url, tokens=tokens(), main_account=settings.twilio_account_sid,
            body=request.body, query=request.query, signature=request.headers.get("x-twilio-signature"),
            ingest=ingest, wake=wake, request_url=f"http://{request.headers.get('host', '')}{request.path}",
            received=received,
        )
        return Response.text(status, reason)

    return twilio_events


def handle_events(db: sqlite_utils.Database, *, public_url: str, tokens: dict[str, str], main_account: str,
                  body: bytes, query: str, signature: str | None, ingest: Ingest,
                  wake: Callable[[], None] = lambda: None, now: int | None = None,
                  request_url: str = "", received: Received = lambda outcome, n: None) -> tuple[int, str]:
    """Verify, then take one delivery. Returns (HTTP status, short plain-text reason).

    `tokens`: {account SID: auth token} of every account whose sink may post here.
    `request_url` is used only when SMSERROR_PUBLIC_URL is unset (no proxy in front). `received`
    is told how many events of an accepted delivery were taken, repeated and ignored."""
    try:
        return _handle(db, public_url, tokens, main_account, body, query, signature, ingest, wake, now, request_url,
                       received)
    except Exception:  # the last guard of "never a 500"
        log.exception("Event Streams delivery could not be handled")
        return 400, "could not handle the events"


def _handle(db, public_url, tokens, main_account, body, query, signature, ingest, wake, now, request_url, received):
    base = (public_url.rstrip("/") + EVENTS_PATH) if public_url else request_url
    if not tokens:
        return 403, "cannot verify the signature: TWILIO_AUTH_TOKEN is not set"
    if not _body_hash_matches(body, query):
        return 403, "body does not match its bodySHA256"
    signer = _signer(base + ("?" + query if query else ""), signature or "", tokens)
    if signer is None:
        return 403, "invalid signature"
    try:
        events = read_events(body)
    except MalformedEvents as exc:
        return 400, str(exc)

    now = int(time.time()) if now is None else int(now)
    tests, failures = [], []
    for event in events:
        test_id = _test_id(event)
        if test_id:
            tests.append(test_id)
        elif (failure := _failure(event, signer, main_account, now)) is not None:
            failures.append(failure)
    try:
        with transaction(db):
            if signer:  # its sink works: the poller leaves this account to the hourly sweep (jobs/poll.py)
                record_streams(db, {signer: True}, now)
            for test_id in tests:
                record_sink_test(db, signer, test_id, now)
            fresh = take_new_events(db, [event_id for event_id, _ in failures], now)
            rows = []
            for event_id, row in failures:
                if event_id in fresh:
                    fresh.discard(event_id)  # a second copy in the same delivery is a repeat too
                    rows.append(row)
            if rows:
                ingest(rows, "event", now)
    except sqlite3.Error as exc:
        log.error("Event Streams delivery of %d events not stored: %s", len(events), exc)
        return 503, "store unavailable"
    if rows:
        wake()  # the courier looks again now that the alerts are committed
    repeated, ignored = len(failures) - len(rows), len(events) - len(failures) - len(tests)
    for outcome, count in (("taken", len(rows)), ("repeated", repeated), ("ignored", ignored + len(tests))):
        if count:
            received(outcome, count)
    return 200, f"ok: {len(rows)} taken, {repeated} repeated, {ignored} ignored"


def _body_hash_matches(body: bytes, query: str) -> bool:
    claimed = parse_qs(query).get("bodySHA256")
    return claimed is not None and hmac.compare_digest(hashlib.sha256(body).hexdigest(), claimed[0])


def _signer(url: str, signature: str, tokens: dict[str, str]) -> str | None:
    """The account whose token signed `url`, or None."""
    for account, token in tokens.items():
        try:
            if RequestValidator(token).validate(url, {}, signature):
                return account
        except (ValueError, TypeError, UnicodeError):
            continue
    return None


def read_events(body: bytes) -> list:
    """The events of a delivery, each message text already dropped. MalformedEvents when the
    body is not a JSON object or array."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise MalformedEvents("body is not JSON") from None
    events = parsed if isinstance(parsed, list) else [parsed] if isinstance(parsed, dict) else None
    if events is None:
        raise MalformedEvents("body is neither an event nor an array of events")
    for event in events:
        if isinstance(event, dict):
            event["data"] = _data_without_body(event.get("data"))
    return events


def _data_without_body(data) -> dict:
    if isinstance(data, str):  # some sinks carry the data as a JSON string
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            data = None
    if not isinstance(data, dict):
        return {}
    data.pop("body", None)
    return data


def _test_id(event) -> str | None:
    if not isinstance(event, dict) or event.get("type") != TEST_TYPE:
        return None
    test_id = event["data"].get("test_id")
    return test_id if isinstance(test_id, str) and _TOKEN.fullmatch(test_id) else None


def _failure(event, signer: str, main_account: str, now: int) -> tuple[str, dict] | None:
    """(event id, failure row) of a failed / undelivered message event; None for anything else
    (other types, a malformed event, or another account's message from a subaccount's sink)."""
    if not isinstance(event, dict) or event.get("type") not in FAILURE_TYPES:
        return None
    event_id, data = event.get("id"), event["data"]
    sid, account = data.get("messageSid"), data.get("accountSid") or signer
    if not (isinstance(event_id, str) and _TOKEN.fullmatch(event_id) and isinstance(sid, str) and _SID.fullmatch(sid)
            and isinstance(account, str) and _ACCOUNT.fullmatch(account)):
        return None
    if account != signer and signer != main_account:
        log.warning("event %s about account %s came from the sink of %s: ignored", event_id, account, signer)
        return None
    code = _error_code(data.get("errorCode"))
    if not code:
        return None
    status = str(data.get("messageStatus") or "").lower()
    at = _timestamp(data.get("timestamp")) or _timestamp(event.get("time")) or now
    return event_id, {
        "sid": sid, "account_sid": account, "service_sid": _text(data.get("messagingServiceSid")),
        "sender": _text(data.get("from")), "recipient": _text(data.get("to")),
        "status": status if status in FAILED_STATUSES else FAILURE_TYPES[event["type"]],
        "error_code": code, "sent_at": min(at, now), "updated_at": min(at, now),
    }


def _error_code(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value < 1_000_000 else None
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,6}", value.strip()):
        return int(value) or None
    return None


def _timestamp(value) -> int | None:
    try:
        return parse_time(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value) -> str | None:
    return value[:64] if isinstance(value, str) and value else None
