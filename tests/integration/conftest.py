"""Fixtures of the web tests: a console on a migrated database with a recording dispatcher, its
test client and the test world. The plain helpers (login, csrf_token, real_app,
RecordingDispatcher) are in tests/support/web.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.app import create_app
from console.migrate import upgrade
from tests.factories import World, build_world
from tests.support.web import RecordingDispatcher


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture
def web_app(empty_db_url, tmp_path, dispatcher) -> Iterator:
    """A console on a migrated database (SQLite, and PostgreSQL in CI)."""
    upgrade(empty_db_url)
    app = create_app(
        {
            "instance_dir": tmp_path / "instance",
            "database_url": empty_db_url,
            "secret_key": "test-secret",
            "dispatcher": dispatcher,
        }
    )
    yield app
    app.server.extensions["console.db"].dispose()


@pytest.fixture
def world(web_app) -> World:
    with web_app.server.extensions["console.db"].session() as s:
        return build_world(s)


@pytest.fixture
def client(web_app):
    return web_app.server.test_client()
