import dataclasses
from datetime import datetime, timedelta

import pytest

from bot.service import Service
from bot.settings import Settings
from storage.db import open_db
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_socket import FakeSlackWithSocketMode
from tests.fakes.teams_webhook import FakeTeams
from tests.fakes.twilio_api import FakeTwilioAPI


@pytest.fixture
def db(tmp_path):
    store = open_db(tmp_path / "smserror.db")
    yield store
    store.close()


@pytest.fixture
def start_service(tmp_path):
    """Start the real `smserror run` service (server, scheduler, courier) on a free loopback port.

    Its daily digest is moved two hours ahead unless the test passes `keep_digest_time=True`:
    otherwise a test run in the hours after 08:00 UTC would also see the start-up catch-up digest.
    `before_start(service)` runs between building the service and starting it."""
    started: list[Service] = []

    def start(settings: Settings, keep_digest_time: bool = False, before_start=None, **kwargs) -> Service:
        settings = dataclasses.replace(settings, host="127.0.0.1", port=0, db_path=str(tmp_path / "service.db"))
        if not keep_digest_time:
            later = datetime.now(settings.tz) + timedelta(hours=2)
            settings = dataclasses.replace(settings, digest_at=later.time().replace(second=0, microsecond=0))
        service = Service(settings, **kwargs)
        if before_start is not None:  # e.g. listen to the scheduler before its start-up jobs run
            before_start(service)
        started.append(service.start_in_background())
        return service

    yield start
    for service in started:
        service.stop()


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def teams():
    with FakeTeams() as fake:
        yield fake


@pytest.fixture
def slack_sm():
    """The fake Slack Web API with Socket Mode beside it."""
    with FakeSlackWithSocketMode() as fake:
        yield fake


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    """A store that `smserror` opens (SMSERROR_DB) in a folder with no .env and no Slack/Teams settings."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("SLACK_BOT_TOKEN", "SLACK_CHANNEL", "TEAMS_WEBHOOK_URL", "SMSERROR_TIMEZONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMSERROR_DB", str(tmp_path / "cli.db"))
    db = open_db(tmp_path / "cli.db")
    yield db
    db.close()


@pytest.fixture
def twilio():
    with FakeTwilioAPI() as fake:
        yield fake
