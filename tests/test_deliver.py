"""Delivery that loses nothing and posts nothing twice: Slack errors and rate limits, outages,
lost replies, two deliverers at once, and a deliverer killed with SIGKILL mid-post."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.destinations import TeamsDestination
from jobs import alerts
from jobs.deliver import BACKOFF_MAX, DeliveryError, backoff, deliver_due
from storage import alert_groups, outbox
from storage.db import open_db
from tests.fakes.server import wait_until
from tests.fakes.slack_api import TOKEN, FakeSlack
from tests.fakes.teams_webhook import FakeTeams
from tests.test_alerts import ACCOUNT, CHANNEL, SERVICE, T0, failure, seen, slack_destination
from tests.test_digest import RecordingDestination

REPO = Path(__file__).resolve().parents[1]
GROUP = alerts.group_key(ACCOUNT, 30033, SERVICE)


def one_alert(db, now: int = T0) -> str:
    return seen(db, [failure(at=now)], now).enqueued[0]


def test_a_5xx_is_an_unknown_outcome_looked_up_once_settled_then_posted_once(db, slack):
    key = one_alert(db)
    dest = [slack_destination(slack)]
    slack.fail(503, path_prefix="/api/chat.postMessage")
    first = deliver_due(db, dest, T0)
    assert first.sent == [] and "HTTP 503" in first.errors[0]
    row = outbox.find_for(db, key, "slack")
    assert row.outcome_unknown and row.claim is None
    assert row.next_attempt_at >= T0 + dest[0].settle_seconds, "not retried before Slack's fate is settled"
    assert deliver_due(db, dest, T0 + 2).sent == []
    assert len(slack.requests_to("chat.postMessage")) == 1, "one request per claim: no in-line retry"
    slack.fail(429, headers={"Retry-After": "7"}, body={"ok": False, "error": "ratelimited"},
               path_prefix="/api/conversations.history")
    second = deliver_due(db, dest, T0 + 60)
    assert second.sent == [] and "429" in second.errors[0], "a lookup that cannot answer does not post"
    assert T0 + 60 + 7 <= outbox.find_for(db, key, "slack").next_attempt_at <= T0 + 60 + 8
    assert len(slack.requests_to("chat.postMessage")) == 1
    third = deliver_due(db, dest, T0 + 120)
    assert third.sent == [key + "@slack"] and len(slack.messages) == 1
    assert len(slack.requests_to("conversations.history")) == 2
    row = outbox.find_for(db, key, "slack")
    assert row.response_ts == slack.messages[0].ts and row.attempts == 3
    assert alert_groups.get(db, GROUP).post_ref == slack.messages[0].ts


def test_a_5xx_after_slack_stored_the_post_is_found_not_posted_again(db, slack):
    key = one_alert(db)
    dest = [slack_destination(slack)]
    slack.post_then_fail(1, status=500)
    assert deliver_due(db, dest, T0).sent == [] and len(slack.messages) == 1
    assert len(deliver_due(db, dest, T0 + 60).sent) == 1
    assert len(slack.messages) == 1 and len(slack.requests_to("chat.postMessage")) == 1
    assert outbox.find_for(db, key, "slack").response_ts == slack.messages[0].ts


def test_a_429_goes_back_to_the_outbox_for_as_long_as_slack_asks(db, slack):
    key = one_alert(db)
    slack.fail(429, headers={"Retry-After": "1"}, body={"ok": False, "error": "ratelimited"},
               path_prefix="/api/chat.postMessage")
    dest = [slack_destination(slack)]
    assert deliver_due(db, dest, T0).sent == []
    row = outbox.find_for(db, key, "slack")
    assert T0 + 1 <= row.next_attempt_at <= T0 + 2 and not row.outcome_unknown, "a rate-limited post was not taken in"
    assert len(deliver_due(db, dest, T0 + 2).sent) == 1
    assert len(slack.messages) == 1 and slack.requests_to("conversations.history") == []


def test_a_long_outage_backs_off_and_then_delivers_once(db, slack):
    key = one_alert(db)
    slack.fail(503, times=2, path_prefix="/api/chat.postMessage")
    first = deliver_due(db, [slack_destination(slack)], T0)
    assert first.sent == [] and len(first.retrying) == 1 and "HTTP 503" in first.errors[0]
    row = outbox.find_for(db, key, "slack")
    assert row.sent_at is None and T0 + 25 <= row.next_attempt_at <= T0 + 35
    assert deliver_due(db, [slack_destination(slack)], T0 + 10).sent == [], "not due yet"
    second = deliver_due(db, [slack_destination(slack)], T0 + 60)  # another 503: still down
    assert second.sent == []
    assert outbox.find_for(db, key, "slack").next_attempt_at >= T0 + 60 + 50
    third = deliver_due(db, [slack_destination(slack)], T0 + 600)
    assert len(third.sent) == 1 and len(slack.messages) == 1


def test_a_long_retry_after_goes_back_to_the_outbox(db, slack):
    key = one_alert(db)
    slack.fail(429, headers={"Retry-After": "120"}, body={"ok": False, "error": "ratelimited"},
               path_prefix="/api/chat.postMessage")
    started = time.monotonic()
    report = deliver_due(db, [slack_destination(slack)], T0)
    assert time.monotonic() - started < 2, "a two-minute wait is not slept in-line"
    assert report.sent == [] and outbox.find_for(db, key, "slack").next_attempt_at == T0 + 120
    assert len(deliver_due(db, [slack_destination(slack)], T0 + 120).sent) == 1


def test_slack_unreachable_then_back(db, tmp_path):
    one_alert(db)
    down = FakeSlack().start()
    dest = [slack_destination(down)]
    down.stop()  # the port is closed: connection refused
    report = deliver_due(db, dest, T0)
    assert report.sent == [] and "unreachable" in report.errors[0]
    with FakeSlack() as slack:
        dest = [slack_destination(slack)]
        # a restart: another connection to the same store resumes the unsent row
        again = open_db(tmp_path / "smserror.db")
        assert len(deliver_due(again, dest, T0 + 3600).sent) == 1
        assert len(slack.messages) == 1
        again.close()


def test_a_lost_reply_is_found_by_its_metadata_not_posted_again(db, slack):
    key = one_alert(db)
    slack.post_then_drop(1)
    first = deliver_due(db, [slack_destination(slack)], T0)
    assert first.sent == [] and len(slack.messages) == 1
    assert outbox.find_for(db, key, "slack").outcome_unknown
    seen(db, [failure(at=T0 + 400)], T0 + 400)
    second = deliver_due(db, [slack_destination(slack)], T0 + 400)
    assert len(second.sent) == 3, second.summary()  # the alert (found), its edit and its reply
    assert len(slack.messages) == 2 and len(slack.top_level()) == 1
    ts = slack.top_level()[0].ts
    assert outbox.find_for(db, key, "slack").response_ts == ts
    assert slack.replies(ts) and slack.calls("chat.update")[0]["ts"] == ts


def test_two_deliverers_at_once_post_each_alert_once(db, slack, tmp_path):
    for n in range(6):
        seen(db, [failure(account="AC" + f"{n:02d}" * 16, at=T0)], T0)
    barrier = threading.Barrier(3)
    reports = []

    def worker():
        conn = open_db(tmp_path / "smserror.db")
        barrier.wait()
        reports.append(deliver_due(conn, [slack_destination(slack)], T0))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(slack.messages) == 6
    assert sum(len(r.sent) for r in reports) == 6


class Pager:
    """A destination that is not Slack but edits what it posted: jobs/ need nothing new for it."""

    name, kinds, settle_seconds = "pager", None, 1

    def send(self, item):
        item.sent_to = "room-7"
        return f"incident-{item.id}"

    def update(self, item, ref):  # pragma: no cover - this test sends no edit
        raise AssertionError("no edit expected")


def test_the_group_keeps_the_post_of_whichever_destination_can_edit_it(db):
    key = one_alert(db)
    board = RecordingDestination("board")  # shows alerts, cannot edit them
    board.kinds = frozenset({"alert", "alert-resolved"})
    assert len(deliver_due(db, [board, Pager()], T0).sent) == 2 and len(board.sent) == 1
    ref = outbox.find_for(db, key, "pager").response_ts
    group = alert_groups.get(db, GROUP)
    assert (group.post_destination, group.post_channel, group.post_ref) == ("pager", "room-7", ref)
    assert ref.startswith("incident-")


class Recorder:
    """A destination that keeps every post; a key in `fail_after_storing` is kept, then answered like
    Slack's 5xx after storing (an unknown outcome), to be retried a second later."""

    name, kinds, settle_seconds = "slack", None, 0.5

    def __init__(self) -> None:
        self.posts: list[str] = []
        self.fail_after_storing: set[str] = set()
        self.while_sending: dict[str, Callable[[], None]] = {}

    def send(self, item) -> str:
        self.posts.append(item.dedupe_key)
        self.while_sending.pop(item.dedupe_key, lambda: None)()
        if item.dedupe_key in self.fail_after_storing:
            self.fail_after_storing.discard(item.dedupe_key)
            raise DeliveryError("HTTP 500", unknown=True, retry_after=0)
        return f"ts-{len(self.posts)}"

    def update(self, item, ref: str) -> None:
        pass

    def find_sent(self, item) -> str | None:
        return "ts-found" if item.dedupe_key in self.posts else None


