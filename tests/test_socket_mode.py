"""`smserror run` with SLACK_APP_TOKEN: /smserror and the buttons over Socket Mode.

The real service (waitress, scheduler, courier) and Bolt's own SocketModeHandler on slack_sdk's
built-in client, against a loopback fake of Slack: apps.connections.open on the Web API fake, and
a WebSocket server that says hello, pushes envelopes and records the client's acks.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from bot.settings import Settings
from tests.fakes.server import wait_until
from tests.fakes.slack_api import TOKEN
from tests.fakes.slack_socket import APP_TOKEN
from tests.http import get

CHANNEL = "C0OPS"


def socket_settings(api_url: str, **overrides) -> Settings:
    values = dict(
        slack_bot_token=TOKEN, slack_app_token=APP_TOKEN, slack_channel=CHANNEL, slack_api_url=api_url,
        # no signing secret: Socket Mode alone. A digest time two hours away: no start-up digest
        digest_at=(datetime.now(UTC) + timedelta(hours=2)).time().replace(second=0, microsecond=0),
    )
    values.update(overrides)
    return Settings(**values)


def slash_payload(text: str, response_url: str) -> dict:
    return {"token": "legacy", "team_id": "T1", "team_domain": "aesthetix", "channel_id": CHANNEL,
            "channel_name": "ops", "user_id": "U1", "user_name": "amy", "command": "/smserror", "text": text,
            "api_app_id": "AFAKE", "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": "1.2.3"}


def test_slash_command_is_answered_in_the_ack_and_stop_leaves_nothing_running(start_service, slack_sm, caplog,
                                                                               capfd):
    caplog.set_level(logging.DEBUG)  # the most the logs ever say: still no token in them
    before = set(threading.enumerate())
    service = start_service(socket_settings(slack_sm.api_url))
    assert slack_sm.socket.wait_connected(5), "the service never opened the WebSocket"
    opened = slack_sm.requests_to("/api/apps.connections.open")
    assert [r.headers["authorization"] for r in opened] == [f"Bearer {APP_TOKEN}"]

    envelope_id = slack_sm.socket.send_envelope("slash_commands", slash_payload("21610", slack_sm.response_url("c")))
    ack = slack_sm.socket.ack(envelope_id)
    assert ack is not None, "no ack for the slash command envelope"
    card = ack["payload"]
    assert card["response_type"] == "ephemeral"
    assert card["blocks"][0]["type"] == "header"
    assert card["blocks"][0]["text"]["text"].startswith("21610 · ")
    assert "START" in json.dumps(card)
    buttons = [b for b in card["blocks"] if b["type"] == "actions"][0]["elements"]
    assert buttons[1]["action_id"] == "smserror_share_in_channel" and buttons[1]["value"] == "21610"
    # answered in the ack: nothing went back through response_url or the Web API
    assert not slack_sm.requests_to("/response/") and not slack_sm.calls("chat.postMessage")

    # the HTTP server keeps serving; without a signing secret /slack/events is not mounted
    assert get(service.url + "/healthz").status == 200
    assert get(service.url + "/slack/events").status == 404

    started = time.monotonic()
    service.stop()
    assert time.monotonic() - started < 5
    assert slack_sm.socket.wait_disconnected(5), "the WebSocket is still open after stop"
    def left() -> list[threading.Thread]:
        return [t for t in set(threading.enumerate()) - before if t.is_alive()]

    assert wait_until(lambda: not left(), timeout=3), f"threads left running after stop: {[t.name for t in left()]}"

    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert "Traceback" not in capfd.readouterr().err
    assert APP_TOKEN not in caplog.text and TOKEN not in caplog.text


def test_share_button_reposts_the_card_publicly(start_service, slack_sm):
    start_service(socket_settings(slack_sm.api_url))
    payload = {
        "type": "block_actions", "user": {"id": "U1", "name": "amy"}, "team": {"id": "T1"},
        "api_app_id": "AFAKE", "channel": {"id": CHANNEL}, "response_url": slack_sm.response_url("share"),
        "trigger_id": "1.2.3", "container": {"type": "message", "channel_id": CHANNEL, "is_ephemeral": True},
        "actions": [{"type": "button", "action_id": "smserror_share_in_channel", "value": "30007", "block_id": "b"}],
    }
    envelope_id = slack_sm.socket.send_envelope("interactive", payload)
    assert slack_sm.socket.ack(envelope_id) == {"envelope_id": envelope_id}  # a plain ack, nothing to show
    assert slack_sm.wait_for(lambda: slack_sm.responses.get("share"))
    posted = slack_sm.responses["share"][0]
    assert posted["response_type"] == "in_channel" and posted["delete_original"] is True
    assert posted["blocks"][0]["text"]["text"].startswith("30007 · ")
    assert "<@U1>" in json.dumps(posted)


def test_slack_unreachable_at_start_does_not_stop_run(start_service, caplog):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/api/"
    caplog.set_level(logging.INFO)
    service = start_service(socket_settings(dead))
    assert get(service.url + "/healthz").status == 200
    def socket_mode_lines() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name.startswith("smserror.socket_mode")]

    assert wait_until(socket_mode_lines)
    lines = socket_mode_lines()
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    assert "Socket Mode" in lines[0].getMessage() and "retrying" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]
    assert APP_TOKEN not in caplog.text
    started = time.monotonic()
    service.stop()  # the retry loop is waiting: stop does not wait it out
    assert time.monotonic() - started < 3


def test_connects_once_slack_is_back(start_service, slack_sm, caplog):
    slack_sm.fail(503, times=1, body={"ok": False, "error": "service_unavailable"},
                  path_prefix="/api/apps.connections.open")
    caplog.set_level(logging.INFO)
    start_service(socket_settings(slack_sm.api_url))
    assert slack_sm.socket.wait_connected(6), "no retry after Slack came back"
    assert len(slack_sm.requests_to("/api/apps.connections.open")) == 2
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "smserror.service"]
    assert len(warnings) == 1 and "service_unavailable" in warnings[0].getMessage()  # one line, not one per layer
    envelope_id = slack_sm.socket.send_envelope("slash_commands",
                                                slash_payload("opted out", slack_sm.response_url("c")))
    assert "21610" in json.dumps(slack_sm.socket.ack(envelope_id))


def test_a_bot_token_in_place_of_the_app_token_is_refused_at_start():
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
        Settings.from_env({"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": TOKEN}, dotenv=None)
