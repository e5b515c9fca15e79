"""Polling cadence: by run age while active, never for terminal or unknown statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.operations.cadence import (
    review_pack_poll_interval,
    run_poll_interval,
    shell_poll_interval,
    table_poll_interval,
)

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


@pytest.mark.parametrize("status", ["queued", "running"])
@pytest.mark.parametrize(
    ("age", "expected"),
    [(0, 1000), (9.999, 1000), (10, 5000), (59.9, 5000), (60, 10000), (3600 * 24, 10000), (-30, 1000)],
)
def test_active_run_interval_by_age(status, age, expected):
    assert run_poll_interval(status=status, created_at=ago(age), now=NOW) == expected


@pytest.mark.parametrize("status", ["completed", "paused", "", "QUEUED", "Running", "cancelled"])
def test_terminal_or_unknown_status_stops_polling(status):
    assert run_poll_interval(status=status, created_at=ago(1), now=NOW) is None


def test_naive_created_at_is_utc():
    assert run_poll_interval(status="running", created_at=ago(30).replace(tzinfo=None), now=NOW) == 5000


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("queued", 10000),
        ("generating", 10000),
        ("ready", None),
        ("failed", None),
        ("expired", None),
        (None, None),
        ("x", None),
    ],
)
def test_review_pack_card(status, expected):
    assert review_pack_poll_interval(status) == expected


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], None),
        (["completed", "completed"], None),
        (["completed", "running"], 10000),
        (["queued"], 10000),
        (["weird"], None),
        (iter(["completed", "queued"]), 10000),
    ],
)
def test_tables_poll_only_while_a_row_is_active(statuses, expected):
    assert table_poll_interval(statuses) == expected


def test_shell_uses_the_youngest_active_run():
    runs = [("running", ago(300)), ("queued", ago(20)), ("completed", ago(1))]
    assert shell_poll_interval(runs, NOW) == 5000  # the completed 1 s old run does not count
    assert shell_poll_interval(runs + [("queued", ago(2))], NOW) == 1000


def test_shell_idle_when_nothing_active():
    assert shell_poll_interval([], NOW) is None
    assert shell_poll_interval([("completed", ago(1)), ("unknown", ago(1))], NOW) is None
