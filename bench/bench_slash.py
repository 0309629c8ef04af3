"""Benchmark: signed /smserror requests against a running `smserror run`.

Starts the real service in a subprocess (waitress, Bolt, signature checks, the lookup), waits
for /healthz, then sends N signed slash commands one after another over a keep-alive
connection and reports latency percentiles and the server's peak RSS.

    .venv/bin/python bench/bench_slash.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slack_sdk.signature import SignatureVerifier

from bench.common import free_port, peak_rss_mb, percentile, start_service, timed_post, wait_healthy

SECRET = "bench-signing-secret"
QUERIES = ["21610", "30007", "opted out", "landline", "30070", "99999", "Error 30034", "carrier filtering spam"]


def signed_request(text: str) -> tuple[bytes, dict]:
    body = urlencode({"command": "/smserror", "text": text, "user_id": "U1", "channel_id": "C1", "team_id": "T1",
                      "response_url": "http://127.0.0.1:9/r", "trigger_id": "1"}).encode()
    ts = str(int(time.time()))
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
        timestamp=ts, body=body), "Content-Type": "application/x-www-form-urlencoded"}
    return body, headers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        service = start_service(port, {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": "xoxb-bench",
                                       "SLACK_CHANNEL": "C0BENCH", "SLACK_API_URL": "http://127.0.0.1:9/api/",
                                       "SMSERROR_DB": f"{tmp}/bench.db"})
        try:
            wait_healthy(port)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            latencies = [timed_post(conn, "/slack/events", *signed_request(QUERIES[n % len(QUERIES)]))
                         for n in range(args.requests)]
            rss = peak_rss_mb(service.pid)
        finally:
            service.terminate()
            service.wait(timeout=10)
    print(f"slash commands: {len(latencies)} signed requests, sequential, keep-alive")
    print(f"  p50 {statistics.median(latencies):.2f} ms   p99 {percentile(latencies, 0.99):.2f} ms   "
          f"max {max(latencies):.2f} ms")
    print(f"  server peak RSS {rss:.1f} MB")


if __name__ == "__main__":
    main()
