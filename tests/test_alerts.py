"""Real-time alerts end to end: failures in the store -> observe -> outbox -> deliver -> the
real slack_sdk WebClient -> a fake Slack Web API (and a fake Teams webhook) on loopback."""

from __future__ import annotations

import io
import itertools
import json
import time

import pytest

from bot.destinations import SlackDestination, StdoutDestination, TeamsDestination, build_destinations, slack_client
from bot.settings import ConfigError, Settings
from jobs import alerts
from jobs.deliver import deliver_due
from jobs.rules import DEFAULT_RULES, load_rules, parse_rules
from jobs.views import view_for
from storage import alert_groups, outbox
from storage.failures import upsert_failures
from tests.fakes.slack_api import TOKEN, FakeSlack

T0 = int(time.time()) // 60 * 60 - 86400  # a day ago: Slack's ts (wall clock) must come after it
ACCOUNT = "AC" + "a1" * 16
SERVICE = "MG" + "b2" * 16
CHANNEL = "C0ALERTS01"
PATIENT = "+15551234567"
PRACTICE = "+15557654321"
_sids = itertools.count(1)


def failure(code: int = 30033, at: int = T0, *, account: str = ACCOUNT, service: str | None = SERVICE,
            recipient: str = PATIENT, sender: str = PRACTICE) -> dict:
    return {"sid": f"SM{next(_sids):032x}", "account_sid": account, "service_sid": service, "sender": sender,
            "recipient": recipient, "status": "failed", "error_code": code, "sent_at": at}


def seen(db, rows: list[dict], now: int, rules=DEFAULT_RULES):
    """What a poll or a callback does: store, then observe what was new."""
    result = upsert_failures(db, rows, "poll", now)
    return alerts.observe(db, result.new, now, rules)


def slack_destination(fake: FakeSlack, channel: str = CHANNEL, timeout: int = 3) -> SlackDestination:
    """The production destination and client, pointed at the fake."""
    settings = Settings(slack_bot_token=TOKEN, slack_api_url=fake.api_url, slack_timeout=timeout)
    return SlackDestination(slack_client(settings), channel)


def kinds(db) -> list[str]:
    return [item.kind for item in outbox.pending(db)]


# -- the scenario ------------------------------------------------------------------

def test_three_30033s_give_one_alert_then_updates_in_place_and_in_thread(db, slack):
    dest = [slack_destination(slack)]
    seen(db, [failure(at=T0)], T0)
    assert deliver_due(db, dest, T0).sent
    seen(db, [failure(at=T0 + 10)], T0 + 10)
    deliver_due(db, dest, T0 + 10)
    seen(db, [failure(at=T0 + 400)], T0 + 400)  # past the update interval: a thread reply too
    deliver_due(db, dest, T0 + 400)

    top = slack.top_level()
    assert len(top) == 1, "one group, one top-level post"
    alert = top[0]
    assert alert.channel == CHANNEL
    assert "<!here>" in alert.edits[0]["text"], "the first post @here's the channel"
    assert "3 failures" in alert.text and "Campaign Suspended" in alert.text
    assert len(alert.edits) == 2, "each later failure edited the count"
    replies = slack.replies(alert.ts)
    assert len(replies) == 1 and "+2 more failures" in json.dumps(replies[0].blocks)
    group = alert_groups.get(db, alerts.group_key(ACCOUNT, 30033, SERVICE))
    assert group.count == 3 and group.post_ref == alert.ts and group.post_channel == CHANNEL
    assert not outbox.pending(db)


def test_account_alert_buttons_and_metadata(db, slack):
    seen(db, [failure(code=30002)], T0)
    deliver_due(db, [slack_destination(slack)], T0)
    call = slack.calls("chat.postMessage")[0]
    actions = [b for b in call["blocks"] if b["type"] == "actions"][0]["elements"]
    assert [(e.get("text") or e["placeholder"])["text"] for e in actions] == [
        "Acknowledge", "Snooze", "Show examples", "Twilio docs"]
    key = alerts.group_key(ACCOUNT, 30002, SERVICE)
    assert {e["value"] for e in actions if "value" in e} == {key}
    assert [o["value"] for o in actions[1]["options"]] == [f"{s}:{key}" for s in (3600, 4 * 3600, 86400, 7 * 86400)]
    assert call["metadata"]["event_payload"]["key"].startswith("alert:")


