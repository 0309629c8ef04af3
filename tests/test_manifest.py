"""manifest.yml is what a person pastes at api.slack.com: it must match what the code serves."""

from pathlib import Path

import yaml

from bot.commands.doctor import REQUIRED_SCOPES
from bot.slack_app import bot_events, slash_commands
from jobs.views.commands import USAGE

MANIFEST = yaml.safe_load((Path(__file__).parent.parent / "manifest.yml").read_text())


def test_manifest_declares_exactly_the_registered_commands():
    declared = {command["command"] for command in MANIFEST["features"]["slash_commands"]}
    assert declared == slash_commands() == {"/smserror"}


def test_commands_have_usage_hint_and_events_url():
    for command in MANIFEST["features"]["slash_commands"]:
        assert command["usage_hint"]
        assert command["url"].endswith("/slack/events")


def test_scopes_interactivity_and_http_mode():
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write"} <= scopes
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert MANIFEST["settings"]["socket_mode_enabled"] is False
    assert MANIFEST["features"]["bot_user"]["display_name"] == MANIFEST["display_information"]["name"] == "smserror"


def test_scopes_cover_the_crash_recovery_lookup():
    # bot/destinations.py looks a post up with conversations.history before re-posting it
    assert {"channels:history", "groups:history"} <= set(MANIFEST["oauth_config"]["scopes"]["bot"])


def test_usage_hint_names_every_subcommand():
    hint = MANIFEST["features"]["slash_commands"][0]["usage_hint"]
    for typed, _ in USAGE:
        assert typed.split()[0] in hint, typed


def test_events_and_home_tab_match_the_listeners():
    events = MANIFEST["settings"]["event_subscriptions"]
    assert set(events["bot_events"]) == bot_events() == {"app_home_opened"}
    assert events["request_url"].endswith("/slack/events")
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True


def test_doctor_checks_exactly_the_scopes_the_manifest_asks_for():
    assert set(MANIFEST["oauth_config"]["scopes"]["bot"]) == REQUIRED_SCOPES
