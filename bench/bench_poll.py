"""Bench: one poll pass over N messages served by the local fake Twilio API, against a bare
transfer of the same pages, plus the poller's peak RSS.

    .venv/bin/python bench/bench_poll.py [--messages 100000 [300000 ...]] [--runs 3]

The fake runs in its own process (its 100k messages do not count against the poller's RSS); each
measured side runs in a fresh child process:
* bare: `requests` GETs of the same pages (PageSize=1000, following next_page_uri found with a
  regex, no JSON parse) - the floor any client pays for the transfer;
* poll: `run_poll_pass` (real twilio SDK, page parsing, filtering, upserts into a new store).
Reports median wall time of the runs, median/p99 per-page latency of the bare transfer, the
ratio, and the poll child's peak RSS (ru_maxrss). Not a test: run by hand, copy the figures to
docs/design.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAIN_SID = "AC" + "0" * 31 + "1"
NEXT = re.compile(rb'"next_page_uri": ("[^"]*"|null)')


def bare(url: str) -> dict:
    import requests

    from tests.fakes.twilio_api import AUTH_TOKEN

    day = (datetime.now(UTC) - timedelta(hours=24)).strftime("%Y-%m-%d")
    session = requests.Session()
    session.auth = (MAIN_SID, AUTH_TOKEN)
    next_url = f"{url}/2010-04-01/Accounts/{MAIN_SID}/Messages.json?PageSize=1000&DateSent%3E={day}"
    pages, size, latencies = 0, 0, []
    started = time.perf_counter()
    while next_url:
        t = time.perf_counter()
        body = session.get(next_url, timeout=30).content
        latencies.append(time.perf_counter() - t)
        pages += 1
        size += len(body)
        found = NEXT.search(body[-2000:]) or NEXT.search(body)
        uri = json.loads(found.group(1)) if found else None
        next_url = url + uri if uri else None
    return {"seconds": time.perf_counter() - started, "pages": pages, "bytes": size, "latencies": latencies,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def poll(url: str) -> dict:
    from bot.settings import Settings
    from jobs.poll import run_poll_pass
    from storage.db import open_db
    from tests.fakes.twilio_api import AUTH_TOKEN

    settings = Settings(twilio_account_sid=MAIN_SID, twilio_auth_token=AUTH_TOKEN, twilio_api_url=url,
                        twilio_timeout=30)
    with tempfile.TemporaryDirectory() as folder:
        db = open_db(Path(folder) / "bench.db")
        started = time.perf_counter()
        report = run_poll_pass(db, settings.twilio)
        seconds = time.perf_counter() - started
        account = report.accounts[0]
        assert report.ok, report.lines()
        return {"seconds": seconds, "messages": account.messages_read, "failures": account.failures_new,
                "requests": report.requests, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child(kind: str, url: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, url], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def bench(messages: int, runs: int) -> None:
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.twilio_api", "--messages", str(messages)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        url = fake.stdout.readline().strip()
        child("bare", url)  # warm-up
        bares, polls = [], []
        for _ in range(runs):
            bares.append(child("bare", url))
            polls.append(child("poll", url))
    finally:
        fake.stdin.close()
        fake.wait(10)
    latencies = sorted(x for b in bares for x in b["latencies"])
    bare_s = statistics.median(b["seconds"] for b in bares)
    poll_s = statistics.median(p["seconds"] for p in polls)
    p = polls[0]
    print(f"== {messages:,} messages, {bares[0]['pages']} pages of 1,000, {bares[0]['bytes'] / 1e6:.1f} MB, "
          f"{runs} runs each")
    print(f"bare transfer : median {bare_s:.2f}s  (per page median {statistics.median(latencies) * 1000:.1f} ms, "
          f"p99 {latencies[int(0.99 * (len(latencies) - 1))] * 1000:.1f} ms)")
    print(f"poll pass     : median {poll_s:.2f}s  ({p['messages']:,} read, {p['failures']:,} failures stored, "
          f"{p['requests']} requests)  runs: {', '.join(format(x['seconds'], '.2f') for x in polls)}")
    print(f"ratio         : {poll_s / bare_s:.2f}x the bare transfer (aim: <= 2x)")
    print(f"peak RSS      : poll {max(x['maxrss_mb'] for x in polls):.0f} MB (aim: < 150 MB), "
          f"bare client {max(x['maxrss_mb'] for x in bares):.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "URL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url = args.child
        print(json.dumps(bare(url) if kind == "bare" else poll(url)))
        return
    os.environ.pop("SMSERROR_DB", None)
    for messages in args.messages:
        bench(messages, args.runs)


if __name__ == "__main__":
    main()
