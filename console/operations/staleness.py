"""The one staleness rule: when a run has gone quiet long enough to be failed by the reaper.

A **running** run is stale when its last sign of life — the latest heartbeat, else its start,
else its creation — is older than ``stale_after_seconds``; a **queued** run is stale when it
was created more than ``queued_stale_after_seconds`` ago and never started. The reaper
(``console.operations.service.reap_stale``) fails exactly those runs with a reason starting
``stale``; the tenant dashboard's "Needs attention" lists running runs matching the same rule
before the reaper got to them ("stale?") and the reaper's victims ("Stale").

Before that, a running run is **quiet** once its last sign of life is older than twice the
workers' heartbeat interval: the run viewer and the activity shell then hide the ETA and say
"No progress for N — the worker may be gone", with the moment the reaper will act (``quiet``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import ColumnElement, func

from console.operations.constants import QUEUED, RUNNING
from console.operations.models import OperationRun

#: While a task of a run executes, its worker refreshes the run's heartbeat this often
#: (``tasks.base.ConsoleTask.keep_alive``), however long one unit takes.
HEARTBEAT_SECONDS: Final = 10
#: A running run silent for longer than this (twice the expected interval) is "quiet".
QUIET_AFTER_SECONDS: Final = 2 * HEARTBEAT_SECONDS
#: Every reason the reaper writes starts with this (see ``was_reaped``).
STALE_PREFIX: Final = "stale"
#: ``last_sign_of_life()`` in raw SQL, for the reaper's conditional UPDATE (bound ``:cutoff``).
RUNNING_STALE_SQL: Final = "COALESCE(heartbeat_at, started_at, created_at) < :cutoff"
#: ``never_started()`` in raw SQL, likewise.
QUEUED_STALE_SQL: Final = "created_at < :cutoff"


def cutoff(now: datetime, after_seconds: int) -> datetime:
    """The moment before which a sign of life is too old."""
    return now - timedelta(seconds=after_seconds)


def last_sign_of_life() -> ColumnElement[Any]:
    """The run's latest heartbeat, else its start, else its creation (a SQL expression)."""
    return func.coalesce(OperationRun.heartbeat_at, OperationRun.started_at, OperationRun.created_at)


def silent_running(now: datetime, stale_after_seconds: int) -> ColumnElement[bool]:
    """Running runs whose last sign of life is older than the limit (the reaper's running rule)."""
    return (OperationRun.status == RUNNING) & (last_sign_of_life() < cutoff(now, stale_after_seconds))


def never_started(now: datetime, queued_stale_after_seconds: int) -> ColumnElement[bool]:
    """Queued runs created longer ago than the limit (the reaper's queued rule)."""
    return (OperationRun.status == QUEUED) & (OperationRun.created_at < cutoff(now, queued_stale_after_seconds))


def running_reason(silent_seconds: int, stale_after_seconds: int) -> str:
    return f"{STALE_PREFIX}: no heartbeat for {silent_seconds} s (limit {stale_after_seconds} s)"


def queued_reason(queued_stale_after_seconds: int) -> str:
    return f"{STALE_PREFIX}: never started within {queued_stale_after_seconds} s"


def was_reaped(failure_summary: str | None) -> bool:
    """Did the reaper fail this run (its failure summary is a staleness reason)?"""
    return (failure_summary or "").lower().startswith(STALE_PREFIX)


@dataclass(frozen=True)
class Quiet:
    """A running run that has sent no sign of life for a while (its worker may be gone)."""

    silent_seconds: int
    #: When the reaper will resume or fail it if it stays silent (last sign of life + the limit).
    reaper_at: datetime

    @property
    def step(self) -> int:
        """What the words show, so pages re-render only when they change: 10-s steps, then minutes."""
        return self.silent_seconds // 10 * 10 if self.silent_seconds < 60 else self.silent_seconds // 60 * 60

    @property
    def text(self) -> str:
        """``No progress for 40 s`` / ``No progress for 3 min``."""
        amount = f"{self.step} s" if self.step < 60 else f"{self.step // 60} min"
        return f"No progress for {amount}"


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Timestamps(Protocol):
    """What ``quiet`` reads of a run: an ``OperationRun`` or a read model (RunRow, RunSnapshot)."""

    @property
    def status(self) -> str: ...
    @property
    def heartbeat_at(self) -> datetime | None: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime: ...


def quiet(run: Timestamps, *, now: datetime, stale_after_seconds: int) -> Quiet | None:
    """The run's quiet state, or None while it is not running or was heard from recently."""
    if run.status != RUNNING:
        return None
    last = run.heartbeat_at or run.started_at or run.created_at
    silent = int((_aware(now) - _aware(last)).total_seconds())
    if silent <= QUIET_AFTER_SECONDS:
        return None
    return Quiet(silent_seconds=silent, reaper_at=_aware(last) + timedelta(seconds=stale_after_seconds))
