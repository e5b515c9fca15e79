"""Polling cadence for every surface: pure functions, milliseconds, None = do not poll."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

from console.operations.constants import ACTIVE_STATUSES

FAST_MS: Final = 1_000
MEDIUM_MS: Final = 5_000
SLOW_MS: Final = 10_000
FAST_UNTIL_SECONDS: Final = 10
MEDIUM_UNTIL_SECONDS: Final = 60

REVIEW_PACK_ACTIVE: Final = frozenset({"queued", "generating"})


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def run_poll_interval(*, status: str, created_at: datetime, now: datetime) -> int | None:
    """Run viewer: fast while a run is young, slower as it ages; None once it is not active."""
    if status not in ACTIVE_STATUSES:
        # completed, and any status this version does not know: stop polling.
        return None
    # A clock running behind the database (negative age) counts as a brand-new run.
    age = max(0.0, (_aware(now) - _aware(created_at)).total_seconds())
    if age < FAST_UNTIL_SECONDS:
        return FAST_MS
    if age < MEDIUM_UNTIL_SECONDS:
        return MEDIUM_MS
    return SLOW_MS


def review_pack_poll_interval(status: str | None) -> int | None:
    """Review pack card: 10 s while the latest pack is queued/generating."""
    return SLOW_MS if status in REVIEW_PACK_ACTIVE else None


def table_poll_interval(statuses: Iterable[str]) -> int | None:
    """Operations list / tenant dashboard tables: 10 s only while a visible row is active."""
    return SLOW_MS if any(status in ACTIVE_STATUSES for status in statuses) else None


def shell_poll_interval(runs: Iterable[tuple[str, datetime]], now: datetime) -> int | None:
    """Activity shell: the interval of the youngest active run, None when nothing is active."""
    youngest: datetime | None = None
    for status, created_at in runs:
        if status in ACTIVE_STATUSES and (youngest is None or _aware(created_at) > youngest):
            youngest = _aware(created_at)
    if youngest is None:
        return None
    return run_poll_interval(status="running", created_at=youngest, now=now)
