"""Which errors a task retries, and for how long: a database outage may last a restart, an
ordinary error gets the task's own (short) budget."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from console.db import is_outage
from tasks.base import OUTAGE_MAX_RETRIES, OUTAGE_RETRY_CAP_SECONDS, retry_countdown


def operational(orig: Exception) -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, orig)


SQLITE_GONE = operational(sqlite3.OperationalError("unable to open database file"))
PG_GONE = operational(psycopg.OperationalError("connection failed: Connection refused"))
WRONG_SQL = operational(sqlite3.OperationalError("no such table: operation_runs"))


@pytest.mark.parametrize(
    "err",
    [
        SQLITE_GONE,
        PG_GONE,
        sa_exc.InterfaceError("SELECT 1", {}, Exception("closed")),
        sa_exc.TimeoutError("QueuePool limit reached"),
    ],
)
def test_database_unreachable_is_an_outage(err) -> None:
    assert is_outage(err)


@pytest.mark.parametrize(
    "err", [WRONG_SQL, ValueError("bad"), sa_exc.IntegrityError("INSERT", {}, Exception("dup")), RuntimeError()]
)
def test_a_wrong_query_or_a_bug_is_not_an_outage(err) -> None:
    assert not is_outage(err)


def test_an_outage_backs_off_to_the_cap_for_about_a_minute_then_gives_up() -> None:
    delays = [retry_countdown(PG_GONE, n, max_retries=3) for n in range(OUTAGE_MAX_RETRIES + 1)]
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0, OUTAGE_RETRY_CAP_SECONDS]
    assert delays[-1] is None and None not in delays[:-1]
    assert 45 <= sum(delays[:-1]) <= 90  # longer than a database restart, bounded


def test_an_ordinary_error_keeps_the_callers_budget() -> None:
    assert [retry_countdown(ValueError("x"), n, max_retries=3) for n in range(4)] == [0.5, 1.0, 2.0, None]
    assert retry_countdown(WRONG_SQL, 0, max_retries=0) is None  # single tasks: fail the run at once
