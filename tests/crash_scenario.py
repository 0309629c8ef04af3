"""The crash scenario for the outbox's exactly-once promise: `smserror run` killed (SIGKILL) again
and again on one store while Twilio status callbacks arrive and the fake Slack misbehaves the
ways Slack's delivery allows (stores a post late, stores it and answers late or never, stores it
and answers 5xx).

Each cycle starts `run`, sends signed callbacks (new alert groups, a second failure of an older
group, and those the last instance did not answer), arms a random fault for the next post and
kills `run` at a random moment: at once, mid-callback, when a post reaches Slack, when Slack
stores one, or after a random delay. Where each kill landed is read from the frozen store and
the fake. A last, fault-free `run` then drains the outbox, and every acknowledged callback must
show in Slack exactly once: its alert (and, for a second failure, one thread reply and an edit).

`run_crash(folder, kills, seed)` returns a CrashReport; tests/test_crash.py asserts on it and
bench/bench_crash.py prints it.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage.db import open_db, transaction
from tests.fakes.server import wait_until
from tests.fakes.slack_api import FakeSlack
from tests.processes import SERVICE_SID, RunProcess, callback_form, service_env, signed_callback

CODES = (30032, 30033, 30034)  # account-level: a group's first failure is an alert
TRIGGERS = {"at once": 3, "mid-callback": 2, "on post": 3, "on store": 2, "after a delay": 2}
PHASES = ("mid-callback", "standby", "between rows", "claimed, not in Slack", "mid-request",
          "stored, not recorded", "idle")
TRIGGER_WAIT = 8.0  # the longest a cycle waits for its trigger (a takeover after a kill takes ~3 s)
DRAIN_WAIT = 120.0  # the final run: generous, the machine is shared


@dataclass
class Post:
    arrived: float
    answered: float | None = None


class CrashSlack(FakeSlack):
    """The fake Slack, noting when each chat.postMessage arrived and when it was answered."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[Post] = []

    def _chat_postMessage(self, p: dict):
        post = Post(time.monotonic())
        self.posts.append(post)
        try:
            return super()._chat_postMessage(p)
        finally:
            post.answered = time.monotonic()

    def waiting_posts(self, since: float, at: float, timeout: float) -> int:
        """Posts that arrived after `since` whose client (giving up after `timeout`) still waited at `at`."""
        return sum(1 for p in list(self.posts) if since < p.arrived <= at and at - p.arrived < timeout
                   and (p.answered is None or p.answered > at))

    def keys(self) -> Counter:
        """The outbox key of every message in Slack (top level and thread replies), with its count."""
        return Counter(((m.metadata or {}).get("event_payload") or {}).get("key", "") for m in list(self.messages))


@dataclass
class Group:
    account: str
    code: int
    acked_at: float | None = None   # monotonic time Twilio's first callback was answered 200
    follow_up: str = ""             # "sent" / "acked": a second failure of the group

    @property
    def key(self) -> str:
        return f"{self.account}:{self.code}:{SERVICE_SID}"


@dataclass
class CrashReport:
    kills: int = 0
    acknowledged: int = 0          # alerts Twilio was answered 200 for: each must be in Slack once
    follow_ups: int = 0            # acknowledged second failures: each must be one thread reply and an edit
    phases: Counter = field(default_factory=Counter)    # where the kills landed
    triggers: Counter = field(default_factory=Counter)  # what each cycle waited for before its kill
    faults: Counter = field(default_factory=Counter)    # faults armed on the fake Slack
    posts: int = 0                 # chat.postMessage requests Slack received
    lookups: int = 0               # conversations.history / .replies: "did an earlier attempt get through?"
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    unacknowledged: int = 0        # callbacks no instance ever answered 200 (the final one included)
    unsent: int = 0                # outbox rows the final run left unsettled
    seconds: float = 0.0
    logs: Path | None = None       # the stderr of every run, for a failure's story

    def summary(self) -> str:
        phases = ", ".join(f"{name} {self.phases[name]}" for name in PHASES if self.phases[name])
        faults = ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items()))
        return (f"kills {self.kills} in {self.seconds:.0f} s; acknowledged alerts {self.acknowledged}, follow-ups "
                f"{self.follow_ups}; posts {self.posts}, lookups {self.lookups}; lost {len(self.lost)}, "
                f"doubled {len(self.doubled)}; unacknowledged {self.unacknowledged}, unsent {self.unsent}\n"
                f"  kills landed: {phases}\n  faults armed: {faults}")


