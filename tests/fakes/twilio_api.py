"""A small fake of Twilio's REST API (2010-04-01) over loopback HTTP, for the real twilio SDK.

Serves what the poller uses, the way Twilio does:
* GET /2010-04-01/Accounts.json: the main account and its subaccounts (`Status` filter);
* GET /2010-04-01/Accounts/{sid}/Messages.json: newest first (by date sent), `PageSize` (max
  1,000), `Page` + `PageToken` paging with `next_page_uri`, and `DateSent>` / `DateSent<` /
  `DateSent` filters at DAY granularity, as the real API has (`DateSent>=YYYY-MM-DD`);
* HTTP Basic auth as the main account (which may read its subaccounts); a wrong token gets 401
  with Twilio's JSON error body, code 20003.

Messages are kept compactly (tuples) and rendered per page, so a bench can hold 100k+ of them.
`hang_on_page(n)` makes the request for page n of a message list wait (until `release()` or the
server stops) and then fail, for kill-mid-pass tests. `delay` makes every answer take that long,
as a distant API's would; `max_in_flight` is the most requests it held at once. Run as a module
to serve a generated load: `python -m tests.fakes.twilio_api --messages 100000 [--subaccounts 300
--delay 0.1]` prints its URL and waits.
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import random
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from tests.fakes.server import FakeServer, Reply, Request

API = "/2010-04-01"
MAIN_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-auth-token-0123456789abcdef"
DAY = 86400


@dataclass
class FakeMessage:
    sid: str
    account_sid: str
    date_sent: int
    status: str
    error_code: int | None
    sender: str
    recipient: str
    body: str
    service_sid: str | None
    date_updated: int
    answered_as: dict | None = None  # fields rendered differently from the truth (Twilio leaving one null)


def _rfc2822(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(epoch))


def _day_start(value: str) -> int:
    """'2024-05-01' or '2024-05-01T10:11:12Z' -> epoch of 2024-05-01 00:00 UTC (day granularity)."""
    return calendar.timegm(time.strptime(value[:10], "%Y-%m-%d"))


class FakeTwilioAPI(FakeServer):
    def __init__(self, account_sid: str = MAIN_SID, auth_token: str = AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.accounts: dict[str, dict] = {
            account_sid: {"friendly_name": "Main practice", "status": "active", "auth_token": auth_token}}
        self._messages: dict[str, list[FakeMessage]] = {account_sid: []}
        self._by_sid: dict[str, FakeMessage] = {}
        self._order: dict[str, list[tuple[int, str]]] = {}  # account -> sorted (-date_sent, negated sid) keys
        self._dirty: set[str] = set()
        self._data_lock = threading.Lock()
        self._hang_page: int | None = None
        self._hang_seconds = 0.0
        self._hang_event = threading.Event()
        self.hung = threading.Event()
        self._counter = 0
        self.delay = 0.0  # seconds each answer takes, as a distant API's would
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests the handler held at once

    # -- building the truth -----------------------------------------------------------------
    def add_subaccount(self, sid: str, friendly_name: str = "", status: str = "active") -> str:
        """Returns the subaccount's own auth token (Twilio signs its callbacks with it)."""
        token = f"sub-token-{sid[-8:]}"
        with self._data_lock:
            self.accounts[sid] = {"friendly_name": friendly_name or sid, "status": status, "auth_token": token}
            self._messages.setdefault(sid, [])
        return token

    def add_message(
        self,
        account_sid: str | None = None,
        *,
        date_sent: int,
        status: str = "delivered",
        error_code: int | None = None,
        sid: str | None = None,
        sender: str = "+12025550100",
        recipient: str = "+12025550123",
        body: str = "Your appointment is tomorrow at 10:00",
        service_sid: str | None = "MG" + "0" * 31 + "1",
        answered_as: dict | None = None,
    ) -> FakeMessage:
        account_sid = account_sid or self.account_sid
        with self._data_lock:
            if sid is None:
                self._counter += 1
                sid = f"SM{self._counter:032x}"
            message = FakeMessage(sid, account_sid, date_sent, status, error_code, sender, recipient, body, service_sid,
                                  date_sent, answered_as)
            self._messages[account_sid].append(message)
            self._by_sid[sid] = message
            self._dirty.add(account_sid)
            return message

    def set_status(self, sid: str, status: str, error_code: int | None, updated: int | None = None) -> None:
        """A late status change, as Twilio's delivery receipts make."""
        with self._data_lock:
            message = self._by_sid[sid]
            message.status, message.error_code = status, error_code
            message.date_updated = updated if updated is not None else message.date_updated + 300

    def failures(self, since: int = 0) -> set[tuple[str, str, int]]:
        """The truth the store should hold: (sid, status, error_code) of every failure since `since`."""
        with self._data_lock:
            return {
                (m.sid, m.status, m.error_code)
                for m in self._by_sid.values()
                if m.status in ("failed", "undelivered") and m.error_code and m.date_sent >= since
            }

    # -- faults -----------------------------------------------------------------------------
    def hang_on_page(self, page: int, seconds: float = 30.0) -> None:
        """The request for message-list page `page` (0-based) waits, then gets a 500."""
        self._hang_page, self._hang_seconds = page, seconds
        self._hang_event.clear()
        self.hung.clear()

    def release(self) -> None:
        self._hang_page = None
        self._hang_event.set()

    def stop(self) -> None:
        self._hang_event.set()
        super().stop()

    # -- serving ----------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        with self._data_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.delay:
                time.sleep(self.delay)
            return self._serve(request)
        finally:
            with self._data_lock:
                self.in_flight -= 1

    def _serve(self, request: Request) -> Reply:
        if request.method != "GET" or not request.path.startswith(API + "/Accounts"):
            return _error(404, 20404, "The requested resource was not found")
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        parts = request.path[len(API) + 1 :].split("/")
        if parts == ["Accounts.json"]:
            return self._accounts(request)
        if len(parts) == 2 and parts[1].endswith(".json") and parts[1][:-5] in self.accounts:
            return Reply(200, self._account(parts[1][:-5]))
        if len(parts) == 3 and parts[0] == "Accounts" and parts[2] == "Messages.json":
            return self._message_page(request, parts[1])
        return _error(404, 20404, "The requested resource was not found")

    def _authorised(self, request: Request) -> bool:
        return request.basic_auth() == (self.account_sid, self.auth_token)

    def _accounts(self, request: Request) -> Reply:
        wanted = (request.param("Status") or "").lower()
        rows = [self._account(sid) for sid, info in self.accounts.items() if not wanted or info["status"] == wanted]
        uri = f"{API}/Accounts.json"
        return Reply(200, {
            "accounts": rows, "first_page_uri": uri + "?PageSize=50&Page=0", "next_page_uri": None,
            "previous_page_uri": None, "page": 0, "page_size": 50, "start": 0, "end": max(0, len(rows) - 1), "uri": uri,
        })

    def _account(self, sid: str) -> dict:
        info = self.accounts[sid]
        return {
            "sid": sid, "friendly_name": info["friendly_name"], "status": info["status"],
            "owner_account_sid": self.account_sid, "type": "Full",
            "date_created": _rfc2822(1_600_000_000), "date_updated": _rfc2822(1_600_000_000),
            "auth_token": info["auth_token"], "uri": f"{API}/Accounts/{sid}.json", "subresource_uris": {},
        }

    def _sorted(self, account_sid: str) -> list[FakeMessage]:
        with self._data_lock:
            if account_sid in self._dirty:
                self._messages[account_sid].sort(key=lambda m: (m.date_sent, m.sid), reverse=True)
                self._order[account_sid] = [-m.date_sent for m in self._messages[account_sid]]
                self._dirty.discard(account_sid)
            return self._messages[account_sid]

    def _message_page(self, request: Request, account_sid: str) -> Reply:
        if account_sid not in self.accounts:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        messages = self._sorted(account_sid)
        keys = self._order.get(account_sid, [])
        try:
            size = min(1000, max(1, int(request.param("PageSize", "50"))))
            page = max(0, int(request.param("Page", "0")))
            after = request.param("DateSent>")
            before = request.param("DateSent<")
            exact = request.param("DateSent")
            start, end = 0, len(messages)
            if after:  # newest first: messages on/after the day form a prefix
                end = bisect.bisect_right(keys, -_day_start(after))
            if before:
                start = bisect.bisect_left(keys, -(_day_start(before) + DAY - 1))
            if exact:
                start = max(start, bisect.bisect_left(keys, -(_day_start(exact) + DAY - 1)))
                end = min(end, bisect.bisect_right(keys, -_day_start(exact)))
        except ValueError:
            return _error(400, 20001, "Invalid parameter")
        token = request.param("PageToken")
        if token:  # PA<last sid of the previous page>: stable even when new messages arrive on top
            last = self._by_sid.get(token[2:])
            if last is None:
                return _error(400, 20001, "Invalid PageToken")
            first = bisect.bisect_left(keys, -last.date_sent)
            # within the same second the order is by SID, descending: skip to just after `last`
            while (first < len(messages) and messages[first].date_sent == last.date_sent
                   and messages[first].sid >= last.sid):
                first += 1
            first = max(first, start)
        else:
            first = start + page * size
        if self._hang_page is not None and page == self._hang_page:
            self.hung.set()
            self._hang_event.wait(self._hang_seconds)
            return _error(500, 20500, "Internal Server Error")
        chunk = messages[first : min(end, first + size)]
        uri = f"{API}/Accounts/{account_sid}/Messages.json"
        dates = (("DateSent>", after), ("DateSent<", before), ("DateSent", exact))
        filters = "".join(f"&{quote(name)}={quote(value)}" for name, value in dates if value)
        next_uri = None
        if chunk and first + size < end:
            next_uri = f"{uri}?PageSize={size}&Page={page + 1}&PageToken=PA{chunk[-1].sid}{filters}"
        return Reply(200, {
            "messages": [_render(m) for m in chunk],
            "first_page_uri": f"{uri}?PageSize={size}&Page=0{filters}", "next_page_uri": next_uri,
            "previous_page_uri": None, "page": page, "page_size": size, "start": first - start,
            "end": first - start + max(0, len(chunk) - 1), "uri": f"{uri}?PageSize={size}&Page={page}{filters}",
        })


