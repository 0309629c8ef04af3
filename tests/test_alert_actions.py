"""Alert buttons through a real Bolt app: signed interaction payloads in (dispatched in process,
and over HTTP to a running `smserror run`), the real WebClient and response_url posts out to the
fake Slack Web API."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.listeners.alert_actions import GONE, NOT_OFFERED, AlertActions
from bot.listeners.deps import ListenerDeps
from bot.settings import Settings
from bot.slack_app import build_app
from jobs import alerts
from jobs.deliver import deliver_due
from jobs.rules import DEFAULT_RULES, parse_rules
from jobs.views.actions import ActionId
from jobs.views.alerts import snooze_value
from storage import alert_groups, outbox
from storage.failures import upsert_failures
from tests.fakes.slack_api import TOKEN, FakeSlack
from tests.http import post
from tests.test_alerts import ACCOUNT, CHANNEL, PATIENT, SERVICE, T0, failure, seen, slack_destination
from tests.test_slack_http import signed

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
    return dispatch(app, slack, payload, answers)


def dispatch(app: App, slack: FakeSlack, payload: dict, answers: bool = True) -> int:
    """A signed interaction through the Bolt app; waits for its answer to reach the fake Slack."""
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


def select(app: App, slack: FakeSlack, value: str, response: str, user: str = "U123") -> int:
    """Pick a Snooze menu option with this value, through the in-process Bolt app."""
    payload = {
        "type": "block_actions", "team": {"id": "T1"}, "user": {"id": user, "team_id": "T1"},
        "api_app_id": "A1", "channel": {"id": CHANNEL}, "container": {"type": "message", "channel_id": CHANNEL},
        "response_url": slack.response_url(response), "trigger_id": "1.2.3",
        "actions": [{"action_id": ActionId.ALERT_SNOOZE.value, "block_id": "b", "type": "static_select",
                     "selected_option": {"text": {"type": "plain_text", "text": "?"}, "value": value}}],
    }
    return dispatch(app, slack, payload)


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


def snooze_menu(blocks: list[dict]) -> dict:
    [menu] = [e for b in blocks if b["type"] == "actions" for e in b["elements"]
              if e["action_id"] == ActionId.ALERT_SNOOZE.value]
    assert menu["type"] == "static_select"
    return menu


def choose(service_url: str, slack: FakeSlack, option: dict, response: str, user: str = "U42") -> list[dict]:
    """Pick a Snooze menu option: a signed block_actions interaction to /slack/events, as Slack
    sends it; returns the blocks the alert was replaced with through the response_url."""
    payload = {
        "type": "block_actions", "team": {"id": "T1"}, "user": {"id": user, "team_id": "T1"}, "api_app_id": "A1",
        "channel": {"id": CHANNEL}, "container": {"type": "message", "channel_id": CHANNEL},
        "message": {"ts": "1.000001"}, "response_url": slack.response_url(response), "trigger_id": "1.2.3",
        "actions": [{"type": "static_select", "action_id": ActionId.ALERT_SNOOZE.value, "block_id": "b",
                     "selected_option": option, "action_ts": str(time.time())}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    assert post(service_url + "/slack/events", body, signed(body, secret=SECRET)).status == 200
    assert slack.wait_for(lambda: response in slack.responses)
    reply = slack.responses[response][-1]
    assert reply.get("replace_original") is True, reply
    return reply["blocks"]


def test_snooze_menu_round_trip_over_http(start_service, slack):
    service = start_service(Settings(slack_signing_secret=SECRET, slack_bot_token=TOKEN, slack_channel=CHANNEL,
                                     slack_api_url=slack.api_url))
    now = int(time.time())
    service.pipeline.ingest([failure(at=now - 60), failure(at=now - 30)], "callback", now)
    assert slack.wait_for(lambda: slack.top_level()), "the alert was posted"
    menu = snooze_menu(slack.top_level()[0].blocks)
    assert [o["text"]["text"] for o in menu["options"]] == ["1 h", "4 h", "24 h", "7 d"]
    db = service.pipeline.store.get()
    for n, (option, seconds) in enumerate(zip(menu["options"], (3600, 4 * 3600, 86400, 7 * 86400), strict=True)):
        before = int(time.time())
        blocks = choose(service.url, slack, option, f"snooze{n}", user=f"U{n}")
        group = alert_groups.get(db, GROUP)
        assert before + seconds <= group.snoozed_until <= time.time() + seconds and group.snoozed_by == f"U{n}"
        assert f"Snoozed by <@U{n}> until <!date^{group.snoozed_until}^" in json.dumps(blocks)
        labels = [o["text"]["text"] for o in snooze_menu(blocks)["options"]]
        assert labels == ["1 h", "4 h", "24 h", "7 d", "Unsnooze"]
    later = int(time.time())
    assert seen(db, [failure(at=later)], later).enqueued == [], "snoozed: it counts and says nothing"
    unsnooze = snooze_menu(blocks)["options"][-1]
    blocks = choose(service.url, slack, unsnooze, "unsnooze", user="U9")
    group = alert_groups.get(db, GROUP)
    assert (group.snoozed_until, group.snoozed_by, group.count) == (None, None, 3)
    assert "Snoozed" not in json.dumps(blocks) and "3 failures" in json.dumps(blocks)
    assert [o["text"]["text"] for o in snooze_menu(blocks)["options"]] == ["1 h", "4 h", "24 h", "7 d"]


def test_snooze_values_fit_slack_and_only_offered_durations_are_taken(db, slack, app):
    longest = alerts.group_key("AC" + "f" * 32, 99999, "MG" + "f" * 32)
    assert max(len(snooze_value(longest, s)) for s in (*DEFAULT_RULES.snooze_choices, None)) <= 150
    posted_alert(db, slack)
    for n, value in enumerate([snooze_value(GROUP, 999_999), f"soon:{GROUP}", snooze_value(GROUP, 3600)[:4]]):
        assert select(app, slack, value, f"bad{n}") == 200
        assert slack.responses[f"bad{n}"][-1]["text"] == NOT_OFFERED
    assert alert_groups.get(db, GROUP).snoozed_until is None
    assert select(app, slack, snooze_value("AC-gone:1:-", 3600), "gone") == 200
    assert slack.responses["gone"][-1]["text"] == GONE


def test_the_snooze_24_h_button_of_an_older_post_still_snoozes(db, slack, app):
    posted_alert(db, slack)
    before = int(time.time())
    assert click(app, slack, ActionId.ALERT_SNOOZE, GROUP, user="U7") == 200
    group = alert_groups.get(db, GROUP)
    assert before + DEFAULT_RULES.snooze <= group.snoozed_until <= time.time() + DEFAULT_RULES.snooze
    assert "Snoozed by <@U7> until" in json.dumps(slack.responses["r1"][-1]["blocks"])


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
    assert actions.snooze("nope", 3600, "U9") is None
    blocks, text = actions.snooze(GROUP, 4 * 3600, "U9")
    group = alert_groups.get(db, GROUP)
    assert (group.snoozed_until, group.snoozed_by) == (T0 + 10 + 4 * 3600, "U9")
    blocks, text = actions.snooze(GROUP, None, "U9")
    assert alert_groups.get(db, GROUP).snoozed_until is None
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
    blocks, _ = actions.snooze(key, 3600, "U9")
    assert usual(T0 + 450) in json.dumps([b.to_dict() for b in blocks])
