"""The real `smserror` command as separate processes, for tests of what happens between them:
several `run` instances on one store, other commands beside them, kill -9 and restarts.

`RunProcess(env).start()` starts `python -m bot.cli run` on a free loopback port and waits for
"listening on"; `.kill()` is SIGKILL, `.stop()` SIGTERM. `signed_callback` posts a status
callback the way Twilio signs it. `cli(env, *args)` runs any other subcommand to completion.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests
from twilio.request_validator import RequestValidator

from tests.fakes.slack_api import TOKEN, FakeSlack
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID

REPO = Path(__file__).resolve().parents[1]
CHANNEL = "C0OPS"
PUBLIC = "https://smserror.example.org"
PATIENT = "+12025550187"
SERVICE_SID = "MG" + "0" * 31 + "1"


def service_env(db: Path, slack: FakeSlack, **extra: str) -> dict[str, str]:
    """What `run` needs to take callbacks and post to the fake Slack, with short timeouts so a
    kill's in-flight post is settled within seconds."""
    env = {
        "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "SMSERROR_DB": str(db),
        "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "signing", "SLACK_CHANNEL": CHANNEL,
        "SLACK_API_URL": slack.api_url, "SMSERROR_SLACK_TIMEOUT": "1",
        "TWILIO_ACCOUNT_SID": MAIN_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_URL": "http://127.0.0.1:9",
        "SMSERROR_PUBLIC_URL": PUBLIC, "SMSERROR_HOST": "127.0.0.1", "PORT": "0",
        "SMSERROR_POLL_SECONDS": "3600",  # no Twilio here unless a test says so: callbacks only
        "SMSERROR_LEADER_TTL": "3",
    }
    env.update(extra)
    return env


class RunProcess:
    def __init__(self, env: dict[str, str], cwd: Path | None = None) -> None:
        self.env = env
        self.cwd = cwd or Path(env["SMSERROR_DB"]).parent
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.log: list[str] = []

    def start(self, timeout: float = 20) -> RunProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], env=self.env, cwd=self.cwd,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        listening = threading.Event()

        def read() -> None:  # keeps the pipe drained for the life of the process
            for line in self.proc.stderr:
                self.log.append(line)
                text = json.loads(line)["message"] if line.startswith("{") else line  # SMSERROR_LOG_FORMAT=json
                if "listening on" in text:
                    self.url = text.rsplit("listening on ", 1)[1].strip()
                    listening.set()

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not listening.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("run did not start:\n" + "".join(self.log))
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def readyz(self) -> dict:
        return requests.get(self.url + "/readyz", timeout=5).json()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 30) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout)
        return self.proc.returncode if self.proc else 0

    def __enter__(self) -> RunProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()


def callback_form(sid: str, code: int, status: str = "undelivered", account: str = MAIN_SID) -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": account, "MessagingServiceSid": SERVICE_SID, "From": "+12025550100",
            "To": PATIENT, "MessageStatus": status, "ErrorCode": str(code), "ApiVersion": "2010-04-01"}


def signed_callback(url: str, form: dict[str, str], timeout: float = 10) -> int:
    """POST a status callback signed as Twilio signs it; the HTTP status (0: no answer)."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + "/twilio/status", form)
    try:
        return requests.post(url + "/twilio/status", data=form, headers={"X-Twilio-Signature": signature},
                             timeout=timeout).status_code
    except requests.RequestException:
        return 0


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=Path(env["SMSERROR_DB"]).parent,
                          capture_output=True, text=True, timeout=timeout)


def alert_keys(slack: FakeSlack) -> list[str]:
    """The outbox key of every top-level alert post in the fake Slack, duplicates included."""
    return [(m.metadata or {}).get("event_payload", {}).get("key", "") for m in slack.top_level(CHANNEL)
            if (m.metadata or {}).get("event_payload", {}).get("key", "").startswith("alert:")]
