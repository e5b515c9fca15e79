"""Test databases: which backends run, fresh empty databases, and counting the SQL a block runs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

PG_URL = os.environ.get("CONSOLE_TEST_DATABASE_URL")
BROKER_URL = os.environ.get("CONSOLE_TEST_BROKER_URL")

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
