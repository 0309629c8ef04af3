"""A fake Teams Workflows webhook: takes `{"type":"message","attachments":[…adaptive card…]}`,
answers 202 like Workflows does, refuses bodies over 28 KB with 413 (as Teams does), and keeps
every card it accepted in `cards`."""

from __future__ import annotations

import json

from tests.fakes.server import FakeServer, Reply, Request

LIMIT = 28 * 1024
PATH = "/workflows/abc123/triggers/manual/paths/invoke"
SECRET_QUERY = "sig=fake-signature-secret"


class FakeTeams(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.cards: list[dict] = []
        self.sizes: list[int] = []

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{PATH}?api-version=1&{SECRET_QUERY}"

    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or request.path != PATH or request.param("sig") != SECRET_QUERY.split("=", 1)[1]:
            return Reply(401, {"error": {"code": "DirectApiAuthorizationRequired"}})
        if len(request.body) > LIMIT:
            return Reply(413, {"error": {"code": "RequestEntityTooLarge"}})
        try:
            message = json.loads(request.body)
            attachment = message["attachments"][0]
            assert message["type"] == "message"
            assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
            card = attachment["content"]
            assert card["type"] == "AdaptiveCard"
        except (ValueError, KeyError, IndexError, TypeError, AssertionError):
            return Reply(400, {"error": {"code": "InvalidRequestContent"}})
        self.cards.append(card)
        self.sizes.append(len(request.body))
        return Reply(202, b"")

    def all_traffic(self) -> str:
        with self._lock:
            return "\n".join(r.body.decode("utf-8", "replace") for r in self.requests)
