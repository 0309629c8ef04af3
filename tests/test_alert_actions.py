"""Alert buttons through a real Bolt app: signed interaction payloads in, the real WebClient and
response_url posts out to the fake Slack Web API."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from jobs.views.actions import ActionId
from bot.listeners.alert_actions import GONE, AlertActions
from bot.listeners.deps import ListenerDeps
from bot.settings import Settings
from bot.slack_app import build_app
from jobs import alerts
from jobs.deliver import deliver_due
from jobs.rules import DEFAULT_RULES, parse_rules
from storage import alert_groups, outbox
from storage.failures import upsert_failures
from tests.fakes.slack_api import TOKEN, FakeSlack
from tests.test_alerts import ACCOUNT, CHANNEL, PATIENT, SERVICE, T0, failure, seen, slack_destination

SECRET = "fake-signing-secret"
GROUP = alerts.group_key(ACCOUNT, 30033, SERVICE)


@pytest.fixture
def app(db, slack):
    settings = Settings(slack_signing_secret=SECRET, slack_bot_token=TOKEN, slack_api_url=slack.api_url)
    return build_app(settings, ListenerDeps(store=lambda: db, rules=DEFAULT_RULES))


def click(app: App, slack: FakeSlack, action: ActionId, value: str, user: str = "U123", answers: bool = True) -> int:
    payload = {
        "type": "block_actions", "team": {"id": "T1"}, "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1", "channel": {"id": CHANNEL}, "container": {"type": "message", "channel_id": CHANNEL},
        "message": {"ts": "1.000001"}, "response_url": slack.response_url("r1"), "trigger_id": "1.2.3",
        "actions": [{"action_id": action.value, "block_id": "b", "value": value, "type": "button",
                     "action_ts": str(time.time())}],
    }
    body = urlencode({"payload": json.dumps(payload)})
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
    before = slack.answered
    response = app.dispatch(BoltRequest(body=body, headers={
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-request-timestamp": [stamp], "x-slack-signature": [signature]}))
    if response.status == 200 and answers:  # Bolt acks first; the listener answers Slack right after
        assert slack.wait_for(lambda: slack.answered > before)
    return response.status


def posted_alert(db, slack) -> None:
    seen(db, [failure(at=T0), failure(at=T0 + 5)], T0 + 5)
    deliver_due(db, [slack_destination(slack)], T0 + 5)


def test_acknowledge_records_who_and_edits_the_message(db, slack, app):
    posted_alert(db, slack)
    seen(db, [failure(at=T0 + 60)], T0 + 60)  # an edit queued before the click …
    assert click(app, slack, ActionId.ALERT_ACK, GROUP) == 200
    group = alert_groups.get(db, GROUP)
    assert group.acked_by == "U123" and group.acked_at
    reply = slack.responses["r1"][-1]
    assert reply["replace_original"] is True
    shown = json.dumps(reply["blocks"])
    assert "Acknowledged by <@U123>" in shown and ActionId.ALERT_ACK.value not in shown
    # … and delivered after it does not undo the acknowledgement
    deliver_due(db, [slack_destination(slack)], T0 + 60)
    assert "Acknowledged by <@U123>" in json.dumps(slack.calls("chat.update")[-1]["blocks"])


def test_snooze_mutes_the_group_for_a_day(db, slack, app):
    posted_alert(db, slack)
    before = time.time()
    assert click(app, slack, ActionId.ALERT_SNOOZE, GROUP) == 200
    group = alert_groups.get(db, GROUP)
    assert before + 86400 - 5 <= group.snoozed_until <= time.time() + 86400 + 5
    assert "Snoozed until" in json.dumps(slack.responses["r1"][-1]["blocks"])
    now = int(time.time())
    assert seen(db, [failure(at=now)], now).enqueued == []


def test_show_examples_is_an_ephemeral_list_of_sids_without_numbers(db, slack, app):
    posted_alert(db, slack)
    assert click(app, slack, ActionId.ALERT_EXAMPLES, GROUP, user="U777") == 200
    [ephemeral] = slack.ephemeral
    assert ephemeral["channel"] == CHANNEL and ephemeral["user"] == "U777"
    sids = [row[0] for row in db.execute("SELECT sid FROM failures").fetchall()]
    text = json.dumps(ephemeral["blocks"], ensure_ascii=False)
    assert all(sid in text for sid in sids) and "+1••••••4567" in text
    assert PATIENT not in slack.all_traffic() and PATIENT[2:] not in slack.all_traffic()


def test_unknown_group_answers_politely(db, slack, app):
    assert click(app, slack, ActionId.ALERT_ACK, "AC-nothing:1:-") == 200
    assert slack.responses["r1"][-1]["text"] == GONE
    assert click(app, slack, ActionId.ALERT_EXAMPLES, "") == 200
    assert "no longer in the store" in slack.ephemeral[-1]["text"]


def test_docs_link_is_acked(app, slack):
    assert click(app, slack, ActionId.OPEN_DOCS, "", answers=False) == 200


def test_plain_functions_without_slack(db):
    seen(db, [failure(at=T0)], T0)
    actions = AlertActions(store=lambda: db, rules=DEFAULT_RULES, clock=lambda: T0 + 10)
    blocks, text = actions.acknowledge(GROUP, "U9")
    assert "Acknowledged by <@U9>" in json.dumps([b.to_dict() for b in blocks])
    assert actions.snooze("nope") is None
    blocks, text = actions.snooze(GROUP)
    assert alert_groups.get(db, GROUP).snoozed_until == T0 + 10 + DEFAULT_RULES.snooze
    blocks, text = actions.examples(GROUP)
    assert text.startswith("Examples: SM")
    assert [i.kind for i in outbox.pending(db)] == ["alert"]


def test_a_custom_baseline_is_kept_by_clicks_edits_and_the_resolved_note(db, slack):
    rules = parse_rules({"spike": {"baseline_days": 1}})
    # two an hour on days 2-6 before T0: inside the default 7-day baseline, outside a 1-day one
    upsert_failures(db, [failure(code=30007, at=T0 - 2 * 86400 - 3600 * h - i) for h in range(5 * 24) for i in (0, 1)],
                    "import", T0)
    key = alerts.group_key(ACCOUNT, 30007, SERVICE)
    dest = [slack_destination(slack)]

    def usual(now: int) -> str:
        _, baseline = alerts.spike_rate(db, ACCOUNT, 30007, SERVICE, now, rules)
        return f"against a usual {round(baseline, 2)}/hour"

    seen(db, [failure(code=30007, at=T0 - 60 * i) for i in range(20)], T0, rules)
    deliver_due(db, dest, T0, rules=rules)
    assert usual(T0) in json.dumps(slack.top_level()[0].blocks)
    seen(db, [failure(code=30007, at=T0 + 400)], T0 + 400, rules)  # queues an edit of the post
    actions = AlertActions(store=lambda: db, rules=rules, clock=lambda: T0 + 450)
    blocks, _ = actions.acknowledge(key, "U9")
    assert usual(T0 + 450) in json.dumps([b.to_dict() for b in blocks])
    deliver_due(db, dest, T0 + 450, rules=rules)
    assert usual(T0 + 450) in json.dumps(slack.calls("chat.update")[-1]["blocks"])
    resolved_at = T0 + 400 + rules.resolve_after
    alerts.check_resolved(db, resolved_at, rules)
    notes = [i for i in outbox.pending(db) if i.kind in ("alert-resolved", "alert-edit")]
    expected = alerts.spike_rate(db, ACCOUNT, 30007, SERVICE, resolved_at, rules)[1]
    assert len(notes) == 2 and all(i.payload["spike"]["baseline_per_hour"] == round(expected, 2) for i in notes)
    blocks, _ = actions.snooze(key)
    assert usual(T0 + 450) in json.dumps([b.to_dict() for b in blocks])
