"""Settings come from the environment and .env; a bad value names the variable to fix."""

from datetime import time

import pytest

from bot.settings import ConfigError, Settings


def test_defaults_match_the_interface():
    s = Settings.from_env({}, dotenv=None)
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.twilio_api_url == "https://api.twilio.com"
    assert (s.db_path, s.timezone, s.digest_at, s.poll_seconds, s.lookback_hours, s.port) == (
        "smserror.db", "UTC", time(8, 0), 60, 24, 3000)
    assert s.subaccount_mode == ""
    assert s.retention_days == 90


def test_dotenv_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nSLACK_CHANNEL=C111\nexport PORT='4000'\nSMSERROR_TIMEZONE=\"Europe/London\"\n")
    s = Settings.from_env({"SLACK_CHANNEL": "C222"}, dotenv=env_file)
    assert (s.slack_channel, s.port, s.timezone) == ("C222", 4000, "Europe/London")


def test_dotenv_follows_the_usual_rules(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "SLACK_CHANNEL=C1  # ops channel\n"
        "SMSERROR_DB='my #1 store.db'  # quoted: the # is part of the value\n"
        "SLACK_SIGNING_SECRET=ab#cd\n"  # no space before #: not a comment
        "SLACK_BOT_TOKEN=xoxb-${HOME}-$USER\n"  # taken literally, never expanded
        "JUST_A_NAME\n"
    )
    s = Settings.from_env({"HOME": "/root", "USER": "me"}, dotenv=env_file)
    assert (s.slack_channel, s.db_path, s.slack_signing_secret, s.slack_bot_token) == (
        "C1", "my #1 store.db", "ab#cd", "xoxb-${HOME}-$USER")


def test_unreadable_dotenv_names_it(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"SLACK_CHANNEL=\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^\.env could not be read"):
        Settings.from_env({}, dotenv=env_file)


