"""Bench: status callback to Slack latency for account-level alerts (target: p99 < 500 ms).

    .venv/bin/python bench/bench_alert_latency.py [--alerts 300] [--background 100000] [--updates 3]

A store is filled with `background` failures over the last 7 days (so group counts and spike
baselines read a realistic table). Then, `alerts` times: a 30033 for a fresh account arrives as
a status callback would hand it over (`upsert_failures(..., "callback")`), then
`observe` and `deliver_due` run (what the delivery thread of `run` does when woken); the clock
stops when the fake Slack Web API (loopback, real slack_sdk WebClient) receives chat.postMessage.
`updates` more failures of the same group are timed to their chat.update. Reports p50 / p95 /
p99 / max in ms. Not a test: run by hand, copy the figures to docs/alerts.md.

`time_to_slack(slack, trigger)` is the measuring helper: the HTTP-level version (POST a signed
callback to `smserror run`'s /twilio/status, stop at the fake's chat.postMessage) can call it
with its own trigger.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.common import percentile
from bot.destinations import SlackDestination, slack_client
from bot.settings import Settings
from jobs.alerts import observe
from jobs.deliver import deliver_due
from jobs.rules import DEFAULT_RULES
from storage.db import open_db
from storage.failures import upsert_failures
from tests.fakes.server import Reply, Request
from tests.fakes.slack_api import TOKEN, FakeSlack

CHANNEL = "C0BENCH001"


class TimedSlack(FakeSlack):
    """The fake Slack, noting when each Web API call arrives (perf_counter)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[tuple[str, float]] = []
        self.arrived = threading.Condition()

    def handle(self, request: Request) -> Reply | None:
        with self.arrived:
            self.arrivals.append((request.path.rsplit("/", 1)[-1], time.perf_counter()))
            self.arrived.notify_all()
        return super().handle(request)


def time_to_slack(slack: TimedSlack, trigger: Callable[[], object], method: str = "chat.postMessage",
                  timeout: float = 10.0) -> float:
    """Seconds from calling `trigger()` to the fake Slack receiving the next `method` call."""
    with slack.arrived:
        seen = len(slack.arrivals)
    start = time.perf_counter()
    trigger()
    deadline = time.monotonic() + timeout
    with slack.arrived:
        while True:
            for name, at in slack.arrivals[seen:]:
                if name == method:
                    return at - start
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {method} within {timeout} s")
            slack.arrived.wait(remaining)


def _failure(sid: int, account: str, code: int, at: int) -> dict:
    return {"sid": f"SM{sid:032x}", "account_sid": account, "service_sid": "MG" + "7" * 32,
            "sender": "+12025550100", "recipient": f"+1202555{sid % 10000:04d}",
            "status": "undelivered", "error_code": code, "sent_at": at}


def fill(db, count: int, now: int) -> None:
    rng = random.Random(7)
    codes = (30007, 30007, 21610, 30003, 30006, 30005, 30008, 30034)
    rows = (_failure(10_000_000 + i, "AC" + f"{rng.randrange(20):032x}", rng.choice(codes),
                     now - rng.randrange(7 * 86400)) for i in range(count))
    upsert_failures(db, rows, "import", now, keep_new=False)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"n": len(ordered), "p50": statistics.median(ordered) * 1000, "p95": percentile(ordered, 0.95) * 1000,
            "p99": percentile(ordered, 0.99) * 1000, "max": ordered[-1] * 1000}


def run(alerts: int, background: int, updates: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory() as folder, TimedSlack() as slack:
        db = open_db(Path(folder) / "bench.db")
        now = int(time.time())
        fill(db, background, now)
        client = slack_client(Settings(slack_bot_token=TOKEN, slack_api_url=slack.api_url, slack_timeout=5))
        destinations = [SlackDestination(client, CHANNEL)]
        posts: list[float] = []
        edits: list[float] = []
        sid = 0
        for n in range(alerts):
            account = "AC" + f"{1000 + n:032x}"

            def callback(code: int = 30033, account: str = account) -> None:
                nonlocal sid
                sid += 1
                at = int(time.time())
                new = upsert_failures(db, [_failure(sid, account, code, at)], "callback", at).new
                observe(db, new, at, DEFAULT_RULES)
                deliver_due(db, destinations, at)

            posts.append(time_to_slack(slack, callback))
            for _ in range(updates):
                edits.append(time_to_slack(slack, callback, method="chat.update"))
        db.close()
        return {"callback -> chat.postMessage": percentiles(posts), "later failure -> chat.update": percentiles(edits)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=300)
    parser.add_argument("--background", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=3)
    args = parser.parse_args(argv)
    results = run(args.alerts, args.background, args.updates)
    for name, stats in results.items():
        print(f"{name:32s} n={stats['n']:<5d} p50={stats['p50']:6.1f} ms  p95={stats['p95']:6.1f} ms  "
              f"p99={stats['p99']:6.1f} ms  max={stats['max']:6.1f} ms")
    p99 = results["callback -> chat.postMessage"]["p99"]
    print(f"target p99 < 500 ms: {'met' if p99 < 500 else 'NOT met'} ({p99:.1f} ms)")
    return 0 if p99 < 500 else 1


if __name__ == "__main__":
    sys.exit(main())
