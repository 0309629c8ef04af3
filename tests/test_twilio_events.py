"""POST /twilio/events through the real service: Event Streams deliveries signed with the twilio
SDK's RequestValidator the way Twilio signs them, forged and tampered ones refused, redelivery
and disorder harmless, message text never kept."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import requests

from bot.twilio_events import handle_events
from storage.poll_state import all_poll_states
from storage.stream_events import sink_test_id
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID
from tests.fakes.twilio_events import TEST_TYPE, message_event, sign_delivery
from tests.test_run_e2e import PUBLIC, alerts_in, settings_for

SINK = PUBLIC + "/twilio/events"
SUB = "AC" + "5" * 32
OTHER_SUB = "AC" + "6" * 32
MARKER = "zq-planted-body-7731"
BODY = f"Your appointment is at 10:00. {MARKER}"
PATIENT = "+12025550187"


def sid(n: int) -> str:
    return f"SM{n:032x}"


@pytest.fixture
def service(twilio, slack, teams, start_service):
    return start_service(settings_for(twilio, slack, teams))


def post(service, payload, token: str = AUTH_TOKEN, *, body: bytes | None = None) -> requests.Response:
    """Deliver `payload` as Twilio would (or `body` as it is, signed as if it were the payload)."""
    raw = json.dumps(payload).encode()
    url, headers = sign_delivery(SINK, raw, token)
    return deliver(service, url, headers, raw if body is None else body)


def deliver(service, url: str, headers: dict, body: bytes) -> requests.Response:
    return requests.post(service.url + url[len(PUBLIC):], data=body, headers=headers, timeout=5)


def failures(service) -> list[dict]:
    cursor = service.pipeline.store.get().execute("SELECT * FROM failures ORDER BY sid")
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def queued_alerts(service) -> int:
    return service.pipeline.store.get().execute("SELECT count(*) FROM outbox WHERE kind = 'alert'").fetchone()[0]


def test_a_signed_failure_is_stored_once_and_alerted(service, slack):
    event = message_event("undelivered", sid=sid(1), account=MAIN_SID, code=30033, to=PATIENT, body=BODY)
    answer = post(service, [event])
    assert (answer.status_code, answer.text) == (200, "ok: 1 taken, 0 repeated, 0 ignored")
    [row] = failures(service)
    assert (row["sid"], row["account_sid"], row["status"], row["error_code"], row["source"], row["recipient"]) == (
        sid(1), MAIN_SID, "undelivered", 30033, "event", PATIENT)
    assert slack.wait_for(lambda: alerts_in(slack), timeout=5)
    assert PATIENT not in slack.all_traffic() and MARKER not in slack.all_traffic()


def test_one_event_without_batching_is_taken_too(service):
    assert post(service, message_event("failed", sid=sid(2), account=MAIN_SID, code=30007)).status_code == 200
    assert [(r["sid"], r["status"]) for r in failures(service)] == [(sid(2), "failed")]


def test_a_batch_of_100_is_answered_well_within_twilios_5_seconds(service):
    batch = [message_event("failed" if n % 2 else "undelivered", sid=sid(n), account=MAIN_SID, code=30003 + n % 5,
                           body=BODY) for n in range(100)]
    started = time.monotonic()
    answer = post(service, batch)
    assert time.monotonic() - started < 2.5
    assert answer.text == "ok: 100 taken, 0 repeated, 0 ignored"
    assert len(failures(service)) == 100


def test_redelivery_changes_nothing_and_raises_no_second_alert(service, slack):
    batch = [message_event("undelivered", sid=sid(n), account=MAIN_SID, code=30033) for n in range(3)]
    assert post(service, batch).text == "ok: 3 taken, 0 repeated, 0 ignored"
    assert slack.wait_for(lambda: alerts_in(slack), timeout=5)
    before, alerts = failures(service), queued_alerts(service)

    assert post(service, batch).text == "ok: 0 taken, 3 repeated, 0 ignored"
    changed = [dict(e, data=dict(e["data"], errorCode=30034)) for e in batch]  # same ids: the same events
    assert post(service, changed).text == "ok: 0 taken, 3 repeated, 0 ignored"
    assert failures(service) == before and queued_alerts(service) == alerts
    twice = message_event("failed", sid=sid(9), account=MAIN_SID, code=30003)
    assert post(service, [twice, twice]).text == "ok: 1 taken, 1 repeated, 0 ignored"


def test_out_of_order_an_older_state_never_overwrites_a_newer_one(service):
    now = time.time()
    undelivered = message_event("undelivered", sid=sid(3), account=MAIN_SID, code=30005, at=now - 60)
    failed_earlier = message_event("failed", sid=sid(3), account=MAIN_SID, code=30003, at=now - 120)
    sent_earlier = message_event("sent", sid=sid(3), account=MAIN_SID, code=None, at=now - 180)
    assert post(service, [undelivered]).status_code == 200
    assert post(service, [failed_earlier]).text == "ok: 1 taken, 0 repeated, 0 ignored"
    assert post(service, [sent_earlier]).text == "ok: 0 taken, 0 repeated, 1 ignored"
    [row] = failures(service)
    assert (row["status"], row["error_code"], row["updated_at"]) == ("undelivered", 30005, int(now - 60))


def test_other_event_types_are_acknowledged_and_ignored(service):
    others = [message_event(kind, sid=sid(4), account=MAIN_SID, code=None) for kind in ("sent", "delivered", "read")]
    others.append({"specversion": "1.0", "type": "com.twilio.voice.status-callback.call.completed", "id": "EZ1",
                   "data": {"callSid": "CA" + "1" * 32}})
    assert post(service, others).text == "ok: 0 taken, 0 repeated, 4 ignored"
    assert failures(service) == []


def test_forged_and_tampered_deliveries_are_refused(service):
    event = message_event("undelivered", sid=sid(5), account=MAIN_SID, code=30003)
    raw = json.dumps([event]).encode()
    url, headers = sign_delivery(SINK, raw, AUTH_TOKEN)
    tampered = raw.replace(b"30003", b"30004")

    assert post(service, [event], token="not-the-auth-token-0123456789").status_code == 403
    assert deliver(service, url, headers, tampered).status_code == 403  # body changed after signing
    rehashed_url, _ = sign_delivery(SINK, tampered, "irrelevant")  # hash fits the new body, signature does not
    assert deliver(service, rehashed_url, headers, tampered).status_code == 403
    assert deliver(service, SINK, headers, raw).status_code == 403  # no bodySHA256 at all
    assert deliver(service, url, {"Content-Type": "application/json"}, raw).status_code == 403
    assert failures(service) == []
    assert deliver(service, url, headers, raw).status_code == 200


def test_signed_but_unreadable_bodies_get_400_never_500(service):
    for body in (b"{not json", b"42", b'"a string"', b"\xff\xfe\x00garbage", b"[" * 100_000):
        assert _signed_raw(service, body).status_code == 400, body[:20]
    weird = [{"type": "com.twilio.messaging.message.failed", "id": "EZ2", "data": "not an object"},
             {"type": "com.twilio.messaging.message.failed", "id": "EZ3",
              "data": {"messageSid": sid(6), "errorCode": "thirty"}},
             {"type": "com.twilio.messaging.message.failed", "id": 7, "data": {"messageSid": sid(6), "errorCode": 1}},
             {"type": "com.twilio.messaging.message.failed", "id": "EZ4",
              "data": {"messageSid": sid(6), "errorCode": True, "timestamp": "yesterday"}},
             [], None, 5]
    assert post(service, weird).text == "ok: 0 taken, 0 repeated, 7 ignored"


def _signed_raw(service, body: bytes) -> requests.Response:
    url, headers = sign_delivery(SINK, body, AUTH_TOKEN)
    return deliver(service, url, headers, body)


def test_message_text_is_dropped_on_receipt(service, caplog):
    caplog.set_level(logging.DEBUG)
    batch = [message_event("failed", sid=sid(7), account=MAIN_SID, code=30007, body=BODY),
             dict(message_event("undelivered", sid=sid(8), account=MAIN_SID, code=30003),
                  data=json.dumps({"messageSid": sid(8), "errorCode": 30003, "body": BODY}))]
    assert post(service, batch).text == "ok: 2 taken, 0 repeated, 0 ignored"
    path = Path(service.settings.db_path)
    service.pipeline.store.get().execute("PRAGMA wal_checkpoint(PASSIVE)")
    stored = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert MARKER.encode() not in stored
    assert MARKER not in caplog.text


def test_a_subaccount_sink_is_checked_with_its_own_token(twilio, slack, teams, start_service):
    sub_token = twilio.add_subaccount(SUB, "Glow Clinic")
    twilio.add_subaccount(OTHER_SUB, "Other Clinic")
    service = start_service(settings_for(twilio, slack, teams, twilio_subaccounts="all"))
    assert twilio.wait_for(lambda: SUB in service.pipeline.signing_tokens(), timeout=5)
    ours = message_event("undelivered", sid=sid(10), account=SUB, code=30003)
    assert post(service, [ours], token=sub_token).text == "ok: 1 taken, 0 repeated, 0 ignored"
    # a subaccount's sink is not believed about another account's messages
    theirs = message_event("undelivered", sid=sid(11), account=OTHER_SUB, code=30003)
    assert post(service, [theirs], token=sub_token).text == "ok: 0 taken, 0 repeated, 1 ignored"
    assert [(r["sid"], r["account_sid"]) for r in failures(service)] == [(sid(10), SUB)]
    # its sink works: the poller leaves the subaccount to the hourly sweep; the other one's did not post
    seen = {state["account_sid"]: state["stream_seen_at"] for state in all_poll_states(service.pipeline.store.get())}
    assert seen[SUB] and seen.get(OTHER_SUB) is None


def test_a_sink_test_event_leaves_its_test_id_for_setup(service):
    test = {"specversion": "1.0", "type": TEST_TYPE, "source": "Sink", "id": MAIN_SID,
            "data": {"test_id": "cae2f9e2-c277-4612-8ad3-93c1a7a3ef88"}}
    assert post(service, [test]).text == "ok: 0 taken, 0 repeated, 0 ignored"
    assert sink_test_id(service.pipeline.store.get(), MAIN_SID) == "cae2f9e2-c277-4612-8ad3-93c1a7a3ef88"
    again = dict(test, data={"test_id": "0d1b6f0e-0000-4000-8000-000000000001"})  # same id: still taken
    assert post(service, again).status_code == 200
    assert sink_test_id(service.pipeline.store.get(), MAIN_SID) == "0d1b6f0e-0000-4000-8000-000000000001"
    assert post(service, [test], token="forged-token-0123456789abcdef").status_code == 403
    assert sink_test_id(service.pipeline.store.get(), MAIN_SID) == "0d1b6f0e-0000-4000-8000-000000000001"


def test_without_an_auth_token_nothing_can_be_verified(db):
    raw = json.dumps([message_event("failed", sid=sid(12), account=MAIN_SID, code=30003)]).encode()
    url, headers = sign_delivery(SINK, raw, AUTH_TOKEN)
    answer = handle_events(db, public_url=PUBLIC, tokens={}, main_account=MAIN_SID, body=raw,
                           query=url.split("?", 1)[1], signature=headers["X-Twilio-Signature"],
                           ingest=lambda *args: pytest.fail("nothing may be ingested"))
    assert answer == (403, "cannot verify the signature: TWILIO_AUTH_TOKEN is not set")
