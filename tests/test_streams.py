"""`smserror streams setup|status` against a fake of Twilio's Event Streams API (built from its
OpenAPI description) through the real twilio SDK: idempotent setup in every account, each asked
as itself; dry runs; status; and the test/validate handshake with a running service."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from jobs.twilio_client import make_client
from storage.db import open_db
from storage.poll_state import all_poll_states
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID
from tests.fakes.twilio_events import FakeTwilioEvents, message_event
from tests.test_poll import cli_env, run_cli
from tests.test_run_e2e import PUBLIC, alerts_in, settings_for

SINK = PUBLIC + "/twilio/events"
GLOW, LUMEN = "AC" + "5" * 32, "AC" + "6" * 32
TYPES = {"com.twilio.messaging.message.failed", "com.twilio.messaging.message.undelivered"}


def events_api(twilio, **options) -> FakeTwilioEvents:
    return FakeTwilioEvents(lambda: {sid: a["auth_token"] for sid, a in twilio.accounts.items()}, **options)


@pytest.fixture
def events(twilio):
    with events_api(twilio) as fake:
        yield fake


def streams(monkeypatch, tmp_path, twilio, events, *argv, **extra) -> int:
    env = cli_env(twilio, tmp_path, TWILIO_EVENTS_URL=events.url, SMSERROR_PUBLIC_URL=PUBLIC, **extra)
    return run_cli(monkeypatch, tmp_path, env, "streams", *argv)


def posts(fake) -> list:
    return [r for r in fake.requests if r.method == "POST"]


def test_setup_creates_a_sink_and_subscription_once(monkeypatch, tmp_path, capsys, twilio, events):
    assert streams(monkeypatch, tmp_path, twilio, events, "setup") == 0
    [line] = capsys.readouterr().out.splitlines()
    [sink] = events.sinks_of(MAIN_SID)
    [subscription] = events.subscriptions_of(MAIN_SID)
    assert line == (f"{MAIN_SID}: sink {sink['sid']} created; subscription {subscription['sid']} created "
                    "(failed and undelivered)")
    assert sink["sink_type"] == "webhook" and sink["status"] == "active"
    assert sink["sink_configuration"] == {"destination": SINK, "method": "POST", "batch_events": True}
    assert subscription["sink_sid"] == sink["sid"] and set(subscription["types"]) == TYPES

    sent = len(posts(events))
    assert streams(monkeypatch, tmp_path, twilio, events, "setup") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{MAIN_SID}: sink {sink['sid']} reused; subscription {subscription['sid']} reused"]
    assert len(posts(events)) == sent and len(events.sinks) == 1 and len(events.subscriptions) == 1


def test_every_subaccount_is_set_up_as_itself(monkeypatch, tmp_path, capsys, twilio, events):
    twilio.add_subaccount(GLOW, "Glow Clinic")
    twilio.add_subaccount(LUMEN, "Lumen Skin")
    assert streams(monkeypatch, tmp_path, twilio, events, "setup", TWILIO_SUBACCOUNTS="all") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [MAIN_SID, f"{GLOW} (Glow Clinic)", f"{LUMEN} (Lumen Skin)"]
    for account in (MAIN_SID, GLOW, LUMEN):
        [sink] = events.sinks_of(account)
        [subscription] = events.subscriptions_of(account)
        assert subscription["sink_sid"] == sink["sid"] and set(subscription["types"]) == TYPES
    # each account's calls were made with its own credentials (the fake scopes by them)
    users = {r.basic_auth()[0] for r in events.requests}
    assert users == {MAIN_SID, GLOW, LUMEN}

    assert streams(monkeypatch, tmp_path, twilio, events, "setup", TWILIO_SUBACCOUNTS=GLOW) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all("reused" in line and "created" not in line for line in lines)
    assert len(events.sinks) == 3


def test_dry_run_changes_nothing(monkeypatch, tmp_path, capsys, twilio, events):
    twilio.add_subaccount(GLOW, "Glow Clinic")
    assert streams(monkeypatch, tmp_path, twilio, events, "setup", "--dry-run", TWILIO_SUBACCOUNTS="all") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{account}: would create a webhook sink to {SINK} and subscribe it to failed and undelivered"
                     for account in (MAIN_SID, f"{GLOW} (Glow Clinic)")]
    assert posts(events) == [] and not (tmp_path / "cli.db").exists()

    assert streams(monkeypatch, tmp_path, twilio, events, "setup") == 0
    capsys.readouterr()
    assert streams(monkeypatch, tmp_path, twilio, events, "setup", "--dry-run") == 0
    assert capsys.readouterr().out.startswith(f"{MAIN_SID}: nothing to do: sink DG")


def test_a_subscription_lacking_a_type_gets_it_added(monkeypatch, tmp_path, capsys, twilio, events):
    client = make_client(Settings(twilio_account_sid=MAIN_SID, twilio_auth_token=AUTH_TOKEN, twilio_api_url=twilio.url,
                                  twilio_events_url=events.url).twilio)
    sink = client.events.v1.sinks.create(description="by hand", sink_type="webhook",
                                         sink_configuration={"destination": SINK, "method": "POST"})
    client.events.v1.subscriptions.create(description="by hand", sink_sid=sink.sid,
                                          types=[{"type": "com.twilio.messaging.message.failed", "schema_version": 3}])
    assert streams(monkeypatch, tmp_path, twilio, events, "status") == 1
    assert capsys.readouterr().out.rstrip().endswith(
        "(failed), lacks undelivered: not active (run `smserror streams setup`)")

    assert streams(monkeypatch, tmp_path, twilio, events, "setup") == 0
    assert "added undelivered" in capsys.readouterr().out
    [subscription] = events.subscriptions_of(MAIN_SID)
    assert subscription["types"] == {"com.twilio.messaging.message.failed": 3,
                                     "com.twilio.messaging.message.undelivered": 7}
    assert streams(monkeypatch, tmp_path, twilio, events, "status") == 0
    assert capsys.readouterr().out == (f"{MAIN_SID}: sink {sink.sid} active (POST {SINK}); subscription "
                                       f"{subscription['sid']} (failed and undelivered): active\n")


def test_status_says_which_accounts_are_not_active(monkeypatch, tmp_path, capsys, twilio, events):
    twilio.add_subaccount(GLOW, "Glow Clinic")
    assert streams(monkeypatch, tmp_path, twilio, events, "setup") == 0  # the main account only
    capsys.readouterr()
    assert streams(monkeypatch, tmp_path, twilio, events, "status", TWILIO_SUBACCOUNTS="all") == 1
    main, glow = capsys.readouterr().out.splitlines()
    assert main.startswith(f"{MAIN_SID}: sink DG") and ", batched); subscription DF" in main
    assert main.endswith(": active")
    assert glow == f"{GLOW} (Glow Clinic): no sink posts to {SINK}: not active (run `smserror streams setup`)"
    # what the poller goes by: the main account only wants the hourly sweep, Glow every pass
    seen = {state["account_sid"]: state["stream_seen_at"] for state in all_poll_states(open_db(tmp_path / "cli.db"))}
    assert seen[MAIN_SID] and seen[GLOW] is None


def test_configuration_errors_are_one_line_and_exit_2(monkeypatch, tmp_path, capsys, twilio, events):
    env = cli_env(twilio, tmp_path, TWILIO_EVENTS_URL=events.url)
    assert run_cli(monkeypatch, tmp_path, env, "streams", "setup") == 2
    assert "SMSERROR_PUBLIC_URL" in capsys.readouterr().err
    env = {"SMSERROR_PUBLIC_URL": PUBLIC, "TWILIO_EVENTS_URL": events.url}
    assert run_cli(monkeypatch, tmp_path, env, "streams", "status") == 2
    assert "TWILIO_ACCOUNT_SID" in capsys.readouterr().err
    env = cli_env(twilio, tmp_path, TWILIO_EVENTS_URL=events.url, SMSERROR_PUBLIC_URL=PUBLIC, TWILIO_AUTH_TOKEN="",
                  TWILIO_API_KEY="SK" + "1" * 32, TWILIO_API_SECRET="secret")
    assert run_cli(monkeypatch, tmp_path, env, "streams", "setup") == 2
    assert "needs TWILIO_AUTH_TOKEN" in capsys.readouterr().err
    env = cli_env(twilio, tmp_path, TWILIO_EVENTS_URL=events.url, SMSERROR_PUBLIC_URL=PUBLIC, TWILIO_AUTH_TOKEN="wrong")
    assert run_cli(monkeypatch, tmp_path, env, "streams", "setup") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rejected the credentials" in err and "Traceback" not in err
    assert posts(events) == []


def test_the_fake_pages_as_the_spec_says(twilio, events):
    client = make_client(Settings(twilio_account_sid=MAIN_SID, twilio_auth_token=AUTH_TOKEN, twilio_api_url=twilio.url,
                                  twilio_events_url=events.url).twilio)
    made = [client.events.v1.sinks.create(description=f"sink {n}", sink_type="webhook",
                                          sink_configuration={"destination": f"{SINK}/{n}", "method": "POST"}).sid
            for n in range(5)]
    assert [s.sid for s in client.events.v1.sinks.stream(page_size=2)] == made
    assert len(events.requests_to("/v1/Sinks")) == 5 + 3  # the creates, then three pages of 2, 2 and 1


# -- the test/validate handshake, for sinks Twilio does not make active at once ------------------

def test_setup_validates_a_new_sink_with_the_test_event_the_running_service_received(
        monkeypatch, tmp_path, capsys, twilio, slack, teams, start_service):
    twilio.add_subaccount(GLOW, "Glow Clinic")
    service = start_service(settings_for(twilio, slack, teams, twilio_subaccounts="all"))
    assert twilio.wait_for(lambda: GLOW in service.pipeline.signing_tokens(), timeout=5)
    with events_api(twilio, active_on_create=False, reach=lambda url: url.replace(PUBLIC, service.url)) as events:
        assert streams(monkeypatch, tmp_path, twilio, events, "setup", TWILIO_SUBACCOUNTS="all",
                       SMSERROR_DB=service.settings.db_path) == 0
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 2 and all(" created and validated; subscription DF" in line for line in lines), lines
        assert all(s["status"] == "active" for s in events.sinks.values()) and len(events.subscriptions) == 2
        assert len(events.requests_to("/Validate")) == 2

        # and the stream now works end to end: Twilio pushes a failure, the service alerts on it
        failure = message_event("undelivered", sid="SM" + "c" * 32, account=GLOW, code=30033, body="hello Ana")
        assert events.publish(GLOW, [failure]) == [200]
        assert slack.wait_for(lambda: alerts_in(slack), timeout=5)
        assert events.publish(GLOW, [failure]) == [200]  # redelivered: nothing new
        assert len(alerts_in(slack)) == 1


def test_without_a_running_service_setup_says_how_to_finish(monkeypatch, tmp_path, capsys, twilio, events):
    events.active_on_create = False
    events.reach = lambda url: "http://127.0.0.1:9/twilio/events"  # nothing listens there
    assert streams(monkeypatch, tmp_path, twilio, events, "setup", "--wait", "0.3") == 1
    [line] = capsys.readouterr().out.splitlines()
    assert f"not validated: no test event reached {SINK} within 0.3 s. Start `smserror run`" in line
    assert "rerun `smserror streams setup`" in line
    [sink] = events.sinks_of(MAIN_SID)
    assert sink["status"] == "validating" and events.subscriptions == {}
    assert streams(monkeypatch, tmp_path, twilio, events, "setup", "--wait", "0.3") == 1  # the same sink again
    assert len(events.sinks) == 1