def test_a_deliverer_whose_read_went_stale_does_not_post_what_another_tried_meanwhile(db, tmp_path):
    first, second = (seen(db, [failure(account=account, at=T0)], T0).enqueued[0] + "@slack"
                     for account in (ACCOUNT, "AC" + "c3" * 16))
    recorder = Recorder()
    other = open_db(tmp_path / "smserror.db")

    def meanwhile() -> None:  # B tries the second alert while A posts the first: stored, then a 500
        recorder.fail_after_storing.add(second)
        assert deliver_due(other, [recorder]).retrying == [second]
        retry_at = outbox.get(db, second).next_attempt_at
        assert wait_until(lambda: time.time() >= retry_at, timeout=5), "A is slow: the retry time comes"

    recorder.while_sending[first] = meanwhile
    deliver_due(db, [recorder])  # A: reads both rows, posts the first, then comes to the second
    deliver_due(db, [recorder], time.time() + 60)
    other.close()
    assert recorder.posts.count(second) == 1, "A's read of the second was stale: it must look, not post"
    assert outbox.get(db, second).response_ts == "ts-found"


def test_no_destination_loses_nothing(db):
    one_alert(db)
    report = deliver_due(db, [], T0)
    assert report.sent == [] and report.waiting == 1
    assert outbox.pending(db)[0].destination == "*"


