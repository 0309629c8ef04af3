"""A fleet of subaccounts, with the real twilio SDK against the loopback fake of Twilio's REST API:
one pass reads them a bounded number at a time, a 429 holds back the whole pool, accounts with a
working Event Streams sink are only swept hourly, and one hourly listing names every account
(alerts, digests, hygiene, status) and serves every pass."""

from __future__ import annotations

import csv
import io
import time
from zoneinfo import ZoneInfo

from bot.emit.text import text
from bot.pipeline import Pipeline
from jobs import overview
from jobs.digest import build_window_report
from jobs.hygiene import hygiene_rows, write_csv
from jobs.poll import run_poll_pass
from jobs.twilio_client import make_client
from jobs.views import view_for
from jobs.views.commands import status_view
from jobs.views.digest import digest_view
from jobs.views.model import utc_text
from storage.db import LocalDb
from storage.digest_queries import account_names
from storage.outbox import pending
from storage.poll_state import STREAM_TRUST_SECONDS, all_poll_states, get_poll_state, record_streams
from tests.fakes.twilio_api import API, MAIN_SID
from tests.fakes.twilio_api import subaccount_sid as clinic
from tests.test_poll import NOW, settings_for

DAY = 86400


def fleet(twilio, count: int) -> list[str]:
    for n in range(count):
        twilio.add_subaccount(clinic(n), f"Clinic {n}")
    return [clinic(n) for n in range(count)]


def config_for(twilio, **overrides):
    return settings_for(twilio, twilio_subaccounts="all", twilio_timeout=10, **overrides).twilio


def test_300_subaccounts_at_100_ms_a_request_take_under_20_s_with_8_in_flight(db, twilio):
    clinics = fleet(twilio, 300)
    failing = clinics[::50]
    for sid in failing:
        twilio.add_message(sid, date_sent=NOW - 100, status="failed", error_code=30007)
    twilio.delay = 0.1
    started = time.monotonic()
    report = run_poll_pass(db, config_for(twilio), NOW)
    elapsed = time.monotonic() - started
    assert report.ok, report.lines()
    assert elapsed < 20
    assert twilio.max_in_flight == 8  # SMSERROR_TWILIO_CONCURRENCY's default: bounded, and used
    assert [a.account_sid for a in report.accounts] == [MAIN_SID] + clinics
    assert [a.requests for a in report.accounts] == [1] * 301 and report.requests == 302  # + the listing
    assert [r["account_sid"] for r in report.new_failures] == failing
    assert {s["account_sid"] for s in all_poll_states(db) if s["last_pass_at"] == NOW} == {MAIN_SID, *clinics}


def test_concurrency_follows_the_setting(db, twilio):
    fleet(twilio, 12)
    twilio.delay = 0.05
    report = run_poll_pass(db, config_for(twilio, twilio_concurrency=3), NOW)
    assert report.ok and len(report.accounts) == 13
    assert twilio.max_in_flight == 3


def test_a_429_holds_back_the_whole_pool_for_its_retry_after(db, twilio):
    fleet(twilio, 40)
    twilio.delay = 0.05
    twilio.fail(429, headers={"Retry-After": "1"}, path_prefix=f"{API}/Accounts/",
                body={"code": 20429, "message": "Too many concurrent requests", "status": 429})
    config = config_for(twilio)
    client = make_client(config)
    report = run_poll_pass(db, config, NOW, client=client)
    assert report.ok, report.lines()
    closed, reopened = client.http_client.gate.held
    assert reopened - closed >= 0.99
    # requests already on the wire when the 429 came back may land just after it; none is sent after
    sent_while_closed = [r.path for r in twilio.requests if closed + 0.1 < r.at < reopened]
    assert sent_while_closed == []
    messages = twilio.requests_to("/Messages.json")
    assert len(messages) == 42  # every account once, and the refused one again
    assert sum(r.at >= reopened for r in messages) >= 30  # the pass went on once the gate reopened


