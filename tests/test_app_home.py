"""The App Home tab through the running service: a signed `app_home_opened` event in, the real
WebClient's views.publish out to the fake Slack; alert buttons clicked on the tab; and the home
view within Block Kit's limits however much the store holds."""

from __future__ import annotations

import json
import time
from datetime import datetime
from urllib.parse import urlencode

import pytest
from slack_sdk.models.views import View as SlackView

from bot.emit.slack import SHORTENED, blocks, to_dicts
from bot.listeners import app_home
from bot.listeners.deps import ListenerDeps
from bot.settings import Settings
from jobs import alerts, overview
from jobs.rules import DEFAULT_RULES
from jobs.scheduler import next_digest
from jobs.views.actions import ActionId
from jobs.views.commands import status_view, top_view
from jobs.views.home import MAX_ALERTS, home_view
from storage import alert_groups
from storage.alert_groups import AlertGroup
from storage.failures import upsert_failures
from storage.poll_state import record_pass_error, record_pass_ok
from tests.fakes.slack_api import TOKEN
from tests.http import post
from tests.test_alerts import ACCOUNT, CHANNEL, PATIENT, SERVICE, failure
from tests.test_slack_http import SECRET, signed

USER = "U0HOME"
GROUP = alerts.group_key(ACCOUNT, 30033, SERVICE)


@pytest.fixture
def service(start_service, slack):
    settings = Settings(slack_signing_secret=SECRET, slack_bot_token=TOKEN, slack_channel=CHANNEL,
                        slack_api_url=slack.api_url)
    return start_service(settings)


def send(service, payload: dict, form: bool = False) -> None:
    if form:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        headers = signed(body)
    else:
        body = json.dumps(payload).encode()
        headers = {**signed(body), "Content-Type": "application/json"}
    assert post(service.url + "/slack/events", body, headers).status == 200


def open_home(service, user: str = USER) -> None:
    send(service, {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
                   "event_id": f"Ev{time.time_ns()}", "event_time": int(time.time()),
                   "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home",
                             "event_ts": str(time.time())}})


def click_on_home(service, action: ActionId, value: str) -> None:
    send(service, {"type": "block_actions", "team": {"id": "T1"}, "user": {"id": USER, "team_id": "T1"},
                   "api_app_id": "A1", "trigger_id": "1.2.3", "container": {"type": "view", "view_id": "V1"},
                   "view": {"id": "V1", "type": "home", "team_id": "T1"},
                   "actions": [{"action_id": action.value, "block_id": "b", "value": value, "type": "button",
                                "action_ts": str(time.time())}]}, form=True)


def posted_alert(service, slack) -> AlertGroup:
    """A 30033 alert, posted to the channel by the service itself (it leads and delivers)."""
    db, now = service.pipeline.store.get(), int(time.time())
    alerts.observe(db, upsert_failures(db, [failure(30033, now - 120)], "poll", now).new, now)
    assert slack.wait_for(lambda: service.role == "leader", timeout=10)
    service.courier.wake()
    assert slack.wait_for(lambda: (alert_groups.get(db, GROUP).post_ref or "") != "", timeout=10)
    return alert_groups.get(db, GROUP)


def action_ids(view: dict) -> list[tuple[str, str]]:
    return [(e["action_id"], e.get("value", "")) for b in view["blocks"] if b["type"] == "actions"
            for e in b["elements"]]


def test_opening_the_home_tab_publishes_alerts_top_codes_reads_and_next_digest(service, slack):
    group = posted_alert(service, slack)
    db, now = service.pipeline.store.get(), int(time.time())
    record_pass_ok(db, ACCOUNT, pass_at=now - 60, swept=True, ok_at=now - 50, friendly_name="Glow Clinic")
    upsert_failures(db, [failure(30007, now - 60 * i) for i in range(3)], "poll", now)

    open_home(service)
    assert slack.wait_for(lambda: USER in slack.home)
    view = slack.home[USER]
    text = json.dumps(view, ensure_ascii=False)
    assert view["type"] == "home" and view["blocks"][0]["text"]["text"] == "smserror"
    assert "Open alerts (1)" in text and "Campaign Suspended" in text
    assert (ActionId.ALERT_ACK.value, GROUP) in action_ids(view)
    assert (ActionId.ALERT_EXAMPLES.value, GROUP) in action_ids(view)
    assert f"app_redirect?channel={CHANNEL}&message_ts={group.post_ref}&team=T1" in text
    assert "Top codes, last 24 h" in text and "1. 30007 · " in text and "3 failures" in text
    assert "Glow Clinic (AC" in text and "This instance leads" in text
    settings = service.settings
    due = int(next_digest(datetime.now(settings.tz), settings.digest_at, settings.tz).timestamp())
    assert f"next digest <!date^{due}^" in text


