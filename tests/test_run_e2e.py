"""`smserror run` end to end on loopback: the real service (waitress, scheduler, delivery thread)
against fakes of Twilio, the Slack Web API and a Teams webhook, through the real SDKs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from twilio.request_validator import RequestValidator

from bot.settings import Settings
from jobs.scheduler import DIGEST_JOB_ID
from tests.fakes.slack_api import TOKEN, FakeSlack
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID

CHANNEL = "C0OPS"
PUBLIC = "https://smserror.example.org"
SERVICE_SID = "MG" + "0" * 31 + "1"
PATIENT = "+12025550187"


@pytest.fixture
def fakes(twilio, slack, teams):
    return twilio, slack, teams


def settings_for(twilio, slack, teams, **overrides) -> Settings:
    values = dict(
        slack_bot_token=TOKEN, slack_signing_secret="signing", slack_channel=CHANNEL, slack_api_url=slack.api_url,
        twilio_account_sid=MAIN_SID, twilio_auth_token=AUTH_TOKEN, twilio_api_url=twilio.url, twilio_timeout=2,
        teams_webhook_url=teams.webhook_url, public_url=PUBLIC, poll_seconds=1,
    )
    values.update(overrides)
    return Settings(**values)


def alerts_in(slack: FakeSlack) -> list:
    return [m for m in slack.top_level(CHANNEL)
            if (m.metadata or {}).get("event_payload", {}).get("key", "").startswith("alert:")]


def digests_in(slack: FakeSlack) -> list:
    return [m for m in slack.top_level(CHANNEL)
            if (m.metadata or {}).get("event_payload", {}).get("key", "").startswith("digest:")]


def callback(service_url: str, code: int, sid: str) -> requests.Response:
    form = {"MessageSid": sid, "AccountSid": MAIN_SID, "MessagingServiceSid": SERVICE_SID, "From": "+12025550100",
            "To": PATIENT, "MessageStatus": "undelivered", "ErrorCode": str(code), "ApiVersion": "2010-04-01"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/twilio/status", form)
    return requests.post(service_url + "/twilio/status", data=form, headers={"X-Twilio-Signature": signature},
                         timeout=5)


def test_30033_status_callback_reaches_slack_and_teams(fakes, start_service):
    twilio, slack, teams = fakes
    service = start_service(settings_for(twilio, slack, teams))
    assert callback(service.url, 30033, "SM" + "a" * 32).status_code == 200
    assert slack.wait_for(lambda: alerts_in(slack), timeout=5)
    [alert] = alerts_in(slack)
    assert "30033" in alert.text and "<!here>" in json.dumps(alert.blocks) + alert.text
    assert teams.wait_for(lambda: teams.cards, timeout=5)
    traffic = slack.all_traffic() + json.dumps(teams.cards)
    assert PATIENT not in traffic and "Your appointment" not in traffic


def test_30033_seen_by_polls_raises_exactly_one_alert(fakes, start_service):
    twilio, slack, teams = fakes
    now = int(time.time())
    for n in range(3):
        twilio.add_message(date_sent=now - 600 + n, status="undelivered", error_code=30033, recipient=PATIENT)
    twilio.add_message(date_sent=now - 500, status="delivered")
    service = start_service(settings_for(twilio, slack, teams))
    assert slack.wait_for(lambda: alerts_in(slack), timeout=5)
    polls_before = len(twilio.requests_to("/Messages.json"))
    assert twilio.wait_for(lambda: len(twilio.requests_to("/Messages.json")) >= polls_before + 2, timeout=5)
    [alert] = alerts_in(slack)
    assert alert.text.endswith(": 3 failures"), "the three 30033s are one alert counting three"
    assert service.pipeline.store.get().execute("SELECT count(*) FROM failures").fetchone()[0] == 3


def test_missed_morning_digest_arrives_once_even_across_a_restart(fakes, start_service):
    twilio, slack, teams = fakes
    just_passed = (datetime.now(UTC) - timedelta(minutes=5)).time().replace(second=0, microsecond=0)
    settings = settings_for(twilio, slack, teams, digest_at=just_passed)
    first = start_service(settings, keep_digest_time=True)
    assert slack.wait_for(lambda: digests_in(slack), timeout=30)
    first.stop()
    caught_up = threading.Event()

    def listen(service) -> None:
        service.scheduler.add_listener(lambda event: event.job_id == DIGEST_JOB_ID and caught_up.set(),
                                       EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    start_service(settings, keep_digest_time=True, before_start=listen)
    assert caught_up.wait(30), "the second start-up's catch-up digest job did not run"
    assert len(digests_in(slack)) == 1
    assert len(teams.cards) == 1


def test_sigterm_stops_run_cleanly(fakes, tmp_path):
    slack = fakes[1]
    env = {"PATH": os.environ.get("PATH", ""), "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "s",
           "SLACK_CHANNEL": CHANNEL, "SLACK_API_URL": slack.api_url, "SMSERROR_DB": str(tmp_path / "s.db"),
           "PORT": "0", "SMSERROR_HOST": "127.0.0.1"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=env, cwd=Path(__file__).parent.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    while not any("listening on" in line for line in lines):
        line = proc.stderr.readline()
        assert line, f"run exited early: {''.join(lines)}"
        lines.append(line)
    url = lines[-1].rsplit("listening on ", 1)[1].strip()
    assert requests.get(url + "/healthz", timeout=5).status_code == 200
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "stopped" in err


def test_subaccount_callbacks_are_checked_with_the_subaccount_token(fakes, start_service):
    twilio, slack, teams = fakes
    sub = "AC" + "5" * 32
    sub_token = twilio.add_subaccount(sub, "Glow Clinic")
    service = start_service(settings_for(twilio, slack, teams, twilio_subaccounts="all"))
    assert twilio.wait_for(lambda: twilio.requests_to("/Accounts.json"), timeout=5)
    form = {"MessageSid": "SM" + "b" * 32, "AccountSid": sub, "MessageStatus": "undelivered", "ErrorCode": "30003",
            "To": PATIENT, "From": "+12025550100"}

    def post(token: str) -> int:
        signature = RequestValidator(token).compute_signature(PUBLIC + "/twilio/status", form)
        return requests.post(service.url + "/twilio/status", data=form, headers={"X-Twilio-Signature": signature},
                             timeout=5).status_code

    assert twilio.wait_for(lambda: post(sub_token) == 200, timeout=5)
    assert post("some-other-token") == 403
