"""smserror says when it is blind or mute: Twilio refusing the credentials (or timing out) for
SMSERROR_STALE_AFTER, deliveries to Slack failing that long (told through Teams), and a burst
of refused Twilio callbacks. One alert each, edited when the cause changes, and one recovery (an
edit and a thread reply), against the fakes with explicit clocks."""

from __future__ import annotations

import json
import logging

import pytest

from bot.pipeline import Pipeline
from bot.settings import Settings
from bot.watching import BURST, Watcher
from jobs import alerts, overview, watch
from jobs.twilio_client import make_client
from storage import alert_groups
from storage.db import LocalDb
from tests.fakes.slack_api import TOKEN
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID
from tests.http import post
from tests.test_run_e2e import settings_for

T0 = 1_800_000_000
CHANNEL = "C0OPS"
STALE = 900
ROTATED = "a-token-that-was-rotated-away"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock(T0)


def build(tmp_path, clock, twilio=None, slack=None, teams=None, **overrides):
    values = dict(stale_after=STALE, twilio_timeout=1, public_url="https://smserror.example.org")
    if twilio is not None:
        values.update(twilio_account_sid=MAIN_SID, twilio_auth_token=ROTATED, twilio_api_url=twilio.url)
    if slack is not None:
        values.update(slack_bot_token=TOKEN, slack_channel=CHANNEL, slack_api_url=slack.api_url, slack_timeout=2)
    if teams is not None:
        values.update(teams_webhook_url=teams.webhook_url)
    settings = Settings(**{**values, **overrides})
    client = make_client(settings.twilio, max_attempts=1) if twilio is not None else None  # no waits between retries
    pipeline = Pipeline(settings, LocalDb(tmp_path / "smserror.db"), clock=clock, twilio=client)
    return pipeline, Watcher(settings, pipeline.store, pipeline.destinations, wake=lambda: None, clock=clock)


def at(clock, minutes: float, pipeline, watcher) -> None:
    """One poll tick at T0 + `minutes`, as the leader runs it, then a delivery pass."""
    clock.now = T0 + minutes * 60
    watcher.polled(pipeline.poll(), int(clock.now))
    watcher.delivered(pipeline.deliver(), int(clock.now))


def everything(message) -> str:
    return message.text + json.dumps(message.blocks)


def test_a_401_for_longer_than_stale_after_gives_one_alert_then_one_recovery(tmp_path, clock, twilio, slack):
    pipeline, watcher = build(tmp_path, clock, twilio, slack)
    for minute in range(15):  # failing for 14 minutes: not yet
        at(clock, minute, pipeline, watcher)
    assert slack.messages == []
    for minute in (15, 16, 30):
        at(clock, minute, pipeline, watcher)
    [alert] = slack.top_level(CHANNEL)
    shown = everything(alert)
    assert f"smserror cannot read Twilio account {MAIN_SID}" in shown
    assert "rejected the credentials" in shown and "TWILIO_AUTH_TOKEN" in shown
    assert ROTATED not in slack.all_traffic()
    assert slack.replies(alert.ts) == [] and alert.edits == [], "the same cause each pass: nothing more to say"

    twilio.auth_token = ROTATED  # the operator set the new token (here: Twilio takes the old one again)
    at(clock, 31, pipeline, watcher)
    at(clock, 32, pipeline, watcher)
    [alert] = slack.top_level(CHANNEL)
    [reply] = slack.replies(alert.ts)
    assert "Working again" in reply.text and MAIN_SID in reply.text
    assert len(alert.edits) == 1 and "working again" in everything(alert)
    assert "Failing since" not in everything(alert)


def test_a_streak_shorter_than_stale_after_ends_silently(tmp_path, clock, twilio, slack):
    pipeline, watcher = build(tmp_path, clock, twilio, slack)
    for minute in range(10):
        at(clock, minute, pipeline, watcher)
    twilio.auth_token = ROTATED
    at(clock, 10, pipeline, watcher)
    twilio.auth_token = AUTH_TOKEN  # rotated again: a new streak, counted from now
    for minute in range(11, 25):
        at(clock, minute, pipeline, watcher)
    assert slack.messages == []
    at(clock, 26, pipeline, watcher)
    assert len(slack.top_level(CHANNEL)) == 1


def test_a_new_cause_edits_the_alert_once(tmp_path, clock, twilio, slack):
    pipeline, watcher = build(tmp_path, clock, twilio, slack)
    for minute in (0, 15):
        at(clock, minute, pipeline, watcher)
    twilio.auth_token = ROTATED
    twilio.fail(503, times=2, path_prefix="/2010-04-01/Accounts/")
    for minute in (16, 17):
        at(clock, minute, pipeline, watcher)
    [alert] = slack.top_level(CHANNEL)
    assert len(alert.edits) == 1, "timeouts or 5xx instead of 401: one edit, not one per pass"
    assert "server errors (HTTP 5xx)" in everything(alert) and "rejected the credentials" not in everything(alert)
    assert slack.replies(alert.ts) == []