def test_each_account_code_alerts_on_first_sighting(db):
    for n, code in enumerate(sorted(DEFAULT_RULES.account_codes)):
        result = seen(db, [failure(code=code, at=T0 + n)], T0 + n)
        assert [k.split(":")[0] for k in result.enqueued] == ["alert"], code


def test_groups_split_by_account_code_and_service(db):
    other = "AC" + "c3" * 16
    result = seen(db, [failure(), failure(), failure(service=None), failure(account=other), failure(code=30034)], T0)
    assert len(result.groups) == 4
    assert kinds(db) == ["alert"] * 4


def test_contact_and_carrier_codes_do_not_alert_one_by_one(db):
    result = seen(db, [failure(code=30007), failure(code=21610), failure(code=30003), failure(code=30004)], T0)
    assert result.enqueued == [] and kinds(db) == []


def test_observe_is_idempotent(db):
    rows = [failure(), failure()]
    upsert_failures(db, rows, "poll", T0)
    first = alerts.observe(db, rows, T0)
    again = alerts.observe(db, rows, T0 + 5)
    assert len(first.enqueued) == 1 and again.enqueued == []
    assert kinds(db) == ["alert"]


def test_old_failures_never_alert(db):
    result = seen(db, [failure(at=T0 - DEFAULT_RULES.max_age - 1)], T0)
    assert result.enqueued == [] and result.ignored == 1


def test_malformed_failures_are_ignored_not_raised(db):
    bad = [{}, {"sid": "SMx"}, {"account_sid": ACCOUNT, "error_code": "abc", "sent_at": T0}, {"error_code": None}]
    assert alerts.observe(db, bad, T0).ignored == 4


# -- spikes --------------------------------------------------------------------------------

def _baseline(db, code: int, per_hour: int, now: int) -> None:
    rows = [failure(code=code, at=now - 3600 - hour * 3600 - 60 * i)
            for hour in range(1, 7 * 24) for i in range(per_hour)]
    upsert_failures(db, rows, "import", now)


def test_spike_alerts_at_three_times_the_baseline_without_here(db, slack):
    _baseline(db, 30007, 2, T0)
    below = seen(db, [failure(code=30007, at=T0 - 100 * i) for i in range(19)], T0)
    assert below.enqueued == [], "19 < the minimum of 20 in the last hour"
    result = seen(db, [failure(code=30007, at=T0 - 5)], T0)
    assert [k.split(":")[0] for k in result.enqueued] == ["alert"]
    deliver_due(db, [slack_destination(slack)], T0)
    post = slack.top_level()[0]
    assert "<!here>" not in post.text and "<!here>" not in json.dumps(post.blocks)
    assert "Spike: 20 failures in the last hour" in json.dumps(post.blocks)


def test_no_spike_when_the_baseline_is_high(db):
    _baseline(db, 21610, 10, T0)  # 10 an hour is normal here: 25 is not 3x that
    result = seen(db, [failure(code=21610, at=T0 - 60 * i) for i in range(25)], T0)
    assert result.enqueued == []


# -- repeat, acknowledge, snooze, resolve --------------------------------------------------

def test_no_new_top_level_post_until_the_repeat_interval(db):
    seen(db, [failure(at=T0)], T0)
    seen(db, [failure(at=T0 + 3 * 3600)], T0 + 3 * 3600)
    assert kinds(db).count("alert") == 1
    later = T0 + 4 * 3600 + 60
    result = seen(db, [failure(at=later)], later)
    assert [k.split(":")[0] for k in result.enqueued] == ["alert"]
    assert outbox.get(db, result.enqueued[0]).payload["repeat"] is True


def test_acknowledged_group_does_not_repeat(db):
    seen(db, [failure(at=T0)], T0)
    key = alerts.group_key(ACCOUNT, 30033, SERVICE)
    report = alerts.acknowledge(db, key, "U123", T0 + 60, DEFAULT_RULES)
    assert report["acked_by"] == "U123"
    later = T0 + 5 * 3600
    result = seen(db, [failure(at=later)], later)
    assert [k.split(":")[0] for k in result.enqueued] == ["alert-edit", "alert-reply"]


def test_snoozed_group_counts_but_says_nothing(db):
    seen(db, [failure(at=T0)], T0)
    key = alerts.group_key(ACCOUNT, 30033, SERVICE)
    alerts.snooze(db, key, T0 + 10, 24 * 3600, DEFAULT_RULES)
    before = len(outbox.pending(db))
    result = seen(db, [failure(at=T0 + 600)], T0 + 600)
    assert result.enqueued == [] and len(outbox.pending(db)) == before
    assert alerts.check_resolved(db, T0 + 601) == [] and len(outbox.pending(db)) == before
    assert alert_groups.get(db, key).count == 2
    after = T0 + 10 + 24 * 3600 + 1  # snooze over: a fresh top-level post
    assert [k.split(":")[0] for k in seen(db, [failure(at=after)], after).enqueued] == ["alert"]


