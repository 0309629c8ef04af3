"""The four HTTP endpoints of `smserror run`, as plain functions from Request to Response."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

from slack_bolt import App, BoltRequest

from bot.server import Request, Response, Route
from bot.settings import Settings
from bot.teams import handle_teams_message
from bot.twilio_status import MalformedForm, handle_status_callback, parse_form
from storage.db import LocalDb, StoreError

log = logging.getLogger("smserror.http")


def health_route(store: LocalDb) -> Route:
    def healthz(request: Request) -> Response:
        try:
            store.get().execute("SELECT 1").fetchone()
        except (sqlite3.Error, StoreError) as exc:
            log.warning("health check: store unavailable: %s", exc)
            return Response.json(503, {"ok": False, "store": "unavailable"})
        return Response.json(200, {"ok": True})

    return healthz


def slack_route(app: App) -> Route:
    """Hands the raw request to Bolt, which checks the v0 signature and its 5-minute window
    and answers 401 itself when either fails."""

    def slack_events(request: Request) -> Response:
        bolt_response = app.dispatch(
            BoltRequest(body=request.body.decode("utf-8", "replace"), query=request.query, headers=request.headers)
        )
        headers = {name: values[0] for name, values in bolt_response.headers.items() if values}
        return Response(bolt_response.status, bolt_response.body.encode(), headers)

    return slack_events


def teams_route(secret_b64: str) -> Route:
    def teams_messages(request: Request) -> Response:
        status, payload = handle_teams_message(secret_b64, request.body, request.headers.get("authorization"))
        return Response.json(status, payload)

    return teams_messages


def twilio_status_route(settings: Settings, store: LocalDb, tokens: Callable[[], list[str]],
                        on_new_failures: Callable[[list[dict]], None]) -> Route:
    """Twilio signs the URL it called; behind a proxy that is SMSERROR_PUBLIC_URL + path, else
    what the Host header says this server is called."""

    def twilio_status(request: Request) -> Response:
        try:
            form = parse_form(request.body, request.headers.get("content-type"))
        except MalformedForm as exc:
            return Response.text(400, str(exc))
        status, reason = handle_status_callback(
            store.get(),
            public_url=settings.public_url,
            auth_token=tokens(),
            form=form,
            signature=request.headers.get("x-twilio-signature"),
            path=request.path,
            on_new_failures=on_new_failures,
            request_url=f"http://{request.headers.get('host', '')}{request.path}",
        )
        return Response.text(status, reason)

    return twilio_status
