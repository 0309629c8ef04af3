"""The operator's commands in sequence, against fake Twilio and Slack: poll --once raises the
alert and delivers it before exiting, then `digest` posts the day with that failure in it."""

from __future__ import annotations

import json
import os
import time

from bot import cli
from tests.fakes.slack_api import TOKEN
from tests.test_poll import cli_env, run_cli

CHANNEL = "C0FLOW"
PATIENT = "+12025550166"


def slack_only_env(monkeypatch, tmp_path, twilio, slack) -> dict[str, str]:
    """The commands' settings with the fake Twilio and Slack as the only destination."""
    for name in ("SLACK_SIGNING_SECRET", "TEAMS_WEBHOOK_URL", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return cli_env(twilio, tmp_path, SLACK_BOT_TOKEN=TOKEN, SLACK_CHANNEL=CHANNEL, SLACK_API_URL=slack.api_url)


def test_poll_once_delivers_the_alert_then_digest_posts_the_day(monkeypatch, tmp_path, capsys, twilio, slack):
    now = int(time.time())
    twilio.add_message(date_sent=now - 120, status="undelivered", error_code=30033, recipient=PATIENT)
    twilio.add_message(date_sent=now - 90, status="undelivered", error_code=30007, recipient="+12025550167")
    env = slack_only_env(monkeypatch, tmp_path, twilio, slack)

    assert run_cli(monkeypatch, tmp_path, env, "poll", "--once") == 0
    assert "alerts: delivered 1" in capsys.readouterr().out
    [alert] = slack.top_level(CHANNEL)
    assert "30033" in alert.text

    assert run_cli(monkeypatch, tmp_path, env, "poll", "--once") == 0  # nothing new: nothing posted
    assert len(slack.top_level(CHANNEL)) == 1

    assert run_cli(monkeypatch, tmp_path, env, "digest") == 0
    digest = slack.top_level(CHANNEL)[-1]
    rendered = json.dumps(digest.blocks)
    assert "30033" in rendered and "30007" in rendered
    assert PATIENT not in slack.all_traffic()


def test_a_suspension_found_hours_late_is_posted_firing_not_resolved(monkeypatch, tmp_path, capsys, twilio, slack):
    twilio.add_message(date_sent=int(time.time()) - 3 * 3600, status="undelivered", error_code=30033)
    assert run_cli(monkeypatch, tmp_path, slack_only_env(monkeypatch, tmp_path, twilio, slack), "poll", "--once") == 0
    assert "alerts: delivered 1," in capsys.readouterr().out
    [alert] = slack.top_level(CHANNEL)
    assert "<!here>" in alert.text and not alert.text.startswith("Resolved:")
    assert slack.replies(alert.ts) == [] and slack.calls("chat.update") == []


def test_run_without_configuration_names_the_settings(monkeypatch, tmp_path, capsys):
    for prefix in ("SLACK_", "TWILIO_", "TEAMS_", "SMSERROR_"):
        for name in [n for n in os.environ if n.startswith(prefix)]:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN" in err and "SLACK_SIGNING_SECRET" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # refused before creating a store
