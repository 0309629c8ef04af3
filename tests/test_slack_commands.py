"""`/smserror help|top|status|examples` over real HTTP: signed slash commands into the running
service (waitress, Bolt, its store), answered in the ack; alerts it posts go to the fake Slack."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from bot.emit.slack import to_dicts
from bot.mrkdwn import escape
from bot.settings import Settings
from jobs import alerts, overview
from jobs.views.commands import status_view
from storage import alert_groups, knowledge, leases, outbox
from storage.failures import upsert_failures
from storage.poll_state import record_pass_error, record_pass_ok
from tests.fakes.slack_api import TOKEN
from tests.http import post
from tests.test_alerts import ACCOUNT, CHANNEL, PATIENT, failure
from tests.test_slack_http import SECRET, signed

HOUR = 3600
OTHER = "AC" + "c3" * 16


@pytest.fixture
def service(start_service, slack):
    settings = Settings(slack_signing_secret=SECRET, slack_bot_token=TOKEN, slack_channel=CHANNEL,
                        slack_api_url=slack.api_url)
    return start_service(settings)


def command(service, text: str, **fields) -> dict:
    body = urlencode({"command": "/smserror", "text": text, "user_id": "U1", "user_name": "amy",
                      "channel_id": CHANNEL, "team_id": "T1", "team_domain": "acme", "trigger_id": "1.2.3",
                      "response_url": "https://hooks.slack.invalid/x", "token": "legacy", **fields}).encode()
    reply = post(service.url + "/slack/events", body, signed(body))
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["response_type"] == "ephemeral"
    return answer


def shown(answer: dict) -> str:
    return json.dumps(answer["blocks"], ensure_ascii=False)


def header(answer: dict) -> str:
    first = answer["blocks"][0]
    return first["text"]["text"] if first["type"] == "header" else ""


def store(db, rows: list[dict], now: int) -> None:
    upsert_failures(db, rows, "poll", now)


@pytest.mark.parametrize("text", ["help", "", "HELP"])
def test_help_lists_every_subcommand_with_an_example(service, text):
    answer = command(service, text)
    assert header(answer) == "smserror commands"
    for typed in ("/smserror 30007", "/smserror opted out", "/smserror top 7d", "/smserror status",
                  "/smserror examples 30007"):
        assert f"`{typed}`" in shown(answer), typed


def test_top_ranks_codes_with_counts_change_and_first_step(service):
    db, now = service.pipeline.store.get(), int(time.time())
    store(db, [failure(30007, now - HOUR - i) for i in range(5)]
          + [failure(21610, now - 2 * HOUR - i) for i in range(2)]
          + [failure(30007, now - 30 * HOUR - i) for i in range(3)] + [failure(30005, now - 40 * HOUR)]
          + [failure(30003, now - 4 * 86400)], now)

    answer = command(service, "top")
    assert header(answer) == "Top error codes · last 24 h"
    text = shown(answer)
    assert "7 failures in the last 24 h · ▲ +3 (+75%) vs 4 in the 24 h before · 2 codes." in text
    assert "1. 30007 · " in text and "2. 21610 · " in text and text.index("1. 30007") < text.index("2. 21610")
    assert "5 failures · ▲ +2 (+66%) vs 3" in text
    assert "2 failures · new, none before" in text
    assert escape(knowledge.get(30007).steps[0]) in text
    assert "30005" not in text and "30003" not in text, "only codes failing in the window are listed"

    week = shown(command(service, "top 7d"))
    assert "12 failures in the last 7 days" in week and "30003 · " in week and "30005 · " in week


def test_top_with_a_window_out_of_range_says_so_and_other_words_are_a_lookup(service):
    assert "takes a window from 1h to 31d" in shown(command(service, "top 99d"))
    answer = command(service, "top tier landline")
    assert "Top error codes" not in shown(answer) and "takes a window" not in shown(answer)


def test_status_shows_reads_delivery_leader_and_open_alerts_with_links(service, slack):
    db, now = service.pipeline.store.get(), int(time.time())
    record_pass_ok(db, ACCOUNT, pass_at=now - 60, swept=True, ok_at=now - 50, friendly_name="Glow Clinic")
    record_pass_error(db, OTHER, "HTTP 401 from Twilio: Authenticate")
    result = upsert_failures(db, [failure(30033, now - 120)], "poll", now)
    alerts.observe(db, result.new, now)
    key = alerts.group_key(ACCOUNT, 30033, failure()["service_sid"])
    assert slack.wait_for(lambda: service.role == "leader", timeout=10)
    service.courier.wake()
    assert slack.wait_for(lambda: (alert_groups.get(db, key).post_ref or "") != "", timeout=10)
    group = alert_groups.get(db, key)

    answer = command(service, "status")
    text = shown(answer)
    assert header(answer) == "smserror status"
    assert "Glow Clinic (AC" in text and "last read <!date^" in text
    assert f"{OTHER}: never read · ⚠️ latest attempt failed: HTTP 401 from Twilio: Authenticate" in text
    assert text.index(OTHER) < text.index("Glow Clinic"), "a failing account comes first"
    assert "Nothing waiting to be sent." in text
    assert "This instance leads" in text
    assert "Open alerts (1)" in text and "Campaign Suspended" in text and "`30033`" in text
    assert f"<https://acme.slack.com/archives/{CHANNEL}/p{group.post_ref.replace('.', '')}|open>" in text


def test_status_of_an_empty_store(service):
    text = shown(command(service, "status"))
    assert "No Twilio account has been read yet" in text and "No open alerts." in text


def test_examples_lists_the_latest_failures_of_a_code_masked(service):
    db, now = service.pipeline.store.get(), int(time.time())
    rows = [failure(30007, now - 60 * i, recipient=PATIENT) for i in range(12)]
    store(db, rows + [failure(30003, now)], now)

    answer = command(service, "examples 30007")
    text = shown(answer)
    assert "Latest 10 of 12" in text
    assert all(row["sid"] in text for row in rows[:10]) and not any(row["sid"] in text for row in rows[10:])
    assert text.index(rows[0]["sid"]) < text.index(rows[9]["sid"]), "newest first"
    assert "+1••••••4567" in text
    whole = json.dumps(answer, ensure_ascii=False)
    assert PATIENT not in whole and PATIENT[2:] not in whole and "5551234567" not in whole


def test_examples_needs_a_code_and_says_when_there_are_none(service):
    assert "Give an error code: /smserror examples 30007" in shown(command(service, "examples"))
    assert "Give an error code" in shown(command(service, "examples opted out"))
    assert "No stored failures with code 30008" in shown(command(service, "examples 30008"))


@pytest.mark.parametrize("text, expected", [
    ("30007", "30007 · "),
    ("status callback", None),
    ("opted out", None),
])
def test_anything_else_is_the_lookup_as_before(service, text, expected):
    answer = command(service, text)
    assert header(answer) not in ("smserror status", "smserror commands")
    if expected:
        assert header(answer).startswith(expected)
    else:
        assert "match" in shown(answer), "a list of codes matching the words"
    if text == "opted out":
        assert "21610" in shown(answer)


def test_status_counts_the_backlog_masks_its_error_and_names_the_leader(db):
    now = int(time.time())
    outbox.enqueue(db, "alert:a", "alert", {}, now - 600, destination="slack")
    outbox.enqueue(db, "alert:b", "alert", {}, now - 60, destination="slack")
    outbox.mark_retry(db, outbox.get(db, "alert:b"), "invalid number +15551234567", now + 30)

    text = shown({"blocks": to_dicts(status_view(overview.status(db, now)))[0]})
    assert f"2 messages waiting to be sent, the oldest queued <!date^{now - 600}^" in text
    assert "Latest error: invalid number +1••••••4567" in text and "5551234567" not in text
    assert "No instance leads right now" in text

    leases.acquire(db, leases.LEADER, "otherhost:41:cafe", now, 30)
    text = shown({"blocks": to_dicts(status_view(overview.status(db, now)))[0]})
    assert "This instance stands by; `otherhost:41:cafe` leads" in text