# -- when a snooze ends --------------------------------------------------------------------

GROUP = alerts.group_key(ACCOUNT, 30033, SERVICE)
HOUR = 3600


def snoozed_alert(db, slack, seconds: int = HOUR) -> list:
    """An alert posted at T0 and snoozed at T0 + 10 by U42 for `seconds`."""
    dest = [slack_destination(slack)]
    seen(db, [failure(at=T0)], T0)
    deliver_due(db, dest, T0)
    alerts.snooze(db, GROUP, T0 + 10, seconds, DEFAULT_RULES, by="U42")
    return dest


def test_a_group_still_failing_alerts_again_when_its_snooze_ends(db, slack):
    dest = snoozed_alert(db, slack)
    seen(db, [failure(at=T0 + 600)], T0 + 600)
    seen(db, [failure(at=T0 + 1200)], T0 + 1200)
    assert alerts.check_resolved(db, T0 + 10 + HOUR - 1) == []
    assert deliver_due(db, dest, T0 + 10 + HOUR - 1).sent == [], "silent while snoozed"
    # the snooze ends; no failure arrives just then: the poll's check_resolved announces it
    end = T0 + 10 + HOUR
    assert alerts.check_resolved(db, end) == [GROUP]
    deliver_due(db, dest, end)
    first, again = slack.top_level()
    shown = json.dumps(again.blocks)
    assert "<!here>" in again.text and "3 failures" in again.text
    assert "The snooze by <@U42> has ended and it is still failing: 2 failures since it was snoozed" in shown
    assert "Snoozed" not in shown
    group = alert_groups.get(db, GROUP)
    assert (group.posted_at, group.post_ref, group.snoozed_until, group.snooze_missed) == (end, again.ts, None, 0)
    assert alerts.check_resolved(db, end + 60) == [] and not outbox.pending(db), "announced once"
    seen(db, [failure(at=end + 120)], end + 120)  # later failures thread under the new post
    deliver_due(db, dest, end + 120)
    assert len(slack.top_level()) == 2 and "4 failures" in slack.top_level()[1].text


def test_the_first_failure_after_the_snooze_alerts_again_even_when_acknowledged(db, slack):
    dest = snoozed_alert(db, slack)
    alerts.acknowledge(db, GROUP, "U7", T0 + 20, DEFAULT_RULES)
    seen(db, [failure(at=T0 + 600)], T0 + 600)
    after = T0 + 10 + HOUR + 30  # before any check_resolved, inside the repeat interval
    assert [k.split(":")[0] for k in seen(db, [failure(at=after)], after).enqueued] == ["alert"]
    assert alerts.check_resolved(db, after) == [], "the snooze was answered by the post"
    deliver_due(db, dest, after)
    again = slack.top_level()[1]
    shown = json.dumps(again.blocks)
    assert "has ended and it is still failing: 2 failures since it was snoozed" in shown
    assert "Acknowledged by <@U7>" in shown


def test_after_a_quiet_snooze_a_failure_is_an_ordinary_update(db, slack):
    snoozed_alert(db, slack)
    after = T0 + 10 + HOUR + 30  # the snooze ended quietly; no check_resolved since
    assert [k.split(":")[0] for k in seen(db, [failure(at=after)], after).enqueued] == ["alert-edit", "alert-reply"]


def test_a_snooze_that_ends_quietly_only_edits_the_post(db, slack):
    dest = snoozed_alert(db, slack)
    end = T0 + 10 + HOUR
    assert alerts.check_resolved(db, end) == [GROUP]
    assert [i.kind for i in outbox.pending(db)] == ["alert-edit"]
    deliver_due(db, dest, end)
    [alert] = slack.top_level()
    assert len(alert.edits) == 1, "edited once"
    shown = json.dumps(alert.blocks)
    assert "Snooze" in shown and "Snoozed" not in shown and "Unsnooze" not in shown
    assert slack.replies(alert.ts) == []


