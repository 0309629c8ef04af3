"""Status callbacks: verified with the twilio SDK's RequestValidator, idempotent, never a 500."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests
from twilio.request_validator import RequestValidator

from bot.settings import Settings
from bot.twilio_status import MalformedForm, handle_status_callback, parse_form
from storage.failures import count_failures, get_failure, upsert_failures

TOKEN = "callback-token-0123456789abcdef01"
SUB_TOKEN = "subaccount-token-abcdef0123456789"
PUBLIC = "https://smserror.example.org"
URL = PUBLIC + "/twilio/status"
SID = "SM" + "d" * 32
ACC = "AC" + "e" * 32


def form(status="undelivered", code="30003", sid=SID, **extra):
    values = {
        "MessageSid": sid, "SmsSid": sid, "AccountSid": ACC, "MessagingServiceSid": "MG" + "f" * 32,
        "From": "+12025550100", "To": "+12025550142", "MessageStatus": status, "SmsStatus": status,
        "ApiVersion": "2010-04-01",
    }
    if code is not None:
        values["ErrorCode"] = code
    values.update(extra)
    return values


def sign(values, token=TOKEN, url=URL):
    return RequestValidator(token).compute_signature(url, values)


def call(db, values, signature=None, alerts=None, now=1_800_000_000, **kwargs):
    """`alerts` collects each batch of failures seen for the first time."""
    kwargs.setdefault("auth_token", TOKEN)
    kwargs.setdefault("public_url", PUBLIC)

    def ingest(rows, source, at):
        result = upsert_failures(db, rows, source, at)
        if result.new and alerts is not None:
            alerts.append(result.new)

    return handle_status_callback(
        db, form=values, signature=sign(values) if signature is None else signature, ingest=ingest, now=now, **kwargs,
    )


def test_failure_is_stored_and_alerted_once_despite_duplicates(db):
    alerts = []
    assert call(db, form(), alerts=alerts) == (200, "ok")
    assert call(db, form(), alerts=alerts, now=1_800_000_005) == (200, "ok")
    assert len(alerts) == 1 and alerts[0][0]["sid"] == SID and alerts[0][0]["error_code"] == 30003
    row = get_failure(db, SID)
    assert (row["source"], row["status"], row["recipient"]) == ("callback", "undelivered", "+12025550142")
    assert count_failures(db) == 1


def test_out_of_order_callbacks_never_regress_a_final_status(db):
    alerts = []
    call(db, form("undelivered", "30003"), alerts=alerts)
    for status in ("sent", "queued", "sending", "delivered"):
        assert call(db, form(status, None), alerts=alerts, now=1_800_000_100)[0] == 200
    row = get_failure(db, SID)
    assert (row["status"], row["error_code"]) == ("undelivered", 30003)
    # a sent arriving first, then the failure: the failure is stored and alerted
    other = "SM" + "7" * 32
    assert call(db, form("sent", None, sid=other), alerts=alerts) == (200, "ignored")
    assert call(db, form("failed", "30007", sid=other), alerts=alerts) == (200, "ok")
    assert [batch[0]["sid"] for batch in alerts] == [SID, other]


def test_bad_or_missing_signature_is_403_and_stores_nothing(db):
    values = form()
    assert call(db, values, signature="bm90IHRoZSBzaWduYXR1cmU=") == (403, "invalid signature")
    assert call(db, values, signature="") == (403, "invalid signature")
    assert call(db, values, signature=sign(values, token="someone-elses-token")) == (403, "invalid signature")
    tampered = dict(values, ErrorCode="30007")
    assert call(db, tampered, signature=sign(values))[0] == 403
    assert call(db, values, public_url="", auth_token=TOKEN)[0] == 403
    assert count_failures(db) == 0


def test_subaccount_tokens_are_accepted(db):
    values = form()
    assert call(db, values, signature=sign(values, token=SUB_TOKEN), auth_token=[TOKEN, SUB_TOKEN]) == (200, "ok")


@pytest.mark.parametrize("values, expected", [
    ({}, 400),
    ({"MessageSid": "nonsense", "MessageStatus": "failed", "ErrorCode": "30007"}, 400),
    ({"MessageSid": SID}, 400),
    (form(code="thirty"), 400),
    (form(AccountSid="ACnope"), 400),
    (form(code=""), 200),
    (form(status="failed", code="0"), 200),
    (form(status="weird-status"), 200),
    (form(MessageStatus="ünd\x00elivered"), 200),
])
def test_malformed_input_gets_400_or_200_never_500(db, values, expected):
    assert call(db, values)[0] == expected


def test_parse_form():
    body = urlencode(form()).encode()
    assert parse_form(body)["MessageSid"] == SID
    assert parse_form(b"a=1&a=2&b=")["a"] == "2"
    with pytest.raises(MalformedForm):
        parse_form(b"\xff\xfe", "application/x-www-form-urlencoded")
    with pytest.raises(MalformedForm):
        parse_form(b"{}", "application/json")
    with pytest.raises(MalformedForm):
        parse_form(b"a=" + b"x" * 70000)


# -- over real HTTP, through the real `smserror run` service ------------------------------------

@pytest.fixture
def callback_server(start_service):
    service = start_service(Settings(twilio_auth_token=TOKEN, public_url=PUBLIC))
    db = service.pipeline.store.get()
    return service.url + "/twilio/status", db


def test_over_http(callback_server):
    url, db = callback_server
    values = form()
    ok = requests.post(url, data=values, headers={"X-Twilio-Signature": sign(values)}, timeout=5)
    again = requests.post(url, data=values, headers={"X-Twilio-Signature": sign(values)}, timeout=5)
    forged = requests.post(url, data=values, headers={"X-Twilio-Signature": "forged"}, timeout=5)
    garbage = requests.post(url, data=b"\xff\xfe\x00", headers={"Content-Type": "application/x-www-form-urlencoded"},
                            timeout=5)
    assert (ok.status_code, again.status_code, forged.status_code, garbage.status_code) == (200, 200, 403, 400)
    assert count_failures(db) == 1
