"""Routes (`[[routes]]` in the rules): a group of accounts' alerts and their own digest go to the
route's Slack channel and Teams webhook; the default destinations get the rest, and the whole
fleet's digest. End to end: the rules file -> build_destinations -> observe / the digest ->
the outbox -> the real slack_sdk client and urllib -> a fake Slack and two fake Teams webhooks."""

from __future__ import annotations

import json
from zoneinfo import ZoneInfo

import pytest

from bot.destinations import build_destinations
from bot.settings import ConfigError, Settings
from jobs import alerts
from jobs.deliver import deliver_due
from jobs.digest import run_window_digest
from jobs.rules import DEFAULT_RULES, load_rules
from storage import outbox
from storage.poll_state import record_pass_ok
from tests.fakes.slack_api import TOKEN
from tests.fakes.teams_webhook import FakeTeams
from tests.test_alerts import T0, failure, seen, test_bad_rules_name_the_file_and_the_problem
from tests.view_samples import ALERT

GLOW, WEST, OTHER = "AC" + "01" * 16, "AC" + "0b" * 16, "AC" + "03" * 16
DEFAULT_CHANNEL, ACCOUNT_CHANNEL, GLOW_CHANNEL, WEST_CHANNEL = "C0DEFAULT1", "C0ACCOUNT1", "C0GLOW0001", "C0WEST0001"
DAY = 86400


def rules_file(tmp_path, glow_teams_url: str, extra: str = "") -> str:
    """Glow first (also listing the West account: the first match wins), then West, which continues
    to the default destinations; the third account is unrouted."""
    path = tmp_path / "rules.toml"
    path.write_text(f"""
[channels]
account = "{ACCOUNT_CHANNEL}"

[[routes]]
name = "Glow group"
accounts = ["{GLOW}"]
slack_channel = "{GLOW_CHANNEL}"
teams_webhook_url = "{glow_teams_url}"

[[routes]]
name = "West"
accounts = ["AC{WEST[2:].upper()}", "{GLOW}"]
slack_channel = "{WEST_CHANNEL}"
continue = true
{extra}""")
    return str(path)


@pytest.fixture
def glow_teams():
    with FakeTeams() as fake:
        yield fake


@pytest.fixture
def routed(tmp_path, slack, teams, glow_teams):
    """(rules, destinations) from a rules file, as `smserror run` builds them."""
    rules_path = rules_file(tmp_path, glow_teams.webhook_url)
    settings = Settings(slack_bot_token=TOKEN, slack_api_url=slack.api_url, slack_channel=DEFAULT_CHANNEL,
                        slack_timeout=3, teams_webhook_url=teams.webhook_url, rules_path=rules_path)
    return load_rules(rules_path), build_destinations(settings)


def test_the_rules_build_each_routes_own_destinations(routed):
    rules, destinations = routed
    assert [d.name for d in destinations] == ["slack", "teams", "slack:Glow group", "teams:Glow group", "slack:West"]
    assert rules.routes[1].accounts == {WEST}, "Glow's account is Glow's; a SID in upper case still matches"
    assert rules.routes_for(GLOW) == (("Glow group",), False)
    assert rules.routes_for(WEST) == (("West",), True)
    assert rules.routes_for(OTHER) == ((), True)


def test_alerts_go_to_the_first_matching_route_and_its_thread_stays_there(db, slack, teams, glow_teams, routed):
    rules, destinations = routed
    seen(db, [failure(account=GLOW), failure(account=WEST), failure(account=OTHER)], T0, rules)
    assert len(deliver_due(db, destinations, T0).sent) == 7

    def posted(channel):
        return [json.dumps(m.blocks) for m in slack.top_level(channel)]

    [glow] = posted(GLOW_CHANNEL)
    assert GLOW in glow, "first match wins: Glow's channel, though West lists the account too"
    [west] = posted(WEST_CHANNEL)
    assert WEST in west
    default = posted(ACCOUNT_CHANNEL)  # the default Slack destination follows the category channels
    assert len(default) == 2 and WEST in default[0] and OTHER in default[1], "continue = true, and unrouted"
    assert not posted(DEFAULT_CHANNEL)
    assert [GLOW in json.dumps(card) for card in glow_teams.cards] == [True]
    assert [WEST in json.dumps(c) or OTHER in json.dumps(c) for c in teams.cards] == [True, True]

    # more failures of Glow's group: the edit and the thread reply go where its post went
    seen(db, [failure(account=GLOW, at=T0 + 400)], T0 + 400, rules)
    deliver_due(db, destinations, T0 + 400)
    [glow_post] = slack.top_level(GLOW_CHANNEL)
    [reply] = slack.replies(glow_post.ts)
    assert "+1 more failure" in json.dumps(reply.blocks)
    assert {c["channel"] for c in slack.calls("chat.update")} == {GLOW_CHANNEL}
    assert len(slack.messages) == 5 and len(teams.cards) == 2 and len(glow_teams.cards) == 1

    # resolved: each note in its own post's thread, in that post's channel; a card to each webhook
    later = T0 + 400 + DEFAULT_RULES.resolve_after
    assert len(alerts.check_resolved(db, later, rules)) == 3
    deliver_due(db, destinations, later)
    assert len(slack.replies(glow_post.ts)) == 2
    posts = {m.ts: m.channel for m in slack.top_level()}
    replies = [m for m in slack.messages if m.thread_ts]
    assert len(replies) == 5 and all(posts[m.thread_ts] == m.channel for m in replies)
    assert len(glow_teams.cards) == 2 and "Resolved" in json.dumps(glow_teams.cards[1])
    assert len(teams.cards) == 4
    assert not outbox.pending(db)


