"""The progress contract, rule by rule: one function decides what every surface shows."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.operations.constants import OUTCOMES
from console.operations.progress import ProgressView, progress_for_run, progress_view

# The contract's families (ARCHITECTURE.md, "Operation types"), written out: a wrong registry entry fails.
COUNTED_TYPES = (
    "backup_set_add_policies",
    "backup_set_restore",
    "evidence_snapshot_generate",
    "inventory_sync",
    "review_pack_generate",
)
PHASED_TYPES = ("baseline_capture", "baseline_compare")
OPERATION_TYPES = COUNTED_TYPES + PHASED_TYPES

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def view(status="running", type="inventory_sync", counts=None, **kw) -> ProgressView:
    return progress_view(status=status, type=type, summary_counts=counts if counts is not None else {}, **kw)


# ------------------------------------------------------------------ counted


@pytest.mark.parametrize("type_", sorted(COUNTED_TYPES))
def test_running_counted_family_with_trustworthy_counts_is_counted(type_):
    v = view(type=type_, counts={"total": 8, "processed": 3, "succeeded": 2, "failed": 1})
    assert v.mode == "counted"
    assert (v.processed, v.total, v.percent) == (3, 8, 37)  # floor(37.5)
    assert v.text == "3 / 8"
    assert v.status_label == "Running"
    assert v.outcome is None and v.outcome_label is None


@pytest.mark.parametrize(
    ("processed", "total", "percent"), [(0, 5, 0), (1, 3, 33), (2, 3, 66), (199, 200, 99), (5, 5, 100)]
)
def test_percent_is_floored_so_100_only_when_done(processed, total, percent):
    assert view(counts={"total": total, "processed": processed}).percent == percent


def test_integral_float_counts_are_accepted():
    v = view(counts={"total": 4.0, "processed": 1.0})
    assert (v.mode, v.processed, v.total, v.percent) == ("counted", 1, 4, 25)


# ------------------------------------------------------------------ activity


def test_queued_is_activity_even_with_counts():
    v = view(status="queued", counts={"total": 10, "processed": 0})
    assert (v.mode, v.status_label, v.percent, v.text) == ("activity", "Queued", None, None)


@pytest.mark.parametrize(
    "counts",
    [
        {},  # nothing reported yet
        {"processed": 3},  # no total: writers never invent one, readers neither
        {"total": 10},  # no processed
        {"total": 0, "processed": 0},  # zero-unit run: never counted
        {"total": 5, "processed": 6},  # past the total
        {"total": "10", "processed": "3"},  # strings are never counts
        {"total": 10, "processed": "3"},
        {"total": True, "processed": 0},
        {"total": math.nan, "processed": 1},
        {"total": math.inf, "processed": 1},
        {"total": -10, "processed": 1},
        {"total": 10, "processed": -1},
        {"total": 10.5, "processed": 1},
        {"total": {"n": 10}, "processed": 1},
        {"succeeded": 7, "failed": 1},  # outcome counters are never progress
        None,
        "total=10",
        [10, 3],
    ],
)
def test_running_without_trustworthy_counts_is_activity(counts):
    v = progress_view(status="running", type="inventory_sync", summary_counts=counts)
    assert v.mode == "activity"
    assert v.percent is None and v.processed is None and v.total is None and v.text is None


@pytest.mark.parametrize("type_", ["custom_job", "", "backup_set_restore_item", "INVENTORY_SYNC"])
def test_uncounted_types_are_activity_even_with_perfect_counts(type_):
    v = view(type=type_, counts={"total": 10, "processed": 5})
    assert (v.mode, v.percent) == ("activity", None)


# ------------------------------------------------------------------ phased


@pytest.mark.parametrize("type_", sorted(PHASED_TYPES))
def test_phased_family_shows_phase_label_and_never_a_percent(type_):
    v = view(type=type_, counts={"total": 10, "processed": 5}, context={"phase": "Comparing policies"})
    assert v.mode == "phased"
    assert v.text == "Comparing policies"
    assert v.percent is None and v.processed is None and v.total is None


@pytest.mark.parametrize(
    "context", [None, {}, {"phase": ""}, {"phase": "   "}, {"phase": 3}, {"phase": None}, "phase", ["phase"]]
)
def test_phased_without_usable_phase_gets_generic_label(context):
    assert view(type="baseline_capture", context=context).text == "Working"


def test_phase_label_is_sanitized_and_truncated():
    v = view(type="baseline_compare", context={"phase": "Step\x00 two\n\tof\x1b three" + "x" * 200})
    assert v.text is not None
    assert v.text.startswith("Step two of three")
    assert len(v.text) <= 80
    assert not any(ord(c) < 32 for c in v.text)


@pytest.mark.parametrize(
    ("type_", "phase", "words"),
    [
        ("baseline_capture", "collecting", "Collecting policies"),
        ("baseline_capture", "normalizing", "Normalizing settings"),
        ("baseline_capture", "storing", "Storing the baseline"),
        ("baseline_compare", "diffing", "Comparing with the baseline"),
        ("baseline_compare", "  diffing ", "Comparing with the baseline"),  # the key, once cleaned
        ("baseline_compare", "reticulating splines", "Reticulating splines"),  # unknown: a sentence
    ],
)
def test_phase_keys_show_as_words(type_, phase, words):
    """The tasks write keys (``context.phase``); pages never show a lower-case key (issue #14 item 8)."""
    assert view(type=type_, context={"phase": phase}).text == words


def test_queued_phased_run_is_activity():
    assert view(status="queued", type="baseline_capture", context={"phase": "x"}).mode == "activity"


# ------------------------------------------------------------------ terminal / unknown


@pytest.mark.parametrize("outcome", sorted(OUTCOMES))
def test_completed_is_none_with_outcome_and_processed_text(outcome):
    v = view(status="completed", counts={"total": 10, "processed": 7, "failed": 3}, outcome=outcome)
    assert v.mode == "none"
    assert v.status_label == "Completed"
    assert v.outcome == outcome
    assert v.outcome_label and v.outcome_label[0].isupper()
    assert v.text == "7 of 10 processed"
    assert v.percent is None


def test_failed_run_never_shows_a_stale_bar():
    v = view(status="completed", counts={"total": 100, "processed": 42}, outcome="failed")
    assert (v.mode, v.percent, v.eta_seconds) == ("none", None, None)
    assert v.outcome_label == "Failed"


@pytest.mark.parametrize(
    "counts", [{}, {"total": 0, "processed": 0}, {"processed": 4}, {"total": 4}, {"total": "4", "processed": "4"}]
)
def test_completed_without_both_counts_has_no_text(counts):
    assert view(status="completed", counts=counts, outcome="succeeded").text is None


def test_completed_with_unknown_outcome():
    v = view(status="completed", outcome="exploded")
    assert (v.outcome, v.outcome_label) == (None, "Unknown")


@pytest.mark.parametrize("status", ["paused", "", "COMPLETED", "cancelling", None, 3])
def test_unknown_status_is_none_and_unknown(status):
    v = progress_view(status=status, type="inventory_sync", summary_counts={"total": 10, "processed": 5})
    assert (v.mode, v.status_label, v.percent, v.text) == ("none", "Unknown", None, None)


# ------------------------------------------------------------------ badges and ETA


def test_badges_are_outcome_counters_above_zero_in_fixed_order():
    counts = {"warnings": 2, "total": 9, "processed": 9, "failed": 0, "created": 4, "succeeded": 5, "skipped": "3"}
    v = view(status="completed", counts=counts, outcome="succeeded")
    assert v.badges == (("succeeded", 5), ("created", 4), ("warnings", 2))


def test_eta_only_when_counted():
    kw = {"started_at": T0, "now": T0 + timedelta(seconds=10)}
    assert view(counts={"total": 100, "processed": 10}, **kw).eta_seconds == 90
    assert view(status="queued", counts={"total": 100, "processed": 10}, **kw).eta_seconds is None
    assert view(status="completed", counts={"total": 100, "processed": 10}, **kw).eta_seconds is None
    assert view(counts={"total": 100, "processed": 10}, started_at=T0).eta_seconds is None  # no clock: pure


def test_progress_for_run_reads_the_run():
    run = SimpleNamespace(
        status="running",
        type="inventory_sync",
        summary_counts={"total": 4, "processed": 1},
        context={},
        started_at=T0,
        outcome=None,
    )
    v = progress_for_run(run, now=T0 + timedelta(seconds=1))
    assert (v.mode, v.percent, v.text) == ("counted", 25, "1 / 4")


# ------------------------------------------------------------------ properties

any_status = st.sampled_from(["queued", "running", "completed", "paused", ""])
any_type = st.sampled_from(sorted(OPERATION_TYPES) + ["other"])
count_values = st.one_of(
    st.integers(min_value=-5, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=3),
    st.none(),
)
any_counts = st.dictionaries(
    st.sampled_from(["total", "processed", "succeeded", "failed", "x"]), count_values, max_size=5
)


@given(any_status, any_type, any_counts)
def test_percent_is_none_or_within_0_100(status, type_, counts):
    v = progress_view(status=status, type=type_, summary_counts=counts)
    assert v.percent is None or 0 <= v.percent <= 100
    assert (v.percent is None) == (v.mode != "counted")


@given(any_status, any_type, any_counts)
def test_counted_implies_trustworthy_counts(status, type_, counts):
    v = progress_view(status=status, type=type_, summary_counts=counts)
    if v.mode == "counted":
        assert status == "running" and type_ in COUNTED_TYPES
        assert isinstance(v.total, int) and v.total > 0
        assert isinstance(v.processed, int) and 0 <= v.processed <= v.total
        assert v.percent == 100 * v.processed // v.total


@given(any_type, any_counts, st.sampled_from(sorted(OUTCOMES)))
def test_terminal_is_never_counted(type_, counts, outcome):
    v = progress_view(status="completed", type=type_, summary_counts=counts, outcome=outcome)
    assert v.mode == "none" and v.percent is None and v.eta_seconds is None


@given(any_status, any_type, any_counts)
def test_badges_never_include_progress_keys(status, type_, counts):
    v = progress_view(status=status, type=type_, summary_counts=counts)
    assert all(key not in ("total", "processed") and n > 0 for key, n in v.badges)