def test_a_group_that_resolved_during_its_snooze_is_shown_resolved_when_it_ends(db, slack):
    dest = snoozed_alert(db, slack, seconds=4 * HOUR)
    seen(db, [failure(at=T0 + 600)], T0 + 600)
    assert alerts.check_resolved(db, T0 + 600 + DEFAULT_RULES.resolve_after) == [GROUP]
    assert not outbox.pending(db), "resolved silently while snoozed"
    end = T0 + 10 + 4 * HOUR
    assert alerts.check_resolved(db, end) == [GROUP]
    deliver_due(db, dest, end)
    [alert] = slack.top_level()
    assert len(alert.edits) == 1 and alert.text.startswith("Resolved:") and "Snooze" not in json.dumps(alert.blocks)
    assert slack.replies(alert.ts) == []


def test_resolved_note_after_quiet_time_then_reopen(db, slack):
    dest = [slack_destination(slack)]
    seen(db, [failure(at=T0)], T0)
    deliver_due(db, dest, T0)
    assert alerts.check_resolved(db, T0 + DEFAULT_RULES.resolve_after - 1) == []
    resolved_at = T0 + DEFAULT_RULES.resolve_after
    assert alerts.check_resolved(db, resolved_at) == [alerts.group_key(ACCOUNT, 30033, SERVICE)]
    assert alerts.check_resolved(db, resolved_at + 60) == [], "resolved once"
    deliver_due(db, dest, resolved_at)
    alert = slack.top_level()[0]
    assert alert.text.startswith("Resolved:")
    assert "Resolved: no 30033 failures for 2 h 00 min" in json.dumps(slack.replies(alert.ts)[0].blocks)
    # failing again within the repeat interval: the same message reopens, in its thread
    again = resolved_at + 600
    result = seen(db, [failure(at=again)], again)
    assert [k.split(":")[0] for k in result.enqueued] == ["alert-edit", "alert-reply"]
    deliver_due(db, dest, again)
    assert len(slack.top_level()) == 1
    assert "Failing again" in json.dumps(slack.replies(alert.ts)[-1].blocks)
    assert not alert.text.startswith("Resolved:")


def test_a_failure_found_late_alerts_and_stays_firing_for_the_resolve_time(db, slack):
    dest = [slack_destination(slack)]
    happened = T0 - 3 * 3600  # a poll catching up finds a 3-hour-old suspension
    assert [k.split(":")[0] for k in seen(db, [failure(at=happened)], T0).enqueued] == ["alert"]
    assert alerts.check_resolved(db, T0) == [], "not resolved in the pass that found it"
    deliver_due(db, dest, T0)
    [alert] = slack.top_level()
    assert "<!here>" in alert.text and not alert.text.startswith("Resolved:") and slack.replies(alert.ts) == []
    assert alerts.check_resolved(db, T0 + DEFAULT_RULES.resolve_after - 1) == []
    resolved_at = T0 + DEFAULT_RULES.resolve_after
    assert alerts.check_resolved(db, resolved_at) == [alerts.group_key(ACCOUNT, 30033, SERVICE)]
    deliver_due(db, dest, resolved_at)
    assert "Resolved: no 30033 failures for 5 h 00 min" in json.dumps(slack.replies(alert.ts)[0].blocks)


def test_updates_wait_for_their_parent(db, slack):
    seen(db, [failure(at=T0)], T0)
    seen(db, [failure(at=T0 + 400)], T0 + 400)
    slack.fail(503, times=20, path_prefix="/api/chat.postMessage")
    report = deliver_due(db, [slack_destination(slack)], T0 + 400)
    assert report.sent == [] and report.waiting == 2, "edit and reply wait until the alert has a ts"
    slack._faults.clear()
    report = deliver_due(db, [slack_destination(slack)], T0 + 3600)
    assert len(report.sent) == 3 and len(slack.top_level()) == 1


# -- privacy -------------------------------------------------------------------------------

def test_no_full_number_reaches_slack_teams_or_stdout(db, slack, teams):
    out = io.StringIO()
    dest = [slack_destination(slack), TeamsDestination(teams.webhook_url, timeout=3), StdoutDestination(out)]
    seen(db, [failure(at=T0), failure(code=30032, at=T0)], T0)
    deliver_due(db, dest, T0)
    seen(db, [failure(at=T0 + 400)], T0 + 400)
    deliver_due(db, dest, T0 + 400)
    alerts.check_resolved(db, T0 + 400 + DEFAULT_RULES.resolve_after)
    deliver_due(db, dest, T0 + 400 + DEFAULT_RULES.resolve_after)
    assert len(teams.cards) == 4 and len(slack.messages) == 5
    for where in (slack.all_traffic(), teams.all_traffic(), out.getvalue(),
                  json.dumps([i.payload for i in outbox.pending(db)])):
        for number in (PATIENT, PATIENT[1:], PRACTICE, PRACTICE[1:], "5551234567", "5557654321"):
            assert number not in where
    shown = json.dumps([m.blocks for m in slack.messages], ensure_ascii=False)
    assert "+1••••••4567" in shown and "+1••••••4567" in teams.all_traffic()


