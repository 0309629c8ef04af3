"""The deployment files name what is real: the `smserror run` command, settings that exist (in
bot/settings.py and the README's tables), PORT's default, and endpoints the service answers.
Docker cannot build here: the files are read, and what they point at is checked for real."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import requests
import yaml

from bot.cli import build_parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ("Dockerfile", "deploy/smserror.service", "deploy/compose.yml", "deploy/Caddyfile",
          "deploy/smserror.env.example", "docs/operations.md")
SETTING = re.compile(r"\b(?:(?:SMSERROR|SLACK|TWILIO|TEAMS)_[A-Z0-9_]*[A-Z0-9]|PORT)\b")


def text(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def dockerfile() -> dict[str, list[str]]:
    """Instruction -> its arguments, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text("Dockerfile").splitlines()
                                              if not line.lstrip().startswith("#")))
    found: dict[str, list[str]] = {}
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            found.setdefault(word.upper(), []).append(rest.strip())
    return found


def test_the_command_is_smserror_run():
    instructions = dockerfile()
    command = json.loads(instructions["ENTRYPOINT"][-1]) + json.loads(instructions["CMD"][-1])
    assert command == ["smserror", "run"]
    [exec_start] = re.findall(r"^ExecStart=(.+)$", text("deploy/smserror.service"), re.M)
    program, *args = shlex.split(exec_start)
    assert Path(program).name == "smserror" and args == ["run"]
    assert build_parser().parse_args(args).handler.__module__ == "bot.commands.run"
    assert 'smserror = "bot.cli:main"' in text("pyproject.toml"), "the console command the files call"


@pytest.mark.parametrize("name", DEPLOY)
def test_every_setting_named_is_real_and_documented(name):
    named = set(SETTING.findall(text(name)))
    assert named, f"{name} names no setting: the pattern is broken"
    in_code = set(re.findall(r'"([A-Z][A-Z0-9_]+)"', text("bot/settings.py")))
    in_readme = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", text("README.md"), re.M))
    assert named - in_code == set(), f"{name} names settings bot/settings.py does not read"
    assert named - in_readme == set(), f"{name} names settings the README's tables do not list"


def test_the_example_settings_are_a_configuration_run_accepts():
    settings = Settings.from_env({}, dotenv=ROOT / "deploy/smserror.env.example")
    assert settings.missing_for_run() == []
    assert settings.public_url == "https://smserror.example.com", "the base URL, not a callback's"


def test_the_container_serves_on_ports_default():
    instructions = dockerfile()
    assert instructions["EXPOSE"] == [str(Settings.port)]
    env = dict(pair.split("=", 1) for line in instructions["ENV"] for pair in shlex.split(line))
    assert env["PORT"] == str(Settings.port) and env["SMSERROR_DB"].startswith("/data/")
    assert instructions["VOLUME"] == ["/data"]
    [port] = re.findall(r"^Environment=PORT=(\d+)$", text("deploy/smserror.service"), re.M)
    assert port == str(Settings.port)
    compose = yaml.safe_load(text("deploy/compose.yml"))
    assert compose["services"]["smserror"]["expose"] == [str(Settings.port)]
    assert "smserror-data:/data" in compose["services"]["smserror"]["volumes"]
    assert re.search(rf"reverse_proxy smserror:{Settings.port}\n", text("deploy/Caddyfile"))


def test_the_healthcheck_and_the_proxied_paths_are_endpoints_of_run(start_service):
    [healthcheck] = dockerfile()["HEALTHCHECK"]
    [path] = re.findall(r"\+ '(/[a-z]+)'", healthcheck)
    service = start_service(Settings(slack_signing_secret="s", slack_bot_token="xoxb-t", slack_channel="C1",
                                     teams_outgoing_secret="c2VjcmV0", twilio_auth_token="t",
                                     public_url="https://smserror.example.com"))
    assert requests.get(service.url + path, timeout=5).status_code == 200
    [matcher] = re.findall(r"@callbacks path (.+)", text("deploy/Caddyfile"))
    for proxied in matcher.split():
        # unsigned: refused by the endpoint's own check, which proves the endpoint is there
        assert requests.post(service.url + proxied, data=b"{}", timeout=5).status_code in (400, 401, 403), proxied
    assert requests.post(service.url + "/no/such/path", timeout=5).status_code == 404