def _render(m: FakeMessage) -> dict:
    return ({
        "account_sid": m.account_sid, "api_version": "2010-04-01", "body": m.body,
        "date_created": _rfc2822(m.date_sent - 1), "date_sent": _rfc2822(m.date_sent),
        "date_updated": _rfc2822(m.date_updated), "direction": "outbound-api", "error_code": m.error_code,
        "error_message": None, "from": m.sender, "messaging_service_sid": m.service_sid, "num_media": "0",
        "num_segments": "1", "price": "-0.00790", "price_unit": "USD", "sid": m.sid, "status": m.status,
        "subresource_uris": {"media": f"{API}/Accounts/{m.account_sid}/Messages/{m.sid}/Media.json"},
        "to": m.recipient, "uri": f"{API}/Accounts/{m.account_sid}/Messages/{m.sid}.json",
    } | (m.answered_as or {}))


def _error(status: int, code: int, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                          "status": status})


FAILURE_MIX = ((30007, "failed"), (21610, "failed"), (30003, "undelivered"), (30006, "undelivered"),
               (30005, "undelivered"))


def subaccount_sid(n: int) -> str:
    return f"AC{n + 0x100:032x}"


def populate(fake: FakeTwilioAPI, count: int, now: int, span: int = DAY - 600, failure_rate: float = 0.05,
             seed: int = 7, accounts: list[str] | None = None) -> None:
    """`count` messages spread over the `span` seconds before `now`, ~`failure_rate` of them failures,
    dealt in turn to `accounts` (default: the main account)."""
    rng = random.Random(seed)
    for i in range(count):
        if rng.random() < failure_rate:
            code, status = rng.choice(FAILURE_MIX)
        else:
            code, status = None, "delivered"
        fake.add_message(
            accounts[i % len(accounts)] if accounts else None, date_sent=now - int(span * i / max(1, count)) - 1,
            status=status, error_code=code,
            recipient=f"+1202555{rng.randrange(100, 200):04d}", body=f"synthetic body {i}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="serve a fake Twilio REST API with generated messages")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--now", type=int, default=0)
    parser.add_argument("--subaccounts", type=int, default=0, help="named 'Clinic N'; the messages are dealt among all")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each answer takes")
    args = parser.parse_args()
    fake = FakeTwilioAPI()
    fake.delay = args.delay
    subaccounts = [subaccount_sid(n) for n in range(args.subaccounts)]
    for n, sid in enumerate(subaccounts):
        fake.add_subaccount(sid, f"Clinic {n}")
    populate(fake, args.messages, args.now or int(time.time()), accounts=[fake.account_sid, *subaccounts])
    for sid in fake.accounts:
        fake._sorted(sid)
    fake.start()
    print(fake.url, flush=True)
    try:
        sys.stdin.read()  # serve until the parent closes our stdin
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
