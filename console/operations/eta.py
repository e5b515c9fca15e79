"""Remaining-time estimate for counted runs (rate so far, nothing cleverer).

A run the reaper resumed measures its rate from the resume (``context.resumed_at`` and the
``processed_at_resume`` count then): the minutes its dead worker stayed silent are no rate, and
counting them made a run that finished in 31 s say "About 13 min left"."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from console.operations.constants import PROCESSED_AT_RESUME_KEY, RESUMED_AT_KEY

#: Below these, the rate is noise (the first units often include warm-up).
MIN_PROCESSED = 3
MIN_ELAPSED_SECONDS = 3.0


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def since_resume(context: object, processed: int, now: datetime | None) -> tuple[int, datetime] | None:
    """(units processed at the last resume, when) from a run's context, if the reaper wrote them
    and they are sane; None otherwise (the ETA then counts from ``started_at``)."""
    if now is None or not isinstance(context, dict):
        return None
    at, base = context.get(RESUMED_AT_KEY), context.get(PROCESSED_AT_RESUME_KEY)
    if not isinstance(at, str) or isinstance(base, bool) or not isinstance(base, int) or not 0 <= base <= processed:
        return None
    try:
        when = _aware(datetime.fromisoformat(at))
    except ValueError:
        return None
    return (base, when) if when <= _aware(now) else None


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
