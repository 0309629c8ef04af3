"""Where outbox items go: Slack (Web API through slack_sdk's WebClient), a Teams Workflows
webhook (urllib), or stdout when neither is configured. Each renders the item itself (Block
Kit / Adaptive Card / one plain line) and raises jobs.deliver.DeliveryError for failures.

Retries: short ones happen inside one call (slack_sdk retry handlers: 429 with a Retry-After
of at most MAX_INLINE_WAIT seconds, 500/503, connections refused before the request was sent);
anything longer goes back to the outbox, which retries with backoff. A request that may have
reached Slack (timeout or dropped connection after sending) is never retried in-line: the
outbox marks it "outcome unknown" and the next attempt first looks for it (`find_sent`) by the
dedupe key each post carries in its message metadata.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import sys
import time
import urllib.error
import urllib.request
from typing import Any, Callable, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter

from bot import alert_blocks, alert_cards
from bot.digest_blocks import digest_blocks
from bot.digest_cards import digest_card
from bot.digest_text import render_text
from bot.settings import ConfigError, Settings
from jobs.deliver import DeliveryError
from jobs.retry_after import retry_after
from storage.outbox import OutboxItem

log = logging.getLogger("smserror.destinations")

METADATA_TYPE = "smserror_outbox"
MAX_INLINE_WAIT = 5          # a longer Retry-After goes back to the outbox instead of blocking
SLACK_TIMEOUT = 10
TEAMS_TIMEOUT = 10
# Edits of a message that is gone (deleted by someone) are done, not failed.
_GONE = {"message_not_found", "cant_update_message", "edit_window_closed", "thread_not_found"}
_BAD_BLOCKS = {"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"}


# -- rendering -------------------------------------------------------------------------------

_SLACK = {
    "alert": alert_blocks.alert_blocks,
    "alert-edit": alert_blocks.alert_blocks,
    "alert-reply": alert_blocks.reply_blocks,
    "alert-resolved": alert_blocks.resolved_blocks,
    "digest": digest_blocks,
}
_TEAMS = {
    "alert": alert_cards.alert_card,
    "alert-resolved": alert_cards.resolved_card,
    "digest": digest_card,
}


def slack_render(item: OutboxItem) -> tuple[list, str]:
    """(blocks, fallback text) for any outbox item."""
    if item.kind not in _SLACK:
        raise ValueError(f"no Slack rendering for outbox kind {item.kind!r}")
    return _SLACK[item.kind](item.payload)


def teams_render(item: OutboxItem) -> dict[str, Any]:
    """The Adaptive Card for an item Teams shows (TeamsDestination.kinds)."""
    if item.kind not in _TEAMS:
        raise ValueError(f"no Teams rendering for outbox kind {item.kind!r}")
    return _TEAMS[item.kind](item.payload)


def plain_render(item: OutboxItem) -> str:
    """Plain text for stdout: the digest's full text rendering, one line per alert item."""
    if item.kind == "digest":
        return render_text(item.payload)
    return alert_blocks.plain_text(item.kind, item.payload)


# -- Slack -----------------------------------------------------------------------------------

class _ShortRateLimitHandler(RateLimitErrorRetryHandler):
    """Waits out a 429 in-line only when Slack asks for a short wait."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        return _wait(response.headers) <= MAX_INLINE_WAIT


def _wait(headers) -> float:
    """What a 429 asks for; a second when it does not say."""
    seconds = retry_after(headers)
    return 1.0 if seconds is None else seconds


class _ProportionalJitter(Jitter):
    """0-20 % on top (slack_sdk's default adds up to a whole second to every wait)."""

    def recalculate(self, duration: float) -> float:
        return duration * random.uniform(1.0, 1.2)


def slack_retry_handlers(max_retries: int = 3, backoff_factor: float = 0.2) -> list[RetryHandler]:
    """In-line retries, 3 in all per call: waits of about 0.2, 0.4 and 0.8 s (or a short Retry-After)."""
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff_factor, jitter=_ProportionalJitter())
    return [
        _ShortRateLimitHandler(max_retry_count=max_retries),
        ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        # only a URLError: the request never went out (refused, DNS). A reset or timeout after
        # sending is left to the outbox, which checks before posting again.
        ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval,
                                    error_types=[urllib.error.URLError]),
    ]


def slack_client(settings: Settings, timeout: int = SLACK_TIMEOUT) -> WebClient:
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url, timeout=timeout,
                     retry_handlers=slack_retry_handlers())


