"""Benchmark: signed /smserror requests against a running `smserror run`.

Starts the real service in a subprocess (waitress, Bolt, signature checks, the lookup), waits
for /healthz, then sends N signed slash commands one after another over a keep-alive
connection and reports latency percentiles and the server's peak RSS.

    .venv/bin/python bench/bench_slash.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

SECRET = "bench-signing-secret"
QUERIES = ["21610", "30007", "opted out", "landline", "30070", "99999", "Error 30034", "carrier filtering spam"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(port: int, db: Path) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "SMSERROR_DB": str(db),
        "PORT": str(port),
        "SMSERROR_HOST": "127.0.0.1",
    }
    root = Path(__file__).resolve().parent.parent
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_healthy(port: int, deadline: float = 20) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("smserror run did not become healthy")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
        service = start_service(port, Path(tmp) / "bench.db")
        try:
            wait_healthy(port)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            latencies = []
            for n in range(args.requests):
                body, headers = signed_request(QUERIES[n % len(QUERIES)])
                start = time.perf_counter()
                conn.request("POST", "/slack/events", body, headers)
                response = conn.getresponse()
                response.read()
                latencies.append((time.perf_counter() - start) * 1000)
                if response.status != 200:
                    raise SystemExit(f"request {n} got HTTP {response.status}")
            rss = peak_rss_mb(service.pid)
        finally:
            service.terminate()
            service.wait(timeout=10)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"slash commands: {len(latencies)} signed requests, sequential, keep-alive")
    print(f"  p50 {statistics.median(latencies):.2f} ms   p99 {p99:.2f} ms   max {latencies[-1]:.2f} ms")
    print(f"  server peak RSS {rss:.1f} MB")


if __name__ == "__main__":
    main()