class CrashScenario:
    def __init__(self, folder: Path, slack: CrashSlack, seed: int) -> None:
        self.slack = slack
        self.rng = random.Random(seed)
        self.db_path = folder / "crash.db"
        rules = folder / "rules.toml"
        rules.write_text("[alerts]\nupdate_interval = 1\n")  # a second failure is a thread reply at once
        just_passed = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%H:%M")
        self.env = service_env(self.db_path, slack, SMSERROR_DIGEST_AT=just_passed, SMSERROR_RULES=str(rules))
        self.groups: list[Group] = []
        self.unanswered: list[tuple[dict, Group, bool]] = []  # Twilio retries these at the next instance
        self.sids = 0
        self.report = CrashReport(logs=folder / "runs.log")
        self._db = None

    # -- one cycle -----------------------------------------------------------------------------
    def cycle(self) -> None:
        started, stored = time.monotonic(), len(self.slack.messages)
        proc = RunProcess(self.env).start()  # a leader may post before it says it is listening
        try:
            holder = f"{socket.gethostname()}:{proc.pid}:"  # how its lease and claims name it (storage/leases.py)
            self._skip_backoff()
            self._arm_fault()
            callbacks = self.unanswered + self._new_callbacks()
            trigger = self.rng.choices(list(TRIGGERS), weights=list(TRIGGERS.values()))[0]
            self.report.triggers[trigger] += 1
            if trigger == "mid-callback":
                sender = threading.Thread(target=self._send, args=(proc.url, callbacks))
                sender.start()
                time.sleep(self.rng.uniform(0, 0.1))
                proc.kill()
                sender.join()
            else:
                self._send(proc.url, callbacks)
                self._wait_for(trigger, started, stored)
                proc.kill()
            killed_at = time.monotonic()
            self.report.phases[self._phase(holder, started, killed_at)] += 1
            self.report.kills += 1
        finally:
            proc.kill()
            self._keep_log(proc)

    def _new_callbacks(self) -> list[tuple[dict, Group, bool]]:
        callbacks = []
        for _ in range(self.rng.randint(1, 3)):
            group = Group("AC" + f"{len(self.groups) + 1:032x}", self.rng.choice(CODES))
            self.groups.append(group)
            callbacks.append((self._form(group), group, False))
        # a second failure of an older group: an edit, and (update_interval 1 s) a thread reply;
        # both draws are made whatever the timing, so a seed gives the same sequence of cycles
        now, follow_up, pick = time.monotonic(), self.rng.random() < 0.5, self.rng.random()
        older = [g for g in self.groups if g.acked_at is not None and not g.follow_up and now - g.acked_at > 2.5]
        if older and follow_up:
            group = older[int(pick * len(older))]
            group.follow_up = "sent"
            callbacks.append((self._form(group), group, True))
        return callbacks

    def _form(self, group: Group) -> dict:
        self.sids += 1
        return callback_form(f"SM{self.sids:032x}", group.code, account=group.account)

    def _send(self, url: str, callbacks: list[tuple[dict, Group, bool]]) -> None:
        """Post each callback once; those not answered 200 are Twilio's to retry at the next instance."""
        unanswered = []
        for form, group, follow_up in callbacks:
            if signed_callback(url, form) != 200:
                unanswered.append((form, group, follow_up))
            elif follow_up:
                group.follow_up = "acked"
            elif group.acked_at is None:
                group.acked_at = time.monotonic()
        self.unanswered = unanswered

    def _arm_fault(self) -> None:
        """One fault (or none) for the next post, whichever process makes it; the last cycle's is forgotten."""
        self.slack.clear_faults()
        fault = self.rng.choice(("none", "store late", "store, answer late", "store, drop", "store, then 5xx"))
        self.report.faults[fault] += 1
        if fault == "store late":
            self.slack.store_late(1, delay=self.rng.uniform(1.5, 2.0))
        elif fault == "store, answer late":  # the answer comes after the client gave up
            self.slack.post_then_drop(1, hang=self.rng.uniform(1.2, 2.0))
        elif fault == "store, drop":  # the connection drops before the client's timeout
            self.slack.post_then_drop(1, hang=self.rng.uniform(0, 0.5))
        elif fault == "store, then 5xx":
            self.slack.post_then_fail(1, status=self.rng.choice((500, 502, 503)))

    def _wait_for(self, trigger: str, started: float, stored: int) -> None:
        if trigger == "on post":
            wait_until(lambda: any(p.arrived > started for p in list(self.slack.posts)), TRIGGER_WAIT)
            time.sleep(self.rng.uniform(0, 0.3))
        elif trigger == "on store":
            wait_until(lambda: len(self.slack.messages) > stored, TRIGGER_WAIT)
        elif trigger == "after a delay":
            time.sleep(self.rng.uniform(0.2, 3.0))

    def _phase(self, holder: str, started: float, killed_at: float) -> str:
        """Where the kill landed, read from the store as the killed process left it."""
        if self.unanswered:  # the kill cut this cycle's callbacks short
            return "mid-callback"
        lease = self.db.execute("SELECT holder FROM leases WHERE name = 'leader'").fetchone()
        if lease is None or not lease[0].startswith(holder):
            return "standby"
        claimed = self.db.execute("SELECT dedupe_key FROM outbox WHERE sent_at IS NULL AND substr(claim, 1, ?) = ?",
                                  (len(holder), holder)).fetchone()
        if claimed is None:
            return "between rows" if self._unsent() else "idle"
        if self.slack.keys()[claimed[0]]:
            return "stored, not recorded"
        timeout = float(self.env["SMSERROR_SLACK_TIMEOUT"])
        return "mid-request" if self.slack.waiting_posts(started, killed_at, timeout) else "claimed, not in Slack"

    def _skip_backoff(self) -> None:
        """A failed send waits 30 s and more before its next attempt; that wait is policy, not what
        makes delivery exactly-once, so time is moved on to the next attempt, but never before the
        failed send's fate is settled (`settle_at`: the lookup must see a post stored late)."""
        now = int(time.time())
        with transaction(self.db):
            self.db.execute(
                "UPDATE outbox SET next_attempt_at = MIN(next_attempt_at, MAX(?, CAST(COALESCE(settle_at, 0)"
                " AS INTEGER) + 1)) WHERE sent_at IS NULL AND claim IS NULL AND next_attempt_at > ?", (now, now))

    # -- the end -------------------------------------------------------------------------------
    def finish(self) -> None:
        """A fault-free run takes the callbacks still unanswered and drains the outbox; then count."""
        self.slack.clear_faults()
        proc = RunProcess(self.env).start()
        try:
            for _ in range(3):
                if self.unanswered:
                    self._send(proc.url, list(self.unanswered))
            deadline = time.monotonic() + DRAIN_WAIT
            while not self._drained() and time.monotonic() < deadline:
                self._skip_backoff()
                time.sleep(0.25)
            proc.stop()
        finally:
            proc.kill()
            self._keep_log(proc)
        self._count()

    def _keep_log(self, proc: RunProcess) -> None:
        with self.report.logs.open("a") as out:
            out.write(f"--- run pid {proc.pid}\n" + "".join(proc.log))

    @property
    def db(self):
        """The store, opened once the first run has created it."""
        if self._db is None:
            self._db = open_db(self.db_path)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def _unsent(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]

    def _drained(self) -> bool:
        return not self._missing() and self._unsent() == 0

    def _missing(self) -> list[str]:
        """What an acknowledged callback calls for and Slack does not show."""
        keys = self.slack.keys()
        edited = {((m.metadata or {}).get("event_payload") or {}).get("key", "") for m in list(self.slack.messages)
                  if m.edits}
        missing = []
        for group in self.groups:
            if group.acked_at is not None and not any(k.startswith(f"alert:{group.key}:") for k in keys):
                missing.append(f"alert {group.key}")
            if group.follow_up == "acked":
                if not any(k.startswith(f"alert-reply:{group.key}:") for k in keys):
                    missing.append(f"thread reply {group.key}")
                if not any(k.startswith(f"alert:{group.key}:") for k in edited):
                    missing.append(f"edit {group.key}")
        return missing

    def _count(self) -> None:
        report, keys = self.report, self.slack.keys()
        report.acknowledged = sum(1 for g in self.groups if g.acked_at is not None)
        report.follow_ups = sum(1 for g in self.groups if g.follow_up == "acked")
        report.unacknowledged = len(self.unanswered)
        report.posts = len(self.slack.posts)
        report.lookups = len(self.slack.requests_to("/api/conversations."))
        report.lost = self._missing()
        report.doubled = sorted(f"{key} x{count}" for key, count in keys.items() if key and count > 1)
        for group in self.groups:  # one alert per incident, whatever key it was posted under
            posted = [k for k in keys if k.startswith(f"alert:{group.key}:")]
            if len(posted) > 1:
                report.doubled.append(f"alert {group.key} under {len(posted)} keys")
        report.unsent = self._unsent()


def run_crash(folder: Path, kills: int, seed: int = 1) -> CrashReport:
    """`kills` cycles of start, callbacks, fault, kill -9 on one store, then the final count."""
    started = time.monotonic()
    with CrashSlack() as slack:
        scenario = CrashScenario(Path(folder), slack, seed)
        try:
            for _ in range(kills):
                scenario.cycle()
            scenario.finish()
        finally:
            scenario.close()
    scenario.report.seconds = time.monotonic() - started
    return scenario.report
