"""A recording HTTP server on loopback with fault injection: the base of every fake in tests/.

A fake subclasses FakeServer and implements `handle(request) -> Reply`. The server records
every request it receives, and a test can queue faults that are served before the real
handler runs: `fail(503)`, `fail(429, headers={"Retry-After": "1"})`, `hang(5)`.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    def json(self):
        return json.loads(self.body or b"null")

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) of an HTTP Basic Authorization header; None without a readable one."""
        header = self.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return None
        return user, password


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        return body, headers


@dataclass
class _Fault:
    reply: Reply | None
    hang_seconds: float
    path_prefix: str


class FakeServer:
    """Subclass and implement `handle`. Use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.answered = 0  # requests the handler has finished with (their effects are visible)
        self._faults: deque[_Fault] = deque()
        self._lock = threading.Lock()
        self._release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                reply = fake._dispatch(request)
                if reply is None:  # a hang that was released: drop the connection
                    self.close_connection = True
                    return
                body, headers = reply.encoded()
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting, or was killed
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # poll for shutdown every 20 ms, not 500: teardown of every test waits on it
        self._thread = threading.Thread(target=lambda: self._httpd.serve_forever(poll_interval=0.02), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults ---------------------------------------------------------------------------
    def fail(self, status: int, times: int = 1, headers: dict | None = None, body=b"", path_prefix: str = "") -> None:
        """The next `times` requests (whose path starts with `path_prefix`) get this reply."""
        with self._lock:
            for _ in range(times):
                self._faults.append(_Fault(Reply(status, body, headers or {}), 0, path_prefix))

    def hang(self, seconds: float, times: int = 1, path_prefix: str = "") -> None:
        """The next `times` requests wait `seconds` (or until stop) and then get no answer."""
        with self._lock:
            for _ in range(times):
                self._faults.append(_Fault(None, seconds, path_prefix))

    def _take_fault(self, request: Request) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if request.path.startswith(fault.path_prefix):
                    self._faults.remove(fault)
                    return fault
        return None

    def _dispatch(self, request: Request) -> Reply | None:
        with self._lock:
            self.requests.append(request)
        fault = self._take_fault(request)
        if fault is not None:
            if fault.reply is not None:
                return fault.reply
            self._release.wait(fault.hang_seconds)
            return None
        try:
            return self.handle(request)
        except Exception as exc:  # a bug in a fake should show up as a 500, not hang the test
            return Reply(500, {"error": f"fake failed: {exc!r}"})
        finally:
            with self._lock:
                self.answered += 1

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    # -- inspection -----------------------------------------------------------------------
    def requests_to(self, path_part: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if path_part in r.path]

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        return wait_until(predicate, timeout)


def wait_until(predicate, timeout: float = 5.0) -> bool:
    """Whether `predicate()` became true within `timeout` seconds (checked every 10 ms)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
