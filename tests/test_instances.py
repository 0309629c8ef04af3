"""Several `smserror run` on one store: one leader, every alert posted once whichever instance
took the callback, one digest, and a takeover within a minute of a kill -9 of the leader."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from tests.fakes.slack_api import FakeSlack
from tests.processes import RunProcess, alert_keys, callback_form, service_env, signed_callback

CODES = (30033, 30034, 30032)  # account-level: each group alerts on its first failure


def sid(n: int) -> str:
    return f"SM{n:032x}"


def digests(slack: FakeSlack) -> list:
    return [m for m in slack.top_level()
            if (m.metadata or {}).get("event_payload", {}).get("key", "").startswith("digest:")]


def test_two_instances_one_leader_each_alert_once_one_digest_and_a_takeover(tmp_path, slack):
    just_passed = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%H:%M")
    env = service_env(tmp_path / "shared.db", slack, SMSERROR_DIGEST_AT=just_passed)
    with RunProcess(env) as a, RunProcess(env) as b:
        roles = {a.readyz()["role"], b.readyz()["role"]}
        assert roles == {"leader", "standby"}, roles
        leader, standby = (a, b) if a.readyz()["role"] == "leader" else (b, a)
        assert slack.wait_for(lambda: len(digests(slack)) == 1, timeout=10), "the catch-up digest"

        n = 0
        for account in range(6):  # alternate the instance that takes each callback
            for code in CODES:
                n += 1
                target = (a, b)[n % 2]
                form = callback_form(sid(n), code, account="AC" + f"{account:032x}")
                assert signed_callback(target.url, form) == 200
                assert signed_callback((b, a)[n % 2].url, form) == 200, "Twilio retrying at the other instance"
        assert slack.wait_for(lambda: len(alert_keys(slack)) == 18, timeout=15), len(alert_keys(slack))

        leader.kill()
        killed_at = time.monotonic()
        assert slack.wait_for(lambda: standby.readyz()["role"] == "leader", timeout=60)
        took = time.monotonic() - killed_at
        assert took < 60, f"takeover took {took:.1f} s"
        assert standby.readyz()["scheduler"] == "running"
        form = callback_form(sid(999), 30033, account="AC" + "f" * 32)
        assert signed_callback(standby.url, form) == 200
        assert slack.wait_for(lambda: len(alert_keys(slack)) == 19, timeout=15)

    keys = alert_keys(slack)
    assert len(keys) == len(set(keys)) == 19, "every alert exactly once"
    assert len(digests(slack)) == 1, "the new leader's catch-up digest found it already sent"
