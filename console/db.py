"""Database engine, sessions and column types shared by every model."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


#: JSON everywhere, JSONB on PostgreSQL (indexable, and jsonb_set for in-SQL counters).
JSONType = JSON().with_variant(JSONB(), "postgresql")


#: Replaced only while the demo history is generated (``console.demo.clock.demo_clock``), so every
#: timestamp the services write for a backdated run — column defaults included — reads the demo's
#: clock. None: the real clock (always, outside ``console seed-demo``).
clock_override: Callable[[], datetime] | None = None


def utcnow() -> datetime:
    clock = clock_override
    return clock() if clock is not None else datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


#: SQLite's pool: connections are kept (a poll no longer opens a file and runs three PRAGMAs).
SQLITE_POOL_SIZE = 10
SQLITE_MAX_OVERFLOW = 10


def _file_identity(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


#: The largest id a table holds: primary keys are INTEGER (PostgreSQL int4). An id beyond it is
#: refused as input (NotFound / BadRequest) before a query would fail with a DataError.
MAX_ID: Final = 2**31 - 1


#: SQLite's Unicode-aware lower() (its own folds ASCII letters only; PostgreSQL's folds every
#: letter): the operations list's search calls it there (console.operations.search.folded).
SQLITE_LOWER: Final = "console_lower"


def _sqlite_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine; SQLite gets WAL, a busy timeout and BEGIN IMMEDIATE (writers queue, never 'locked').

    Both backends pool their connections. SQLite's (a QueuePool of 10 + 10: a connection is used by
    one thread at a time, handed between threads by the pool, hence ``check_same_thread=False``)
    checks at every checkout that the database path still names the file the connection opened
    (one ``stat``): when the volume is gone or the file was replaced the connection is dropped and
    a new one is opened, so an unreachable file is an outage ("unable to open database file"),
    exactly as when every request opened its own connection."""
    if url.startswith("sqlite"):
        kw.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        if ":memory:" in url or url in ("sqlite://", "sqlite:///"):
            raise ValueError("in-memory SQLite is not supported: workers need a file")
        if "poolclass" not in kw:
            kw.setdefault("pool_size", SQLITE_POOL_SIZE)
            kw.setdefault("max_overflow", SQLITE_MAX_OVERFLOW)
        engine = create_engine(url, **kw)
        path = make_url(url).database

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
            dbapi_conn.create_function(SQLITE_LOWER, 1, _sqlite_lower, deterministic=True)
            rec.info["sqlite_file"] = _file_identity(path)

        @event.listens_for(engine, "checkout")
        def _on_checkout(_dbapi_conn: Any, rec: Any, _proxy: Any) -> None:
            try:
                same = _file_identity(path) == rec.info.get("sqlite_file")
            except OSError:
                same = False
            if not same:
                raise sa_exc.DisconnectionError("the SQLite database file is gone or was replaced")

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            # A deferred transaction that reads and then writes fails at once with
            # SQLITE_BUSY under WAL; IMMEDIATE makes writers wait their turn instead.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kw.setdefault("pool_pre_ping", True)
    if "poolclass" not in kw:
        kw.setdefault("pool_size", 10)
        kw.setdefault("max_overflow", 10)
    return create_engine(url, **kw)


class Database:
    """Engine + session factory; one per app or worker process."""

    def __init__(self, url: str, **engine_kw: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kw)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that rolls back unless the use case committed."""
        session = self.sessionmaker()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


#: Errors that may mean "the database cannot be reached right now" (``is_outage`` decides): a
#: refused or cut connection (OperationalError, InterfaceError) or an exhausted pool (TimeoutError).
OUTAGE_ERRORS: tuple[type[Exception], ...] = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
#: sqlite3 reports a wrong query (no such table/column, syntax) as OperationalError too: only
#: these messages mean the file is unavailable.
_SQLITE_OUTAGES = (
    "unable to open database file",
    "database is locked",
    "disk i/o error",
    "readonly database",
    "database or disk is full",
)


def is_outage(err: BaseException) -> bool:
    """True when ``err`` says the database is unreachable (not that a query is wrong)."""
    if isinstance(err, (sa_exc.InterfaceError, sa_exc.TimeoutError)):
        return True
    if not isinstance(err, sa_exc.OperationalError):
        return False
    if err.connection_invalidated:
        return True
    orig = getattr(err, "orig", None)
    if type(orig).__module__.startswith("sqlite3"):
        return any(marker in str(orig).lower() for marker in _SQLITE_OUTAGES)
    return True  # psycopg: connection failures are OperationalError; wrong SQL is ProgrammingError
