"""Forged or malformed requests get a clear answer, never a 500 and never a traceback.

Property tests drive the WSGI app of `smserror run` in-process (an environ built by hand, no
server), so hundreds of requests run in a second or two; a few cases also go over real HTTP to
check waitress's side. Forged: any body, content type, header values and Content-Length, on every
route. Signed but malformed: the signature is right and the content is garbage.

Logs: nothing may be logged at ERROR or above, and no record may carry a traceback. Refusals are
logged once at WARNING without one ("Slack request not understood: …", Bolt's "Unhandled
request"): a bad request is the sender's problem, not a bug to debug here.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import socket
import time
from urllib.parse import urlencode

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.pipeline import Pipeline
from bot.server import MAX_BODY
from bot.service import build_wsgi
from bot.settings import Settings
from bot.twilio_events import FAILURE_TYPES
from jobs.views.actions import ActionId
from storage.db import LocalDb
from tests import test_slack_http as slack_http
from tests import test_status_callback as status_callback
from tests import test_teams_outgoing as teams_outgoing
from tests.fakes.twilio_events import TEST_TYPE, sign_delivery
from tests.http import post

DEAD_URL = "http://127.0.0.1:9/"  # nothing listens on the discard port: a call out fails at once
SETTINGS = Settings(
    slack_signing_secret=slack_http.SECRET, slack_bot_token="xoxb-test", slack_channel="C123",
    slack_api_url=DEAD_URL + "api/", teams_outgoing_secret=teams_outgoing.SECRET,
    twilio_auth_token=status_callback.TOKEN, public_url=status_callback.PUBLIC,
)
FAST = settings(max_examples=150, deadline=None)

ROUTES = [("POST", "/slack/events"), ("POST", "/teams/messages"), ("POST", "/twilio/status"), ("GET", "/healthz"),
          ("POST", "/twilio/events")]
FORGED_ANSWERS = {"/slack/events": {400, 401}, "/teams/messages": {401}, "/twilio/status": {400, 403},
                  "/twilio/events": {403}}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    settings_ = dataclasses.replace(SETTINGS, db_path=str(tmp_path_factory.mktemp("fuzz") / "smserror.db"))
    return build_wsgi(settings_, Pipeline(settings_, LocalDb(settings_.db_path), destinations=[]))


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def call(app, method: str, path: str, body: bytes = b"", headers: dict | None = None,
         content_length: str | None = None, query: str = "") -> tuple[int, bytes]:
    """One request through the WSGI app; fails if anything is logged at ERROR or with a traceback."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "fuzz",
               "SERVER_PORT": "80", "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
               "CONTENT_LENGTH": str(len(body)) if content_length is None else content_length}
    for name, value in (headers or {}).items():
        if value is None:
            continue
        key = name.upper().replace("-", "_")
        environ[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
    started: list[str] = []
    records, root = _Records(), logging.getLogger()
    root.addHandler(records)
    try:
        answer = b"".join(app(environ, lambda status, _headers: started.append(status)))
    finally:
        root.removeHandler(records)
    bad = [r for r in records.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [(r.levelname, r.getMessage()) for r in bad]
    return int(started[0].split()[0]), answer


# -- strategies ----------------------------------------------------------------------------------

GARBAGE = ["", " ", "abc", "-5", "0", "1e9", "9" * 5000, "v0=", "HMAC", "HMAC é", "\x00", "Bearer x", "ü" * 40]
header_value = st.one_of(st.none(), st.sampled_from(GARBAGE), st.text(max_size=60))
content_type = st.one_of(st.none(), st.text(max_size=40), st.sampled_from([
    "application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded; charset=latin-1"]))
json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
body = st.one_of(
    st.binary(max_size=600),
    st.dictionaries(st.text(max_size=12), st.text(max_size=30), max_size=6).map(lambda d: urlencode(d).encode()),
    json_value.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([b"payload=notjson", b"payload=%5B1%5D", b"[" * 50_000, b"ssl_check=1&token=x", b"\xff\xfe\x00"]),
)


def slack_signed(raw: bytes, content_type_: str = "application/x-www-form-urlencoded") -> dict:
    return slack_http.signed(raw) | {"Content-Type": content_type_}


# -- 1. forged or malformed requests, every route --------------------------------------------------

@FAST
@given(route=st.sampled_from(ROUTES), raw=body, ctype=content_type,
       headers=st.fixed_dictionaries({name: header_value for name in (
           "X-Slack-Signature", "X-Slack-Request-Timestamp", "Authorization", "X-Twilio-Signature", "Host")}))
@example(route=ROUTES[0], raw=b"command=%2Fsmserror&text=21610", ctype=None,
         headers={"X-Slack-Signature": "v0=00", "X-Slack-Request-Timestamp": "9" * 5000})
@example(route=ROUTES[1], raw=b"{}", ctype="application/json", headers={"Authorization": "HMAC é"})
def test_forged_requests_are_refused_never_500(app, route, raw, ctype, headers):
    method, path = route
    status, answer = call(app, method, path, raw, headers | {"Content-Type": ctype})
    if path == "/healthz":
        assert status == 200
    elif path == "/slack/events" and status == 200:
        # Bolt answers Slack's ssl_check pings before any signature check, with an empty body
        assert b"ssl_check=1" in raw and answer == b""
    else:
        assert status in FORGED_ANSWERS[path], (status, answer)
    assert b"Traceback" not in answer and b"21610 \xc2\xb7" not in answer


@FAST
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "BREW", ""]),
       path=st.one_of(st.sampled_from([p for _, p in ROUTES] + ["/", "", "/slack/events/", "/SLACK/EVENTS"]),
                      st.text(max_size=30)))
