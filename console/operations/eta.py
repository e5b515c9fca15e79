"""Remaining-time estimate for counted runs (rate so far, nothing cleverer)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

#: Below these, the rate is noise (the first units often include warm-up).
MIN_PROCESSED = 3
MIN_ELAPSED_SECONDS = 3.0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def eta_seconds(*, processed: int, total: int, started_at: datetime | None, now: datetime | None) -> int | None:
    """Seconds left at the average rate so far; None while that rate is not yet meaningful."""
    if started_at is None or now is None:
        return None
    if isinstance(processed, bool) or isinstance(total, bool):
        return None
    if not isinstance(processed, int) or not isinstance(total, int):
        return None
    if total <= 0 or processed < 0 or processed > total:
        return None
    if processed < MIN_PROCESSED:
        return None
    elapsed = (_aware(now) - _aware(started_at)).total_seconds()
    if elapsed < MIN_ELAPSED_SECONDS:
        return None
    remaining = total - processed
    if remaining == 0:
        return 0
    return max(0, math.ceil(remaining * elapsed / processed))
