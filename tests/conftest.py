"""Shared fixtures: a fresh database per test on SQLite, and on PostgreSQL when
CONSOLE_TEST_DATABASE_URL is set (CI sets it; then every `database` test runs on both).
The plain helpers behind them are in tests/support/db.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings as hypothesis_settings

from console.db import Database
from console.models import Base
from tests.support.db import DB_BACKENDS, fresh_database_url

# Property tests assert behaviour, never speed: hypothesis' default 200 ms deadline per example
# fails on a shared, loaded machine (seen on CI while apt ran beside the suite).
hypothesis_settings.register_profile("console", deadline=None)
hypothesis_settings.load_profile("console")


@pytest.fixture(params=DB_BACKENDS)
def db_backend(request) -> str:
    return request.param


@pytest.fixture
def empty_db_url(db_backend, tmp_path) -> Iterator[str]:
    with fresh_database_url(db_backend, tmp_path) as url:
        yield url


@pytest.fixture
def database(empty_db_url) -> Iterator[Database]:
    """A schema-ready Database on each configured backend (SQLite always, PostgreSQL in CI)."""
    db = Database(empty_db_url)
    Base.metadata.create_all(db.engine)
    try:
        yield db
    finally:
        db.dispose()
