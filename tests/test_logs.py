"""What smserror writes to its log: one line per refused request (endpoint, status, reason; never
a secret, a body or a number), third-party libraries quiet unless -v, one line for a failed
post, a poll summary instead of a line per pass, and SMSERROR_LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging

from bot import cli
from bot.poll_log import PollLog
from jobs.poll import AccountReport, PassReport
from tests.fakes.server import wait_until
from tests.fakes.teams_webhook import SECRET_QUERY
from tests.http import post, request
from tests.processes import RunProcess, service_env
from tests.processes import cli as run_cli
from tests.test_run_e2e import settings_for
from tests.test_slack_http import slash_body

PATIENT = "+12025550187"
FORGED_SIGNATURE = "forged-signature-Zm9yZ2Vk"
SLACK_SECRET = "signing"


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "smserror.http" and r.getMessage().startswith("refused ")]


def test_every_refused_request_is_one_line_without_secrets_bodies_or_numbers(twilio, slack, teams, start_service,
                                                                             caplog):
    caplog.set_level(logging.INFO)
    service = start_service(settings_for(twilio, slack, teams, slack_signing_secret=SLACK_SECRET,
                                         teams_outgoing_secret="c2VjcmV0LXRlYW1z"))
    form = f"MessageSid=SM{'a' * 32}&To={PATIENT}&Body=Your+appointment".encode()
    answers = [
        post(service.url + "/twilio/status", form, {"X-Twilio-Signature": FORGED_SIGNATURE}).status,
        post(service.url + "/twilio/events?bodySHA256=00", f'[{{"to": "{PATIENT}"}}]'.encode(),
             {"X-Twilio-Signature": FORGED_SIGNATURE, "Content-Type": "application/json"}).status,
        post(service.url + "/slack/events", slash_body(PATIENT),
             {"X-Slack-Signature": "v0=" + "0" * 64, "X-Slack-Request-Timestamp": "1"}).status,
        post(service.url + "/teams/messages", b'{"text": "' + PATIENT.encode() + b'"}',
             {"Authorization": "HMAC " + FORGED_SIGNATURE}).status,
        post(service.url + "/twilio/status", b"x" * 1_100_000).status,
        request("GET", service.url + "/healthz", headers={"X-Pad": "y" * 70_000}).status,
        post(service.url + "/twilio/status", form, {"Content-Type": "text/csv"}).status,
    ]
    assert answers == [403, 403, 401, 401, 413, 431, 400]
    lines = [r.getMessage() for r in refusals(caplog)]
    assert len(lines) == len(answers), lines
    assert lines[0] == "refused POST /twilio/status: 403 bad_signature (invalid signature)"
    assert lines[2] == "refused POST /slack/events: 401 bad_signature"
    assert lines[4].startswith("refused POST /twilio/status: 413 too_large")
    assert lines[5].startswith("refused") and ": 431 headers_too_large" in lines[5]
    assert lines[6].startswith("refused POST /twilio/status: 400 malformed")
    everything = caplog.text
    for leak in (FORGED_SIGNATURE, PATIENT, "appointment", "c2VjcmV0LXRlYW1z", SECRET_QUERY, "yyyy"):
        assert leak not in everything, leak


def test_third_party_loggers_are_quiet_unless_verbose():
    try:
        cli.configure_logging(verbose=False)
        assert all(logging.getLogger(name).level == logging.WARNING for name in cli.QUIET)
        assert logging.getLogger("slack_sdk.web.base_client").level == logging.CRITICAL
        cli.configure_logging(verbose=True)
        assert all(logging.getLogger(name).level == logging.DEBUG for name in cli.QUIET)
    finally:
        for name in (*cli.QUIET, "slack_sdk.web.base_client"):
            logging.getLogger(name).setLevel(logging.NOTSET)


def test_a_failed_post_is_one_log_line(tmp_path, slack):
    slack.fail(500, times=5, path_prefix="/api/chat.postMessage")
    result = run_cli(service_env(tmp_path / "smserror.db", slack), "digest")
    assert result.returncode == 1
    logged = [line for line in result.stderr.splitlines() if " WARNING " in line or " ERROR " in line]
    assert len(logged) == 1 and "delivery of digest to slack failed" in logged[0], result.stderr


def test_json_logs_are_one_object_per_line_with_numbers_masked(tmp_path, slack):
    env = service_env(tmp_path / "smserror.db", slack, SMSERROR_LOG_FORMAT="json")
    with RunProcess(env) as run:
        assert post(run.url + "/twilio/status", f"To={PATIENT}".encode(),
                    {"X-Twilio-Signature": FORGED_SIGNATURE}).status == 403
        assert post(run.url + "/slack/events", slash_body(PATIENT), {"X-Slack-Request-Timestamp": "x"}).status == 401
        assert wait_until(lambda: sum('"smserror.http"' in line for line in run.log) == 2)
        run.stop()
    entries = [json.loads(line) for line in run.log]
    assert entries and all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    refused = [e["message"] for e in entries if e["logger"] == "smserror.http"]
    assert refused == ["refused POST /twilio/status: 403 bad_signature (invalid signature)",
                       "refused POST /slack/events: 401 bad_signature"]
    assert PATIENT not in "".join(run.log) and FORGED_SIGNATURE not in "".join(run.log)


def test_a_bad_log_format_is_one_line_and_exit_2(tmp_path, slack):
    result = run_cli(service_env(tmp_path / "smserror.db", slack, SMSERROR_LOG_FORMAT="xml"), "lookup", "30007")
    assert result.returncode == 2
    assert result.stderr == "smserror: SMSERROR_LOG_FORMAT must be text or json, got 'xml'\n"


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pass_report(new: int = 0, error: str | None = None) -> PassReport:
    account = AccountReport("AC" + "1" * 32, messages_read=50, failures_new=new, requests=1, error=error)
    return PassReport(started_at=0, accounts=[account], new_failures=[{}] * new, requests=1)


def test_polls_that_find_nothing_are_one_summary_line_every_15_minutes(caplog):
    caplog.set_level(logging.INFO, logger="smserror.poll")
    clock = Ticks()
    log = PollLog(clock=clock)
    for minute in range(14):
        clock.now = minute * 60
        log.add(pass_report())
    assert caplog.records == [], "nothing new: nothing said"
    clock.now = 14 * 60
    log.add(pass_report(new=2))
    [found] = [r.getMessage() for r in caplog.records]
    assert found.startswith("poll: AC") and "2 new failures" in found
    clock.now = 15 * 60
    log.add(pass_report(error="HTTP 503"))
    assert caplog.records[-1].getMessage() == (
        "poll: 16 passes in the last 15 min (1 failed): 800 messages read, 2 new failures, 16 requests")
    clock.now = 16 * 60
    log.add(pass_report())
    assert len(caplog.records) == 2