class SlackDestination:
    name = "slack"
    kinds = None  # shows everything, edits and thread replies included

    def __init__(self, client: WebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    def _channel(self, item: OutboxItem) -> str:
        source = item.parent.payload if item.parent is not None else item.payload
        return source.get("channel") or self.channel

    def send(self, item: OutboxItem) -> str:
        blocks, text = slack_render(item)
        channel = self._channel(item)
        args: dict[str, Any] = {
            "channel": channel, "text": text, "blocks": blocks, "unfurl_links": False, "unfurl_media": False,
            "metadata": {"event_type": METADATA_TYPE, "event_payload": {"key": item.dedupe_key}},
        }
        if item.parent is not None:
            args["thread_ts"] = item.parent.response_ts
        response = self._call(self.client.chat_postMessage, args, fallback_text=True)
        item.sent_to = response.get("channel") or channel
        return response["ts"]

    def update(self, item: OutboxItem, ref: str) -> None:
        blocks, text = slack_render(item)
        try:
            self._call(self.client.chat_update, {"channel": self._channel(item), "ts": ref, "text": text,
                                                 "blocks": blocks}, fallback_text=True)
        except _Gone as gone:
            log.info("not editing %s: %s", item.dedupe_key, gone)

    def find_sent(self, item: OutboxItem) -> str | None:
        """The ts of a message an earlier attempt posted (found by its metadata), else None."""
        channel = self._channel(item)
        if item.parent is not None:
            pages = self._pages(self.client.conversations_replies, channel=channel, ts=item.parent.response_ts)
        else:
            pages = self._pages(self.client.conversations_history, channel=channel, oldest=str(item.created_at - 60))
        for message in pages:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("key") == item.dedupe_key:
                item.sent_to = channel
                return message["ts"]
        return None

    def _pages(self, method: Callable, max_pages: int = 5, **args):
        cursor = None
        for _ in range(max_pages):
            response = self._call(method, {**args, "include_all_metadata": True, "limit": 200,
                                           **({"cursor": cursor} if cursor else {})})
            yield from response.get("messages") or []
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def _call(self, method: Callable, args: dict[str, Any], fallback_text: bool = False):
        try:
            return method(**args)
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            status = exc.response.status_code
            if fallback_text and error in _BAD_BLOCKS and args.get("blocks"):
                log.error("Slack refused our blocks (%s); sending the text alone", error)
                return self._call(method, {**args, "blocks": None})
            if error in _GONE:
                raise _Gone(error) from None
            if status == 429:
                raise DeliveryError("Slack rate limit (429)", retry_after=_wait(dict(exc.response.headers))) from None
            raise DeliveryError(f"Slack {method.__name__}: HTTP {status} {error or 'error'}") from None
        except urllib.error.URLError as exc:  # never went out: safe to send again
            raise DeliveryError(f"Slack unreachable: {exc.reason}") from None
        except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException, OSError) as exc:
            raise DeliveryError(f"Slack connection lost: {type(exc).__name__}", unknown=True) from None


class _Gone(Exception):
    pass


# -- Teams -----------------------------------------------------------------------------------

class TeamsDestination:
    """A Teams Workflows webhook. It cannot edit or thread, so it shows alerts, resolved notes
    and digests. It cannot be asked what it received either: after a crash in mid-post a card
    may be posted twice (never lost)."""

    name = "teams"
    kinds = frozenset(_TEAMS)

    def __init__(self, url: str, timeout: float = TEAMS_TIMEOUT) -> None:
        self.url = url  # holds a signature: never logged
        self.timeout = timeout

    def send(self, item: OutboxItem) -> str:
        body = alert_cards.encode(alert_cards.teams_message(teams_render(item)))
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - http(s) only (settings)
                response.read()
                return f"teams-{response.status}-{int(time.time())}"
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise DeliveryError("Teams rate limit (429)", retry_after=_wait(dict(exc.headers))) from None
            raise DeliveryError(f"Teams webhook: HTTP {exc.code}") from None
        except urllib.error.URLError as exc:
            reason = exc.reason if isinstance(exc.reason, str) else type(exc.reason).__name__
            unknown = isinstance(exc.reason, (TimeoutError, socket.timeout))
            raise DeliveryError(f"Teams webhook unreachable: {reason}", unknown=unknown) from None
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
            raise DeliveryError(f"Teams connection lost: {type(exc).__name__}", unknown=True) from None

    def update(self, item: OutboxItem, ref: str) -> None:  # pragma: no cover - kinds excludes edits
        return None


# -- stdout ----------------------------------------------------------------------------------

class StdoutDestination:
    name = "stdout"
    kinds = None

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, item: OutboxItem) -> str:
        print(plain_render(item), file=self.stream or sys.stdout, flush=True)
        return f"stdout-{item.id}"

    def update(self, item: OutboxItem, ref: str) -> None:
        print(plain_render(item), file=self.stream or sys.stdout, flush=True)


def build_destinations(settings: Settings, stream: TextIO | None = None) -> list:
    """Slack when SLACK_BOT_TOKEN and SLACK_CHANNEL are set, Teams when TEAMS_WEBHOOK_URL is;
    stdout when neither is, unless Slack credentials are set: then the operator meant to post,
    and printing (and marking sent) would lose the digest and the alerts."""
    if settings.lacks_channel:
        raise ConfigError("SLACK_CHANNEL is not set: Slack credentials are, but there is no channel to post "
                          "digests and alerts in (set SLACK_CHANNEL, or TEAMS_WEBHOOK_URL)")
    destinations: list = []
    if settings.slack_configured:
        destinations.append(SlackDestination(slack_client(settings), settings.slack_channel))
    if settings.teams_webhook_url:
        destinations.append(TeamsDestination(settings.teams_webhook_url))
    if not destinations:
        destinations.append(StdoutDestination(stream))
    return destinations