def test_twilio_causes_name_the_setting_to_fix():
    cases = {
        "Twilio rejected the credentials (error 20003, HTTP 401): check …": ("credentials", "TWILIO_AUTH_TOKEN"),
        "Twilio GET /x: no answer within 15s (SMSERROR_TWILIO_TIMEOUT) after 4 attempts": (
            "timeouts", "SMSERROR_TWILIO_TIMEOUT"),
        "Twilio GET /x: connection failed (ConnectionError) after 4 attempts": ("unreachable", "TWILIO_API_URL"),
        "Twilio GET /x: HTTP 503 after 4 attempts": ("server_errors", "status.twilio.com"),
        "Twilio answered HTTP 404 (error 20404)": ("forbidden", "TWILIO_SUBACCOUNTS"),
        "store error: disk I/O error": ("store", "SMSERROR_DB"),
    }
    for error, (cause_id, setting) in cases.items():
        trouble = watch.twilio_trouble(MAIN_SID, "Main practice", error)
        assert (trouble.cause_id, setting in trouble.fix) == (cause_id, True), error
        assert trouble.title == f"smserror cannot read Twilio account {MAIN_SID} (Main practice)"


def test_the_pollers_own_words_are_read_as_their_cause(tmp_path, clock, twilio):
    pipeline, _ = build(tmp_path, clock, twilio)
    [account] = pipeline.poll().accounts
    assert watch.twilio_trouble(MAIN_SID, None, account.error).cause_id == "credentials"
    twilio.auth_token = ROTATED
    twilio.hang(5, path_prefix="/2010-04-01/Accounts/")
    [account] = pipeline.poll().accounts
    assert watch.twilio_trouble(MAIN_SID, None, account.error).cause_id == "timeouts"


def test_with_every_subaccount_a_refused_token_is_watched_too(tmp_path, clock, twilio, slack):
    """TWILIO_SUBACCOUNTS=all reads the subaccounts' tokens first: a 401 there must not end the tick."""
    pipeline, watcher = build(tmp_path, clock, twilio, slack, twilio_subaccounts="all")
    for minute in (0, 15):
        at(clock, minute, pipeline, watcher)
    assert len(slack.top_level(CHANNEL)) == 1


def test_slack_failing_for_stale_after_is_told_through_teams_then_its_recovery(tmp_path, clock, slack, teams, caplog):
    pipeline, watcher = build(tmp_path, clock, slack=slack, teams=teams)
    db = pipeline.store.get()
    pipeline.ingest([{"sid": "SM" + "a" * 32, "account_sid": MAIN_SID, "status": "undelivered", "error_code": 30033,
                      "sent_at": T0, "updated_at": T0}], "callback", T0)
    # the alert's attempts, each once its backoff (30 s, 1, 2, 4, 8, 16 min, ±10 %) is over: the sixth works
    slack.fail(200, times=6, body={"ok": False, "error": "invalid_auth"}, path_prefix="/api/chat.postMessage")

    def deliver(minutes: float) -> None:
        clock.now = T0 + minutes * 60
        watcher.delivered(pipeline.deliver(), int(clock.now))

    for minute in (0, 1, 3, 6, 11):
        deliver(minute)
    assert len(teams.cards) == 1, "the 30033 alert only: Slack has failed for 11 minutes"
    caplog.set_level("ERROR", logger="smserror.watch")
    deliver(20)
    deliver(21)
    [told] = [json.dumps(card) for card in teams.cards[1:]]
    assert "smserror cannot deliver to Slack" in told and "SLACK_BOT_TOKEN" in told
    assert "smserror cannot deliver to Slack" in caplog.text, "and in the log"
    assert watch.streaks(db, "delivery:") == {"delivery:slack": T0}
    deliver(22)
    assert slack.messages == [] and len(teams.cards) == 2, "nothing about Slack is sent to Slack, nor twice"

    deliver(40)  # the seventh attempt: Slack takes it
    deliver(41)
    assert len(slack.top_level(CHANNEL)) == 1, "the queued alert, now delivered"
    assert "Working again" in json.dumps(teams.cards[-1]) and len(teams.cards) == 3
    assert watch.streaks(db) == {}


