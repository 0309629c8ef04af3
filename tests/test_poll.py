"""The poller, with the real twilio SDK over loopback HTTP against the fake Twilio REST API."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bot import cli
from bot.settings import Settings
from jobs.poll import run_poll_pass
from jobs.retry_after import retry_after
from jobs.twilio_client import MAX_RETRY_AFTER, make_client
from storage.db import open_db
from storage.failures import count_failures, failures_between, get_failure
from storage.poll_state import get_poll_state, record_pass_ok
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID, populate

ROOT = Path(__file__).resolve().parents[1]
NOW = 1_800_003_600  # a fixed "now" keeps day boundaries deterministic (09:00 UTC)
SUB_A, SUB_B, SUB_OLD = ("AC" + c * 32 for c in "abc")


def settings_for(fake, **overrides) -> Settings:
    values = dict(
        twilio_account_sid=MAIN_SID, twilio_auth_token=AUTH_TOKEN, twilio_api_url=fake.url,
        twilio_timeout=0.5, lookback_hours=24,
    )
    values.update(overrides)
    return Settings(**values)


def poll(db, fake, now, attempts=3, **overrides):
    config = settings_for(fake, **overrides).twilio
    return run_poll_pass(db, config, now, client=make_client(config, max_attempts=attempts, backoff=0.05))


def stored(db) -> set[tuple[str, str, int]]:
    return {(r["sid"], r["status"], r["error_code"]) for r in failures_between(db, 0, 2**40)}


def message_requests(fake):
    return fake.requests_to("/Messages.json")


def test_first_pass_sweeps_the_lookback_across_1000_row_pages(db, twilio):
    populate(twilio, 2500, NOW, span=20 * 3600)
    twilio.add_message(date_sent=NOW - 30 * 3600, status="failed", error_code=30007)  # outside the lookback
    report = poll(db, twilio, NOW)
    assert report.ok, report.lines()
    account = report.accounts[0]
    assert (account.kind, account.messages_read, account.requests) == ("sweep", 2500, 3)
    assert stored(db) == twilio.failures(since=NOW - 24 * 3600) and len(stored(db)) > 50
    assert account.failures_new == len(stored(db)) == len(report.new_failures)
    first, second, third = message_requests(twilio)
    assert first.param("PageSize") == "1000" and first.param("DateSent>")[:10] == "2027-01-14"
    assert second.param("PageToken") and third.param("Page") == "2"
    assert get_poll_state(db, MAIN_SID)["last_sweep_at"] == NOW


def test_steady_state_pass_reads_only_the_recent_window(db, twilio):
    populate(twilio, 2000, NOW, span=20 * 3600)
    poll(db, twilio, NOW)
    for i in range(5):
        twilio.add_message(date_sent=NOW + 10 + i, status="undelivered", error_code=30003)
    twilio.requests.clear()
    report = poll(db, twilio, NOW + 60)
    account = report.accounts[0]
    assert account.kind == "recent" and account.requests == 1
    assert account.messages_read < 20  # the window since the last pass (plus the overlap), not 24 h
    assert account.failures_new == 5


def test_steady_state_budget_at_a_million_messages_a_day(db, twilio):
    """1M/day is ~11.6 messages a second; a one-minute pass with a 2-minute overlap reads ~2,100."""
    record_pass_ok(db, MAIN_SID, pass_at=NOW - 60, swept=True, ok_at=NOW - 60)
    rate = 1_000_000 / 86400
    populate(twilio, int(rate * 1800), NOW, span=1800)  # the last half hour at that rate
    report = poll(db, twilio, NOW)
    account = report.accounts[0]
    assert account.kind == "recent"
    assert 2000 <= account.messages_read <= 2200
    assert account.requests == 3


def test_late_status_change_is_caught_by_a_later_pass(db, twilio):
    early = twilio.add_message(date_sent=NOW - 1800, status="sent")  # sent 30 min ago
    recent = twilio.add_message(date_sent=NOW - 20, status="sent")
    poll(db, twilio, NOW)
    assert count_failures(db) == 0
    twilio.set_status(recent.sid, "undelivered", 30003)
    twilio.set_status(early.sid, "undelivered", 30003)
    report = poll(db, twilio, NOW + 60)  # recent window: catches the new change, not the 30-min-old one
    assert [r["sid"] for r in report.new_failures] == [recent.sid]
    report = poll(db, twilio, NOW + 3600)  # the hourly sweep re-reads the lookback
    assert report.accounts[0].kind == "sweep"
    assert [r["sid"] for r in report.new_failures] == [early.sid]
    twilio.set_status(early.sid, "failed", 30005, updated=NOW + 4000)
    report = poll(db, twilio, NOW + 7200)
    assert report.accounts[0].failures_updated == 1 and report.new_failures == []
    assert get_failure(db, early.sid)["error_code"] == 30005
    assert count_failures(db) == 2


def test_subaccounts_all_reads_every_active_one(db, twilio):
    twilio.add_subaccount(SUB_A, "Clinic A")
    twilio.add_subaccount(SUB_B, "Clinic B")
    twilio.add_subaccount(SUB_OLD, "Closed clinic", status="closed")
    for sid in (MAIN_SID, SUB_A, SUB_B, SUB_OLD):
        twilio.add_message(sid, date_sent=NOW - 100, status="failed", error_code=30007)
    report = poll(db, twilio, NOW, twilio_subaccounts="all")
    assert report.ok
    assert [a.account_sid for a in report.accounts] == [MAIN_SID, SUB_A, SUB_B]
    assert {r["account_sid"] for r in report.new_failures} == {MAIN_SID, SUB_A, SUB_B}
    assert twilio.requests_to("/Accounts.json")[0].param("Status") == "active"
    assert get_poll_state(db, SUB_A)["friendly_name"] == "Clinic A"

    listed = poll(db, twilio, NOW + 60, twilio_subaccounts=f"{SUB_OLD}")
    assert [a.account_sid for a in listed.accounts] == [MAIN_SID, SUB_OLD]
    assert [r["account_sid"] for r in listed.new_failures] == [SUB_OLD]


def test_a_message_without_account_sid_is_kept_under_the_account_polled(db, twilio):
    twilio.add_subaccount(SUB_A, "Clinic A")
    message = twilio.add_message(SUB_A, date_sent=NOW - 100, status="failed", error_code=30033,
                                 answered_as={"account_sid": None})
    report = poll(db, twilio, NOW, twilio_subaccounts="all")
    assert report.ok and [r["account_sid"] for r in report.new_failures] == [SUB_A]
    assert get_failure(db, message.sid)["account_sid"] == SUB_A


def test_429_with_retry_after_is_honoured(db, twilio):
    twilio.add_message(date_sent=NOW - 100, status="failed", error_code=30007)
    twilio.fail(429, headers={"Retry-After": "1"}, body={"code": 20429, "message": "Too Many Requests", "status": 429})
    started = time.monotonic()
    report = poll(db, twilio, NOW)
    assert time.monotonic() - started >= 1.0
    assert report.ok and report.accounts[0].requests == 2 and count_failures(db) == 1


def test_503_is_retried_and_then_gives_up_cleanly(db, twilio, caplog):
    twilio.add_message(date_sent=NOW - 100, status="failed", error_code=30007)
    twilio.fail(503, times=2)
    assert poll(db, twilio, NOW).ok and count_failures(db) == 1
    state = get_poll_state(db, MAIN_SID)
    twilio.fail(503, times=3)
    with caplog.at_level(logging.ERROR, logger="smserror.poll"):
        report = poll(db, twilio, NOW + 60)
    assert not report.ok and "HTTP 503" in report.accounts[0].error
    assert [r.getMessage() for r in caplog.records if r.name == "smserror.poll"] == [
        f"poll of {MAIN_SID} failed: Twilio answered HTTP 503; its window stays at 2027-01-15T09:00:00Z, "
        "the next pass re-reads it"
    ]
    after = get_poll_state(db, MAIN_SID)
    assert (after["last_pass_at"], after["last_sweep_at"]) == (state["last_pass_at"], state["last_sweep_at"])


def test_hung_request_times_out_and_the_pass_fails_cleanly(db, twilio):
    populate(twilio, 50, NOW, span=3600)
    poll(db, twilio, NOW)
    before = get_poll_state(db, MAIN_SID)
    twilio.hang(10, times=3, path_prefix="/2010-04-01/Accounts/")
    started = time.monotonic()
    report = poll(db, twilio, NOW + 60, attempts=3)
    assert time.monotonic() - started < 4
    assert "no answer within 0.5s (SMSERROR_TWILIO_TIMEOUT)" in report.accounts[0].error
    assert report.accounts[0].requests == 3
    after = get_poll_state(db, MAIN_SID)
    assert (after["last_pass_at"], after["last_sweep_at"]) == (before["last_pass_at"], before["last_sweep_at"])
    assert after["last_error"]


def test_retry_after_forms():
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({"Retry-After": "100000"}, cap=MAX_RETRY_AFTER) == 60.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None
    assert retry_after({"retry-after": ["7"]}) == 7.0  # slack_sdk keeps header values in lists


# -- the command --------------------------------------------------------------------------

def cli_env(fake, tmp_path, **extra) -> dict[str, str]:
    env = {
        "TWILIO_ACCOUNT_SID": MAIN_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_URL": fake.url,
        "SMSERROR_DB": str(tmp_path / "cli.db"), "SMSERROR_TWILIO_TIMEOUT": "5", "SMSERROR_LOOKBACK_HOURS": "24",
    }
    env.update(extra)
    return env


def run_cli(monkeypatch, tmp_path, env, *argv):
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith(("TWILIO_", "SMSERROR_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return cli.main(list(argv))


def test_poll_once_prints_counts_per_account(monkeypatch, tmp_path, capsys, twilio):
    now = int(time.time())
    twilio.add_message(date_sent=now - 60, status="undelivered", error_code=30003, recipient="+12025550177")
    assert run_cli(monkeypatch, tmp_path, cli_env(twilio, tmp_path), "poll", "--once") == 0
    out = capsys.readouterr().out
    assert f"{MAIN_SID} (Main practice): sweep since" in out  # named from the Accounts API
    assert "1 messages read, 1 new failures, 0 updated, 1 requests" in out
    assert "+1202" not in out  # counts only, never numbers


def test_poll_once_total_counts_every_request_it_made(monkeypatch, tmp_path, capsys, twilio):
    twilio.add_subaccount(SUB_A, "Clinic A")
    env = cli_env(twilio, tmp_path, TWILIO_SUBACCOUNTS="all")
    assert run_cli(monkeypatch, tmp_path, env, "poll", "--once") == 0
    total = [line for line in capsys.readouterr().out.splitlines() if line.startswith("total:")]
    # the main account's name, the subaccounts' list (names and callback tokens, shared with the
    # pass), one Messages page each
    assert len(twilio.requests) == 4 and total == [f"total: 0 new failures, {len(twilio.requests)} requests"]


def test_wrong_token_exits_2_with_one_clear_line(monkeypatch, tmp_path, capsys, twilio):
    env = cli_env(twilio, tmp_path, TWILIO_AUTH_TOKEN="wrong-token-123")
    assert run_cli(monkeypatch, tmp_path, env, "poll", "--once") == 2
    err = capsys.readouterr().err
    assert "error 20003" in err and "TWILIO_AUTH_TOKEN" in err and "wrong-token-123" not in err
    assert "Traceback" not in err


def test_poll_without_once_or_twilio_settings_is_bad_usage(monkeypatch, tmp_path, capsys, twilio):
    assert run_cli(monkeypatch, tmp_path, cli_env(twilio, tmp_path), "poll") == 2
    assert "smserror run" in capsys.readouterr().err
    assert run_cli(monkeypatch, tmp_path, {"SMSERROR_DB": str(tmp_path / "x.db")}, "poll", "--once") == 2
    assert "TWILIO_ACCOUNT_SID" in capsys.readouterr().err


def test_killed_mid_pass_then_rerun_loses_and_duplicates_nothing(tmp_path, twilio):
    now = int(time.time())
    populate(twilio, 3500, now, span=6 * 3600, failure_rate=0.1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SMSERROR_"))}
    env.update(cli_env(twilio, tmp_path), PYTHONPATH=str(ROOT))  # this checkout, whatever is installed
    command = [sys.executable, "-m", "bot.cli", "poll", "--once"]
    twilio.hang_on_page(2)
    victim = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert twilio.hung.wait(20), "the poll never reached page 2"
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
        twilio.release()
    store = open_db(tmp_path / "cli.db")
    partial = count_failures(store)
    assert 0 < partial < len(twilio.failures())  # pages 0 and 1 were committed, the rest was not
    assert get_poll_state(store, MAIN_SID)["last_pass_at"] is None  # the window did not move
    store.close()

    rerun = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    store = open_db(tmp_path / "cli.db")
    assert stored(store) == twilio.failures()
    assert count_failures(store) == len(twilio.failures())
    store.close()


def test_message_bodies_never_reach_the_database_file(tmp_path, twilio):
    planted = "PLANTED-BODY-5c1e Dr Smith results ready"
    for i in range(20):
        twilio.add_message(date_sent=NOW - 100 - i, status="undelivered", error_code=30003, body=planted)
    store = open_db(tmp_path / "bodies.db")
    assert poll(store, twilio, NOW).accounts[0].failures_new == 20
    store.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("bodies.db"))
    assert b"PLANTED-BODY" not in data and b"Dr Smith" not in data
