"""What the benches that drive a running `smserror run` share: start it, wait for it, time a
request, read its peak memory."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(port: int, env: dict[str, str]) -> subprocess.Popen:
    """`smserror run` on 127.0.0.1:port with exactly these settings (nothing from this shell)."""
    env = {"PATH": os.environ.get("PATH", ""), "PORT": str(port), "SMSERROR_HOST": "127.0.0.1", **env}
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=ROOT, env=env,
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


def timed_post(conn: http.client.HTTPConnection, path: str, body: bytes | str, headers: dict) -> float:
    """Milliseconds for one POST and its whole answer; exits on anything but 200."""
    start = time.perf_counter()
    conn.request("POST", path, body, headers)
    response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status != 200:
        raise SystemExit(f"POST {path} got HTTP {response.status}")
    return elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
