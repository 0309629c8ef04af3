"""A fake of Twilio's Event Streams API (events.twilio.com/v1) over loopback HTTP, for the real
twilio SDK. Paths, form parameters, JSON fields, status codes and paging follow Twilio's
published OpenAPI description of events/v1 (twilio-oai, spec/json/twilio_events_v1.json); what
that leaves open follows Twilio's documentation:

* `POST /v1/Sinks` (Description, SinkConfiguration as JSON, SinkType) -> 201 sink;
  `GET /v1/Sinks` (InUse, Status, PageSize <= 1000, Page, PageToken) -> `sinks` + `meta`;
  `GET /v1/Sinks/{Sid}`;
* `POST /v1/Sinks/{Sid}/Test` -> 201 `{"result": "submitted"}`; the sink turns `validating`
  unless active, and a moment later gets a test event (`com.twilio.eventstreams.test-event`,
  `id` the account SID, `data.test_id`), delivered like any other;
* `POST /v1/Sinks/{Sid}/Validate` (TestId, the latest test's) -> 201 `{"result": "valid"}`;
  the sink turns `active`;
* `POST /v1/Subscriptions` (Description, SinkSid, Types: one JSON object per value) -> 201;
  refused while the sink is not active ("Sink must be active for the subscription to be
  created") or already has a subscription (Twilio: "Sink with SID … is in use");
  `GET /v1/Subscriptions` (SinkSid, paging) -> `subscriptions` + `meta`;
* `GET /v1/Subscriptions/{Sid}/SubscribedEvents` -> `types` + `meta`; `POST` (Type,
  SchemaVersion) -> 201, or 200 when the type was there already.

HTTP Basic auth as any account of `credentials()` ({SID: auth token}); each account sees only
its own sinks and subscriptions. Errors have Twilio's JSON shape (code, message, more_info,
status). `active_on_create=True` is Twilio today (webhook sinks start active); False gives the
spec's `initialized` sinks, which need the test/validate handshake.

Deliveries are signed as Twilio signs them: `?bodySHA256=<hex>` appended to the destination and
X-Twilio-Signature over that URL with the owning account's token (the SDK's RequestValidator).
`publish(account, events)` delivers to every active sink of the account whose subscription has
the event's type, in one batch when the sink batches, and returns the HTTP statuses.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode

import requests
from twilio.request_validator import RequestValidator

from tests.fakes.server import FakeServer, Reply, Request

SINK_SID = re.compile(r"DG[0-9a-fA-F]{32}")
SUBSCRIPTION_SID = re.compile(r"DF[0-9a-fA-F]{32}")
SINK_TYPES = ("kinesis", "webhook", "segment", "email")
TEST_TYPE = "com.twilio.eventstreams.test-event"
LATEST_SCHEMA = 7


class FakeTwilioEvents(FakeServer):
    def __init__(self, credentials: Callable[[], dict[str, str]], *, active_on_create: bool = True,
                 test_delay: float = 0.05, reach: Callable[[str], str] = lambda url: url) -> None:
        """`reach(url)`: where a delivery to a sink's public URL really goes (a proxy's doing)."""
        super().__init__()
        self.credentials = credentials
        self.reach = reach
        self.active_on_create = active_on_create
        self.test_delay = test_delay
        self.sinks: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.deliveries: list[tuple[str, int]] = []  # (sink SID, HTTP status or 0 when unreachable)
        self._counter = 0
        self._data_lock = threading.Lock()

    # -- for tests ------------------------------------------------------------------------
    def sinks_of(self, account: str) -> list[dict]:
        return [s for s in self.sinks.values() if s["account"] == account]

    def subscriptions_of(self, account: str) -> list[dict]:
        return [s for s in self.subscriptions.values() if s["account"] == account]

    def publish(self, account: str, events: list[dict]) -> list[int]:
        statuses = []
        for sink in self.sinks_of(account):
            types = {t for sub in self.subscriptions.values() if sub["sink_sid"] == sink["sid"] for t in sub["types"]}
            wanted = [e for e in events if e["type"] in types]
            if sink["status"] == "active" and wanted:
                statuses += self._deliver(sink, wanted)
        return statuses

    # -- serving --------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        account = self._account(request)
        if account is None:
            return _error(401, 20003, "Authenticate")
        parts = request.path.strip("/").split("/")
        if parts[0] != "v1" or len(parts) < 2:
            return _not_found(request)
        form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True) if request.method == "POST" else {}
        route = (request.method, parts[1], len(parts))
        with self._data_lock:
            if route == ("POST", "Sinks", 2):
                return self._create_sink(account, form)
            if route == ("GET", "Sinks", 2):
                return self._list_sinks(account, request)
            if parts[1] == "Sinks" and len(parts) in (3, 4):
                sink = self.sinks.get(parts[2])
                if sink is None or sink["account"] != account or not SINK_SID.fullmatch(parts[2]):
                    return _not_found(request)
                return self._sink_action(sink, request.method, parts[3] if len(parts) == 4 else "", form, request)
            if route == ("POST", "Subscriptions", 2):
                return self._create_subscription(account, form)
            if route == ("GET", "Subscriptions", 2):
                return self._list_subscriptions(account, request)
            if parts[1] == "Subscriptions" and len(parts) in (3, 4):
                sub = self.subscriptions.get(parts[2])
                if sub is None or sub["account"] != account or not SUBSCRIPTION_SID.fullmatch(parts[2]):
                    return _not_found(request)
                return self._subscription_action(sub, request.method, parts[3] if len(parts) == 4 else "", form,
                                                 request)
        return _not_found(request)

    def _account(self, request: Request) -> str | None:
        user, password = request.basic_auth() or ("", "")
        return user if password and self.credentials().get(user) == password else None

    # -- sinks ----------------------------------------------------------------------------
    def _create_sink(self, account: str, form: dict) -> Reply:
        missing = _missing(form, "Description", "SinkConfiguration", "SinkType")
        if missing:
            return missing
        sink_type = form["SinkType"][-1]
        if sink_type not in SINK_TYPES:
            return _error(400, 20001, f"Invalid SinkType {sink_type!r}")
        try:
            config = json.loads(form["SinkConfiguration"][-1])
        except ValueError:
            return _error(400, 20001, "SinkConfiguration must be JSON")
        if sink_type == "webhook" and not (isinstance(config, dict) and str(config.get("destination", "")).startswith(
                ("http://", "https://")) and config.get("method") in ("POST", "GET")):
            return _error(400, 20001, "A webhook sink needs a destination URL and a method (POST or GET)")
        sid = self._sid("DG")
        now = _iso(time.time())
        self.sinks[sid] = {
            "sid": sid, "account": account, "description": form["Description"][-1], "sink_type": sink_type,
            "sink_configuration": config, "date_created": now, "date_updated": now, "test_id": None,
            "status": "active" if self.active_on_create and sink_type == "webhook" else "initialized",
        }
        return Reply(201, self._render_sink(self.sinks[sid]))

    def _list_sinks(self, account: str, request: Request) -> Reply:
        rows = self.sinks_of(account)
        in_use, status = request.param("InUse"), request.param("Status")
        if in_use is not None:
            used = {s["sink_sid"] for s in self.subscriptions.values()}
            rows = [s for s in rows if (s["sid"] in used) == (in_use.lower() == "true")]
        if status:
            rows = [s for s in rows if s["status"] == status]
        filters = {k: v for k, v in (("InUse", in_use), ("Status", status)) if v is not None}
        return self._page(request, "sinks", [self._render_sink(s) for s in rows], "/v1/Sinks", filters)

    def _sink_action(self, sink: dict, method: str, action: str, form: dict, request: Request) -> Reply:
        if (method, action) == ("GET", ""):
            return Reply(200, self._render_sink(sink))
        if (method, action) == ("POST", "Test"):
            sink["test_id"] = str(uuid.uuid4())  # the latest test takes precedence
            if sink["status"] != "active":
                sink["status"] = "validating"
            test = {"specversion": "1.0", "type": TEST_TYPE, "source": "Sink", "id": sink["account"],
                    "dataschema": "https://events-schemas.twilio.com/EventStreams.TestSink/1.json",
                    "datacontenttype": "application/json", "time": _iso(time.time()),
                    "data": {"test_id": sink["test_id"]}}
            threading.Timer(self.test_delay, self._deliver, (dict(sink), [test])).start()
            return Reply(201, {"result": "submitted"})
        if (method, action) == ("POST", "Validate"):
            missing = _missing(form, "TestId")
            if missing:
                return missing
            if form["TestId"][-1] != sink["test_id"]:
                return _error(400, 20001, "The test event was not received: TestId does not match the latest test")
            sink["status"], sink["date_updated"] = "active", _iso(time.time())
            return Reply(201, {"result": "valid"})
        return _not_found(request)

    def _render_sink(self, sink: dict) -> dict:
        url = f"{self.url}/v1/Sinks/{sink['sid']}"
        return {
            "status": sink["status"], "sink_configuration": sink["sink_configuration"],
            "description": sink["description"], "sid": sink["sid"], "date_created": sink["date_created"],
            "sink_type": sink["sink_type"], "date_updated": sink["date_updated"], "url": url,
            "links": {"sink_test": url + "/Test", "sink_validate": url + "/Validate"},
        }

    # -- subscriptions --------------------------------------------------------------------
    def _create_subscription(self, account: str, form: dict) -> Reply:
        missing = _missing(form, "Description", "SinkSid", "Types")
        if missing:
            return missing
        sink = self.sinks.get(form["SinkSid"][-1])
        if sink is None or sink["account"] != account:
            return _error(400, 20001, f"Sink {form['SinkSid'][-1]} not found")
        if sink["status"] != "active":
            return _error(400, 20001, "Sink must be active for the subscription to be created")
        if any(s["sink_sid"] == sink["sid"] for s in self.subscriptions.values()):
            return _error(400, 20001, f"Sink with SID {sink['sid']} is in use")
        types: dict[str, int] = {}
        for value in form["Types"]:
            try:
                item = json.loads(value)
            except ValueError:
                item = None
            if not isinstance(item, dict) or not isinstance(item.get("type"), str):
                return _error(400, 20001, "Missing required input parameter event_types[0].type")
            types[item["type"]] = int(item.get("schema_version") or LATEST_SCHEMA)
        sid = self._sid("DF")
        now = _iso(time.time())
        self.subscriptions[sid] = {"sid": sid, "account": account, "sink_sid": sink["sid"], "types": types,
                                   "description": form["Description"][-1], "date_created": now, "date_updated": now}
        return Reply(201, self._render_subscription(self.subscriptions[sid]))

    def _list_subscriptions(self, account: str, request: Request) -> Reply:
        rows = self.subscriptions_of(account)
        sink_sid = request.param("SinkSid")
        if sink_sid:
            rows = [s for s in rows if s["sink_sid"] == sink_sid]
        filters = {"SinkSid": sink_sid} if sink_sid else {}
        return self._page(request, "subscriptions", [self._render_subscription(s) for s in rows], "/v1/Subscriptions",
                          filters)

    def _subscription_action(self, sub: dict, method: str, action: str, form: dict, request: Request) -> Reply:
        if (method, action) == ("GET", ""):
            return Reply(200, self._render_subscription(sub))
        path = f"/v1/Subscriptions/{sub['sid']}/SubscribedEvents"
        if (method, action) == ("GET", "SubscribedEvents"):
            return self._page(request, "types", [self._render_type(sub, t) for t in sub["types"]], path, {})
        if (method, action) == ("POST", "SubscribedEvents"):
            missing = _missing(form, "Type")
            if missing:
                return missing
            kind = form["Type"][-1]
            existed = kind in sub["types"]
            sub["types"][kind] = int(form.get("SchemaVersion", [LATEST_SCHEMA])[-1])
            return Reply(200 if existed else 201, self._render_type(sub, kind))
        return _not_found(request)

    def _render_subscription(self, sub: dict) -> dict:
        url = f"{self.url}/v1/Subscriptions/{sub['sid']}"
        return {"account_sid": sub["account"], "date_created": sub["date_created"], "date_updated": sub["date_updated"],
                "sid": sub["sid"], "sink_sid": sub["sink_sid"], "description": sub["description"], "url": url,
                "links": {"subscribed_events": url + "/SubscribedEvents"}}

    def _render_type(self, sub: dict, kind: str) -> dict:
        return {"account_sid": sub["account"], "type": kind, "schema_version": sub["types"][kind],
                "subscription_sid": sub["sid"],
                "url": f"{self.url}/v1/Subscriptions/{sub['sid']}/SubscribedEvents/{kind}"}

    # -- paging and delivery --------------------------------------------------------------
    def _page(self, request: Request, key: str, rows: list[dict], path: str, filters: dict) -> Reply:
        try:
            size, page = int(request.param("PageSize", "50")), int(request.param("Page", "0"))
        except ValueError:
            return _error(400, 20001, "PageSize and Page must be integers")
        if not 1 <= size <= 1000 or page < 0:
            return _error(400, 20001, "PageSize must be between 1 and 1000, Page at least 0")

        def link(number: int) -> str:
            return f"{self.url}{path}?" + urlencode({**filters, "PageSize": size, "Page": number,
                                                      "PageToken": f"PT{number * size}"})

        start = page * size
        return Reply(200, {key: rows[start:start + size], "meta": {
            "page": page, "page_size": size, "first_page_url": link(0),
            "previous_page_url": link(page - 1) if page > 0 else None, "url": link(page),
            "next_page_url": link(page + 1) if start + size < len(rows) else None, "key": key}})

    def _deliver(self, sink: dict, events: list[dict]) -> list[int]:
        config = sink["sink_configuration"]
        token = self.credentials()[sink["account"]]
        batches = [events] if config.get("batch_events") else events
        statuses = []
        for batch in batches:
            body = json.dumps(batch).encode()
            url, headers = sign_delivery(config["destination"], body, token)
            try:
                status = requests.post(self.reach(url), data=body, headers=headers, timeout=5).status_code
            except requests.RequestException:
                status = 0
            self.deliveries.append((sink["sid"], status))
            statuses.append(status)
        return statuses

    def _sid(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter:032x}"


def sign_delivery(destination: str, body: bytes, token: str) -> tuple[str, dict[str, str]]:
    """The URL Twilio posts `body` to and the headers it sends: `?bodySHA256=<hex>` appended to
    the sink's destination, and X-Twilio-Signature over that URL (no parameters) with `token`."""
    url = destination + ("&" if "?" in destination else "?") + "bodySHA256=" + hashlib.sha256(body).hexdigest()
    return url, {"Content-Type": "application/json",
                 "X-Twilio-Signature": RequestValidator(token).compute_signature(url, {})}


