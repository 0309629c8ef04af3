"""Fleet alerts (`[fleet]` in the rules): one alert in the default destinations when the same
code hits many accounts at once; it names them, updates in place as more clinics join, and
resolves like any alert. Through the outbox and the real slack_sdk client to a fake Slack."""

from __future__ import annotations

import json

import pytest

from bot.emit.text import text
from jobs import alerts
from jobs.deliver import deliver_due
from jobs.rules import parse_rules
from jobs.views import view_for
from storage import alert_groups, outbox
from storage.poll_state import record_pass_ok
from tests.test_alerts import CHANNEL, T0, failure, seen, slack_destination

CLINICS = ["AC" + f"{n:02x}" * 16 for n in (0xa1, 0xa2, 0xa3, 0xa4)]
CODE = 30008  # unknown error: a carrier's bad day
GLOW_CHANNEL = "C0GLOW0001"
RULES = parse_rules({
    "fleet": {"min_accounts": 3, "min_per_account": 3, "window": "15m"},
    # a route takes the first clinic's own alerts; the fleet's still go to the default channel
    "routes": [{"name": "Glow", "accounts": [CLINICS[0]], "slack_channel": GLOW_CHANNEL}],
})
KEY = alert_groups.fleet_key(CODE)


def hits(clinic: str, n: int, at: int, code: int = CODE) -> list[dict]:
    return [failure(code=code, account=clinic, at=at + i, service=None) for i in range(n)]


@pytest.fixture
def destinations(slack):
    glow = slack_destination(slack, GLOW_CHANNEL)
    glow.route, glow.name = RULES.routes[0], "slack:Glow"
    return [slack_destination(slack), glow]


def test_a_code_hitting_enough_clinics_alerts_once_names_them_and_updates_in_place(db, slack, destinations):
    record_pass_ok(db, CLINICS[0], pass_at=T0, swept=True, ok_at=T0, friendly_name="Glow Clinic")
    seen(db, hits(CLINICS[0], 3, T0) + hits(CLINICS[1], 3, T0 + 10), T0 + 20, RULES)
    seen(db, hits(CLINICS[2], 2, T0 + 30), T0 + 40, RULES)
    assert alert_groups.get(db, KEY) is None, "two clinics at 3 and one at 2: below the line"

    seen(db, hits(CLINICS[2], 1, T0 + 50), T0 + 60, RULES)  # the third clinic reaches 3
    deliver_due(db, destinations, T0 + 60)
    [post] = slack.top_level()
    assert post.channel == CHANNEL, "the default destinations, not the first clinic's route"
    shown = json.dumps(post.blocks, ensure_ascii=False)
    assert "probably carrier- or platform-side" in shown.lower()
    assert f"Glow Clinic ({CLINICS[0]})" in shown and CLINICS[1] in shown and CLINICS[2] in shown
    assert CLINICS[3] not in shown and "3 clinics" in post.text and "9 failures" in post.text
    assert post.text.startswith("<!here>")

    # a fourth clinic joins within the window: the same post is edited, and the thread told
    seen(db, hits(CLINICS[3], 3, T0 + 400), T0 + 410, RULES)
    deliver_due(db, destinations, T0 + 410)
    assert [m.ts for m in slack.top_level()] == [post.ts], "one alert, updated in place"
    [update] = slack.calls("chat.update")
    assert CLINICS[3] in json.dumps(update["blocks"]) and "4 clinics" in update["text"]
    [reply] = slack.replies(post.ts)
    assert "+3 more failures, 12 in all, in 4 clinics." in json.dumps(reply.blocks)
    assert not [m for m in slack.messages if m.channel == GLOW_CHANNEL]
    group = alert_groups.get(db, KEY)
    assert group.count == 12 and group.post_ref == post.ts


def test_the_fleet_alert_resolves_like_any_alert(db, slack, destinations):
    for n, clinic in enumerate(CLINICS[:3]):
        seen(db, hits(clinic, 3, T0 + n), T0 + 10, RULES)
    deliver_due(db, destinations, T0 + 10)
    [post] = slack.top_level()
    assert alerts.check_resolved(db, T0 + 10 + RULES.resolve_after - 60, RULES) == []
    assert alerts.check_resolved(db, T0 + 10 + RULES.resolve_after, RULES) == [KEY]
    deliver_due(db, destinations, T0 + 10 + RULES.resolve_after)
    [note] = slack.replies(post.ts)
    assert "Resolved" in note.text and str(CODE) in note.text
    assert "resolved" in slack.calls("chat.update")[-1]["text"].lower()
    assert not outbox.pending(db)


def test_spread_out_or_one_patients_failures_make_no_fleet_alert(db):
    # three clinics with three failures each, but an hour apart: not within the window
    for n, clinic in enumerate(CLINICS[:3]):
        seen(db, hits(clinic, 3, T0 + n * 3600), T0 + n * 3600 + 10, RULES)
    # opt-outs hit every clinic every day: one patient's number each, never the carrier
    seen(db, [f for clinic in CLINICS for f in hits(clinic, 5, T0 + 9000, code=21610)], T0 + 9010, RULES)
    assert alert_groups.get(db, KEY) is None and alert_groups.get(db, alert_groups.fleet_key(21610)) is None
    assert not outbox.pending(db)


def test_without_a_fleet_table_there_are_no_fleet_alerts(db):
    rules = parse_rules({})
    for clinic in CLINICS:
        seen(db, hits(clinic, 5, T0), T0 + 10, rules)
    assert alert_groups.get(db, KEY) is None


def test_acknowledge_and_examples_work_on_the_fleet_alert(db):
    for clinic in CLINICS[:3]:
        seen(db, hits(clinic, 3, T0), T0 + 10, RULES)
    report = alerts.acknowledge(db, KEY, "U42", T0 + 20, RULES)
    assert report["acked_by"] == "U42" and len(report["accounts"]) == 3
    assert len(alerts.examples(db, KEY, 10)) == 9
    shown = text(view_for("alert-edit", report))
    assert "Acknowledged by @U42" in shown and "🌐" in shown and "3 failures" in shown