def test_unknown_paths_and_methods_get_404_or_405(app, method, path):
    status, _ = call(app, method, path)
    routed = {p: m for m, p in ROUTES}
    if path in routed:
        assert status == (405 if method != routed[path] else status)
    else:
        assert status == 404


@FAST
@given(route=st.sampled_from(ROUTES[:3]), declared=st.one_of(
    st.integers(min_value=-10**6, max_value=10 * MAX_BODY).map(str),
    st.sampled_from(["", "abc", "1.5", "0x10", " 12 ", "9" * 40, "-0"])))
def test_content_length_mismatch_or_garbage_never_500(app, route, declared):
    method, path = route
    raw = slack_http.slash_body("21610")
    status, _ = call(app, method, path, raw, slack_signed(raw), content_length=declared)
    try:
        length = int(declared or 0)
    except ValueError:
        assert status == 400
        return
    if length > MAX_BODY:
        assert status == 413
    elif length < 0:
        assert status == 400
    elif path == "/slack/events":
        # the app reads what was declared: a body cut short no longer matches its signature
        assert status == (200 if length >= len(raw) else 401)
    else:
        assert status in FORGED_ANSWERS[path]  # signed for Slack, not for these


# -- 2. signed, but the content is garbage ---------------------------------------------------------

BOLT_TYPES = ["block_actions", "interactive_message", "view_submission", "view_closed", "shortcut",
              "message_action", "block_suggestion", "event_callback", "url_verification", "dialog_submission"]
slack_payload = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(BOLT_TYPES), json_value)},
    optional={key: json_value for key in (
        "actions", "user", "team", "channel", "enterprise", "container", "view", "event", "message",
        "callback_id", "trigger_id", "token", "challenge", "is_enterprise_install", "authorizations")},
) | st.fixed_dictionaries({"type": st.just("block_actions"), "response_url": st.just(DEAD_URL + "r")}, optional={
    "actions": st.lists(st.fixed_dictionaries({}, optional={
        "action_id": st.one_of(st.sampled_from([ActionId.OPEN_DOCS.value, "other"]), json_value),
        "value": json_value, "block_id": json_value}) | json_value, max_size=2),
    "user": json_value, "team": json_value})


