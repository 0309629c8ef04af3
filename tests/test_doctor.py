"""`smserror doctor` against the fakes: every item passes on a good setup, and each one fails,
with its fix, when its part of the setup is wrong. It posts nothing and prints no secret."""

from __future__ import annotations

import pytest

from bot import cli
from storage.db import open_db
from tests.fakes.slack_api import TOKEN
from tests.fakes.teams_webhook import SECRET_QUERY
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID

CHANNEL = "C0OPS"
SUB = "AC" + "5" * 32
SETTINGS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_CHANNEL", "SLACK_APP_TOKEN", "SLACK_API_URL",
            "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "TWILIO_API_SECRET", "TWILIO_API_URL",
            "TWILIO_SUBACCOUNTS", "TEAMS_WEBHOOK_URL", "TEAMS_OUTGOING_SECRET", "SMSERROR_DB", "SMSERROR_TIMEZONE",
            "SMSERROR_DIGEST_AT", "SMSERROR_PUBLIC_URL", "SMSERROR_LOG_FORMAT", "SMSERROR_STALE_AFTER")


@pytest.fixture
def setup(tmp_path, monkeypatch, slack, twilio, teams):
    """A good setup: every service answers, the store is current. Tests break one part of it."""
    monkeypatch.chdir(tmp_path)
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    slack.add_channel(CHANNEL, "ops")
    twilio.add_subaccount(SUB, "Glow Clinic")
    open_db(tmp_path / "smserror.db").close()
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "signing", "SLACK_CHANNEL": CHANNEL,
           "SLACK_API_URL": slack.api_url, "TWILIO_ACCOUNT_SID": MAIN_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "TWILIO_API_URL": twilio.url, "TWILIO_SUBACCOUNTS": SUB, "TEAMS_WEBHOOK_URL": teams.webhook_url,
           "SMSERROR_DB": str(tmp_path / "smserror.db"), "SMSERROR_PUBLIC_URL": "https://smserror.example.org",
           "SMSERROR_TIMEZONE": "Europe/London"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def doctor(capsys) -> tuple[int, list[str]]:
    code = cli.main(["doctor"])
    return code, capsys.readouterr().out.splitlines()


def test_a_good_setup_passes_every_item_and_posts_nothing(setup, capsys, slack, teams):
    code, lines = doctor(capsys)
    assert code == 0, lines
    items = [line.split(":")[0] for line in lines[:-1]]
    assert items == ["✔ SMSERROR_PUBLIC_URL", "✔ SMSERROR_TIMEZONE", "✔ SMSERROR_DIGEST_AT", "✔ smserror run",
                     "✔ Store", "✔ Slack token", "✔ Slack scopes", "✔ Slack channel", "✔ Slack posting",
                     "✔ Twilio credentials", "✔ Twilio subaccounts", "✔ Teams webhook"]
    assert lines[-1] == "all 12 checks passed"
    assert "(current)" in lines[4]
    assert slack.calls("chat.postMessage") == [] and teams.requests == []
    output = "\n".join(lines)
    for secret in (TOKEN, AUTH_TOKEN, SECRET_QUERY.split("=")[1], "signing"):
        assert secret not in output


def wrong_slack_token(setup, slack, twilio, teams, tmp_path):
    setup.setenv("SLACK_BOT_TOKEN", "xoxb-revoked-token")


def slack_unreachable(setup, slack, twilio, teams, tmp_path):
    setup.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")


def scope_taken_away(setup, slack, twilio, teams, tmp_path):
    slack.scopes.remove("chat:write.public")
    slack.scopes.remove("channels:history")


def unknown_channel(setup, slack, twilio, teams, tmp_path):
    slack.channels.clear()


def bot_not_in_channel(setup, slack, twilio, teams, tmp_path):
    slack.add_channel(CHANNEL, "ops", is_member=False)


def archived_channel(setup, slack, twilio, teams, tmp_path):
    slack.add_channel(CHANNEL, "ops", is_archived=True)


def wrong_twilio_token(setup, slack, twilio, teams, tmp_path):
    setup.setenv("TWILIO_AUTH_TOKEN", "rotated-away")


def unknown_subaccount(setup, slack, twilio, teams, tmp_path):
    setup.setenv("TWILIO_SUBACCOUNTS", f"{SUB},AC{'7' * 32}")


def suspended_subaccount(setup, slack, twilio, teams, tmp_path):
    twilio.accounts[SUB]["status"] = "suspended"


def legacy_teams_url(setup, slack, twilio, teams, tmp_path):
    setup.setenv("TEAMS_WEBHOOK_URL", "https://contoso.webhook.office.com/webhookb2/abc/IncomingWebhook/def/ghi")


