"""Socket Mode in `smserror run` (SLACK_APP_TOKEN, xapp-…): the same Bolt app as /slack/events,
reached over a WebSocket that smserror opens to Slack, for a workspace whose smserror has no
public URL.

Bolt's own adapter does the protocol (slack_sdk's built-in client, no extra dependency): it asks
`apps.connections.open` at SLACK_API_URL for a WebSocket URL, hands every envelope to the app
and sends back what the listener acked (the lookup card rides in that ack, as over HTTP), and
reconnects by itself when an open connection drops. What it does not do is retry a failed
*first* `apps.connections.open`: its connect() raises instead. So the first connect runs on a
thread here and is retried with back-off until it succeeds or the service stops; a Slack that
is down at start costs one warning line, never the service (the HTTP server keeps serving).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger("smserror.socket_mode")

RETRY_SECONDS = (1, 2, 5, 10, 30)  # then every 30 s

# The Web API client of the connection logs an ERROR for every refused attempt, and the Socket
# Mode client another for every failed apps.connections.open; the one warning in _connect says
# the same thing once, so those lines are kept out of the log (the client's others stay).
_web_log = logging.getLogger("smserror.socket_mode.web")
_web_log.setLevel(logging.CRITICAL)
_client_log = logging.getLogger("smserror.socket_mode.client")
_client_log.addFilter(lambda record: not str(record.msg).startswith("Failed to retrieve WSS URL"))


class SocketMode:
    """start() returns at once; stop() closes the connection and every thread the client runs."""

    def __init__(self, app: App, app_token: str, api_url: str, retry_seconds: Sequence[float] = RETRY_SECONDS,
                 timeout: int = 10) -> None:
        self._app = app
        self._app_token = app_token
        self._api_url = api_url
        self._retry_seconds = tuple(retry_seconds)
        self._timeout = timeout
        self._stopping = threading.Event()
        self._handler: SocketModeHandler | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # the client starts its threads when it is built, so it is built here and not before
        self._handler = SocketModeHandler(
            self._app,
            app_token=self._app_token,
            logger=_client_log,
            # apps.connections.open goes to SLACK_API_URL, with the app token, not the bot's;
            # no retry handlers: _connect below is the retry, with its back-off
            web_client=WebClient(base_url=self._api_url, timeout=self._timeout, logger=_web_log, retry_handlers=[]),
        )
        self._thread = threading.Thread(target=self._connect, name="socket-mode-connect", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Takes up to ~3 s: the client's close() waits out its socket's receive timeout."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + 5)
        if self._handler is not None:
            self._handler.close()

    def _connect(self) -> None:
        assert self._handler is not None
        attempt = 0
        while not self._stopping.is_set():
            try:
                self._handler.connect()
            except Exception as exc:  # URLError, timeouts, SlackApiError: all mean "not now"
                delay = self._retry_seconds[min(attempt, len(self._retry_seconds) - 1)]
                if attempt == 0:
                    log.warning("Socket Mode: cannot open a connection to Slack at %s (%s); retrying in the "
                                "background, the HTTP endpoints keep serving", self._api_url, _reason(exc))
                else:
                    log.debug("Socket Mode: still cannot connect (%s); next try in %s s", _reason(exc), delay)
                attempt += 1
                if self._stopping.wait(delay):
                    return
                continue
            if self._handler.client.is_connected():
                log.info("Socket Mode: connected to Slack; /smserror and buttons also arrive over the WebSocket")
            else:  # Slack gave a URL but the WebSocket did not open: the client's monitor retries it
                log.warning("Socket Mode: the WebSocket to Slack did not open; the client keeps retrying")
            return


def _reason(exc: Exception) -> str:
    """What went wrong, in a few words and without the response body or any token."""
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error") if exc.response is not None else None
        if error in ("invalid_auth", "not_authed", "not_allowed_token_type"):
            return f"Slack refused SLACK_APP_TOKEN: {error}"
        return f"Slack answered {error or exc.response.status_code}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"
