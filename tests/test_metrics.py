"""GET /metrics of the real service, read with prometheus_client's own parser: it moves as
requests are refused, polls run, failures are stored, events come in and posts are delivered
(or fail), and its account label holds only the accounts configured."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import Metrics, StoreCollector
from storage.db import LocalDb
from storage.poll_state import record_pass_ok
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID
from tests.fakes.twilio_events import message_event, sign_delivery
from tests.http import get, post
from tests.test_run_e2e import CHANNEL, PUBLIC, alerts_in, callback, settings_for

UNCONFIGURED = "AC" + "9" * 32


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of every sample /metrics shows."""
    reply = get(url + "/metrics")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_move_with_refusals_polls_events_and_deliveries(twilio, slack, teams, start_service):
    now = int(time.time())
    twilio.add_message(date_sent=now - 600, status="undelivered", error_code=30033, recipient="+12025550187")
    service = start_service(settings_for(twilio, slack, teams))
    assert slack.wait_for(lambda: alerts_in(slack) and teams.cards, timeout=8)
    record_pass_ok(service.pipeline.store.get(), UNCONFIGURED, pass_at=now, swept=True, ok_at=now)

    assert slack.wait_for(lambda: value(scrape(service.url), "smserror_deliveries_total",
                                        destination="teams", result="sent") == 1, timeout=5)
    first = scrape(service.url)
    assert value(first, "smserror_failures_ingested_total", source="poll") == 1
    assert value(first, "smserror_failures_ingested_total", source="callback") == 0
    assert value(first, "smserror_deliveries_total", destination="slack", result="sent") == 1
    assert value(first, "smserror_deliveries_total", destination="slack", result="failed") == 0
    assert value(first, "smserror_poll_duration_seconds_count") >= 1
    assert value(first, "smserror_twilio_requests_total", result="ok") >= 1
    assert now - 5 <= value(first, "smserror_last_successful_poll_timestamp_seconds", account=MAIN_SID) <= now + 60
    assert not any(dict(labels).get("account") == UNCONFIGURED for _, labels in first), "accounts configured only"
    assert value(first, "smserror_outbox_pending") == 0 and value(first, "smserror_outbox_oldest_age_seconds") == 0
    assert value(first, "smserror_leader") == 1 and value(first, "smserror_store_up") == 1
    assert value(first, "smserror_delivery_failing_seconds", destination="slack") == 0
    assert value(first, "smserror_requests_rejected_total", endpoint="/twilio/status", reason="bad_signature") == 0

    # refusals, by endpoint and reason
    assert post(service.url + "/twilio/status", b"MessageSid=SM1", {"X-Twilio-Signature": "forged"}).status == 403
    assert post(service.url + "/slack/events", b"token=x", {"X-Slack-Signature": "v0=00"}).status == 401
    assert post(service.url + "/twilio/status", b"x" * 2_000_000).status == 413
    # an Event Streams delivery: one failure taken, one other type ignored
    events = [message_event("failed", sid="SM" + "e" * 32, account=MAIN_SID, code=30007),
              {**message_event("failed", sid="SM" + "f" * 32, account=MAIN_SID, code=30007), "type": "other"}]
    raw = json.dumps(events).encode()
    url, headers = sign_delivery(PUBLIC + "/twilio/events", raw, AUTH_TOKEN)
    assert requests.post(service.url + url[len(PUBLIC):], data=raw, headers=headers, timeout=5).status_code == 200
    # Slack now fails: the next alert waits in the outbox
    slack.fail(500, times=20, path_prefix="/api/chat.postMessage")
    assert callback(service.url, 30034, "SM" + "c" * 32).status_code == 200
    assert slack.wait_for(lambda: value(scrape(service.url), "smserror_deliveries_total",
                                        destination="slack", result="failed") == 1, timeout=5)

    second = scrape(service.url)
    assert value(second, "smserror_requests_rejected_total", endpoint="/twilio/status", reason="bad_signature") == 1
    assert value(second, "smserror_requests_rejected_total", endpoint="/slack/events", reason="bad_signature") == 1
    assert value(second, "smserror_requests_rejected_total", endpoint="/twilio/status", reason="too_large") == 1
    assert value(second, "smserror_twilio_events_received_total", outcome="taken") == 1
    assert value(second, "smserror_twilio_events_received_total", outcome="ignored") == 1
    assert value(second, "smserror_failures_ingested_total", source="event") == 1
    assert value(second, "smserror_failures_ingested_total", source="callback") == 1
    assert value(second, "smserror_outbox_pending") >= 1
    assert value(second, "smserror_outbox_oldest_age_seconds") >= 0
    assert value(second, "smserror_delivery_failing_seconds", destination="slack") >= 0
    assert value(second, "smserror_deliveries_total", destination="slack", result="sent") == 1


def test_two_services_in_one_process_keep_their_own_counts():
    one, two = Metrics(), Metrics()
    one.rejected("/twilio/status", 403, "bad_signature")
    samples = {s.name: s.value for f in text_string_to_metric_families(two.exposition().decode()) for s in f.samples
               if s.name == "smserror_requests_rejected_total"}
    assert samples == {}
    assert b'smserror_requests_rejected_total{endpoint="/twilio/status",reason="bad_signature"} 1.0' in one.exposition()


def test_rate_limits_from_slack_are_counted(twilio, slack, teams, start_service):
    slack.fail(429, times=1, headers={"Retry-After": "1"}, body={"ok": False, "error": "ratelimited"},
               path_prefix="/api/chat.postMessage")
    service = start_service(settings_for(twilio, slack, teams))
    assert callback(service.url, 30033, "SM" + "d" * 32).status_code == 200
    assert slack.wait_for(lambda: value(scrape(service.url), "smserror_deliveries_total", destination="slack",
                                        result="sent") == 1, timeout=8)
    samples = scrape(service.url)
    assert value(samples, "smserror_slack_rate_limited_total") == 1
    assert value(samples, "smserror_deliveries_total", destination="slack", result="rate_limited") == 1
    assert len(slack.top_level(CHANNEL)) == 1


def test_the_example_alert_rules_watch_metrics_that_exist(tmp_path):
    rules = yaml.safe_load((Path(__file__).parents[1] / "docs" / "prometheus-rules.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    assert all(rule.get("annotations", {}).get("summary") for group in rules["groups"] for rule in group["rules"])
    metrics = Metrics()
    metrics.expect(endpoints=["/twilio/status"], destinations=["slack"])
    store = LocalDb(tmp_path / "smserror.db")
    metrics.registry.register(StoreCollector(store.get, accounts=lambda: None, destinations=["slack"],
                                             twilio_results=dict, role=lambda: "leader"))
    exposed = {sample.name for family in text_string_to_metric_families(metrics.exposition().decode())
               for sample in family.samples}
    used = {name for expr in exprs for name in re.findall(r"\bsmserror_[a-z_]+", expr)}
    assert used - exposed - {"smserror_last_successful_poll_timestamp_seconds"} == set()
    assert "smserror_last_successful_poll_timestamp_seconds" in metrics.exposition().decode(), "declared, if empty"