def truncated_teams_url(setup, slack, twilio, teams, tmp_path):
    setup.setenv("TEAMS_WEBHOOK_URL", teams.webhook_url.split("?")[0])


def full_callback_url(setup, slack, twilio, teams, tmp_path):
    setup.setenv("SMSERROR_PUBLIC_URL", "https://smserror.example.org/twilio/status")


def store_from_the_future(setup, slack, twilio, teams, tmp_path):
    db = open_db(tmp_path / "smserror.db")
    db.execute("PRAGMA user_version = 99")
    db.close()


def store_is_a_folder(setup, slack, twilio, teams, tmp_path):
    setup.setenv("SMSERROR_DB", str(tmp_path))


def nowhere_to_post(setup, slack, twilio, teams, tmp_path):
    setup.delenv("SLACK_CHANNEL")
    setup.delenv("TEAMS_WEBHOOK_URL")


@pytest.mark.parametrize("breakage, failed, fix", [
    (wrong_slack_token, "✘ Slack token: Slack refused SLACK_BOT_TOKEN (invalid_auth)", "Bot User OAuth Token"),
    (slack_unreachable, "✘ Slack token: Slack cannot be reached at SLACK_API_URL", "SLACK_API_URL"),
    (scope_taken_away, "✘ Slack scopes: missing channels:history, chat:write.public", "reinstall the app"),
    (unknown_channel, f"✘ Slack channel: SLACK_CHANNEL {CHANNEL} cannot be read (channel_not_found)",
     "channel's ID"),
    (bot_not_in_channel, "✘ Slack posting: the bot is not a member of #ops", "/invite @smserror in #ops"),
    (archived_channel, "✘ Slack posting: #ops is archived", "unarchive it"),
    (wrong_twilio_token, "✘ Twilio credentials: Twilio rejected the credentials", "TWILIO_AUTH_TOKEN"),
    (unknown_subaccount, "✘ Twilio subaccounts: cannot be listed: Twilio answered HTTP 404", "TWILIO_SUBACCOUNTS"),
    (suspended_subaccount, f"✘ Twilio subaccounts: not active: {SUB}", "TWILIO_SUBACCOUNTS"),
    (legacy_teams_url, "✘ Teams webhook: TEAMS_WEBHOOK_URL is an Office 365 connector URL", "Workflows webhook"),
    (truncated_teams_url, "✘ Teams webhook: TEAMS_WEBHOOK_URL (on 127.0.0.1) does not look like", "whole"),
    (full_callback_url, "✘ SMSERROR_PUBLIC_URL: ends with /twilio/status",
     "set it to the base URL only: https://smserror.example.org"),
    (store_from_the_future, "✘ Store: SMSERROR_DB", "upgrade smserror"),
    (store_is_a_folder, "✘ Store: SMSERROR_DB", "file path"),
    (nowhere_to_post, "✘ smserror run: needs SLACK_CHANNEL", "set SLACK_CHANNEL"),
], ids=lambda value: value.__name__ if callable(value) else None)
def test_each_item_fails_with_its_fix(setup, capsys, slack, twilio, teams, tmp_path, breakage, failed, fix):
    breakage(setup, slack, twilio, teams, tmp_path)
    code, lines = doctor(capsys)
    assert code == 1
    [line] = [n for n, text in enumerate(lines) if text.startswith("✘")]
    assert lines[line].startswith(failed), lines
    assert lines[line + 1].startswith("  → ") and fix in lines[line + 1], lines
    assert lines[-1].endswith("checks passed") and not lines[-1].startswith("all")


def test_a_setting_that_cannot_be_read_is_named_and_the_rest_still_checked(setup, capsys):
    setup.setenv("SMSERROR_TIMEZONE", "Mars/Olympus")
    setup.setenv("SMSERROR_DIGEST_AT", "25:00")
    code, lines = doctor(capsys)
    assert code == 2
    failed = [line for line in lines if line.startswith("✘")]
    assert failed == ["✘ SMSERROR_TIMEZONE: must be an IANA zone such as Europe/London, got 'Mars/Olympus'",
                      "✘ SMSERROR_DIGEST_AT: must be HH:MM (24-hour), got '25:00'"]
    assert "✔ Slack posting: the bot is a member of #ops" in lines
    assert not any(line.startswith("✔ SMSERROR_TIMEZONE") or line.startswith("✔ SMSERROR_DIGEST_AT")
                   for line in lines)


def test_every_active_subaccount_is_counted(setup, capsys, twilio):
    setup.setenv("TWILIO_SUBACCOUNTS", "all")
    twilio.add_subaccount("AC" + "6" * 32, status="closed")
    code, lines = doctor(capsys)
    assert code == 0 and "✔ Twilio subaccounts: 1 active subaccounts are listed and polled" in lines