# -- destinations --------------------------------------------------------------------------

def test_build_destinations_follows_settings():
    assert [d.name for d in build_destinations(Settings())] == ["stdout"]
    both = Settings(slack_bot_token=TOKEN, slack_channel=CHANNEL, teams_webhook_url="https://example.invalid/hook")
    assert [d.name for d in build_destinations(both)] == ["slack", "teams"]


def test_without_slack_alerts_go_to_stdout(db):
    out = io.StringIO()
    seen(db, [failure()], T0)
    deliver_due(db, build_destinations(Settings(), stream=out), T0)
    printed = out.getvalue()
    assert printed.startswith("🚨 US A2P 10DLC - Campaign Suspended (30033)\n"), printed
    assert "What to do\n  1. Contact Support" in printed and "+12025550187" not in printed


def test_channel_per_category_from_rules(db, slack):
    rules = parse_rules({"channels": {"account": "C0ACCOUNT1"}})
    seen(db, [failure()], T0, rules)
    deliver_due(db, [slack_destination(slack)], T0)
    seen(db, [failure(at=T0 + 400)], T0 + 400, rules)
    deliver_due(db, [slack_destination(slack)], T0 + 400)
    assert {m.channel for m in slack.messages} == {"C0ACCOUNT1"}
    assert all(c["channel"] == "C0ACCOUNT1" for c in slack.calls("chat.update"))


# -- rules ---------------------------------------------------------------------------------

def test_rules_defaults_and_overrides(tmp_path):
    assert load_rules("") is DEFAULT_RULES
    path = tmp_path / "rules.toml"
    path.write_text('[alerts]\nrepeat_interval = "30m"\nmention = "none"\naccount_codes = [30033]\n'
                    '[spike]\ncodes = [30007]\nfactor = 5\nmin_count = 3\n[channels]\ncarrier = "C0CARRIER1"\n')
    rules = load_rules(str(path))
    assert rules.repeat_interval == 1800 and rules.mention_markup == "" and rules.account_codes == {30033}
    assert rules.spike_factor == 5.0 and rules.spike_min_count == 3 and rules.channel_for("carrier") == "C0CARRIER1"
    assert rules.channel_for("account") is None and rules.resolve_after == DEFAULT_RULES.resolve_after


def test_the_rules_snooze_joins_the_menu(db):
    rules = parse_rules({"alerts": {"snooze": "12h"}})
    assert rules.snooze_choices == (3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400)
    assert DEFAULT_RULES.snooze_choices == (3600, 4 * 3600, 86400, 7 * 86400)
    seen(db, [failure(at=T0)], T0, rules)
    [alert] = outbox.pending(db)
    menu = next(a for s in view_for("alert", alert.payload).sections for a in s.actions if a.options)
    assert [o.label for o in menu.options] == ["1 h", "4 h", "12 h", "24 h", "7 d"]


@pytest.mark.parametrize("text, problem", [
    ("[alerts\nrepeat_interval = 1", "not valid TOML"),
    ('[alerts]\nrepeat_interval = "soon"', "alerts.repeat_interval must be a duration"),
    ("[alerts]\nrepeat = 5", "unknown key alerts.repeat"),
    ("[alert]\nmention = 'here'", "unknown table [alert]"),
    ("[alerts]\nmention = 'everyone'", "alerts.mention must be one of"),
    ("[spike]\nmin_count = 'ten'", "spike.min_count must be a number"),
    ("[spike]\ncodes = [30033]", "in both alerts.account_codes and spike.codes"),
    ("[channels]\naccount = '#ops'", "channels.account must be a Slack channel ID"),
    ("[alerts]\naccount_codes = [1]", "not a Twilio error code"),
])
def test_bad_rules_name_the_file_and_the_problem(tmp_path, text, problem):
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_rules(str(path))
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_missing_rules_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="SMSERROR_RULES file .* does not exist"):
        load_rules(str(tmp_path / "nope.toml"))
