"""Summary counts: only allowed keys with non-negative integer values survive normalization."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console.operations.summary import SUMMARY_KEYS, normalize_counts


def test_keys_are_the_contract():
    assert SUMMARY_KEYS == (
        "total",
        "processed",
        "succeeded",
        "failed",
        "skipped",
        "created",
        "updated",
        "deleted",
        "items",
        "warnings",
    )


def test_every_allowed_key_with_an_int_is_kept():
    raw = {key: i for i, key in enumerate(SUMMARY_KEYS)}
    assert normalize_counts(raw) == raw


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (7, 7),
        (7.0, 7),
        (0.0, 0),
        (1e3, 1000),
    ],
)
def test_integers_and_integral_floats_are_counts(value, expected):
    result = normalize_counts({"processed": value})
    assert result == {"processed": expected}
    assert type(result["processed"]) is int


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,  # bools are ints in Python, never counts
        "5",
        "0",
        "five",
        "",
        " 3 ",
        "5.0",  # strings are never counts, numeric-looking or not
        -1,
        -0.5,
        -3.0,  # negatives
        2.5,
        0.1,  # fractional floats
        math.nan,
        math.inf,
        -math.inf,
        None,
        {"n": 1},
        [1],
        (1,),
        {1},  # nested
        2**63,  # beyond what a bigint counter can hold
        object(),
    ],
)
def test_invalid_values_are_dropped(value):
    assert normalize_counts({"processed": value, "total": 10}) == {"total": 10}


@pytest.mark.parametrize("key", ["percent", "Total", "PROCESSED", "errors", "", 1, None, ("total",)])
def test_unknown_keys_are_dropped(key):
    assert normalize_counts({key: 3, "failed": 1}) == {"failed": 1}


@pytest.mark.parametrize("raw", [None, [], [("total", 3)], "total=3", 3, 3.0, b"{}", object()])
def test_non_mapping_input_gives_no_counts(raw):
    assert normalize_counts(raw) == {}


def test_dropped_values_are_logged_as_key_value(caplog):
    with caplog.at_level(logging.WARNING, logger="console.operations.summary"):
        normalize_counts({"total": "5", "processed": -1, "nope": 1, "failed": 2})
    message = " ".join(r.getMessage() for r in caplog.records)
    assert "event=summary_counts_dropped" in message
    assert "total:string" in message
    assert "processed:negative" in message
    assert "'nope':unknown_key" in message
    assert "failed" not in message


def test_clean_input_logs_nothing(caplog):
    with caplog.at_level(logging.DEBUG, logger="console.operations.summary"):
        normalize_counts({"total": 5, "processed": 2})
    assert caplog.records == []


def test_key_order_is_canonical_so_equal_counts_serialize_identically():
    assert list(normalize_counts({"warnings": 1, "processed": 2, "total": 3})) == ["total", "processed", "warnings"]


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
raw_counts = st.one_of(
    st.dictionaries(st.sampled_from(SUMMARY_KEYS) | st.text(max_size=8), json_values, max_size=12),
    json_values,
)


@given(raw_counts)
def test_normalizing_twice_equals_once(raw):
    once = normalize_counts(raw)
    assert normalize_counts(once) == once


@given(raw_counts)
def test_output_only_allowed_keys_with_non_negative_ints(raw):
    for key, value in normalize_counts(raw).items():
        assert key in SUMMARY_KEYS
        assert type(value) is int
        assert value >= 0
