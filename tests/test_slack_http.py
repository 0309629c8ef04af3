"""/smserror over real HTTP: signed slash commands through Bolt, served by waitress."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.listeners.deps import ListenerDeps
from bot.settings import Settings
from bot.slack_app import build_app
from jobs.rules import DEFAULT_RULES
from tests.http import get, post

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def server(start_service, slack):
    settings = Settings(
        slack_signing_secret=SECRET, slack_bot_token="xoxb-test", slack_channel="C123",
        slack_api_url=slack.url + "/api/",
    )
    return start_service(settings)


def slash_body(text: str, response_url: str = "https://hooks.slack.invalid/x") -> bytes:
    return urlencode(
        {"command": "/smserror", "text": text, "user_id": "U1", "user_name": "amy", "channel_id": "C123",
         "team_id": "T1", "trigger_id": "1.2.3", "response_url": response_url, "token": "legacy"}
    ).encode()


def signed(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body)
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}


def test_signed_slash_command_gets_ephemeral_card(server):
    body = slash_body("21610")
    reply = post(server.url + "/slack/events", body, signed(body))
    assert reply.status == 200
    payload = reply.json()
    assert payload["response_type"] == "ephemeral"
    assert payload["blocks"][0]["type"] == "header"
    assert payload["blocks"][0]["text"]["text"].startswith("21610 · ")
    text = json.dumps(payload)
    assert "START" in text
    actions = [b for b in payload["blocks"] if b["type"] == "actions"][0]["elements"]
    assert actions[0]["url"] == "https://www.twilio.com/docs/api/errors/21610"
    assert actions[1]["action_id"] == "smserror_share_in_channel" and actions[1]["value"] == "21610"


def test_channel_ping_in_text_is_escaped(server):
    body = slash_body("<!channel> <@U999> & more")
    reply = post(server.url + "/slack/events", body, signed(body))
    assert reply.status == 200
    text = json.dumps(reply.json())
    assert "<!channel>" not in text and "<@U999>" not in text
    assert "&lt;!channel&gt;" in text


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/x-www-form-urlencoded"},
        "wrong-secret",
        "six-minutes-old",
    ],
    ids=["unsigned", "wrong-secret", "six-minutes-old"],
)
def test_bad_signatures_get_401(server, headers):
    body = slash_body("21610")
    if headers == "wrong-secret":
        headers = signed(body, secret="not-the-secret")
    elif headers == "six-minutes-old":
        headers = signed(body, timestamp=int(time.time()) - 6 * 60)
    reply = post(server.url + "/slack/events", body, headers)
    assert reply.status == 401
    assert b"21610" not in reply.body


def test_tampered_body_gets_401(server):
    body = slash_body("21610")
    headers = signed(body)
    reply = post(server.url + "/slack/events", slash_body("30007"), headers)
    assert reply.status == 401


def test_share_in_channel_reposts_publicly_via_response_url(server, slack):
    payload = {
        "type": "block_actions",
        "user": {"id": "U1", "name": "amy"},
        "team": {"id": "T1"},
        "channel": {"id": "C123"},
        "response_url": slack.url + "/response/1",
        "trigger_id": "1.2.3",
        "actions": [{"type": "button", "action_id": "smserror_share_in_channel", "value": "30007", "block_id": "b"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    reply = post(server.url + "/slack/events", body, signed(body))
    assert reply.status == 200
    assert slack.wait_for(lambda: slack.requests_to("/response/1"))
    posted = slack.requests_to("/response/1")[0].json()
    assert posted["response_type"] == "in_channel" and posted["delete_original"] is True
    assert posted["blocks"][0]["text"]["text"].startswith("30007 · ")
    assert "<@U1>" in json.dumps(posted)
    assert "smserror_share_in_channel" not in json.dumps(posted)


def test_healthz(server):
    assert get(server.url + "/healthz").status == 200


def test_unknown_route_is_404_and_wrong_method_405(server):
    assert get(server.url + "/nope").status == 404
    assert get(server.url + "/slack/events").status == 405


def test_start_up_logs_no_misleading_token_warning(monkeypatch, caplog):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")
    build_app(Settings(slack_signing_secret=SECRET, slack_bot_token="xoxb-from-env"),
              ListenerDeps(store=lambda: None, rules=DEFAULT_RULES))
    assert not [r for r in caplog.records if r.levelno >= 30], [r.getMessage() for r in caplog.records]
