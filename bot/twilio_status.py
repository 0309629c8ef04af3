"""Twilio message status callbacks (POST /twilio/status), as plain functions of the form data.

The HTTP server mounts `handle_status_callback`; `parse_form` turns the raw body into the dict
it wants, without any web framework. The check is the twilio SDK's RequestValidator over
SMSERROR_PUBLIC_URL + path (what Twilio signed, even behind a proxy). Failed / undelivered
messages go to `ingest` at once (idempotent: repeats and late `sent` callbacks change nothing),
which stores them and queues their alerts in one transaction before Twilio hears 200.

Answers: 200 accepted or ignored, 400 malformed, 403 bad or unverifiable signature, 503 store
unavailable. Never 500: nothing in here lets an exception escape.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from functools import partial
from urllib.parse import parse_qsl

import sqlite_utils
from twilio.request_validator import RequestValidator

from storage.failures import FAILED_STATUSES, UpsertResult, upsert_failures

log = logging.getLogger("smserror.twilio_status")

STATUS_PATH = "/twilio/status"
MAX_BODY = 64 * 1024
_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
_ACCOUNT = re.compile(r"AC[0-9a-fA-F]{32}")
_ERROR_CODE = re.compile(r"[0-9]{1,6}")  # ASCII digits only ("²".isdigit() too); Twilio's codes have up to 6


class MalformedForm(ValueError):
    pass


def parse_form(body: bytes, content_type: str | None = "application/x-www-form-urlencoded") -> dict[str, str]:
    """An application/x-www-form-urlencoded body -> {name: last value}. MalformedForm if it is not one."""
    if content_type and not content_type.lower().startswith("application/x-www-form-urlencoded"):
        raise MalformedForm(f"unexpected content type {content_type.split(';')[0]!r}")
    if len(body) > MAX_BODY:
        raise MalformedForm("body too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=500)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedForm(f"undecodable form: {type(exc).__name__}") from None
    return dict(pairs)


def handle_status_callback(
    db: sqlite_utils.Database,
    *,
    public_url: str,
    auth_token: str | Iterable[str],
    form: dict,
    signature: str | None,
    path: str = STATUS_PATH,
    ingest: Callable[[list[dict], str, int], object] | None = None,
    now: int | None = None,
    request_url: str = "",
) -> tuple[int, str]:
    """Verify, then upsert one status callback. Returns (HTTP status, short plain-text reason).

    `auth_token`: the token(s) Twilio signs with: the account's auth token, plus each
    subaccount's when their messages call back here. `request_url` is used only when
    SMSERROR_PUBLIC_URL is unset (direct exposure without a proxy)."""
    try:
        return _handle(db, public_url, auth_token, form, signature, path, ingest, now, request_url)
    except Exception:  # the last guard of "never a 500"
        log.exception("status callback could not be handled")
        return 400, "could not handle the callback"


def _handle(db, public_url, auth_token, form, signature, path, ingest, now, request_url) -> tuple[int, str]:
    url = (public_url.rstrip("/") + path) if public_url else request_url
    tokens = [auth_token] if isinstance(auth_token, str) else list(auth_token)
    tokens = [t for t in tokens if t]
    if not url or not tokens:  # logged with the refusal (bot/server.py), like every refused request
        return 403, "cannot verify the signature: set SMSERROR_PUBLIC_URL and TWILIO_AUTH_TOKEN"
    if not isinstance(form, dict) or not _signed(url, form, signature or "", tokens):
        return 403, "invalid signature"

    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if not _SID.fullmatch(sid) or not status:
        return 400, "MessageSid and MessageStatus are required"
    account_sid = form.get("AccountSid") or ""
    if account_sid and not _ACCOUNT.fullmatch(account_sid):
        return 400, "malformed AccountSid"
    raw_code = (form.get("ErrorCode") or "").strip()
    if raw_code and not _ERROR_CODE.fullmatch(raw_code):
        return 400, "malformed ErrorCode"
    if status not in FAILED_STATUSES or not raw_code or int(raw_code) == 0:
        return 200, "ignored"

    now = int(time.time()) if now is None else int(now)
    row = {
        "sid": sid, "account_sid": account_sid, "service_sid": form.get("MessagingServiceSid") or None,
        "sender": form.get("From") or None, "recipient": form.get("To") or None, "status": status,
        "error_code": int(raw_code), "sent_at": now, "updated_at": now,
    }
    try:
        (ingest or partial(_store_only, db))([row], "callback", now)
    except sqlite3.Error as exc:
        log.error("status callback for %s not stored: %s", sid, exc)
        return 503, "store unavailable"
    return 200, "ok"


def _store_only(db, rows: list[dict], source: str, now: int) -> UpsertResult:
    return upsert_failures(db, rows, source, now)


def _signed(url: str, form: dict, signature: str, tokens: list[str]) -> bool:
    params = {str(k): str(v) for k, v in form.items()}
    for token in tokens:
        try:
            if RequestValidator(token).validate(url, params, signature):
                return True
        except (ValueError, TypeError, KeyError):
            continue
    return False
