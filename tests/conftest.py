"""Shared fixtures: a fresh database per test on SQLite, and on PostgreSQL when
CONSOLE_TEST_DATABASE_URL is set (CI sets it; then every `database` test runs on both)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from console.db import Database
from console.models import Base

PG_URL = os.environ.get("CONSOLE_TEST_DATABASE_URL")
BROKER_URL = os.environ.get("CONSOLE_TEST_BROKER_URL")

# Property tests assert behaviour, never speed: hypothesis' default 200 ms deadline per example
# fails on a shared, loaded machine (seen on CI while apt ran beside the suite).
hypothesis_settings.register_profile("console", deadline=None)
hypothesis_settings.load_profile("console")

DB_BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@contextmanager
def fresh_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of ``backend``; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'console.db'}"
        return
    assert PG_URL, "PostgreSQL backend requested without CONSOLE_TEST_DATABASE_URL"
    with scratch_postgres_database(PG_URL, prefix="console_test") as url:
        yield url


@contextmanager
def sql_statements(engine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` executes inside the block, whitespace collapsed (BEGIN included)."""
    statements: list[str] = []

    def _before(_conn, _cursor, statement, _params, _context, _executemany):
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", _before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", _before)


def queries(statements: list[str]) -> list[str]:
    """The statements without transaction control (what "SQL statements per request" counts)."""
    return [s for s in statements if not s.upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))]


@contextmanager
def scratch_postgres_database(base_url: str, *, prefix: str) -> Iterator[str]:
    """A fresh empty PostgreSQL database next to ``base_url``, dropped afterwards (also bench's)."""
    base = make_url(base_url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
