import pytest

from storage.db import open_db


@pytest.fixture
def db(tmp_path):
    store = open_db(tmp_path / "smserror.db")
    yield store
    store.close()
