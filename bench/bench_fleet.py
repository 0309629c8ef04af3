"""Bench: watching a fleet of subaccounts, against loopback fakes.

    .venv/bin/python bench/bench_fleet.py [--fleets 300 1000] [--seconds 20] [--only poll|events|latency]

* poll: `Pipeline.poll` (what `smserror run` schedules: the hourly listing, then the accounts
  SMSERROR_TWILIO_CONCURRENCY at a time) against the fake Twilio REST API in its own process,
  answering every request in 100 ms, with N subaccounts and 20 messages per account over the
  last 24 h. Timed: the hourly pass (the listing and a sweep of every account; the first pass is
  one) and a steady pass 60 s later. Requests per hour = one hourly pass + 59 steady ones
  (SMSERROR_POLL_SECONDS=60). Without Event Streams, and with every account's sink seen working.
* events: Event Streams deliveries POSTed to a running `smserror run`, signed as Twilio signs
  them (bodySHA256 + the SDK's RequestValidator, signed before the clock starts), by 4 senders
  on keep-alive connections: events per second for batches of 1 and of 100, and the answer
  time per delivery (Twilio waits 5 s).
* latency: while 200 events/s arrive (one event per delivery, digest-only codes from 1,000
  accounts), 10/s of them are a 30033 on a new messaging service, each opening an alert: the
  time from its POST to the fake Slack receiving its chat.postMessage.

Not a test: run by hand, copy the figures to README.md and docs/design.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import free_port, percentile, start_service, wait_healthy  # noqa: E402
from bot.pipeline import Pipeline  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.db import LocalDb  # noqa: E402
from storage.poll_state import record_streams  # noqa: E402
from tests.fakes.server import Reply, Request  # noqa: E402
from tests.fakes.slack_api import TOKEN, FakeSlack  # noqa: E402
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID, FakeTwilioAPI, subaccount_sid  # noqa: E402
from tests.fakes.twilio_events import message_event, sign_delivery  # noqa: E402

PUBLIC = "https://smserror.bench.invalid"
SINK = PUBLIC + "/twilio/events"
CHANNEL = "C0FLEET01"
SENDERS = 4
QUIET_CODES = (21614, 30010)  # digest only: no alert, so the channel hears only the probes
PROBE = re.compile(rb"MG[0-9a-f]{32}")


# -- poll --------------------------------------------------------------------------------------

def poll(clinics: int, streams: bool, delay: float) -> dict:
    now = int(time.time())
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.twilio_api", "--messages", str(20 * (clinics + 1)), "--now", str(now),
         "--subaccounts", str(clinics), "--delay", str(delay)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        url = fake.stdout.readline().strip()
        settings = Settings(twilio_account_sid=MAIN_SID, twilio_auth_token=AUTH_TOKEN, twilio_api_url=url,
                            twilio_subaccounts="all", twilio_timeout=30)
        with tempfile.TemporaryDirectory() as folder:
            store = LocalDb(Path(folder) / "fleet.db")
            if streams:  # as `smserror streams status` records it
                record_streams(store.get(), {sid: True for sid in [MAIN_SID, *map(subaccount_sid, range(clinics))]},
                               now)
            clock = [now]
            pipeline = Pipeline(settings, store, destinations=[], clock=lambda: clock[0])
            started = time.perf_counter()
            hourly = pipeline.poll()
            hourly_s = time.perf_counter() - started
            clock[0] += 60
            started = time.perf_counter()
            steady = pipeline.poll()
            steady_s = time.perf_counter() - started
    finally:
        fake.stdin.close()
        fake.wait(10)
    assert hourly.ok and steady.ok and len(steady.accounts) == clinics + 1, steady.lines()
    return {"hourly_s": hourly_s, "hourly_requests": hourly.requests, "steady_s": steady_s,
            "steady_requests": steady.requests, "per_hour": hourly.requests + 59 * steady.requests,
            "failures": len(hourly.new_failures)}


# -- events through `smserror run` ---------------------------------------------------------------

class ProbeSlack(FakeSlack):
    """The fake Slack, noting when the first chat.postMessage naming each messaging service came."""

    def __init__(self) -> None:
        super().__init__()
        self.posted: dict[str, float] = {}
        self._seen = threading.Lock()

    def handle(self, request: Request) -> Reply | None:
        if request.path.endswith("/chat.postMessage"):
            at = time.perf_counter()
            with self._seen:
                for sid in PROBE.findall(request.body):
                    self.posted.setdefault(sid.decode(), at)
        return super().handle(request)


def delivery(events: list[dict]) -> tuple[str, dict, bytes]:
    body = json.dumps(events).encode()
    url, headers = sign_delivery(SINK, body, AUTH_TOKEN)
    return url[len(PUBLIC):], headers, body


def quiet_events(count: int, first: int) -> list[dict]:
    return [message_event("undelivered", sid=f"SM{first + n:032x}", account=subaccount_sid(n % 1000),
                          code=QUIET_CODES[n % 2]) for n in range(count)]


def post(conn: http.client.HTTPConnection, request: tuple[str, dict, bytes]) -> float:
    """Seconds for one delivery and its answer; exits on anything but 200."""
    path, headers, body = request
    started = time.perf_counter()
    conn.request("POST", path, body, headers)
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"POST {path} got HTTP {response.status}")
    return time.perf_counter() - started


def send_all(port: int, requests_: list, at: list[float] | None = None) -> tuple[float, list[float], list[float]]:
    """`requests_` by SENDERS threads, request i not before `at[i]` (perf_counter) when given.
    Returns (wall seconds, answer seconds per request, perf_counter when each was sent)."""
    answers, sent = [0.0] * len(requests_), [0.0] * len(requests_)

    def sender(first: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(first, len(requests_), SENDERS):
            if at is not None:
                time.sleep(max(0.0, at[i] - time.perf_counter()))
            sent[i] = time.perf_counter()
            answers[i] = post(conn, requests_[i])
        conn.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, answers, sent


def ingestion(port: int, batch: int, events: int, first: int) -> dict:
    requests_ = [delivery(quiet_events(batch, first + n * batch)) for n in range(events // batch)]
    wall, answers, _ = send_all(port, requests_)
    return {"batch": batch, "events": events, "per_second": events / wall,
            "answer_p50_ms": statistics.median(answers) * 1000, "answer_p99_ms": percentile(answers, 0.99) * 1000}


def latency(port: int, slack: ProbeSlack, seconds: float, rate: int, first: int) -> dict:
    count = int(seconds * rate)
    probes, requests_ = {}, []
    for n, event in enumerate(quiet_events(count, first)):
        if n % (rate // 10) == 0:  # 10 probes a second
            service = f"MG{first + n:032x}"
            event = message_event("undelivered", sid=f"SM{first + n:032x}", account=MAIN_SID, code=30033,
                                  service=service)
            probes[n] = service
        requests_.append(delivery([event]))
    start = time.perf_counter() + 0.2
    wall, answers, sent = send_all(port, requests_, [start + n / rate for n in range(count)])
    deadline = time.monotonic() + 30
    while len(slack.posted) < len(probes) and time.monotonic() < deadline:
        time.sleep(0.05)
    waits = [slack.posted[service] - sent[n] for n, service in probes.items() if service in slack.posted]
    if len(waits) < len(probes):
        raise SystemExit(f"only {len(waits)} of {len(probes)} probe alerts reached Slack")
    return {"rate": count / wall, "events": count, "probes": len(waits), "p50_ms": statistics.median(waits) * 1000,
            "p99_ms": percentile(waits, 0.99) * 1000, "max_ms": max(waits) * 1000,
            "answer_p99_ms": percentile(answers, 0.99) * 1000}


def service_benches(seconds: float, only: str | None) -> None:
    port = free_port()
    with ProbeSlack() as slack, FakeTwilioAPI() as twilio, tempfile.TemporaryDirectory() as tmp:
        service = start_service(port, {
            "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "bench", "SLACK_CHANNEL": CHANNEL,
            "SLACK_API_URL": slack.api_url, "TWILIO_ACCOUNT_SID": MAIN_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "TWILIO_API_URL": twilio.url, "SMSERROR_PUBLIC_URL": PUBLIC, "SMSERROR_DB": str(Path(tmp) / "bench.db")})
        try:
            wait_healthy(port)
            if only in (None, "events"):
                for batch, events in ((1, 3000), (100, 20_000)):
                    r = ingestion(port, batch, events, first=batch * 10_000_000)
                    print(f"events, batches of {batch:>3}: {r['per_second']:,.0f} events/s ({r['events']:,} events); "
                          f"answer p50 {r['answer_p50_ms']:.1f} ms, p99 {r['answer_p99_ms']:.1f} ms")
            if only in (None, "latency"):
                r = latency(port, slack, seconds, 200, first=900_000_000)
                print(f"event → Slack at {r['rate']:.0f} events/s ({r['events']:,} events, {r['probes']} alerts): "
                      f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms; "
                      f"answer p99 {r['answer_p99_ms']:.1f} ms")
        finally:
            service.terminate()
            service.wait(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleets", type=int, nargs="+", default=[300, 1000], metavar="SUBACCOUNTS")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds the fake Twilio takes per request")
    parser.add_argument("--seconds", type=float, default=20, help="how long 200 events/s arrive")
    parser.add_argument("--only", choices=("poll", "events", "latency"))
    args = parser.parse_args()
    if args.only in (None, "poll"):
        for clinics in args.fleets:
            for streams in (False, True):
                r = poll(clinics, streams, args.delay)
                print(f"poll, {clinics:,} subaccounts, {'with' if streams else 'without'} streams: "
                      f"hourly pass {r['hourly_s']:.1f} s ({r['hourly_requests']:,} requests), "
                      f"steady pass {r['steady_s']:.1f} s ({r['steady_requests']:,} requests); "
                      f"{r['per_hour']:,} requests/h")
    if args.only != "poll":
        service_benches(args.seconds, args.only)


if __name__ == "__main__":
    main()
