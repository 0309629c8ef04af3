"""HTTP that holds: slow clients, huge bodies and a busy port, against the real server on loopback.

The server is bot.server.HttpServer (waitress) in front of the real routes, with read bounds of a
second or two instead of the production ones so each test takes a few seconds."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from bot.pipeline import Pipeline
from bot.server import CONNECTION_LIMIT, MAX_BODY, MAX_HEADERS, SPARE_FILES, HttpServer
from bot.service import build_wsgi
from bot.settings import Settings
from storage.db import LocalDb
from tests.http import get, post

SETTINGS = Settings(slack_signing_secret="signing", slack_bot_token="xoxb-test", slack_channel="C123",
                    slack_api_url="http://127.0.0.1:9/api/", twilio_auth_token="token",
                    public_url="https://smserror.example.org")
HEADER_TIMEOUT, REQUEST_TIMEOUT = 1.0, 2.0
CLOSE_SLACK = 3.0  # maintenance runs every second; the close itself is one more turn of the loop
SLOW_CLIENTS = 150
HEAD = b"POST /twilio/status HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"


@pytest.fixture
def serve(tmp_path):
    servers: list[HttpServer] = []

    def start(header_timeout: float = HEADER_TIMEOUT, request_timeout: float = REQUEST_TIMEOUT) -> HttpServer:
        settings = dataclasses.replace(SETTINGS, db_path=str(tmp_path / "smserror.db"))
        app = build_wsgi(settings, Pipeline(settings, LocalDb(settings.db_path), destinations=[]))
        server = HttpServer(app, "127.0.0.1", 0, header_timeout=header_timeout, request_timeout=request_timeout)
        servers.append(server.start_in_background())
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def temp_files(monkeypatch):
    """Every temporary file opened while the test runs: waitress spools a body it cannot keep in
    memory to tempfile.TemporaryFile (the real file is still made; this only counts them)."""
    opened: list[tuple] = []
    real = tempfile.TemporaryFile

    def counted(*args, **kwargs):
        opened.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", counted)
    return opened


def connect(url: str, timeout: float = 5) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=timeout)


def reply_of(sock: socket.socket) -> bytes:
    """What the server sent until it closed (b"" if it sent nothing within the socket's timeout)."""
    reply = b""
    try:
        while chunk := sock.recv(65536):
            reply += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return reply


def status_of(reply: bytes) -> int | None:
    parts = reply.split(None, 2)
    return int(parts[1]) if len(parts) > 1 and parts[0].startswith(b"HTTP/") else None


def closed_by_server(sock: socket.socket) -> bool:
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(4096) == b""  # the server sends nothing before closing a slow request
    except ConnectionResetError:
        return True


class SlowClients(threading.Thread):
    """`count` connections that each send `head`, then one more `byte` (if any) each tenth of a
    second; notes how long after its opening the server closed each one. Stops by itself once
    all are closed or `give_up` seconds have passed."""

    def __init__(self, url: str, count: int, head: bytes, give_up: float, byte: bytes = b"x") -> None:
        super().__init__(daemon=True)
        self.give_up, self.byte = give_up, byte
        self.socks: list[socket.socket] = []
        self.opened_at: list[float] = []
        for _ in range(count):
            self.socks.append(connect(url))
            self.opened_at.append(time.monotonic())
            self.socks[-1].sendall(head)
        self.closed_at: dict[int, float] = {}  # index -> time.monotonic()

    def run(self) -> None:
        while len(self.closed_at) < len(self.socks) and time.monotonic() - self.opened_at[0] < self.give_up:
            for i, sock in enumerate(self.socks):
                if i in self.closed_at:
                    continue
                if closed_by_server(sock):
                    self.closed_at[i] = time.monotonic()
                elif self.byte:
                    with contextlib.suppress(OSError):  # a reset: the next round sees the close
                        sock.send(self.byte)
            time.sleep(0.1)

    def close(self) -> None:
        for sock in self.socks:
            sock.close()

    def lifetimes(self) -> list[float]:
        """Seconds each connection lived; the test fails first if any is still open."""
        assert len(self.closed_at) == len(self.socks), f"{len(self.socks) - len(self.closed_at)} left open"
        return [self.closed_at[i] - opened for i, opened in enumerate(self.opened_at)]


def test_150_trickling_clients_cannot_lock_out_health_and_callbacks(serve):
    server = serve()
    slow = SlowClients(server.url, SLOW_CLIENTS, HEAD + b"X-Slow: ", give_up=HEADER_TIMEOUT + CLOSE_SLACK + 2)
    slow.start()
    try:
        begun = time.monotonic()
        assert get(server.url + "/healthz", timeout=3).status == 200
        assert time.monotonic() - begun < 1.0  # promptly, not after the slow clients are gone
        assert post(server.url + "/twilio/status", b"MessageSid=SM1", timeout=3).status == 403
        assert post(server.url + "/slack/events", b"command=%2Fsmserror", timeout=3).status == 401
        answered_at = time.monotonic()
    finally:
        slow.join()
        slow.close()
    lifetimes = slow.lifetimes()
    assert answered_at < min(slow.closed_at.values()), "answered only after the slow clients were gone"
    assert min(lifetimes) >= HEADER_TIMEOUT and max(lifetimes) <= HEADER_TIMEOUT + CLOSE_SLACK


@pytest.mark.parametrize("head, byte, bound", [
    (b"", b"", HEADER_TIMEOUT),  # connects and says nothing
    (HEAD + b"Content-Length: 1000\r\n\r\n", b"x", REQUEST_TIMEOUT),  # headers done, the body trickles
], ids=["silent", "trickled-body"])
def test_a_request_that_never_completes_is_cut_off_within_its_bound(serve, head, byte, bound):
    server = serve()
    slow = SlowClients(server.url, 3, head, give_up=bound + CLOSE_SLACK + 2, byte=byte)
    try:
        slow.run()  # in this thread: there is nothing else to do meanwhile
    finally:
        slow.close()
    lifetimes = slow.lifetimes()
    assert bound <= min(lifetimes) and max(lifetimes) <= bound + CLOSE_SLACK


def test_the_server_keeps_serving_with_descriptors_past_1024(serve):
    # select() cannot watch a descriptor numbered 1024 or above, and with CONNECTION_LIMIT
    # connections open the server's sockets get there
    server = serve()
    filler = [os.open(os.devnull, os.O_RDONLY)]
    while filler[-1] < 1030:
        filler.append(os.open(os.devnull, os.O_RDONLY))
    try:
        assert get(server.url + "/healthz", timeout=3).status == 200
        assert get(server.url + "/healthz", timeout=3).status == 200
    finally:
        for fd in filler:
            os.close(fd)


def test_the_soft_descriptor_limit_is_raised_for_the_connection_limit(serve):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (CONNECTION_LIMIT // 2, hard))
    try:
        serve()
        raised, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert raised > CONNECTION_LIMIT


def test_a_declared_huge_body_is_refused_before_it_is_read(serve, temp_files):
    server = serve()
    with connect(server.url) as sock:
        sock.sendall(HEAD + b"Content-Length: 1000000000\r\n\r\n" + b"a" * 1024)
        begun = time.monotonic()
        reply = reply_of(sock)
    assert status_of(reply) == 413, reply[:200]
    assert time.monotonic() - begun < 1.0
    assert temp_files == []


def test_headers_over_the_limit_get_431(serve):
    server = serve()
    with connect(server.url) as sock:
        sock.sendall(HEAD + b"X-Big: " + b"x" * MAX_HEADERS + b"\r\n\r\n")
        assert status_of(reply_of(sock)) == 431


def test_a_chunked_body_that_streams_past_the_limit_is_cut_off(serve, temp_files):
    server = serve(request_timeout=60)  # the size limit must stop it, not the clock
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    give_up = 64 * MAX_BODY
    sent = 0
    with connect(server.url) as sock:
        sock.sendall(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            while sent < give_up and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = reply_of(sock)
    assert sent < give_up, "the server read 64 MiB of a body it will refuse"
    assert status_of(reply) == 413, reply[:200]
    assert temp_files == []


def test_a_body_of_exactly_the_limit_reaches_the_app_and_one_byte_more_does_not(serve):
    server = serve()
    assert post(server.url + "/slack/events", b"a" * MAX_BODY).status == 401  # the app's answer: unsigned
    assert post(server.url + "/slack/events", b"a" * (MAX_BODY + 1)).status == 413


def run_cli(tmp_path, **env) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", ""), "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
           "TWILIO_AUTH_TOKEN": "token", "SMSERROR_DB": str(tmp_path / "s.db"), **env}
    return subprocess.run([sys.executable, "-m", "bot.cli", "run"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)


def test_run_on_a_busy_port_is_one_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(tmp_path, PORT=str(port), SMSERROR_HOST="127.0.0.1")
    assert done.returncode == 2, done.stderr
    assert done.stderr == f"smserror: PORT {port} is already in use (set PORT to a free port)\n"


def test_run_on_an_address_of_another_machine_is_one_line_and_exit_2(tmp_path):
    done = run_cli(tmp_path, PORT="3000", SMSERROR_HOST="192.0.2.1")  # TEST-NET-1: never this machine's
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("smserror: cannot listen on SMSERROR_HOST 192.0.2.1 and PORT 3000: ")
    assert len(done.stderr.splitlines()) == 1, done.stderr


def test_a_hard_limit_on_open_files_below_the_connection_limit_lowers_the_limit_and_says_so(tmp_path):
    script = ("import logging, resource\n"
              "resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))\n"
              "logging.basicConfig(format='%(message)s')\n"
              "from bot.server import HttpServer, WsgiApp\n"
              "HttpServer(WsgiApp({}), '127.0.0.1', 0)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"open files are limited to 300: serving at most {300 - SPARE_FILES} connections\n"