def test_accounts_with_a_working_stream_are_only_swept_hourly(db, twilio):
    streamed, broken, stale, polled = fleet(twilio, 4)
    record_streams(db, {streamed: True, broken: True}, NOW - 60)  # `smserror streams status` found them active
    record_streams(db, {broken: False}, NOW - 30)  # … and later found this one's sink gone
    record_streams(db, {stale: True}, NOW - STREAM_TRUST_SECONDS)  # not seen working for too long
    config = config_for(twilio)
    assert {a.kind for a in run_poll_pass(db, config, NOW).accounts} == {"sweep"}  # the first pass reads all

    dropped = twilio.add_message(streamed, date_sent=NOW + 30, status="undelivered", error_code=30003)
    twilio.requests.clear()
    report = run_poll_pass(db, config, NOW + 60)
    assert {a.account_sid: a.kind for a in report.accounts} == {
        MAIN_SID: "recent", streamed: "stream", broken: "recent", stale: "recent", polled: "recent"}
    assert not twilio.requests_to(f"/Accounts/{streamed}/Messages.json")
    assert report.accounts[1].requests == 0 and "covered by Event Streams" in report.accounts[1].line()
    status = text(status_view(overview.status(db, NOW + 60)))
    assert [line.strip() for line in status.splitlines() if "Event Streams" in line] == [
        f"• Clinic 0 ({streamed}): last read {utc_text(get_poll_state(db, streamed)['last_ok_at'])} · Event Streams, "
        "swept hourly"]

    # the hourly sweep catches what the stream did not deliver (Twilio gave up after 4 hours)
    report = run_poll_pass(db, config, NOW + 3600)
    assert report.accounts[1].kind == "sweep"
    assert [r["sid"] for r in report.new_failures] == [dropped.sid]


def pipeline_for(twilio, tmp_path, clock: list[int], **overrides) -> Pipeline:
    settings = settings_for(twilio, twilio_subaccounts="all", twilio_timeout=10, **overrides)
    return Pipeline(settings, LocalDb(tmp_path / "fleet.db"), destinations=[], clock=lambda: clock[0])


def test_one_hourly_listing_serves_every_pass(tmp_path, twilio):
    fleet(twilio, 3)
    clock = [NOW]
    pipeline = pipeline_for(twilio, tmp_path, clock)

    def listings() -> int:
        return len(twilio.requests_to("/Accounts.json"))

    assert len(pipeline.poll().accounts) == 4 and listings() == 1
    later = twilio.add_subaccount(clinic(3), "Clinic 3")
    clock[0] += 60
    assert len(pipeline.poll().accounts) == 4 and listings() == 1  # names and tokens too: not read again
    clock[0] = NOW + 3600
    report = pipeline.poll()
    assert listings() == 2 and report.accounts[-1].account_sid == clinic(3)
    assert pipeline.signing_tokens()[clinic(3)] == later


def test_every_account_is_named_in_alerts_digests_hygiene_and_status(tmp_path, twilio):
    glow, lumen = fleet(twilio, 2)
    twilio.accounts[glow]["friendly_name"] = "Glow Clinic"
    twilio.accounts[lumen]["friendly_name"] = "Lumen Skin"
    twilio.add_message(glow, date_sent=NOW - 300, status="undelivered", error_code=30033)
    for n in range(2):
        twilio.add_message(lumen, date_sent=NOW - 200 - n, status="undelivered", error_code=30033)
    twilio.add_message(glow, date_sent=NOW - 100, status="failed", error_code=21610, recipient="+12025550111")
    clock = [NOW]
    pipeline = pipeline_for(twilio, tmp_path, clock)
    assert pipeline.poll().ok
    db = pipeline.store.get()
    assert get_poll_state(db, MAIN_SID)["friendly_name"] == "Main practice"

    alert = next(item for item in pending(db) if item.kind == "alert" and item.payload["account_sid"] == glow)
    shown = text(view_for("alert", alert.payload))
    assert f"Glow Clinic ({glow})" in shown

    report = build_window_report(db, DAY, "24 h", ZoneInfo("UTC"), now=NOW)
    shown = text(digest_view(report.to_dict()))
    assert f"Lumen Skin ({lumen}): 2 failures" in shown
    assert f"By account: Lumen Skin ({lumen}) 2 · Glow Clinic ({glow}) 1" in shown

    out = io.StringIO()
    write_csv(hygiene_rows(db, NOW - DAY, NOW), out, account_names(db))
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["account_sid"], row["account_name"]) == (glow, "Glow Clinic")

    shown = text(status_view(overview.status(db, NOW)))
    assert f"Glow Clinic ({glow}): last read" in shown
    assert f"· Glow Clinic ({glow}) · 1 failure since" in shown
