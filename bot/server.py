"""The HTTP face of `smserror run`: one WSGI app, served by waitress in this one process.

waitress serves with threads, not worker processes, so the scheduler that lives in the same
process runs exactly once. Every route is a plain function from a Request to a Response.
"""

from __future__ import annotations

import contextlib
import json
import logging
import resource
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import parse_qsl

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask

log = logging.getLogger("smserror.http")

MAX_BODY = 1024 * 1024  # Slack, Teams and Twilio payloads are a few KB; refuse anything huge
MAX_HEADERS = 64 * 1024
HEADER_TIMEOUT = 10.0  # seconds from a request's first byte (or from connecting) to the end of its headers
REQUEST_TIMEOUT = 30.0  # seconds from its first byte to the end of its body: 1 MiB at 35 KB/s
CONNECTION_LIMIT = 1000  # waitress's 100 let a hundred slow clients lock Slack and Twilio out
LINGER = 2.0  # seconds a refused client is given to read its answer; see _Channel
SPARE_FILES = 64  # descriptors beside the connections: the store, the trigger pipe, outgoing HTTPS


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
    reason: str = ""  # why a request was refused, one fixed word (the log line's and the metric's); else by status

    @classmethod
    def json(cls, status: int, payload) -> Response:
        return cls(status, json.dumps(payload).encode(), {"Content-Type": "application/json"})

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode(), {"Content-Type": "text/plain; charset=utf-8"})


Route = Callable[[Request], Response]
Rejected = Callable[[str, int, str], None]  # (endpoint, status, reason) of a refused request
REJECTED = frozenset({400, 401, 403, 413, 431})
_REJECTION_REASONS = {400: "malformed", 401: "bad_signature", 403: "bad_signature", 413: "too_large",
                      431: "headers_too_large"}
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


class WsgiApp:
    """Routes by (method, path). Every refused request (REJECTED), whether the app or waitress
    refused it, is one log line and one call of `on_rejected`."""

    def __init__(self, routes: dict[tuple[str, str], Route], on_rejected: Rejected = lambda *refused: None) -> None:
        self.routes = routes
        self.on_rejected = on_rejected

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        response = self._respond(environ)
        if response.status in REJECTED:
            plain = response.headers.get("Content-Type", "").startswith("text/plain")
            self.refused(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""), response.status,
                         response.reason, response.body.decode("utf-8", "replace") if plain else "")
        reason = _REASONS.get(response.status, "Unknown")
        headers = [(k, v) for k, v in response.headers.items()] + [("Content-Length", str(len(response.body)))]
        start_response(f"{response.status} {reason}", headers)
        return [response.body]

    def refused(self, method: str, path: str, status: int, reason: str = "", detail: str = "") -> None:
        """One line: endpoint, status, reason, and our own words for it (never the request's
        body or headers, so never a secret or a number)."""
        endpoint = path if any(p == path for _, p in self.routes) else "other"
        reason = reason or _REJECTION_REASONS.get(status, "refused")
        log.warning("refused %s %s: %d %s%s", method or "-", endpoint, status, reason,
                    f" ({detail[:120]})" if detail else "")
        self.on_rejected(endpoint, status, reason)

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


class ListenError(Exception):
    """The server cannot listen on (host, port); errno says why (EADDRINUSE: the port is taken)."""

    def __init__(self, errno: int | None, reason: str) -> None:
        super().__init__(reason)
        self.errno = errno


class _TimedParser(HTTPRequestParser):
    def __init__(self, adj) -> None:
        super().__init__(adj)
        self.started = time.time()  # waitress makes a parser when a request's first byte arrives


class _RefusedTask(ErrorTask):
    """waitress's answer to a request it refuses before the app sees it (headers or body too
    large, an unreadable request line), told to the app like its own refusals."""

    def execute(self) -> None:
        super().execute()
        # types-waitress types a task's request loosely; an ErrorTask's is a parser that has an error
        error, app = cast(HTTPRequestParser, self.request).error, getattr(self.channel.server, "wsgi_app", None)
        if error is not None and error.code in REJECTED and isinstance(app, WsgiApp):
            # an unreadable request line leaves the parser without a method or a path
            app.refused(getattr(self.request, "command", ""), getattr(self.request, "path", ""), error.code,
                        detail=error.reason)


class _Channel(HTTPChannel):
    """One connection; closes in two steps (RFC 9112 9.6). Closing a socket with unread input
    resets the connection, and a client still sending a body we refused would lose the 413: so
    the write side is shut first, and what the client still sends is read and dropped, for at
    most LINGER seconds and MAX_BODY bytes."""

    parser_class = _TimedParser
    error_task_class = _RefusedTask
    lingering_since: float | None = None
    drained = 0
    cut_off = False  # closed for being too slow: no lingering for it

    def readable(self) -> bool:
        return self.lingering_since is not None or super().readable()

    def writable(self) -> bool:
        return self.lingering_since is None and super().writable()

    def handle_read(self) -> None:
        if self.lingering_since is None:
            return super().handle_read()
        try:
            self.drained += len(self.recv(self.adj.recv_bytes))  # b"" once the client closed; recv() closed too
        except OSError:
            self.drained = MAX_BODY + 1
        if self.drained > MAX_BODY:
            self.close_now()

    def handle_close(self) -> None:
        if self.lingering_since is None and self.connected and not self.cut_off and self.socket is not None:
            try:
                self.socket.shutdown(socket.SHUT_WR)
                self.lingering_since = time.time()
                return
            except OSError:  # already gone
                pass
        self.close_now()

    def close_now(self) -> None:
        if self.socket is not None:
            super().handle_close()


