"""A deterministic clock for generating the demo history in the past.

Every service takes its timestamps from ``console.db.utcnow`` (column defaults included), so
while ``demo_clock`` is active the rows a run writes — the run's own timestamps, its audit
events, notifications, ledger rows, the pack's ``ready_at``/``expires_at`` and the dates inside
its ZIP, snapshots, backup sets — all carry the demo's time. The clock ticks a fixed step on
every read: a run's duration follows the work it did (its number of writes), not the speed of
the machine that seeded it, so the same demo looks the same everywhere."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from console import db


class DemoClock:
    """``now()`` returns the time set by ``jump_to``, advanced by ``tick`` on every read."""

    def __init__(self, start: datetime, *, tick: timedelta) -> None:
        if start.tzinfo is None:
            raise ValueError("the demo clock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._tick = tick
        # The restore's batch writer reads the clock from its own thread.
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self._now += self._tick
            return self._now

    def peek(self) -> datetime:
        """The current time without advancing it."""
        with self._lock:
            return self._now

    def jump_to(self, when: datetime) -> None:
        """Move to ``when`` (never backwards: timestamps stay in write order)."""
        with self._lock:
            self._now = max(self._now, when.astimezone(UTC))


@contextmanager
def demo_clock(clock: DemoClock) -> Iterator[DemoClock]:
    """``console.db.utcnow`` reads ``clock`` inside the block (one seeding process, nothing else
    running in it: ``console demo`` starts its web server and worker after seeding)."""
    if db.clock_override is not None:
        raise RuntimeError("a demo clock is already active")
    db.clock_override = clock.now
    try:
        yield clock
    finally:
        db.clock_override = None
