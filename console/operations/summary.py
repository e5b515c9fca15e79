"""Summary-count keys and the normalizer applied on every write and every read."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Final

log = logging.getLogger(__name__)

SUMMARY_KEYS: Final = (
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
_ALLOWED: Final = frozenset(SUMMARY_KEYS)
#: Outcome counters: shown as badges, never as progress.
OUTCOME_COUNTER_KEYS: Final = tuple(k for k in SUMMARY_KEYS if k not in ("total", "processed"))
#: Counters live in SQL bigint arithmetic on PostgreSQL; anything larger is not a count.
MAX_COUNT: Final = 2**63 - 1


def _count(value: object) -> tuple[int | None, str]:
    """``(count, "")`` for a valid count, ``(None, reason)`` otherwise."""
    # bool first: True is an int in Python but never a count.
    if isinstance(value, bool):
        return None, "bool"
    if isinstance(value, int):
        if value < 0:
            return None, "negative"
        return (value, "") if value <= MAX_COUNT else (None, "too_large")
    if isinstance(value, float):
        if math.isnan(value):
            return None, "nan"
        if math.isinf(value):
            return None, "infinite"
        if value < 0:
            return None, "negative"
        if not value.is_integer():
            return None, "fractional"
        return (int(value), "") if value <= MAX_COUNT else (None, "too_large")
    if isinstance(value, str):
        # Strings are never counts, numeric-looking or not ("5" came from a writer bug).
        return None, "string"
    if isinstance(value, (Mapping, list, tuple, set)):
        return None, "nested"
    return None, type(value).__name__


def normalize_counts(raw: object) -> dict[str, int]:
    """Only allowed keys with non-negative integer values; anything else is dropped and logged."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        log.warning("event=summary_counts_dropped reason=not_a_mapping got=%s", type(raw).__name__)
        return {}
    counts: dict[str, int] = {}
    dropped: list[str] = []
    for key, value in raw.items():
        if not isinstance(key, str) or key not in _ALLOWED:
            dropped.append(f"{str(key)[:40]!r}:unknown_key")
            continue
        count, reason = _count(value)
        if count is None:
            dropped.append(f"{key}:{reason}")
            continue
        counts[key] = count
    if dropped:
        log.warning("event=summary_counts_dropped dropped=%s", ",".join(dropped))
    # Fixed key order: equal counts serialize identically (no churn in "did it change?" checks).
    return {key: counts[key] for key in SUMMARY_KEYS if key in counts}
