"""ETA: rate so far, withheld until the rate means something, never negative."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.operations.eta import eta_seconds, since_resume
from console.operations.progress import progress_view

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_rate_based_estimate():
    # 10 units in 10 s → 1 unit/s → 90 left = 90 s
    assert eta_seconds(processed=10, total=100, started_at=T0, now=at(10)) == 90


def test_estimate_rounds_up():
    # 3 units in 4 s → 7 left at 0.75 units/s = 9.33 s → 10
    assert eta_seconds(processed=3, total=10, started_at=T0, now=at(4)) == 10


@pytest.mark.parametrize(("processed", "elapsed"), [(0, 60), (2, 60), (3, 2.9), (50, 0)])
def test_withheld_until_three_units_and_three_seconds(processed, elapsed):
    assert eta_seconds(processed=processed, total=100, started_at=T0, now=at(elapsed)) is None


def test_available_at_exactly_three_units_and_three_seconds():
    assert eta_seconds(processed=3, total=6, started_at=T0, now=at(3)) == 3


def test_done_is_zero():
    assert eta_seconds(processed=10, total=10, started_at=T0, now=at(30)) == 0


@pytest.mark.parametrize(
    ("processed", "total", "started_at", "now"),
    [
        (5, 0, T0, at(10)),  # zero-unit run
        (11, 10, T0, at(10)),  # past total: counts are not trustworthy
        (-1, 10, T0, at(10)),
        (5, 10, None, at(10)),
        (5, 10, T0, None),
        (5, 10, at(10), T0),  # clock skew: started in the future
        (True, 10, T0, at(10)),
        (5.0, 10, T0, at(10)),
    ],
)
def test_no_estimate_from_untrustworthy_inputs(processed, total, started_at, now):
    assert eta_seconds(processed=processed, total=total, started_at=started_at, now=now) is None


def test_naive_datetimes_are_taken_as_utc():
    naive = T0.replace(tzinfo=None)
    assert eta_seconds(processed=10, total=100, started_at=naive, now=at(10)) == 90


@given(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.floats(min_value=-100, max_value=1e6, allow_nan=False),
)
def test_never_negative(processed, extra, elapsed):
    result = eta_seconds(processed=processed, total=processed + extra, started_at=T0, now=at(elapsed))
    assert result is None or result >= 0


def running_view(processed: int, context: object, now: datetime):
    """An inventory sync of 100 units started at T0, as the run viewer computes it at ``now``."""
    return progress_view(
        status="running",
        type="inventory_sync",
        summary_counts={"total": 100, "processed": processed},
        context=context,
        started_at=T0,
        now=now,
    )


def test_a_resumed_run_measures_its_rate_from_the_resume_not_through_the_silent_minutes():
    # Started at T0, 10 units in the first 10 s, then the worker died; resumed at 600 s with 10
    # processed; 10 more units by 610 s: 1 unit/s again, 80 left = 80 s (not 80 × 610/20 = 2440 s).
    context = {"resume_attempts": 1, "resumed_at": at(600).isoformat(), "processed_at_resume": 10}
    assert running_view(20, context, at(610)).eta_seconds == 80
    # Right after the resume the new rate means nothing yet: no estimate (rather than a wrong one).
    assert running_view(11, context, at(601)).eta_seconds is None


@pytest.mark.parametrize(
    "context",
    [
        None,
        {},
        {"resumed_at": "yesterday", "processed_at_resume": 1},
        {"resumed_at": at(5).isoformat(), "processed_at_resume": "1"},
        {"resumed_at": at(5).isoformat(), "processed_at_resume": True},
        {"resumed_at": at(5).isoformat(), "processed_at_resume": 99},  # more than processed now
        {"resumed_at": at(5).isoformat(), "processed_at_resume": -1},
        {"resumed_at": at(500).isoformat(), "processed_at_resume": 1},  # in the future
        {"resumed_at": 5, "processed_at_resume": 1},
    ],
)
def test_malformed_resume_marks_fall_back_to_the_rate_since_the_start(context):
    assert since_resume(context, 20, at(60)) is None
    assert (
        running_view(20, context, at(60)).eta_seconds
        == eta_seconds(processed=20, total=100, started_at=T0, now=at(60))
        == 240
    )