class _DeadlineServer(TcpWSGIServer):
    """waitress's maintenance only closes idle connections, and a byte every few seconds is not
    idle: this one also closes a connection whose request is not read in full within its bound."""

    channel_class = _Channel

    def __init__(self, app, adj: Adjustments, header_timeout: float, request_timeout: float) -> None:
        self.header_timeout, self.request_timeout = header_timeout, request_timeout
        self.wsgi_app = app  # waitress may wrap `application` in middleware
        super().__init__(app, map={}, adj=adj)

    def maintenance(self, now: float) -> None:
        # types-waitress says `now` is an int and active_channels one channel: they are time.time() and a dict
        super().maintenance(now)  # type: ignore[arg-type]
        # a copy: closing a channel removes it from the dict
        for channel in list(self.active_channels.values()):  # type: ignore[attr-defined]
            if channel.lingering_since is not None:
                if now - channel.lingering_since > LINGER:
                    channel.close_now()
            elif not channel.requests and self._overdue(channel, now):  # never cut a response short
                channel.cut_off = channel.will_close = True

    def _overdue(self, channel: _Channel, now: float) -> bool:
        request = cast("_TimedParser | None", channel.request)  # the one being read; None between requests
        if request is None:  # connected and never said a word
            return channel.last_activity == channel.creation_time and now - channel.creation_time > self.header_timeout
        bound = self.request_timeout if request.headers_finished else self.header_timeout
        return now - request.started > bound


def _connection_limit() -> int:
    """CONNECTION_LIMIT, raising the soft limit on open files toward the hard one to allow it; where
    the hard limit is lower, as many connections as it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = CONNECTION_LIMIT + SPARE_FILES
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return CONNECTION_LIMIT
    allowed = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (allowed, hard))
    if allowed == wanted:
        return CONNECTION_LIMIT
    log.warning("open files are limited to %d: serving at most %d connections", allowed, allowed - SPARE_FILES)
    return max(allowed - SPARE_FILES, 1)


class HttpServer:
    """waitress on (host, port); port 0 picks a free one (the tests use that).

    waitress's own run() can only be stopped from its thread (a signal), so the loop is driven
    here a step at a time: stop() from any thread sets a flag and wakes the loop through
    waitress's trigger pipe, and the serving thread then closes its own sockets."""

    def __init__(self, app: WsgiApp, host: str, port: int, threads: int = 8, *,
                 header_timeout: float = HEADER_TIMEOUT, request_timeout: float = REQUEST_TIMEOUT) -> None:
        try:
            adj = Adjustments(
                host=host, port=port, threads=threads, ident="smserror",
                connection_limit=_connection_limit(),
                asyncore_use_poll=True,  # select() cannot watch descriptors past 1023
                cleanup_interval=1,  # how often the read bounds are checked
                max_request_header_size=MAX_HEADERS,
                max_request_body_size=MAX_BODY + 1,  # waitress refuses at that size, WsgiApp above MAX_BODY
                # in memory, never a temp file: no body reaches this (the limit is checked per 8 KB read)
                inbuf_overflow=2 * MAX_BODY,
            )
        except ValueError as err:  # waitress's word for a host that does not resolve
            raise ListenError(None, str(err)) from None
        try:
            self._server = _DeadlineServer(app, adj, header_timeout, request_timeout)
        except OSError as err:
            raise ListenError(err.errno, err.strerror or str(err)) from None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        # waitress sets effective_host and effective_port when it binds; types-waitress lacks them
        host, port = self._server.effective_host, self._server.effective_port  # type: ignore[attr-defined]
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"

    def serve_forever(self) -> None:
        server = self._server
        try:
            while not self._stopping.is_set():
                server.asyncore.loop(timeout=server.adj.asyncore_loop_timeout,
                                     map=server._map,  # type: ignore[attr-defined]  # the map={} given above
                                     use_poll=server.adj.asyncore_use_poll, count=1)
        except (SystemExit, KeyboardInterrupt):  # SIGTERM / Ctrl-C in the main thread
            pass
        finally:
            server.task_dispatcher.shutdown()  # lets requests in flight finish
            server.close()

    def start_in_background(self) -> HttpServer:
        self._thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None and self._thread.is_alive():
            # the serving thread may close its wake-up pipe between our check and now
            with contextlib.suppress(OSError):
                self._server.pull_trigger()
            self._thread.join(timeout=10)
