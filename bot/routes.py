"""The four HTTP endpoints of `smserror run`, as plain functions from Request to Response."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.request import payload_utils
from slack_sdk.signature import SignatureVerifier

from bot.server import Request, Response, Route
from bot.settings import Settings
from bot.teams import handle_teams_message
from bot.twilio_status import MalformedForm, handle_status_callback, parse_form
from storage.db import LocalDb, StoreError

log = logging.getLogger("smserror.http")

_SLACK_TIMESTAMP = re.compile(r"-?[0-9]{1,15}")
# what Bolt extracts from every body to call a listener or error handler; each raises on a bad shape
_BOLT_EXTRACTORS = (payload_utils.to_options, payload_utils.to_shortcut, payload_utils.to_action,
                    payload_utils.to_view, payload_utils.to_command, payload_utils.to_event,
                    payload_utils.to_message, payload_utils.to_step)


def health_route(store: LocalDb) -> Route:
    def healthz(request: Request) -> Response:
        problem = _store_problem(store)
        if problem:
            return Response.json(503, {"ok": False, "store": problem})
        return Response.json(200, {"ok": True})

    return healthz


def ready_route(store: LocalDb, readiness: Callable[[], dict]) -> Route:
    """200 when this instance can serve: the store reads, and a leader's scheduler runs."""

    def readyz(request: Request) -> Response:
        state = readiness()
        problem = _store_problem(store)
        body = {"role": state["role"], "store": problem or "ok", "scheduler": state["scheduler"]}
        return Response.json(200 if state["ready"] and not problem else 503, body)

    return readyz


def _store_problem(store: LocalDb) -> str | None:
    try:
        store.check()
    except (sqlite3.Error, StoreError) as exc:
        log.warning("store check failed: %s", exc)
        # by describe_error's wording, not the path's: a folder may well be called "damaged"
        damaged = str(exc).startswith(f"SMSERROR_DB {str(store.path)!r} is damaged")
        return "damaged or unreadable" if damaged else "unavailable"
    return None


def slack_route(app: App, signing_secret: str) -> Route:
    """Checks the v0 signature and its 5-minute window first, so that anything not from Slack is
    a 401 whatever its body, then hands the request to Bolt (which checks again).

    Bolt trusts Slack's shapes: a body that is not a JSON object, or fields of the wrong type,
    raise inside it. A signed body it cannot take its arguments from gets 400 here; one that
    trips a listener's matcher gets 400 from the middleware error handler. Errors in our own
    listeners keep Bolt's default handler (a traceback and a 500: those are bugs to fix)."""
    verifier = SignatureVerifier(signing_secret)
    listener_errors = app.listener_runner.listener_error_handler
    app.error(_malformed_slack_request)
    app.listener_runner.listener_error_handler = listener_errors

    def slack_events(request: Request) -> Response:
        if not _from_slack(verifier, request):
            return Response.json(401, {"error": "invalid request"})
        try:
            bolt_request = BoltRequest(
                body=request.body.decode("utf-8", "replace"), query=request.query, headers=dict(request.headers)
            )
            for extract in _BOLT_EXTRACTORS:
                extract(bolt_request.body)
        except (ValueError, TypeError, AttributeError, LookupError, RecursionError) as exc:
            log.warning("Slack request not understood: %s", type(exc).__name__)
            return Response.json(400, {"error": "malformed request"})
        bolt_response = app.dispatch(bolt_request)
        headers = {name: values[0] for name, values in bolt_response.headers.items() if values}
        return Response(bolt_response.status, bolt_response.body.encode(), headers)

    return slack_events


def _from_slack(verifier: SignatureVerifier, request: Request) -> bool:
    timestamp = request.headers.get("x-slack-request-timestamp")
    if timestamp is None or not _SLACK_TIMESTAMP.fullmatch(timestamp):
        return False  # the verifier would raise on int() of it
    return verifier.is_valid(request.body, timestamp, request.headers.get("x-slack-signature"))


def _malformed_slack_request(error: Exception) -> BoltResponse:
    log.warning("Slack request not understood: %s: %.200s", type(error).__name__, error)
    return BoltResponse(status=400, body={"error": "malformed request"})


def teams_route(secret_b64: str) -> Route:
    def teams_messages(request: Request) -> Response:
        status, payload = handle_teams_message(secret_b64, request.body, request.headers.get("authorization"))
        return Response.json(status, payload)

    return teams_messages


def twilio_status_route(settings: Settings, store: LocalDb, tokens: Callable[[], list[str]],
                        ingest: Callable[[list[dict], str, int], object]) -> Route:
    """Twilio signs the URL it called; behind a proxy that is SMSERROR_PUBLIC_URL + path, else
    what the Host header says this server is called."""

    def twilio_status(request: Request) -> Response:
        try:
            form = parse_form(request.body, request.headers.get("content-type"))
        except MalformedForm as exc:
            return Response.text(400, str(exc))
        try:
            db = store.get()
        except StoreError as exc:  # Twilio retries a 503; a 500 would log a traceback for nothing
            log.error("status callback not stored: %s", exc)
            return Response.text(503, "store unavailable")
        status, reason = handle_status_callback(
            db,
            public_url=settings.public_url,
            auth_token=tokens(),
            form=form,
            signature=request.headers.get("x-twilio-signature"),
            path=request.path,
            ingest=ingest,
            request_url=f"http://{request.headers.get('host', '')}{request.path}",
        )
        return Response.text(status, reason)

    return twilio_status