def test_an_alert_waits_for_its_routes_destination(db, slack, routed):
    """A process without the route's destinations (say, built from other rules) leaves the alert
    queued for one that has them, rather than fanning it out to nobody."""
    rules, destinations = routed
    seen(db, [failure(account=GLOW)], T0, rules)
    defaults = [d for d in destinations if d.route is None]
    assert deliver_due(db, defaults, T0).sent == []
    assert [i.destination for i in outbox.pending(db)] == ["*"]
    assert len(deliver_due(db, destinations, T0).sent) == 2  # Glow's Slack channel and its Teams webhook


def test_each_route_gets_its_own_digest_and_the_default_the_fleets(db, slack, teams, glow_teams, routed):
    rules, destinations = routed
    record_pass_ok(db, GLOW, pass_at=T0, swept=True, ok_at=T0, friendly_name="Glow Clinic")
    end = T0 + DAY
    rows = ([failure(code=30007, account=GLOW, at=T0 - 600 - n) for n in range(10)]  # the day before: 10 …
            + [failure(code=30007, account=GLOW, at=end - 100)]                     # … today 1: -9
            + [failure(code=30007, account=WEST, at=end - 200 - n) for n in range(5)]  # none before: +5
            + [failure(code=30003, account=OTHER, at=T0 - 900 - n) for n in range(2)]  # 2 …
            + [failure(code=30003, account=OTHER, at=end - 300 - n) for n in range(3)])  # … then 3: +1
    seen(db, rows, end, rules)
    outbox_before = {i.dedupe_key for i in outbox.pending(db)}
    outcome = run_window_digest(db, ZoneInfo("UTC"), DAY, "24 h", destinations, now=end, rules=rules)
    assert outcome.report.route == "" and outcome.report.total == 9

    digests = {m.channel: json.dumps(m.blocks, ensure_ascii=False) for m in slack.top_level() if "digest" in m.text}
    fleet = digests[DEFAULT_CHANNEL]
    assert all(sid in fleet for sid in (GLOW, WEST, OTHER))
    lead = fleet.index("Clinics that changed most")
    assert lead < fleet.index("9 failures in the last 24 h"), "the fleet's digest leads with it"
    order = [fleet.index(f"Glow Clinic ({GLOW})", lead), fleet.index(WEST, lead), fleet.index(OTHER, lead)]
    assert order == sorted(order), "largest change first: -9, +5, +1"
    assert "▼ −9 (−90%) vs 10" in fleet

    glow = digests[GLOW_CHANNEL]
    assert "SMS failure digest · Glow group · last 24 h" in glow and WEST not in glow and OTHER not in glow
    assert "1 failure in the last 24 h" in glow and "Clinics that changed most" not in glow
    west = digests[WEST_CHANNEL]
    assert "· West ·" in west and GLOW not in west and "5 failures in the last 24 h" in west

    def posts(fake):  # the digests, not the cards of their fix steps
        return [json.dumps(c, ensure_ascii=False) for c in fake.cards if "failure digest" in c["body"][0]["text"]]

    [glow_card] = posts(glow_teams)
    assert "Glow group" in glow_card and WEST not in glow_card and OTHER not in glow_card
    [fleet_card] = posts(teams)
    assert "Clinics that changed most" in fleet_card and OTHER in fleet_card
    # each digest's thread of fix steps hangs off its own post
    for channel in (DEFAULT_CHANNEL, GLOW_CHANNEL, WEST_CHANNEL):
        [post] = [m for m in slack.top_level(channel) if "digest" in m.text]
        assert len(slack.replies(post.ts)) == 1
    assert not [i for i in outbox.pending(db) if i.dedupe_key not in outbox_before]


