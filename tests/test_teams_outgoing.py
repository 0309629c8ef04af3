"""@smserror in Teams: the outgoing webhook's HMAC check and reply, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from bot.settings import Settings
from bot.teams import question_text
from tests.http import post

SECRET = base64.b64encode(b"teams-shared-secret-0123456789ab").decode()


@pytest.fixture
def server(start_service):
    settings = Settings(teams_outgoing_secret=SECRET)
    return start_service(settings)


def activity(text: str) -> bytes:
    return json.dumps({"type": "message", "text": text, "from": {"name": "Amy"}}).encode()


def sign(body: bytes, secret: str = SECRET) -> dict:
    digest = hmac.new(base64.b64decode(secret), body, hashlib.sha256).digest()
    return {"Authorization": "HMAC " + base64.b64encode(digest).decode(), "Content-Type": "application/json"}


def test_signed_mention_gets_card_as_message(server):
    body = activity("<at>smserror</at> 30034")
    reply = post(server.url + "/teams/messages", body, sign(body))
    assert reply.status == 200
    payload = reply.json()
    assert payload["type"] == "message"
    assert payload["text"].startswith("Twilio error 30034: "), "the text for clients without cards"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = json.dumps(attachment["content"])
    assert attachment["content"]["body"][0]["text"].startswith("30034 · ")
    assert "24 hours" in card
    assert attachment["content"]["actions"] == [
        {"type": "Action.OpenUrl", "title": "Twilio docs", "url": "https://www.twilio.com/docs/api/errors/30034"}]


def test_words_give_matches(server):
    body = activity("<at>smserror</at> landline")
    card = json.dumps(post(server.url + "/teams/messages", body, sign(body)).json()["attachments"][0]["content"])
    assert "21635" in card and "30006" in card


@pytest.mark.parametrize("auth", [None, "HMAC bm90LXRoZS1kaWdlc3Q=", "Bearer abc", "HMAC"])
def test_bad_hmac_gets_401(server, auth):
    body = activity("<at>smserror</at> 30034")
    headers = {"Content-Type": "application/json"} | ({"Authorization": auth} if auth else {})
    reply = post(server.url + "/teams/messages", body, headers)
    assert reply.status == 401
    assert "30034" not in reply.body.decode()


def test_signature_over_other_body_is_rejected(server):
    reply = post(server.url + "/teams/messages", activity("<at>smserror</at> 21610"), sign(activity("x")))
    assert reply.status == 401


def test_signed_garbage_gets_400_not_500(server):
    body = b"\xff{not json"
    assert post(server.url + "/teams/messages", body, sign(body)).status == 400


def test_mention_and_html_are_stripped():
    assert question_text({"text": "<at>smserror</at>&nbsp;opted <b>out</b>\n"}) == "opted out"
    assert question_text({"text": "<at>smserror</at> 21610"}) == "21610"
    assert question_text({"text": None}) == ""
    assert question_text([]) == ""
