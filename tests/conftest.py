import dataclasses

import pytest

from bot.service import Service
from bot.settings import Settings
from storage.db import open_db
from tests.fakes.slack_api import FakeSlack
from tests.fakes.teams_webhook import FakeTeams
from tests.fakes.twilio_api import FakeTwilioAPI


@pytest.fixture
def db(tmp_path):
    store = open_db(tmp_path / "smserror.db")
    yield store
    store.close()


@pytest.fixture
def start_service(tmp_path):
    """Start the real `smserror run` service (server, scheduler, courier) on a free loopback port."""
    started: list[Service] = []

    def start(settings: Settings, **kwargs) -> Service:
        settings = dataclasses.replace(settings, host="127.0.0.1", port=0, db_path=str(tmp_path / "service.db"))
        service = Service(settings, **kwargs).start_in_background()
        started.append(service)
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
def twilio():
    with FakeTwilioAPI() as fake:
        yield fake
