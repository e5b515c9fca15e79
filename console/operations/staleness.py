"""The one staleness rule: when a run has gone quiet long enough to be failed by the reaper.

A **running** run is stale when its last sign of life — the latest heartbeat, else its start,
else its creation — is older than ``stale_after_seconds``; a **queued** run is stale when it
was created more than ``queued_stale_after_seconds`` ago and never started. The reaper
(``console.operations.service.reap_stale``) fails exactly those runs with a reason starting
``stale``; the tenant dashboard's "Needs attention" lists running runs matching the same rule
before the reaper got to them ("stale?") and the reaper's victims ("Stale")."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, func

from console.operations.constants import QUEUED, RUNNING
from console.operations.models import OperationRun

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