def message_event(kind: str, *, sid: str, account: str, code: int | None, to: str = "+12025550142",
                  sender: str = "+12025550100", body: str = "", at: float | None = None,
                  event_id: str | None = None, service: str | None = "MG" + "a" * 32) -> dict:
    """A `com.twilio.messaging.message.<kind>` CloudEvent shaped as Twilio sends it
    (Messaging.MessageStatus: camelCase data, messageStatus in capitals, errorCode an integer)."""
    moment = _iso(time.time() if at is None else at)
    data = {"messageSid": sid, "accountSid": account, "messageStatus": kind.upper(), "to": to, "from": sender,
            "timestamp": moment, "numberOfSegments": 1, "tags": {}}
    if body:
        data["body"] = body
    if code is not None:
        data["errorCode"] = code
    if service:
        data["messagingServiceSid"] = service
    return {"specversion": "1.0", "type": f"com.twilio.messaging.message.{kind}",
            "source": f"/2010-04-01/Accounts/{account}/Messages/{sid}.json",
            "id": event_id or "EZ" + uuid.uuid4().hex, "dataschema": "https://events-schemas.twilio.com/Messaging.MessageStatus/7",
            "datacontenttype": "application/json", "time": moment, "data": data}


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _missing(form: dict, *names: str) -> Reply | None:
    for name in names:
        if not form.get(name) or not form[name][-1]:
            return _error(400, 20001, f"Missing required parameter {name} in the post body")
    return None


def _not_found(request: Request) -> Reply:
    return _error(404, 20404, f"The requested resource {request.path} was not found")


def _error(status: int, code: int, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                          "status": status})
