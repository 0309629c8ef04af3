"""The HTTP face of `smserror run`: one WSGI app, served by waitress in this one process.

waitress serves with threads, not worker processes, so the scheduler that lives in the same
process runs exactly once. Every route is a plain function from a Request to a Response.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from waitress.server import create_server

log = logging.getLogger("smserror.http")

MAX_BODY = 1024 * 1024  # Slack, Teams and Twilio payloads are a few KB; refuse anything huge


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload) -> "Response":
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    @classmethod
    def text(cls, status: int, text: str) -> "Response":
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})


Route = Callable[[Request], Response]
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


class WsgiApp:
    def __init__(self, routes: dict[tuple[str, str], Route]) -> None:
        self.routes = routes

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        response = self._respond(environ)
        reason = _REASONS.get(response.status, "Unknown")
        headers = [(k, v) for k, v in response.headers.items()] + [("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {reason}", headers)
        return [response.body]

    def _respond(self, environ: dict) -> Response:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        route = self.routes.get((method, path))
        if route is None:
            known = any(p == path for _, p in self.routes)
            return Response.text(405 if known else 404, "method not allowed" if known else "not found")
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return Response.text(400, "bad Content-Length")
        if length < 0:
            return Response.text(400, "bad Content-Length")
        if length > MAX_BODY:
            return Response.text(413, "request too large")
        request = Request(
            method=method,
            path=path,
            query=environ.get("QUERY_STRING", ""),
            headers=_headers(environ),
            body=environ["wsgi.input"].read(length) if length > 0 else b"",
        )
        try:
            return route(request)
        except Exception:  # one broken request must not take the service down or leak a traceback
            log.exception("%s %s failed", method, path)
            return Response.text(500, "internal error")


def _headers(environ: dict) -> dict[str, str]:
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


class HttpServer:
    """waitress on (host, port); port 0 picks a free one (the tests use that).

    waitress's own run() can only be stopped from its thread (a signal), so the loop is driven
    here a step at a time: stop() from any thread sets a flag and wakes the loop through
    waitress's trigger pipe, and the serving thread then closes its own sockets."""

    def __init__(self, app: WsgiApp, host: str, port: int, threads: int = 8) -> None:
        self._server = create_server(app, host=host, port=port, threads=threads, ident="smserror")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self._server.effective_host
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self._server.effective_port}"

    def serve_forever(self) -> None:
        server = self._server
        try:
            while not self._stopping.is_set():
                server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map, count=1)
        except (SystemExit, KeyboardInterrupt):  # SIGTERM / Ctrl-C in the main thread
            pass
        finally:
            server.task_dispatcher.shutdown()  # lets requests in flight finish
            server.close()

    def start_in_background(self) -> "HttpServer":
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread.is_alive():
            self._server.pull_trigger()
            self._thread.join(timeout=10)