def test_a_routes_channel_needs_the_slack_token(tmp_path, teams, glow_teams):
    settings = Settings(teams_webhook_url=teams.webhook_url, rules_path=rules_file(tmp_path, glow_teams.webhook_url))
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN is not set: the route 'Glow group'"):
        build_destinations(settings)


SID = "AC" + "ab" * 16


@pytest.mark.parametrize("text, problem", [
    ("[routes]\nname = 'x'", "routes must be an array of tables ([[routes]])"),
    (f"[[routes]]\naccounts = ['{SID}']\nslack_channel = 'C0GLOW0001'", "[[routes]] number 1 needs a name"),
    (f"[[routes]]\nname = 'x'\naccounts = ['{SID}']\nslack_channel = 'C0GLOW0001'\nchannel = 'C0GLOW0001'",
     "route 'x': unknown key channel"),
    ("[[routes]]\nname = 'x'\naccounts = ['AC123']\nslack_channel = 'C0GLOW0001'",
     "route 'x': accounts holds 'AC123', which is not an account SID"),
    ("[[routes]]\nname = 'x'\naccounts = []\nslack_channel = 'C0GLOW0001'", "route 'x': accounts must be a list"),
    (f"[[routes]]\nname = 'x'\naccounts = ['{SID}']\nslack_channel = '#glow'",
     "route 'x': slack_channel must be a Slack channel ID"),
    (f"[[routes]]\nname = 'x'\naccounts = ['{SID}']", "route 'x' needs slack_channel or teams_webhook_url"),
    (f"[[routes]]\nname = 'x'\naccounts = ['{SID}']\nslack_channel = 'C0GLOW0001'\ncontinue = 'yes'",
     "route 'x': continue must be true or false"),
    (f"[[routes]]\nname = 'x'\naccounts = ['{SID}']\nslack_channel = 'C0GLOW0001'\n"
     f"[[routes]]\nname = 'x'\naccounts = ['{SID}']\nslack_channel = 'C0GLOW0002'", "two routes are named 'x'"),
    (f"[[routes]]\nname = 'x'\naccounts = ['{SID}']\nslack_channel = 'C0GLOW0001'\n"
     f"[[routes]]\nname = 'y'\naccounts = ['{SID}']\nslack_channel = 'C0GLOW0002'", "route 'y' gets no account"),
    ("[fleet]\nmin_accounts = 1", "fleet.min_accounts must be between 2"),
    ("[fleet]\nmin_per_account = 0", "fleet.min_per_account must be between 1"),
    ("[fleet]\nwindow = 'soon'", "fleet.window must be a duration"),
    ("[fleet]\naccounts = 3", "unknown key fleet.accounts"),
])
def test_bad_routes_and_fleet_settings_name_the_file_and_the_problem(tmp_path, text, problem):
    test_bad_rules_name_the_file_and_the_problem(tmp_path, text, problem)


@pytest.mark.parametrize("url", ["http://teams.example.com/hook?sig=SECRET-SIG", "ftp://x/SECRET-SIG", "SECRET-SIG"])
def test_a_teams_url_that_is_not_https_is_refused_without_showing_it(tmp_path, url):
    path = tmp_path / "rules.toml"
    path.write_text(f"[[routes]]\nname = 'x'\naccounts = ['{SID}']\nteams_webhook_url = '{url}'")
    with pytest.raises(ConfigError, match="teams_webhook_url must be the https:// URL") as caught:
        load_rules(str(path))
    assert "SECRET-SIG" not in str(caught.value)


def test_a_bad_route_is_one_line_and_exit_2(tmp_path):
    from tests.test_cli_errors import assert_one_line_naming, smserror

    (tmp_path / "rules.toml").write_text(f"[[routes]]\nname = 'Glow'\naccounts = ['{SID}']\nslack_channel = 'glow'\n")
    result = smserror(tmp_path, "digest", SMSERROR_RULES="rules.toml")
    assert_one_line_naming(result, "route 'Glow': slack_channel must be a Slack channel ID")
    assert result.stdout == ""


def test_a_post_queued_before_routes_existed_goes_to_the_default_destinations(db, slack, routed):
    _, destinations = routed
    payload = {**ALERT, "posted_at": T0}  # no `routes`, no `to_default`
    outbox.enqueue(db, f"alert:{ALERT['group']}:{T0}", "alert", payload, T0)
    deliver_due(db, destinations, T0)
    assert [m.channel for m in slack.messages] == [DEFAULT_CHANNEL]