def test_a_burst_of_refused_callbacks_alerts_once_then_ends_when_they_stop(tmp_path, clock, slack):
    pipeline, watcher = build(tmp_path, clock, slack=slack, public_url="https://smserror.example.org/twilio/status")
    for n in range(BURST - 1):
        clock.now = T0 + n * 20
        watcher.refused("/twilio/status", 403, "bad_signature")
    watcher.refused("/twilio/status", 401, "bad_signature")  # not a 403
    watcher.refused("/slack/events", 403, "bad_signature")  # not Twilio's
    clock.now = T0 + 400  # the first six of them are out of the 5-minute window
    watcher.refused("/twilio/status", 403, "bad_signature")
    pipeline.deliver()
    assert slack.messages == []
    for n in range(BURST - 4):
        clock.now = T0 + 401 + n
        watcher.refused("/twilio/status", 403, "bad_signature")
    pipeline.deliver()
    [alert] = slack.top_level(CHANNEL)
    shown = everything(alert)
    assert "https://smserror.example.org/twilio/status/twilio/status" in shown, "the URL smserror expected"
    assert "SMSERROR_PUBLIC_URL" in shown and "base URL only" in shown

    for minute in (10, 20):  # still refused now and then: still the same alert
        clock.now = T0 + 401 + minute * 60
        watcher.refused("/twilio/events", 403, "bad_signature")
    assert alert_groups.get(pipeline.store.get(), "watch:callbacks").count == 1
    watcher.callbacks_quiet(int(clock.now) + STALE - 1)
    pipeline.deliver()
    assert len(slack.messages) == 1
    watcher.callbacks_quiet(int(clock.now) + STALE)
    pipeline.deliver()
    [reply] = slack.replies(alert.ts)
    assert "Working again" in reply.text


def test_watch_groups_stay_out_of_the_failure_alerts(tmp_path, clock, twilio, slack):
    pipeline, watcher = build(tmp_path, clock, twilio, slack)
    for minute in (0, 15):
        at(clock, minute, pipeline, watcher)
    db = pipeline.store.get()
    assert alert_groups.get(db, f"watch:twilio:{MAIN_SID}").posted_at == T0 + 900
    assert alerts.check_resolved(db, T0 + 30 * 86400) == [], "quiet failures resolve; a watch resolves itself"
    assert overview.status(db, T0 + 1000)["alerts"] == []


# -- the same through the running service --------------------------------------------------------

def test_run_says_when_twilio_refuses_its_token_and_when_it_takes_it_again(twilio, slack, teams, start_service):
    service = start_service(settings_for(twilio, slack, teams, twilio_auth_token=ROTATED, stale_after=2))
    assert slack.wait_for(lambda: slack.top_level(CHANNEL), timeout=10)
    [alert] = slack.top_level(CHANNEL)
    assert "rejected the credentials" in everything(alert) and "TWILIO_AUTH_TOKEN" in everything(alert)
    assert teams.wait_for(lambda: any("cannot read Twilio" in json.dumps(card) for card in teams.cards), timeout=5)
    twilio.auth_token = ROTATED
    assert slack.wait_for(lambda: slack.replies(alert.ts), timeout=10)
    assert "Working again" in slack.replies(alert.ts)[0].text
    assert slack.wait_for(lambda: slack.top_level(CHANNEL)[0].edits, timeout=5)
    assert len(slack.top_level(CHANNEL)) == 1 and service.role == "leader"


def test_run_alerts_on_a_burst_of_forged_callbacks(twilio, slack, teams, start_service):
    service = start_service(settings_for(twilio, slack, teams, public_url="https://smserror.example.org/twilio/status"))
    for n in range(BURST):
        form = f"MessageSid=SM{n:032x}&MessageStatus=undelivered&ErrorCode=30007".encode()
        forged = {"X-Twilio-Signature": "c2lnbmVkIGZvciBhbm90aGVy"}
        assert post(service.url + "/twilio/status", form, forged).status == 403
    assert slack.wait_for(lambda: slack.top_level(CHANNEL), timeout=10)
    [alert] = slack.top_level(CHANNEL)
    assert "https://smserror.example.org/twilio/status/twilio/status" in everything(alert)


def test_slack_alone_failing_is_said_once_in_the_log(tmp_path, clock, slack, caplog):
    pipeline, watcher = build(tmp_path, clock, slack=slack)
    caplog.set_level(logging.INFO, logger="smserror.watch")
    slack.fail(200, times=50, body={"ok": False, "error": "channel_not_found"}, path_prefix="/api/chat.postMessage")
    for n in range(3):
        pipeline.ingest([{"sid": f"SM{n:032x}", "account_sid": MAIN_SID, "status": "undelivered",
                          "error_code": 30033 + n, "sent_at": T0, "updated_at": T0}], "callback", T0)
    for minute in (0, 1, 3, 6, 11, 20, 40, 80):
        clock.now = T0 + minute * 60
        watcher.delivered(pipeline.deliver(), int(clock.now))
    said = [r.getMessage() for r in caplog.records if r.name == "smserror.watch"]
    assert len(said) == 1 and "cannot deliver to Slack" in said[0] and "SLACK_CHANNEL" in said[0], said
    assert watch.streaks(pipeline.store.get()) == {"delivery:slack": T0}
