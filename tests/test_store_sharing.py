"""One store, many processes: a live `run` taking callbacks while digest, import, hygiene,
poll --once and plain sqlite3 readers open and close the same file beside it, then a kill -9
and a restart; six processes migrating a fresh store at once; a damaged or truncated store."""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from storage.alert_groups import group_key
from storage.db import open_db
from storage.failures import upsert_failures
from storage.migrations import MIGRATIONS
from tests.fakes.server import wait_until
from tests.fakes.slack_api import FakeSlack
from tests.fakes.twilio_api import MAIN_SID
from tests.processes import REPO, SERVICE_SID, RunProcess, alert_keys, callback_form, cli, service_env, signed_callback
from tests.test_import import record, write_day_file

ROUNDS = 3
ACCOUNTS = tuple(f"AC{0xa000 + n:032x}" for n in range(4))
ALERTING = (30033, 30034)  # account-level: each (account, code) group alerts on its first failure
POLLED_CODE = 30032  # what the fake Twilio holds for poll --once (and run's own poll) to find
SIDE_COMMANDS = (("digest", "--dry-run"), ("import", "day.json.gz"), ("hygiene",), ("hygiene", "--csv", "full.csv"),
                 ("poll", "--once"), ("backup", "copy.db"))

# Open, read, close, again and again, until told to stop: what an operator's sqlite3 does.
PY_READER = """
import pathlib, sqlite3, sys
store, stop = sys.argv[1], pathlib.Path(sys.argv[2])
reads = 0
while not stop.exists():
    conn = sqlite3.connect(store, timeout=10)
    conn.execute("SELECT count(*), max(rowid) FROM failures").fetchone()
    conn.execute("SELECT * FROM outbox ORDER BY id DESC LIMIT 5").fetchall()
    conn.close()
    reads += 1
print(reads)
"""
CLI_READER = """
reads=0
until [ -e "$2" ]; do
    "$0" -cmd '.timeout 10000' "$1" 'SELECT count(*) FROM failures; SELECT max(id) FROM outbox;' >/dev/null || exit 1
    reads=$((reads + 1))
done
echo $reads
"""
SQLITE3_CLI = shutil.which("sqlite3")


