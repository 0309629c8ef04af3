"""A fake of the Slack Web API over loopback, for the real slack_sdk WebClient.

Base URL for the client: `fake.api_url` (…/api/). Serves, the way Slack does (HTTP 200 with
`{"ok": false, "error": …}` for API errors; JSON or form bodies; Bearer token checked):
  auth.test, chat.postMessage (returns ts; keeps metadata, thread_ts), chat.update,
  chat.postEphemeral, conversations.history / conversations.replies (metadata only with
  include_all_metadata), conversations.info (of the channels in `channels`: `add_channel`),
  views.publish (a Home tab: kept per user in `home`) and views.open (a modal: kept in `modals`),
  and POST /response/<id> standing in for an interaction's response_url. Every Web API answer to
  the right token carries `x-oauth-scopes`, the scopes granted (`scopes`: manifest.yml's bot
  scopes unless a test takes some away).

`messages` holds what is "in Slack" (a post whose reply was lost still counts). Faults that
Slack's documented delivery behaviour allows, for chat.postMessage:
  `post_then_drop(n, hang=s)`: store the message, wait `s` seconds (or until stop), then drop the
      connection without answering: a crash or a timeout at the worst moment;
  `post_then_fail(n, status)`: store the message, then answer with a 5xx;
  `store_late(n, delay)`: hold the request `delay` seconds, store it then answer, even if the
      client has given up meanwhile (Slack finishes what it took in);
  `clear_faults()` forgets those not yet met. Faults from FakeServer
(`fail`, `hang`) work as usual; use path_prefix="/api/chat.postMessage" to aim them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.server import FakeServer, Reply, Request

TOKEN = "xoxb-fake-bot-token-123"
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"


def manifest_scopes() -> list[str]:
    return list(yaml.safe_load(MANIFEST.read_text())["oauth_config"]["scopes"]["bot"])


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list
    thread_ts: str | None = None
    metadata: dict | None = None
    edits: list[dict] = field(default_factory=list)

    def public(self, with_metadata: bool) -> dict[str, Any]:
        data = {"type": "message", "ts": self.ts, "text": self.text, "blocks": self.blocks}
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        if with_metadata and self.metadata:
            data["metadata"] = self.metadata
        return data


class FakeSlack(FakeServer):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.messages: list[Message] = []
        self.ephemeral: list[dict] = []
        self.responses: dict[str, list[dict]] = {}
        self.home: dict[str, dict] = {}  # user ID -> the Home tab view last published for them
        self.modals: list[dict] = []
        self.scopes: list[str] = manifest_scopes()
        self.channels: dict[str, dict] = {}  # ID -> what conversations.info answers
        self._ts = itertools.count(1)
        self._drop_after_post = 0
        self._hang_after_post = 0.0
        self._fail_after_post: list[int] = []
        self._store_delays: list[float] = []
        self._state = threading.Lock()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/response/{name}"

    def post_then_drop(self, times: int = 1, hang: float = 0.0) -> None:
        with self._state:
            self._drop_after_post += times
            self._hang_after_post = hang

    def post_then_fail(self, times: int = 1, status: int = 500) -> None:
        with self._state:
            self._fail_after_post += [status] * times

    def store_late(self, times: int = 1, delay: float = 1.5) -> None:
        with self._state:
            self._store_delays += [delay] * times

    def add_channel(self, channel_id: str, name: str, *, is_member: bool = True, is_private: bool = False,
                    is_archived: bool = False) -> None:
        self.channels[channel_id] = {"id": channel_id, "name": name, "is_channel": not is_private,
                                     "is_private": is_private, "is_archived": is_archived, "is_member": is_member}

    def clear_faults(self) -> None:
        """Forget the faults armed above that no post has met yet."""
        with self._state:
            self._drop_after_post, self._fail_after_post, self._store_delays = 0, [], []

    # -- views -------------------------------------------------------------------------------
    def top_level(self, channel: str | None = None) -> list[Message]:
        return [m for m in self.messages if not m.thread_ts and (channel is None or m.channel == channel)]

    def replies(self, ts: str) -> list[Message]:
        return [m for m in self.messages if m.thread_ts == ts]

    def calls(self, method: str) -> list[dict]:
        return [_params(r) for r in self.requests_to("/api/" + method)]

    def all_traffic(self) -> str:
        """Every request body received, decoded: for privacy assertions."""
        with self._lock:
            return "\n".join(r.body.decode("utf-8", "replace") for r in self.requests)

    # -- serving -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply | None:
        if request.path.startswith("/response/"):
            self.responses.setdefault(request.path.rsplit("/", 1)[1], []).append(request.json())
            return Reply(200, {"ok": True})
        if not request.path.startswith("/api/"):
            return Reply(404, b"not found")
        method = request.path[len("/api/"):]
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return Reply(200, {"ok": False, "error": "unknown_method"})
        reply = handler(_params(request))
        if reply is not None:
            reply.headers.setdefault("x-oauth-scopes", ",".join(self.scopes))
        return reply

    def _auth_test(self, p: dict) -> Reply:
        return Reply(200, {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "team": "Fake"})

    def _new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _chat_postMessage(self, p: dict) -> Reply | None:
        with self._state:
            delay = self._store_delays.pop(0) if self._store_delays else 0.0
        if delay:
            self._release.wait(delay)
        if not p.get("channel"):
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        if not p.get("text") and not p.get("blocks"):
            return Reply(200, {"ok": False, "error": "no_text"})
        with self._state:
            message = Message(p["channel"], self._new_ts(), p.get("text") or "", p.get("blocks") or [],
                              p.get("thread_ts"), p.get("metadata"))
            if message.thread_ts and not any(m.ts == message.thread_ts for m in self.messages):
                return Reply(200, {"ok": False, "error": "thread_not_found"})
            self.messages.append(message)
            drop = self._drop_after_post > 0
            self._drop_after_post -= drop
            fail = self._fail_after_post.pop(0) if self._fail_after_post and not drop else None
        if fail:
            return Reply(fail, {"ok": False, "error": "internal_error"})
        if drop:
            self._release.wait(self._hang_after_post)
            return None  # stored, but the caller never hears back
        return Reply(200, {"ok": True, "channel": message.channel, "ts": message.ts, "message": message.public(True)})

    def _chat_update(self, p: dict) -> Reply:
        with self._state:
            for message in self.messages:
                if message.ts == p.get("ts") and message.channel == p.get("channel"):
                    message.edits.append({"text": message.text, "blocks": message.blocks})
                    message.text, message.blocks = p.get("text") or message.text, p.get("blocks") or message.blocks
                    return Reply(200, {"ok": True, "channel": message.channel, "ts": message.ts, "text": message.text})
        return Reply(200, {"ok": False, "error": "message_not_found"})

    def _chat_postEphemeral(self, p: dict) -> Reply:
        if not p.get("user"):
            return Reply(200, {"ok": False, "error": "user_not_in_channel"})
        self.ephemeral.append(p)
        return Reply(200, {"ok": True, "message_ts": self._new_ts()})

    def _views_publish(self, p: dict) -> Reply:
        view = _view(p)
        if not p.get("user_id") or view.get("type") != "home" or not 0 < len(view.get("blocks") or []) <= 100:
            return Reply(200, {"ok": False, "error": "invalid_arguments"})
        with self._state:
            self.home[p["user_id"]] = view
        return Reply(200, {"ok": True, "view": view})

    def _views_open(self, p: dict) -> Reply:
        view = _view(p)
        if not p.get("trigger_id") or view.get("type") != "modal":
            return Reply(200, {"ok": False, "error": "invalid_arguments"})
        with self._state:
            self.modals.append(view)
        return Reply(200, {"ok": True, "view": view})

    def _conversations_info(self, p: dict) -> Reply:
        needed = "groups:read" if self.channels.get(p.get("channel"), {}).get("is_private") else "channels:read"
        if needed not in self.scopes:
            return Reply(200, {"ok": False, "error": "missing_scope", "needed": needed})
        channel = self.channels.get(p.get("channel"))
        if channel is None or (channel["is_private"] and not channel["is_member"]):
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        return Reply(200, {"ok": True, "channel": channel})

    def _conversations_history(self, p: dict) -> Reply:
        oldest = float(p.get("oldest") or 0)
        with_metadata = str(p.get("include_all_metadata")).lower() in ("1", "true")
        found = [m.public(with_metadata) for m in reversed(self.top_level(p.get("channel")))
                 if float(m.ts.split(".")[0]) >= oldest]
        return Reply(200, {"ok": True, "messages": found, "has_more": False})

    def _conversations_replies(self, p: dict) -> Reply:
        with_metadata = str(p.get("include_all_metadata")).lower() in ("1", "true")
        parent = [m for m in self.messages if m.ts == p.get("ts") and m.channel == p.get("channel")]
        if not parent:
            return Reply(200, {"ok": False, "error": "thread_not_found"})
        found = [m.public(with_metadata) for m in parent + self.replies(p["ts"])]
        return Reply(200, {"ok": True, "messages": found, "has_more": False})


def _params(request: Request) -> dict:
    """A Web API call's arguments, from a JSON body, a form body or the query string."""
    if request.headers.get("content-type", "").startswith("application/json"):
        data = request.json() or {}
    else:
        data = dict(request.form) if request.body else {}
        for name, values in request.query.items():
            data.setdefault(name, values[-1])
        for name in ("blocks", "metadata", "attachments"):
            if isinstance(data.get(name), str):
                with contextlib.suppress(ValueError):
                    data[name] = json.loads(data[name])
    return data


def _view(params: dict) -> dict:
    """The `view` argument of views.*: a JSON object, or a string of one."""
    view = params.get("view")
    if isinstance(view, str):
        try:
            view = json.loads(view)
        except ValueError:
            return {}
    return view if isinstance(view, dict) else {}