@FAST
@given(payload=st.one_of(slack_payload, json_value), as_json=st.booleans())
@example(payload={"type": "block_actions", "user": {"id": "U1"}}, as_json=False)  # no actions
@example(payload={"type": "block_actions", "actions": None}, as_json=False)
@example(payload={"type": "block_actions", "actions": [{"value": "1"}]}, as_json=False)  # no action_id
@example(payload=[1, 2], as_json=False)
@example(payload=5, as_json=True)
@example(payload={"command": "/smserror", "text": [1], "type": "block_actions", "actions": None}, as_json=True)
@example(payload={"command": "/smserror", "text": [1]}, as_json=True)  # Slack sends forms; JSON says otherwise
def test_signed_slack_payloads_of_any_shape_never_500(app, payload, as_json):
    if as_json:
        raw, ctype = json.dumps(payload).encode(), "application/json"
    else:
        raw, ctype = urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
    status, answer = call(app, "POST", "/slack/events", raw, slack_signed(raw, ctype))
    assert status in (200, 400, 404), (status, answer)


@pytest.mark.parametrize("raw", [
    b"payload=not+json", b"payload=", b"payload=%7B", b"payload=%5B%5D", b"payload=42", b"payload=" + b"%5B" * 50_000,
    b"payload=" + urlencode({"x": json.dumps({"type": "block_actions", "actions": []})}).encode()[2:],
])
def test_signed_unparseable_slack_bodies_get_400(app, raw):
    status, answer = call(app, "POST", "/slack/events", raw, slack_signed(raw))
    assert status == 400 and json.loads(answer) == {"error": "malformed request"}


@pytest.mark.parametrize("raw", [b"", b"=&=&&", b"a=%FF%FE%00"])
def test_signed_slack_bodies_with_nothing_to_handle_get_404(app, raw):
    status, answer = call(app, "POST", "/slack/events", raw, slack_signed(raw))
    assert status == 404 and json.loads(answer) == {"error": "unhandled request"}


@FAST
@given(fields=st.dictionaries(st.sampled_from(["command", "text", "user_id", "channel_id", "team_id", "response_url"]),
                              st.text(max_size=40), max_size=6),
       command=st.sampled_from([None, "/smserror", "/other", ""]))
def test_signed_slash_commands_with_missing_or_odd_fields_never_500(app, fields, command):
    if command is not None:
        fields["command"] = command
    raw = urlencode(fields).encode()
    status, answer = call(app, "POST", "/slack/events", raw, slack_signed(raw))
    if fields.get("command") == "/smserror":
        assert status == 200 and json.loads(answer)["response_type"] == "ephemeral"
    else:
        assert status in (200, 404)


@pytest.mark.parametrize("text", ["x" * 100_000, "30007 " * 17_000, "\x00" * 1000, "<!channel>" * 5000])
def test_signed_slash_command_with_huge_text_answers_quickly(app, text):
    raw = slack_http.slash_body(text)
    started = time.perf_counter()
    status, answer = call(app, "POST", "/slack/events", raw, slack_signed(raw))
    assert status == 200 and json.loads(answer)["response_type"] == "ephemeral"
    assert time.perf_counter() - started < 2


@FAST
@given(raw=st.one_of(json_value.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300),
                     st.dictionaries(st.sampled_from(["text", "type", "from"]), json_value)
                     .map(lambda d: json.dumps(d).encode())))
@example(raw=b"[" * 100_000)
@example(raw=b'{"text": 5}')
@example(raw=b'"just a string"')
@example(raw=json.dumps({"text": "<at>smserror</at> " + "y" * 100_000}).encode())
def test_signed_teams_bodies_of_any_shape_never_500(app, raw):
    status, answer = call(app, "POST", "/teams/messages", raw, teams_outgoing.sign(raw))
    reply = json.loads(answer)
    assert reply["type"] == "message" and isinstance(reply["text"], str)
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        assert status == 400
    else:
        assert status == 200


