"""A fake of Slack's Socket Mode over loopback, for slack_sdk's built-in SocketModeClient.

Two parts, as at Slack (https://docs.slack.dev/apis/events-api/using-socket-mode/):

- `apps.connections.open`, a Web API method called with the app-level token (xapp-…), answers
  `{"ok": true, "url": "ws://127.0.0.1:PORT/link?ticket=…"}`. FakeSlackWithSocketMode is
  FakeSlack plus that one method (everything else FakeSlack serves is unchanged), so that
  SLACK_API_URL names one server, as in production.
- FakeSocketMode, the WebSocket server that URL points at (the `websockets` library does the
  framing, ping/pong and close). On every connection it sends `hello`; a test then pushes
  envelopes with `send_envelope(type, payload)` and reads the client's acknowledgement with
  `ack(envelope_id)`.

The messages:
  server → client  {"type": "hello", "num_connections": 1, "connection_info": {"app_id": …}, "debug_info": {…}}
  server → client  {"envelope_id": "…", "type": "slash_commands" | "interactive" | "events_api",
                    "accepts_response_payload": true|false, "payload": {…}}
  client → server  {"envelope_id": "…"}, or {"envelope_id": "…", "payload": {…}} when the ack
                   carries a response (a slash command's ephemeral answer)
"""

from __future__ import annotations

import json
import threading
import uuid

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from tests.fakes.server import Reply, Request
from tests.fakes.slack_api import TOKEN, FakeSlack

APP_TOKEN = "xapp-1-AFAKE-1-fake-app-level-token-456"
APP_ID = "AFAKE"


class FakeSocketMode:
    """The WebSocket end of Socket Mode. Use as a context manager or call start()/stop()."""

    def __init__(self) -> None:
        self.connections = 0  # WebSocket connections accepted so far
        self.received: list[dict] = []  # every text message the client sent, parsed
        self._open: list[ServerConnection] = []
        self._changed = threading.Condition()
        self._server = serve(self._serve, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link"

    def start(self) -> FakeSocketMode:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeSocketMode:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def open_connections(self) -> int:
        with self._changed:
            return len(self._open)

    def wait_connected(self, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._open, timeout)

    def wait_disconnected(self, timeout: float = 5.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: not self._open, timeout)

    def send_envelope(self, kind: str, payload: dict, accepts_response_payload: bool = True) -> str:
        """Push one envelope to the newest open connection; returns its envelope_id."""
        envelope_id = str(uuid.uuid4())
        envelope = {"envelope_id": envelope_id, "type": kind, "accepts_response_payload": accepts_response_payload,
                    "payload": payload}
        if not self.wait_connected():
            raise AssertionError("no Socket Mode client is connected")
        with self._changed:
            connection = self._open[-1]
        connection.send(json.dumps(envelope))
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 5.0) -> dict | None:
        """The client's acknowledgement of that envelope, once it arrives (None if it does not)."""
        def found():
            return next((m for m in self.received if m.get("envelope_id") == envelope_id), None)

        with self._changed:
            return self._changed.wait_for(found, timeout)

    def _serve(self, connection: ServerConnection) -> None:
        with self._changed:
            self.connections += 1
            self._open.append(connection)
            self._changed.notify_all()
        try:
            connection.send(json.dumps({
                "type": "hello", "num_connections": len(self._open), "connection_info": {"app_id": APP_ID},
                "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 3600},
            }))
            for message in connection:
                with self._changed:
                    self.received.append(json.loads(message))
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                self._open.remove(connection)
                self._changed.notify_all()


class FakeSlackWithSocketMode(FakeSlack):
    """FakeSlack that also answers apps.connections.open (with the app token only) with the URL
    of its FakeSocketMode, reachable as `.socket`."""

    def __init__(self, token: str = TOKEN, app_token: str = APP_TOKEN) -> None:
        super().__init__(token)
        self.app_token = app_token
        self.socket = FakeSocketMode()

    def start(self) -> FakeSlackWithSocketMode:
        self.socket.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.socket.stop()

    def handle(self, request: Request) -> Reply | None:
        if request.path != "/api/apps.connections.open":
            return super().handle(request)
        if request.headers.get("authorization") != f"Bearer {self.app_token}":
            # Slack refuses a bot token here too: only an app-level token opens connections
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        return Reply(200, {"ok": True, "url": f"{self.socket.url}?ticket={uuid.uuid4()}&app_id={APP_ID}"})
