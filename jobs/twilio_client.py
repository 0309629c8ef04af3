"""The Twilio REST client smserror uses: the real SDK, pointed at TWILIO_API_URL, with timeouts
and retries done inside the HTTP client where status and headers are visible.

Why here and not around SDK calls: on list calls the SDK raises a plain
`TwilioException('Unable to fetch page', response)` (not TwilioRestException) for any non-200
page, so retrying at the HttpClient level covers first pages, next pages and fetches alike.

One client serves every worker of a pass (jobs/poll.py), so its counters are locked and a 429
(Twilio's 20429, too many concurrent requests) pauses every worker, not just the one that got
it: more requests would only prolong Twilio's refusal.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import requests
from requests.adapters import HTTPAdapter
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from jobs.config import ConfigError, TwilioConfig
from jobs.retry_after import retry_after

log = logging.getLogger("smserror.twilio")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


class TwilioAuthError(ConfigError):
    """Twilio rejected the credentials (error 20003 / HTTP 401). The CLI exits 2 on it."""

    def __init__(self, account_hint: str = "") -> None:
        where = f" for {account_hint}" if account_hint else ""
        super().__init__(
            f"Twilio rejected the credentials{where} (error 20003, HTTP 401): check TWILIO_ACCOUNT_SID and "
            "TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)"
        )


class TwilioUnavailable(TwilioException):
    """No answer from Twilio after every retry (timeouts or connection errors)."""


class Gate:
    """A pause shared by every thread that sends through one client: `hold(seconds)` closes it
    (a later reopening wins over an earlier one), `wait()` returns once it is open. `held` keeps
    the last pause as (closed at, open again at), in time.monotonic() seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0
        self.held: tuple[float, float] | None = None

    def hold(self, seconds: float) -> None:
        with self._lock:
            now = time.monotonic()
            if now + seconds > self._until:
                self._until = now + seconds
                self.held = (now, self._until)

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._until - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(remaining)


class RetryingHttpClient(TwilioHttpClient):
    """TwilioHttpClient that times out slow requests and retries 429/5xx/timeouts with backoff,
    honouring Retry-After; a 429 holds back every thread using the client (`gate`). Counts every
    HTTP attempt in `requests_made`, per thread in `requests_by_this_thread`, and by outcome in
    `results` (what /metrics shows). Keeps up to `connections` connections per host alive. Logs no
    query strings, headers or bodies (the SDK's own client logs them at INFO)."""

    def __init__(
        self,
        timeout: float,
        max_attempts: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        connections: int = 8,
    ) -> None:
        super().__init__(timeout=timeout, logger=log)
        for scheme in ("http://", "https://"):  # the SDK sizes the https pool by CPU count, not by workers
            self.session.mount(scheme, HTTPAdapter(pool_maxsize=max(1, connections)))
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.sleep = sleep
        self.gate = Gate()
        self._count_lock = threading.Lock()
        self._mine = threading.local()
        self.requests_made = 0
        self.retries = 0
        self.results: Counter[str] = Counter()

    @property
    def requests_by_this_thread(self) -> int:
        return getattr(self._mine, "count", 0)

    def _count(self) -> None:
        with self._count_lock:
            self.requests_made += 1
        self._mine.count = self.requests_by_this_thread + 1

    def _result(self, outcome: str) -> None:
        with self._count_lock:  # the pool's threads share one client
            self.results[outcome] += 1

    def log_request(self, kwargs) -> None:  # the parent logs URLs and headers at INFO
        pass

    def log_response(self, status_code, response) -> None:  # ... and response bodies (message text!)
        pass

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False) -> Response:
        path = url.split("?", 1)[0]
        for attempt in range(1, self.max_attempts + 1):
            self.gate.wait()
            self._count()
            pause = self.sleep
            try:
                response = super().request(
                    method, url, params=params, data=data, headers=headers, auth=auth, timeout=timeout,
                    allow_redirects=allow_redirects,
                )
            except requests.Timeout:
                self._result("timeout")
                problem, delay = f"no answer within {self.timeout:g}s (SMSERROR_TWILIO_TIMEOUT)", self._backoff(attempt)
            except requests.ConnectionError as exc:
                self._result("connection_error")
                problem, delay = f"connection failed ({type(exc).__name__})", self._backoff(attempt)
            else:
                self._result(result_of(response.status_code))
                if response.status_code == 401:
                    raise TwilioAuthError()
                if response.status_code not in RETRY_STATUSES:
                    return response
                if attempt == self.max_attempts:
                    return response  # the SDK turns it into TwilioException / TwilioRestException
                problem = f"HTTP {response.status_code}"
                delay = retry_after(response.headers, cap=MAX_RETRY_AFTER) or self._backoff(attempt)
                if response.status_code == 429:
                    pause = self.gate.hold  # this thread's next attempt waits at the gate with the others
            if attempt == self.max_attempts:
                raise TwilioUnavailable(f"Twilio {method} {path}: {problem} after {attempt} attempts")
            with self._count_lock:
                self.retries += 1
            log.debug("Twilio %s %s: %s; retrying in %.1fs", method, path, problem, delay)
            pause(delay)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


def result_of(status: int) -> str:
    """A response's outcome, in a few words: the label of smserror_twilio_requests_total."""
    if status == 401:
        return "unauthorized"
    if status == 429:
        return "rate_limited"
    return "ok" if status < 400 else ("client_error" if status < 500 else "server_error")


def make_client(config: TwilioConfig, *, max_attempts: int = 4, backoff: float = 0.5,
                as_account: tuple[str, str] | None = None) -> Client:
    """A twilio Client for TWILIO_ACCOUNT_SID with TWILIO_AUTH_TOKEN (or API key + secret), talking
    to TWILIO_API_URL and TWILIO_EVENTS_URL with SMSERROR_TWILIO_TIMEOUT, safe to share among
    SMSERROR_TWILIO_CONCURRENCY threads. Its `http_client.requests_made` counts requests.
    `as_account`: (SID, auth token) of a subaccount to act as instead, for the APIs that only
    show an account its own resources (Event Streams)."""
    if not config.configured:
        raise ConfigError(
            "polling needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)"
        )
    http = RetryingHttpClient(timeout=config.timeout, max_attempts=max_attempts, backoff=backoff,
                              connections=config.concurrency)
    # environment: ignore ambient TWILIO_REGION / TWILIO_EDGE, which would rewrite TWILIO_API_URL's host
    quiet_env = {"TWILIO_REGION": "", "TWILIO_EDGE": ""}
    if as_account is not None:
        client = Client(*as_account, http_client=http, environment=quiet_env)
    elif config.auth_token:
        client = Client(config.account_sid, config.auth_token, http_client=http, environment=quiet_env)
    else:
        client = Client(config.api_key, config.api_secret, config.account_sid, http_client=http, environment=quiet_env)
    client.api.base_url = config.api_url
    client.events.base_url = config.events_url
    return client


def describe_error(exc: BaseException) -> str:
    """One line for a Twilio failure, without secrets or message content."""
    if isinstance(exc, TwilioRestException):
        return f"Twilio answered HTTP {exc.status} (error {exc.code})"
    if isinstance(exc, (TwilioUnavailable, TwilioAuthError)):
        return str(exc)
    if isinstance(exc, TwilioException):
        response = exc.args[1] if len(exc.args) > 1 else None
        status = getattr(response, "status_code", None)
        return f"Twilio answered HTTP {status}" if status else f"Twilio error: {exc.args[0] if exc.args else exc}"
    return f"{type(exc).__name__}: {exc}"