def test_only_the_home_tab_is_published():
    deps = ListenerDeps(store=lambda: pytest.fail("the store was read"), rules=DEFAULT_RULES)
    app_home.on_home_opened({"type": "app_home_opened", "user": USER, "tab": "messages"}, {}, None, deps)


def test_acknowledge_on_the_home_tab_edits_the_channel_post_and_republishes(service, slack):
    group = posted_alert(service, slack)
    click_on_home(service, ActionId.ALERT_ACK, GROUP)
    assert slack.wait_for(lambda: USER in slack.home)
    db = service.pipeline.store.get()
    assert alert_groups.get(db, GROUP).acked_by == USER
    view = slack.home[USER]
    assert (ActionId.ALERT_ACK.value, GROUP) not in action_ids(view)
    assert f"acknowledged by <@{USER}>" in json.dumps(view)
    edit = [c for c in slack.calls("chat.update") if c.get("ts") == group.post_ref][-1]
    assert edit["channel"] == CHANNEL and f"Acknowledged by <@{USER}>" in json.dumps(edit["blocks"])


def test_show_examples_on_the_home_tab_opens_a_modal_masked(service, slack):
    posted_alert(service, slack)
    click_on_home(service, ActionId.ALERT_EXAMPLES, GROUP)
    assert slack.wait_for(lambda: slack.modals)
    modal = json.dumps(slack.modals[0], ensure_ascii=False)
    assert "Latest 1 of 1" in modal and "+1••••••4567" in modal
    assert PATIENT not in slack.all_traffic() and PATIENT[2:] not in slack.all_traffic()


# -- limits --------------------------------------------------------------------------------

def busy_store(db, now: int) -> None:
    """300 codes failing in the last day, 50 open alerts, 40 Twilio accounts half of them failing."""
    codes = list(range(30001, 30301))
    upsert_failures(db, [failure(code, now - 60 - n) for n, code in enumerate(codes)], "poll", now)
    for n in range(50):
        account = f"AC{n:032x}"
        alert_groups.save(db, AlertGroup(key=alerts.group_key(account, 30033, SERVICE), account_sid=account,
                                         error_code=30033, service_sid=SERVICE, kind="account", count=n + 1,
                                         first_seen=now - 3600, last_seen=now - n, posted_at=now - 3600,
                                         post_destination="slack", post_channel=CHANNEL,
                                         post_ref=f"{now - 3600}.{n:06d}"))
        if n < 40:
            record_pass_ok(db, account, pass_at=now - 60, swept=True, ok_at=now - 50, friendly_name=f"Clinic {n}")
            if n % 2:
                record_pass_error(db, account, "HTTP 503 from Twilio " + "x" * 400)


def fits(view, surface: str) -> list[dict]:
    shown, text = blocks(view)
    as_dicts = [block.to_dict() for block in shown]  # slack_sdk validates each block's limits
    assert len(as_dicts) <= 50 and SHORTENED not in json.dumps(as_dicts, ensure_ascii=False)
    if surface == "home":
        SlackView(type="home", blocks=shown).to_dict()  # and a home view's (100 blocks)
    assert text
    return as_dicts


def test_home_stays_within_block_kit_limits_with_300_codes_and_50_alerts(db):
    now = int(time.time())
    busy_store(db, now)
    home = overview.home(db, now, DEFAULT_RULES, alerts_shown=MAX_ALERTS, next_digest=now + 3600)
    shown = json.dumps(fits(home_view(home), "home"), ensure_ascii=False)
    assert shown.count(ActionId.ALERT_ACK.value) == MAX_ALERTS
    assert f"…and {50 - MAX_ALERTS} more open alerts." in shown
    assert "…and 295 more codes (295 failures)." in shown
    assert "…and 30 more accounts, 10 failing" in shown


def test_status_and_top_stay_within_one_message(db):
    now = int(time.time())
    busy_store(db, now)
    status = json.dumps(fits(status_view(overview.status(db, now, domain="acme")), "message"), ensure_ascii=False)
    assert "Open alerts (50)" in status and "…and 40 more open alerts." in status
    top = json.dumps(fits(top_view(overview.top_codes(db, 7 * 86400, "7 days", now)), "message"), ensure_ascii=False)
    assert "300 codes" in top and "…and 290 more codes (290 failures)." in top
    assert to_dicts(top_view(overview.top_codes(db, 86400, "24 h", now)))[1].startswith("Top error codes, last 24 h")
