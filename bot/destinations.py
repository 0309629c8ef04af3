"""Where outbox items go: Slack (Web API through slack_sdk's WebClient), a Teams Workflows
webhook (urllib), or stdout when neither is configured. Each renders the item itself (Block
Kit / Adaptive Card / one plain line) and raises jobs.deliver.DeliveryError for failures.
Each `[[routes]]` of the rules adds its own: "slack:<route>" posting in the route's channel,
"teams:<route>" to the route's webhook.

One claim, one request: retries belong to the outbox. A request that may have reached Slack (a
timeout, a dropped connection, a 5xx) is marked "outcome unknown", and the next attempt, made
once the claim's `settle_seconds` have passed, first looks for it (`find_sent`) by the dedupe
key each post carries in its message metadata.
"""

from __future__ import annotations

import http.client
import logging
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.emit import slack as slack_emit
from bot.emit import teams as teams_emit
from bot.emit import text as text_emit
from bot.settings import ConfigError, Settings
from jobs.deliver import DeliveryError
from jobs.retry_after import retry_after
from jobs.rules import Route, Rules, load_rules
from jobs.views import view_for
from storage.outbox import OutboxItem

log = logging.getLogger("smserror.destinations")

METADATA_TYPE = "smserror_outbox"
TEAMS_TIMEOUT = 10
# Edits of a message that is gone (deleted by someone) are done, not failed.
_GONE = {"message_not_found", "cant_update_message", "edit_window_closed", "thread_not_found"}
_BAD_BLOCKS = {"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"}


# -- Slack -----------------------------------------------------------------------------------

def _wait(headers) -> float:
    """What a 429 asks for; a second when it does not say."""
    seconds = retry_after(headers)
    return 1.0 if seconds is None else seconds


def settle_seconds(timeout: float) -> float:
    """How long after a claim a send's fate is known: one request's timeout, and as much again
    for the destination to finish storing what it took in just before we gave up."""
    return 2 * timeout + 2


def slack_client(settings: Settings) -> WebClient:
    # No in-line retries: a post that failed goes back to the outbox, whose next attempt first
    # asks Slack whether the post got through. An in-line retry of a 5xx or a timeout would post
    # again what Slack may already have stored, and would outlast the claim's settle time.
    # slack_sdk annotates `timeout` as int, but hands it to urllib, which takes seconds as a float
    return WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                     timeout=settings.slack_timeout, retry_handlers=[])  # type: ignore[arg-type]


def _name(kind: str, route: Route | None) -> str:
    return kind if route is None else f"{kind}:{route.name}"


class SlackDestination:
    kinds = None  # shows everything, edits and thread replies included

    def __init__(self, client: WebClient, channel: str, route: Route | None = None) -> None:
        self.client = client
        self.channel = channel
        self.route = route
        self.name = _name("slack", route)
        self.settle_seconds = settle_seconds(client.timeout)

    def _channel(self, item: OutboxItem) -> str:
        if self.route is not None:  # a route's channel takes all its alerts: the category channels are the default's
            return self.channel
        source = item.parent.payload if item.parent is not None else item.payload
        return source.get("channel") or self.channel

    def send(self, item: OutboxItem) -> str:
        blocks, text = slack_emit.blocks(view_for(item.kind, item.payload))
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
        blocks, text = slack_emit.blocks(view_for(item.kind, item.payload))
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
            # a 5xx may come after Slack stored the post: the next attempt looks before posting
            raise DeliveryError(f"Slack {method.__name__}: HTTP {status} {error or 'error'}",
                                unknown=status >= 500, permanent=status == 200) from None
        except urllib.error.URLError as exc:  # never went out: safe to send again
            raise DeliveryError(f"Slack unreachable: {exc.reason}") from None
        except (TimeoutError, ConnectionError, http.client.HTTPException, OSError) as exc:
            raise DeliveryError(f"Slack connection lost: {type(exc).__name__}", unknown=True) from None


class _Gone(Exception):
    pass


# -- Teams -----------------------------------------------------------------------------------

class TeamsDestination:
    """A Teams Workflows webhook. It cannot edit or thread, so it shows alerts, resolved notes,
    digests, and smserror's alerts about itself with their "working again" notes. It cannot be
    asked what it received either: after a crash in mid-post a card may be posted twice (never
    lost)."""

    kinds = frozenset({"alert", "alert-resolved", "digest", "digest-fixes", "watch", "watch-resolved"})

    def __init__(self, url: str, timeout: float = TEAMS_TIMEOUT, route: Route | None = None) -> None:
        self.url = url  # holds a signature: never logged
        self.timeout = timeout
        self.route = route
        self.name = _name("teams", route)
        self.settle_seconds = settle_seconds(timeout)

    def send(self, item: OutboxItem) -> str:
        body = teams_emit.encode(teams_emit.message(teams_emit.card(view_for(item.kind, item.payload))))
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # http(s) only (settings)
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
    route = None
    settle_seconds = 1

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def send(self, item: OutboxItem) -> str:
        print(text_emit.text(view_for(item.kind, item.payload)), file=self.stream or sys.stdout, flush=True)
        return f"stdout-{item.id}"

    def update(self, item: OutboxItem, ref: str) -> None:
        """A terminal cannot edit what it printed: one line saying what changed."""
        view = view_for(item.kind, item.payload)
        print(f"[{item.payload.get('state', 'updated')}] {view.fallback}", file=self.stream or sys.stdout, flush=True)


def build_destinations(settings: Settings, stream: TextIO | None = None, rules: Rules | None = None) -> list:
    """Slack when SLACK_BOT_TOKEN and SLACK_CHANNEL are set, Teams when TEAMS_WEBHOOK_URL is;
    stdout when neither is, unless Slack credentials are set: then the operator meant to post,
    and printing (and marking sent) would lose the digest and the alerts. Then each route's own
    (`rules`, else read from SMSERROR_RULES): a route's channel needs the Slack bot token."""
    if settings.lacks_channel:
        raise ConfigError("SLACK_CHANNEL is not set: Slack credentials are, but there is no channel to post "
                          "digests and alerts in (set SLACK_CHANNEL, or TEAMS_WEBHOOK_URL)")
    rules = load_rules(settings.rules_path) if rules is None else rules
    client = slack_client(settings) if settings.slack_bot_token else None
    destinations: list = []
    if settings.slack_configured and client is not None:
        destinations.append(SlackDestination(client, settings.slack_channel))
    if settings.teams_webhook_url:
        destinations.append(TeamsDestination(settings.teams_webhook_url))
    if not destinations:
        destinations.append(StdoutDestination(stream))
    for route in rules.routes:
        if route.slack_channel:
            if client is None:
                raise ConfigError(f"SLACK_BOT_TOKEN is not set: the route {route.name!r} in SMSERROR_RULES posts "
                                  f"in Slack channel {route.slack_channel}")
            destinations.append(SlackDestination(client, route.slack_channel, route))
        if route.teams_webhook_url:
            destinations.append(TeamsDestination(route.teams_webhook_url, route=route))
    return destinations
