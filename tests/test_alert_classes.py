"""Alert classes follow the harm (docs/alerts.md): codes that stop every send of a kind alert on
the first sighting; 30004, blocked like 30003 and 30005, alerts on a spike. End to end: a real
`smserror poll --once` against the fake Twilio, and the real Slack client against the fake Slack."""

from __future__ import annotations

import json
import time

import pytest

from jobs.deliver import deliver_due
from jobs.rules import DEFAULT_RULES
from storage.failures import upsert_failures
from tests.fakes.slack_api import TOKEN
from tests.test_alerts import T0, failure, seen, slack_destination
from tests.test_poll import cli_env, run_cli

# code -> why it can't wait for the digest (the same reasons as docs/alerts.md)
FIRST_SIGHTING = {
    21661: "the sending number can't send SMS: every text from it fails",
    21606: "the sending number isn't valid for messaging, or its port isn't finished: every text from it fails",
    30024: "the sender isn't provisioned in that country: every text there fails",
    30027: "the brand's T-Mobile allowance is used up: T-Mobile texts fail until midnight Pacific (then 30023)",
    30035: "the number is still being registered, as with 30034: its texts aren't delivered",
    11200: "the branded media domain is broken: every picture the practice sends fails",
}
PATIENT = "+12025550123"


def test_the_classes_are_the_documented_ones():
    assert DEFAULT_RULES.account_codes == {30002, 30023, 30032, 30033, 30034, 30037, *FIRST_SIGHTING}
    assert DEFAULT_RULES.spike_codes == {21610, 30003, 30004, 30005, 30006, 30007, 30008}
    assert all(DEFAULT_RULES.kind_of(code) == "account" for code in FIRST_SIGHTING)


def test_a_poll_that_sees_each_code_once_posts_one_alert_each(monkeypatch, tmp_path, capsys, twilio, slack):
    now = int(time.time())
    for n, code in enumerate(FIRST_SIGHTING):
        twilio.add_message(date_sent=now - 300 + n, status="failed", error_code=code, recipient=PATIENT)
    env = cli_env(twilio, tmp_path, SLACK_BOT_TOKEN=TOKEN, SLACK_CHANNEL="C0ALERTS01", SLACK_API_URL=slack.api_url)
    monkeypatch.delenv("TEAMS_WEBHOOK_URL", raising=False)
    assert run_cli(monkeypatch, tmp_path, env, "poll", "--once") == 0
    posts = slack.top_level("C0ALERTS01")
    posted = sorted(code for code in FIRST_SIGHTING for post in posts if f"({code})" in post.text)
    assert posted == sorted(FIRST_SIGHTING)
    assert len(posts) == len(FIRST_SIGHTING)
    assert all("<!here>" in post.text for post in posts)
    assert PATIENT not in slack.all_traffic()


@pytest.mark.parametrize("code", sorted(FIRST_SIGHTING))
def test_one_failure_is_enough(db, slack, code):
    result = seen(db, [failure(code=code)], T0)
    assert [key.split(":")[0] for key in result.enqueued] == ["alert"]
    deliver_due(db, [slack_destination(slack)], T0)
    [post] = slack.top_level()
    assert str(code) in post.text and "<!here>" in post.text


def test_30004_alerts_on_a_spike_like_30003_and_30005(db, slack):
    rows = [failure(code=30004, at=T0 - 3600 - hour * 3600 - 60 * i) for hour in range(1, 7 * 24) for i in range(2)]
    upsert_failures(db, rows, "import", T0)  # a usual 2 an hour
    assert seen(db, [failure(code=30004, at=T0 - 100 * i) for i in range(19)], T0).enqueued == []
    assert [key.split(":")[0] for key in seen(db, [failure(code=30004, at=T0 - 5)], T0).enqueued] == ["alert"]
    deliver_due(db, [slack_destination(slack)], T0)
    [post] = slack.top_level()
    assert "30004" in post.text and "<!here>" not in post.text
    assert "Spike: 20 failures in the last hour" in json.dumps(post.blocks)