def callback(round_no: int, n: int) -> dict[str, str]:
    """The n-th callback of a round: two in three alert (4 accounts x 2 codes), the third is a
    30003 of an account of its own, which stays in the digest (a spike needs 20 in one group)."""
    sid = f"SM{'c' * 4}{round_no:04x}{n:024x}"
    if n % 3 == 2:
        return callback_form(sid, 30003, account=f"AC{0xb0000 + n:032x}")
    return callback_form(sid, ALERTING[n % 3], account=ACCOUNTS[(n // 3) % len(ACCOUNTS)])


class Poster(threading.Thread):
    """Twilio, posting callbacks one after another until stopped, and a health probe every tenth
    callback; remembers every answer."""

    def __init__(self, url: str, round_no: int) -> None:
        super().__init__(daemon=True)
        self.url, self.round_no = url, round_no
        self.answers: dict[str, tuple[dict, int]] = {}
        self.health: list[int] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stopping.is_set() and n < 2000:
            form = callback(self.round_no, n)
            self.answers[form["MessageSid"]] = (form, signed_callback(self.url, form, timeout=10))
            if n % 10 == 0:
                try:
                    self.health.append(requests.get(self.url + "/healthz", timeout=10).status_code)
                except requests.RequestException:
                    self.health.append(0)
            n += 1

    def answered(self, status: int = 200) -> list[dict]:
        return [form for form, got in list(self.answers.values()) if got == status]

    def unanswered(self) -> list[dict]:
        return [form for form, got in list(self.answers.values()) if got != 200]


class WalWatch(threading.Thread):
    """Notes every moment the -wal file is missing or replaced while `run` holds the store open."""

    def __init__(self, store: Path) -> None:
        super().__init__(daemon=True)
        self.wal = Path(f"{store}-wal")
        self.inode = self.wal.stat().st_ino
        self.changes: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(0.002):
            try:
                inode = self.wal.stat().st_ino
            except FileNotFoundError:
                self.changes.append("deleted")
                continue
            if inode != self.inode:
                self.changes.append("replaced")

    def stop(self) -> list[str]:
        self.stopping.set()
        self.join()
        return self.changes


def readers(store: Path, stop: Path) -> list[subprocess.Popen]:
    """A Python sqlite3 reader, and the sqlite3 command-line shell when the machine has one."""
    started = [subprocess.Popen([sys.executable, "-c", PY_READER, str(store), str(stop)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    if SQLITE3_CLI:
        started.append(subprocess.Popen(["bash", "-c", CLI_READER, SQLITE3_CLI, str(store), str(stop)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return started


def imported_sids(folder: Path) -> set[str]:
    """A BulkExport day file of the last day (what digest and hygiene read) of 30 messages, 20 of
    them failures; imports never alert."""
    day = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 20 * 3600))
    at = {"date_created": day, "date_sent": day, "date_updated": day}
    rows = [record(i, sid=f"SM{'e' * 24}{i:08x}", code=(30003, 30005)[i % 2], **at) for i in range(20)]
    rows += [record(100 + i, sid=f"SM{'d' * 24}{i:08x}", status="delivered", code=None, **at) for i in range(10)]
    write_day_file(folder / "day.json.gz", rows)
    return {row["sid"] for row in rows[:20]}


def unsent(store: Path) -> int:
    with sqlite3.connect(store, timeout=10) as conn:
        return conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]


def groups_posted(slack: FakeSlack) -> list[str]:
    """The group of every top-level alert post (`alert:<group>:<posted_at>`), duplicates included."""
    return sorted(key.removeprefix("alert:").rsplit(":", 1)[0] for key in alert_keys(slack))


def test_a_live_run_beside_every_other_command_and_sqlite3_then_a_kill_9_loses_and_repeats_nothing(tmp_path, twilio):
    now = int(time.time())
    for n in range(3):
        for code, digit in ((POLLED_CODE, "a"), (30003, "b"), (None, "9")):
            twilio.add_message(date_sent=now - 600 + n, status="undelivered" if code else "delivered", error_code=code,
                               sid=f"SM{digit * 24}{n:08x}")
    for round_no in range(ROUNDS):
        with FakeSlack() as slack:
            one_round(tmp_path / f"round{round_no}", round_no, slack, twilio.url)


def one_round(folder: Path, round_no: int, slack: FakeSlack, twilio_url: str) -> None:
    folder.mkdir()
    store = folder / "shared.db"
    env = service_env(store, slack, TWILIO_API_URL=twilio_url)
    imported = imported_sids(folder)
    stop = folder / "stop-reading"

    first = RunProcess(env).start()
    try:
        watch = WalWatch(store)
        watch.start()
        poster = Poster(first.url, round_no)
        poster.start()
        assert wait_until(lambda: len(poster.answered()) >= 5, timeout=10), poster.answers
        reading = readers(store, stop)
        with ThreadPoolExecutor(len(SIDE_COMMANDS)) as pool:
            done = list(pool.map(lambda args: cli(env, *args), SIDE_COMMANDS))
        assert wait_until(lambda: len(poster.answered()) >= 60, timeout=20), len(poster.answered())
        assert watch.stop() == [], "the -wal file went away under the live run"
        assert set(poster.health) == {200}, poster.health
    finally:
        first.kill()  # kill -9, while callbacks keep coming
    assert wait_until(lambda: poster.answered(0), timeout=10), "Twilio went on posting to the dead run"
    poster.stopping.set()
    poster.join()
    stop.touch()

    for args, result in zip(SIDE_COMMANDS, done, strict=True):
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
    assert "20 failures (20 new, 0 updated, 0 unchanged)" in done[1].stdout, done[1].stdout
    for reader in reading:
        out, err = reader.communicate(timeout=20)
        assert reader.returncode == 0 and int(out) > 0, (reader.args[:2], err)

    answered = {form["MessageSid"] for form in poster.answered()}
    with RunProcess(env) as second:
        for form in poster.unanswered():  # Twilio retries what got no 200
            assert signed_callback(second.url, form) == 200
        for form in poster.answered()[:5]:  # and sometimes what did
            assert signed_callback(second.url, form) == 200
        expected = sorted({group_key(form["AccountSid"], int(form["ErrorCode"]), SERVICE_SID)
                           for form, _ in poster.answers.values() if int(form["ErrorCode"]) in ALERTING}
                          | {group_key(MAIN_SID, POLLED_CODE, SERVICE_SID)})
        assert slack.wait_for(lambda: len(groups_posted(slack)) >= len(expected), timeout=30), groups_posted(slack)
        assert wait_until(lambda: unsent(store) == 0, timeout=30), "the outbox drained"
        assert second.stop() == 0, "".join(second.log)

    assert groups_posted(slack) == expected, "every alert group posted exactly once"
    with sqlite3.connect(store) as conn:
        stored = [sid for (sid,) in conn.execute("SELECT sid FROM failures")]
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert len(stored) == len(set(stored))
    assert answered <= set(stored), f"{len(answered - set(stored))} callbacks answered 200 are missing"
    assert imported <= set(stored), f"{len(imported - set(stored))} imported failures are missing"
    assert {form["MessageSid"] for form, _ in poster.answers.values()} <= set(stored), "and those retried"


# Imports done, then waits: each line on stdin says how to open which fresh stores, in turn, at
# once with the other processes (which open the same stores in the same order).
OPENER = """
import os, sys
from bot import cli
from storage.db import open_db, schema_version
print("ready", flush=True)
for line in sys.stdin:
    how, *stores = line.split()
    codes = []
    for store in stores:
        if how == "digest":
            os.environ["SMSERROR_DB"] = store
            codes.append(cli.main(["digest", "--dry-run"]))
        else:
            db = open_db(store)
            empty = db.execute("SELECT count(*) FROM failures").fetchone() == (0,)
            codes.append(0 if empty and schema_version(db) else 1)
            db.close()
    print("done", *codes, flush=True)
"""
OPENERS = 6
RACES, STORES_PER_RACE = 20, 5


def test_six_processes_opening_a_fresh_store_at_once_migrate_it_once(tmp_path):
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)}
    openers = [subprocess.Popen([sys.executable, "-c", OPENER], cwd=tmp_path, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(OPENERS)]
    try:
        for opener in openers:
            assert opener.stdout.readline() == "ready\n", opener.stderr.read()
        for race in range(RACES):
            stores = [tmp_path / f"fresh{race}-{n}.db" for n in range(STORES_PER_RACE)]
            for n, opener in enumerate(openers):  # two through the CLI, four through open_db
                opener.stdin.write(" ".join(["digest" if n % 3 == 0 else "open", *map(str, stores)]) + "\n")
            for opener in openers:
                opener.stdin.flush()
            for opener in openers:
                lines = iter(opener.stdout.readline, "")
                answer = next((line.split() for line in lines if line.startswith("done ")), None)
                assert answer == ["done"] + ["0"] * len(stores), (race, answer,
                                                                  answer or opener.communicate(timeout=10))
            for store in stores:
                check_fresh_store(store)
    finally:
        for opener in openers:
            opener.stdin.close()
        errors = [opener.stderr.read() for opener in openers]
        for opener in openers:
            opener.wait(10)
    assert all(opener.returncode == 0 for opener in openers) and not any("Traceback" in e for e in errors), errors


def check_fresh_store(store: Path) -> None:
    """Migrated once to the current schema, in WAL mode, private."""
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = [name for (name,) in conn.execute("SELECT name FROM sqlite_master")]
    assert len(names) == len(set(names)) and {"failures", "outbox", "leases"} <= set(names)
    assert os.stat(store).st_mode & 0o777 == 0o600


def store_of_failures(path: Path, count: int = 4000) -> Path:
    """A closed store of `count` failures from the last day (what the digest reads), random SIDs."""
    rnd = random.Random(7)
    now = int(time.time())
    db = open_db(path)
    upsert_failures(db, [
        {"sid": f"SM{rnd.getrandbits(128):032x}", "account_sid": ACCOUNTS[n % len(ACCOUNTS)],
         "service_sid": SERVICE_SID, "sender": "+12025550100", "recipient": f"+1202555{n % 10000:04d}",
         "status": "undelivered", "error_code": (30003, 30005, 30007, 30034)[n % 4],
         "sent_at": now - rnd.randrange(80000), "updated_at": now}
        for n in range(count)], "import", now)
    db.close()
    return path


def overwrite_middle(path: Path) -> None:
    """Garbage over the middle third of the pages, as a bad disk or a stray write would leave it."""
    pages = path.stat().st_size // 4096
    with open(path, "r+b") as f:
        f.seek(pages // 3 * 4096)
        f.write(random.Random(3).randbytes(pages // 3 * 4096))


def truncate_to_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def move_aside(path: Path) -> None:
    path.rename(path.with_name("moved-aside.db"))


DAMAGE = {"overwritten": overwrite_middle, "truncated": truncate_to_half}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_store_is_one_line_naming_it_and_exit_2(tmp_path, damage):
    store = store_of_failures(tmp_path / "damaged.db")
    DAMAGE[damage](store)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "SMSERROR_DB": str(store)}
    write_day_file(tmp_path / "day.json.gz", [record(i, sid=f"SM{'e' * 24}{i:08x}") for i in range(50)])
    for args in (("digest", "--dry-run"), ("import", "day.json.gz")):
        result = cli(env, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1 and "SMSERROR_DB" in result.stderr and "damaged" in result.stderr, (
            args, result.stderr)
        assert result.stdout == ""


@pytest.mark.parametrize("damage, problem", [(overwrite_middle, "damaged or unreadable"),
                                             (truncate_to_half, "damaged or unreadable"),
                                             (move_aside, "unavailable")])
def test_a_store_damaged_under_a_live_service_fails_its_health_checks(tmp_path, slack, damage, problem):
    store = store_of_failures(tmp_path / "live.db")
    # a slow heartbeat: no write in the store between the checks (a commit would empty every
    # connection's page cache, and hide that a check must not read pages cached before the damage)
    with RunProcess(service_env(store, slack, SMSERROR_LEADER_TTL="45")) as run:
        assert signed_callback(run.url, callback(0, 0)) == 200
        assert all(requests.get(run.url + "/healthz", timeout=5).status_code == 200 for _ in range(12))
        damage(store)
        for path in ["/healthz", "/readyz"] * 6:
            answer = requests.get(run.url + path, timeout=5)
            assert answer.status_code == 503 and answer.json()["store"] == problem, (path, answer.text)
    assert damage is not move_aside or not store.exists(), "the check created an empty store in its place"