@pytest.mark.parametrize(
    "name, value",
    [
        ("SMSERROR_TIMEZONE", "Mars/Olympus"),
        ("SMSERROR_DIGEST_AT", "25:00"),
        ("SMSERROR_DIGEST_AT", "8am"),
        ("SMSERROR_POLL_SECONDS", "soon"),
        ("SMSERROR_POLL_SECONDS", "0"),
        ("PORT", "70000"),
        ("SMSERROR_TWILIO_CONCURRENCY", "0"),
        ("SMSERROR_TWILIO_CONCURRENCY", "many"),
        ("SLACK_API_URL", "slack.com/api"),
        ("TWILIO_API_URL", "ftp://x"),
        ("TWILIO_EVENTS_URL", "events.twilio.com"),
        ("TWILIO_ACCOUNT_SID", "not-a-sid"),
        ("TEAMS_OUTGOING_SECRET", "not base64!"),
        ("SLACK_APP_TOKEN", "xoxb-a-bot-token-pasted-here"),
        ("SLACK_APP_TOKEN", "xapp-with spaces"),
        ("SMSERROR_RETENTION_DAYS", "7"),
        ("SMSERROR_RETENTION_DAYS", "ninety"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError) as err:
        Settings.from_env({name: value}, dotenv=None)
    assert name in str(err.value)


def test_twilio_concurrency_reaches_the_poller():
    assert Settings.from_env({}, dotenv=None).twilio.concurrency == 8
    assert Settings.from_env({"SMSERROR_TWILIO_CONCURRENCY": "16"}, dotenv=None).twilio.concurrency == 16



def test_retention_must_outlast_what_a_poll_re_reads():
    assert Settings.from_env({"SMSERROR_RETENTION_DAYS": "8", "SMSERROR_LOOKBACK_HOURS": "191"}, dotenv=None)
    with pytest.raises(ConfigError, match="SMSERROR_RETENTION_DAYS .*SMSERROR_LOOKBACK_HOURS"):
        Settings.from_env({"SMSERROR_RETENTION_DAYS": "8", "SMSERROR_LOOKBACK_HOURS": "192"}, dotenv=None)


@pytest.mark.parametrize("value, seconds", [("", 900), ("15m", 900), ("60s", 60), ("90", 90), ("2h", 7200)])
def test_stale_after_reads_durations(value, seconds):
    assert Settings.from_env({"SMSERROR_STALE_AFTER": value}, dotenv=None).stale_after == seconds


@pytest.mark.parametrize("value", ["59s", "0", "soon", "15 minutes", "8d"])
def test_stale_after_is_at_least_a_minute(value):
    with pytest.raises(ConfigError, match="^SMSERROR_STALE_AFTER must be"):
        Settings.from_env({"SMSERROR_STALE_AFTER": value}, dotenv=None)


def test_subaccount_modes():
    assert Settings(twilio_subaccounts="all").subaccount_mode == "all"
    assert Settings(twilio_subaccounts=" ACa , ACb,").subaccount_mode == ["ACa", "ACb"]


def test_slack_api_url_gets_trailing_slash():
    assert Settings.from_env({"SLACK_API_URL": "http://127.0.0.1:9/api"}, dotenv=None).slack_api_url == "http://127.0.0.1:9/api/"


@pytest.mark.parametrize(
    "env, missing",
    [
        ({}, ["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CHANNEL": "C1"}, ["SLACK_SIGNING_SECRET"]),
        ({"SLACK_SIGNING_SECRET": "s", "SLACK_CHANNEL": "C1"}, ["SLACK_BOT_TOKEN"]),
        ({"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CHANNEL": "C1"}, []),
        ({"TEAMS_OUTGOING_SECRET": "c2VjcmV0"}, []),
        # Socket Mode needs no signing secret: Slack is reached over the app's own WebSocket
        ({"SLACK_APP_TOKEN": "xapp-1-A1-1-abc", "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CHANNEL": "C1"}, []),
        ({"SLACK_APP_TOKEN": "xapp-1-A1-1-abc", "SLACK_CHANNEL": "C1"}, ["SLACK_BOT_TOKEN"]),
        ({"SLACK_APP_TOKEN": "xapp-1-A1-1-abc", "SLACK_SIGNING_SECRET": "s", "SLACK_CHANNEL": "C1"},
         ["SLACK_BOT_TOKEN"]),
        ({"SLACK_APP_TOKEN": "xapp-1-A1-1-abc", "SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1",
          "SLACK_CHANNEL": "C1"}, []),
        # Slack credentials but nowhere to post: digests and alerts would be printed, not posted
        ({"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1"}, ["SLACK_CHANNEL"]),
        ({"SLACK_APP_TOKEN": "xapp-1-A1-1-abc", "SLACK_BOT_TOKEN": "xoxb-1"}, ["SLACK_CHANNEL"]),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, ["SLACK_SIGNING_SECRET", "SLACK_CHANNEL"]),
        ({"SLACK_SIGNING_SECRET": "s", "SLACK_BOT_TOKEN": "xoxb-1", "TEAMS_WEBHOOK_URL": "https://teams.invalid/x"},
         []),
        # no Slack at all: Twilio callbacks and polling only, digests and alerts to stdout
        ({"TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "t"}, []),
    ],
)
def test_what_run_needs(env, missing):
    assert Settings.from_env(env, dotenv=None).missing_for_run() == missing


def test_bad_app_token_is_not_echoed():
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"SLACK_APP_TOKEN": "xoxb-1234-secret-value"}, dotenv=None)
    assert "SLACK_APP_TOKEN" in str(err.value) and "xapp-" in str(err.value)
    assert "secret-value" not in str(err.value)


def test_repr_never_shows_secrets():
    settings = Settings(slack_bot_token="xoxb-secret-1", slack_signing_secret="sign-2", slack_app_token="xapp-3",
                        twilio_auth_token="auth-4", twilio_api_secret="api-5", teams_outgoing_secret="c2VjcmV0",
                        teams_webhook_url="https://example.invalid/x?sig=sig-6", slack_channel="C1")
    text = repr(settings) + repr(settings.twilio)
    assert "C1" in text
    for secret in ("xoxb-secret-1", "sign-2", "xapp-3", "auth-4", "api-5", "c2VjcmV0", "sig-6"):
        assert secret not in text