def test_an_unrenderable_item_stays_queued(db, slack):
    outbox.enqueue(db, "mystery:1", "mystery", {"x": 1}, T0)
    report = deliver_due(db, [slack_destination(slack)], T0)
    assert report.sent == [] and "no view for outbox kind" in report.errors[0]
    assert outbox.pending(db)[0].dedupe_key == "mystery:1@slack"


def test_teams_rate_limit_and_server_error_are_retried(db):
    with FakeTeams() as teams:
        one_alert(db)
        teams.fail(429, headers={"Retry-After": "7"})
        dest = [TeamsDestination(teams.webhook_url, timeout=3)]
        assert deliver_due(db, dest, T0).errors == ["teams: Teams rate limit (429)"]
        teams.fail(502)
        assert deliver_due(db, dest, T0 + 7).errors == ["teams: Teams webhook: HTTP 502"]
        assert len(deliver_due(db, dest, T0 + 3600).sent) == 1 and len(teams.cards) == 1
        assert "fake-signature-secret" not in " ".join(deliver_due(db, dest, T0 + 3600).errors)


def test_backoff_doubles_and_is_capped():
    assert 27 <= backoff(1) <= 33 and 54 <= backoff(2) <= 66
    assert backoff(30) <= BACKOFF_MAX * 1.1


# -- kill -9 -------------------------------------------------------------------------------

DELIVER = """
from bot.destinations import build_destinations
from bot.settings import Settings
from jobs.deliver import deliver_due
from storage.db import open_db
settings = Settings.from_env()
print(deliver_due(open_db(settings.db_path), build_destinations(settings)).summary(), flush=True)
"""


def _deliverer(tmp_path: Path, slack: FakeSlack) -> subprocess.Popen:
    env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_CHANNEL": CHANNEL, "SLACK_API_URL": slack.api_url,
           "SMSERROR_DB": str(tmp_path / "smserror.db"), "PYTHONPATH": str(REPO), "SMSERROR_SLACK_TIMEOUT": "1"}
    return subprocess.Popen([sys.executable, "-c", DELIVER], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("moment", ["after Slack stored the post", "before Slack stored the post"])
def test_kill_9_mid_post_then_restart_posts_exactly_once(db, slack, tmp_path, moment):
    now = int(time.time())
    key = one_alert(db, now)
    if moment == "after Slack stored the post":
        slack.post_then_drop(1, hang=30)
        arrived = lambda: len(slack.messages) == 1  # noqa: E731 - the branch picks what to wait for
    else:
        slack.hang(30, path_prefix="/api/chat.postMessage")
        arrived = lambda: len(slack.requests_to("chat.postMessage")) == 1  # noqa: E731 - as above
    first = _deliverer(tmp_path, slack)
    try:
        assert slack.wait_for(arrived, timeout=15), first.stderr.read() if first.poll() is not None else "no post"
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    row = outbox.find_for(db, key, "slack")
    assert row.sent_at is None and row.claim is not None
    early = _deliverer(tmp_path, slack)
    out, err = early.communicate(timeout=30)
    assert early.returncode == 0 and "delivered 0" in out, "the post's fate is not judged before it is settled"
    time.sleep(max(0.0, row.settle_at - time.time()))  # the scenario: the restart comes after the settle time
    second = _deliverer(tmp_path, slack)
    out, err = second.communicate(timeout=30)
    assert second.returncode == 0, err
    assert "delivered 1" in out, out + err
    assert len(slack.messages) == 1, "exactly one post in Slack"
    row = outbox.find_for(db, key, "slack")
    assert row.response_ts == slack.messages[0].ts and row.sent_at is not None


def test_no_secret_in_logs(db, slack, caplog):
    caplog.set_level(logging.DEBUG)
    with FakeTeams() as teams:
        one_alert(db)
        slack.fail(500)
        teams.fail(503)
        dest = [slack_destination(slack), TeamsDestination(teams.webhook_url, timeout=3)]
        deliver_due(db, dest, T0)
        deliver_due(db, dest, T0 + 3600)
        assert len(teams.cards) == 1 and len(slack.messages) == 1
    assert "503" in caplog.text and "HTTP 500" in caplog.text
    assert TOKEN not in caplog.text and "fake-signature-secret" not in caplog.text