def twilio_signed(values: dict) -> dict:
    return {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": status_callback.sign(values)}


@FAST
@given(overrides=st.dictionaries(
    st.sampled_from(["ErrorCode", "MessageSid", "MessageStatus", "AccountSid", "From", "To", "SmsSid", "SmsStatus"]),
    st.one_of(st.text(max_size=60), st.sampled_from(["30007abc", "³", "٣٠٠٠٧", "9" * 30, "-1", " 30007 ", "0"]),
              st.just("SM" + "a" * 500)), max_size=4))
@example(overrides={"ErrorCode": "30007abc"})
@example(overrides={"ErrorCode": "²"})
@example(overrides={"ErrorCode": "9" * 5000})
@example(overrides={"MessageSid": "SM" + "a" * 10_000, "SmsSid": ""})
@example(overrides={"MessageStatus": "unknown-status", "SmsStatus": ""})
def test_signed_twilio_callbacks_with_weird_values_never_500(app, overrides):
    values = status_callback.form(**overrides)
    raw = urlencode(values).encode()
    status, answer = call(app, "POST", "/twilio/status", raw, twilio_signed(values))
    assert status in (200, 400), (status, answer)
    if status == 400:
        assert answer.decode() in ("MessageSid and MessageStatus are required", "malformed AccountSid",
                                   "malformed ErrorCode", "body too large")


def test_signed_twilio_callback_still_accepted(app):
    values = status_callback.form(sid="SM" + "5" * 32)
    raw = urlencode(values).encode()
    assert call(app, "POST", "/twilio/status", raw, twilio_signed(values)) == (200, b"ok")


event_value = st.one_of(json_value, st.sampled_from(["SM" + "a" * 32, "AC" + "b" * 32, "30007", "FAILED", 30007,
                                                      "2026-06-10T06:02:54.377Z", "com.twilio.messaging.message.failed",
                                                      TEST_TYPE]))
event = st.fixed_dictionaries({"type": st.sampled_from([*FAILURE_TYPES, TEST_TYPE, "x"]), "id": event_value}, optional={
    "data": st.one_of(event_value, st.dictionaries(st.sampled_from(
        ["messageSid", "accountSid", "errorCode", "messageStatus", "timestamp", "to", "from", "test_id", "body"]),
        event_value, max_size=6)), "time": event_value})


@FAST
@given(payload=st.one_of(json_value, event, st.lists(st.one_of(event, json_value), max_size=5)))
def test_signed_events_with_weird_values_never_500(app, payload):
    raw = json.dumps(payload).encode()
    url, headers = sign_delivery(status_callback.PUBLIC + "/twilio/events", raw, status_callback.TOKEN)
    status, answer = call(app, "POST", "/twilio/events", raw, headers, query=url.split("?", 1)[1])
    assert status == (200 if isinstance(payload, (dict, list)) else 400), (status, answer)


# -- 3. over real HTTP: waitress in front ----------------------------------------------------------

@pytest.fixture
def server(start_service):
    return start_service(SETTINGS)


def raw_exchange(url: str, request: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def test_two_megabyte_body_gets_413(server):
    raw = b"a=" + b"x" * (2 * 1024 * 1024)
    for path in ("/slack/events", "/teams/messages", "/twilio/status", "/twilio/events"):
        assert post(server.url + path, raw, slack_signed(raw)).status == 413


GARBAGE_REQUESTS = {
    "request-line": b"GARBAGE\r\n\r\n",
    "bad-chunk-size": b"POST /teams/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nhi\r\n0\r\n\r\n",
    "negative-length": b"POST /teams/messages HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "garbage-length": b"POST /teams/messages HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "binary": b"\x00\xff\xfe\r\n\r\n",
}


def test_garbage_requests_get_400_from_waitress(server, caplog):
    # one server for all of them: starting and stopping the service is the slow part
    for name, request_bytes in GARBAGE_REQUESTS.items():
        reply = raw_exchange(server.url, request_bytes)
        assert reply.startswith(b"HTTP/1.") and reply.split()[1] == b"400", (name, reply[:200])
        assert b"Traceback" not in reply, name
    assert post(server.url + "/healthz", b"").status == 405  # still serving
    refused = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused ")]
    assert len(refused) == len(GARBAGE_REQUESTS) and all(": 400 malformed" in line for line in refused), refused
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_chunked_signed_teams_message_is_answered(server):
    raw = teams_outgoing.activity("<at>smserror</at> 30034")
    head = "".join(f"{k}: {v}\r\n" for k, v in teams_outgoing.sign(raw).items())
    request_bytes = (f"POST /teams/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{head}"
                     f"Transfer-Encoding: chunked\r\n\r\n{len(raw):x}\r\n").encode() + raw + b"\r\n0\r\n\r\n"
    reply = raw_exchange(server.url, request_bytes)
    assert reply.split()[1] == b"200" and b"30034" in reply
