"""Refusals and clear errors of the real `smserror` command, run as a subprocess: exit codes,
one line on stderr naming the setting, nothing printed in place of a post."""

from __future__ import annotations

import argparse
import ctypes
import os
import re
import subprocess
import sys
import time
from importlib.metadata import version

from bot.cli import build_parser
from tests.fakes.slack_api import TOKEN
from tests.fakes.twilio_api import AUTH_TOKEN, MAIN_SID
from tests.test_import import record, write_day_file

HALF_SLACK = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": "signing-secret"}  # no SLACK_CHANNEL
PATIENT = "+12025550166"


def smserror(tmp_path, *argv, preexec_fn=None, timeout=60, **env) -> subprocess.CompletedProcess:
    """The CLI in a clean environment (only what the test sets), in tmp_path, where no .env is."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
             "SMSERROR_DB": str(tmp_path / "cli.db"), **env}
    return subprocess.run([sys.executable, "-m", "bot.cli", *argv], cwd=tmp_path, env=clean, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec_fn)


def assert_one_line_naming(result, setting: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and setting in result.stderr and "Traceback" not in result.stderr


def test_run_refuses_slack_credentials_without_a_channel(tmp_path):
    # loopback and a free port, in case it does start; a refusal takes well under the timeout
    result = smserror(tmp_path, "run", timeout=20, PORT="0", SMSERROR_HOST="127.0.0.1", **HALF_SLACK)
    assert_one_line_naming(result, "SLACK_CHANNEL")
    assert not (tmp_path / "cli.db").exists()  # refused before the store or the port


def test_digest_refuses_slack_credentials_without_a_channel(tmp_path):
    result = smserror(tmp_path, "digest", **HALF_SLACK)
    assert_one_line_naming(result, "SLACK_CHANNEL")
    assert result.stdout == ""
    assert not (tmp_path / "cli.db").exists()


def test_poll_refuses_slack_credentials_without_a_channel_and_the_alert_stays_due(tmp_path, twilio, slack):
    twilio.add_message(date_sent=int(time.time()) - 120, status="undelivered", error_code=30033, recipient=PATIENT)
    env = {"TWILIO_ACCOUNT_SID": MAIN_SID, "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_API_URL": twilio.url,
           "SMSERROR_TWILIO_TIMEOUT": "5", "SLACK_API_URL": slack.api_url, **HALF_SLACK}
    refused = smserror(tmp_path, "poll", "--once", **env)
    assert_one_line_naming(refused, "SLACK_CHANNEL")
    assert "30033" not in refused.stdout

    posted = smserror(tmp_path, "poll", "--once", SLACK_CHANNEL="C0ALERTS", **env)
    assert posted.returncode == 0, posted.stderr
    assert "alerts: delivered 1" in posted.stdout
    [alert] = slack.top_level("C0ALERTS")
    assert "30033" in alert.text


def test_printing_commands_still_work_in_that_half_configuration(tmp_path):
    demo = smserror(tmp_path, "demo", **HALF_SLACK)
    assert demo.returncode == 0, demo.stderr
    assert "The morning digest" in demo.stdout
    dry_run = smserror(tmp_path, "digest", "--dry-run", **HALF_SLACK)
    assert dry_run.returncode == 0, dry_run.stderr
    assert dry_run.stdout.startswith("SMS failure digest")


def test_help_has_a_line_for_every_command(tmp_path):
    [commands] = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    result = smserror(tmp_path, "--help")
    assert result.returncode == 0
    for name in commands.choices:
        assert re.search(rf"^\s+{name}\s+\S", result.stdout, re.M), f"{name} has no help line"


def test_version(tmp_path):
    result = smserror(tmp_path, "--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"smserror {version('smserror')}\n", "")


def _without_permission_override() -> None:
    """Runs in the child before exec: root ignores file modes through CAP_DAC_OVERRIDE, so drop
    it (and CAP_DAC_READ_SEARCH) from the bounding set; the exec'd CLI is then held to 0400."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_read_only_store_is_not_called_uncreatable(tmp_path):
    store = tmp_path / "cli.db"
    assert smserror(tmp_path, "import", str(write_day_file(tmp_path / "a.json.gz", [record(1)]))).returncode == 0
    store.chmod(0o400)
    day_file = write_day_file(tmp_path / "b.json.gz", [record(2)])
    result = smserror(tmp_path, "import", str(day_file),
                      preexec_fn=_without_permission_override if os.geteuid() == 0 else None)
    assert_one_line_naming(result, "SMSERROR_DB")
    assert "cannot be created" not in result.stderr  # it exists; it is read-only
    assert str(store) in result.stderr
