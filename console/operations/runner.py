"""What every writer service (inventory, review packs, evidence, backups, baselines) shares.

Status and counts go through the operations core (``console.operations.service``); these
helpers read the ledger, run one counted unit exactly once (``run_unit``), serialize duplicate
deliveries of one run, and finish a counted run with the outcome its counts imply."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.operations.failure import sanitize_failure_summary
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.service import complete_run, counts_of, derive_outcome, get_run, record_unit
from console.providers.base import PolicyNotFound, Provider, ProviderError

log = logging.getLogger(__name__)

F = TypeVar("F")
S = TypeVar("S")


class SkipUnit(Exception):
    """Raised by a unit's ``fetch`` or ``store``: count the unit ``skipped`` with this reason."""


def recorded_units(*, session: Session, run_id: int) -> set[str]:
    """Unit keys already in the run's ledger (a redelivered task skips their work)."""
    return set(session.scalars(select(OperationRunUnit.unit_key).where(OperationRunUnit.run_id == run_id)))


def lock_run(*, session: Session, run_id: int) -> OperationRun:
    """The run, row-locked until the caller commits: two deliveries of one task create things once.

    PostgreSQL takes ``SELECT ... FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already holds the
    database write lock for the whole transaction."""
    stmt = select(OperationRun).where(OperationRun.id == run_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    run = session.scalars(stmt).one()
    return run


def merge_context(*, session: Session, run: OperationRun, values: Mapping[str, Any]) -> None:
    """Add keys to the run's context (e.g. the backup set a run resolved); the caller commits."""
    context = dict(run.context or {})
    context.update(values)
    run.context = context


def unit_error(exc: BaseException) -> str:
    """The one-line reason stored on a failed unit."""
    return sanitize_failure_summary(str(exc) or type(exc).__name__)


def finish_counted_run(
    *,
    session: Session,
    run_id: int,
    summary: Mapping[str, int] | None = None,
    stage: Callable[[str], None] | None = None,
) -> OperationRun:
    """Complete a counted run with the outcome its unit counts imply (zero units: succeeded).

    ``stage(outcome)`` may add domain changes to the session first (e.g. a snapshot's status):
    they commit in the same transaction as the run's completion."""
    counts = counts_of(get_run(session=session, run_id=run_id))
    if counts.get("processed", 0) != counts.get("total", 0):
        # Never expected: every planned unit is recorded before this call.
        log.warning(
            "event=run_finished_short run_id=%s processed=%s total=%s",
            run_id,
            counts.get("processed"),
            counts.get("total"),
        )
    outcome = derive_outcome(counts)
    if stage is not None:
        stage(outcome)
    return complete_run(session=session, run_id=run_id, outcome=outcome, summary=summary)


def _recorded(session: Session, run_id: int, key: str) -> bool:
    stmt = select(OperationRunUnit.id).where(OperationRunUnit.run_id == run_id, OperationRunUnit.unit_key == key)
    return session.scalar(stmt) is not None


class UnitResult(NamedTuple, Generic[S]):
    """What one ``run_unit`` call did: the outcome it counted (None: not counted by this call,
    e.g. another delivery counted the unit first) and what ``store`` returned when it committed."""

    outcome: str | None
    stored: S | None = None


def run_unit(
    *,
    session: Session,
    run_id: int,
    key: str,
    provider: Provider,
    fetch: Callable[[], F],
    store: Callable[[F], S],
) -> UnitResult[S]:
    """One counted unit of a task, done and counted once even when two deliveries run it at once.

    ``fetch()`` talks to the provider, holding no lock. ``store(fetched)`` stages the unit's
    domain rows under the run's row lock, after the ledger is re-checked; they commit in one
    transaction with the unit's ledger row and counters. So a second delivery of the same task
    either waits for the lock and then finds the unit counted (and stores nothing), or counts
    it itself — never both. ``PolicyNotFound`` and ``SkipUnit`` count the unit ``skipped``,
    any other ``ProviderError`` ``failed``; other errors propagate (the task fails the run).

    The unit starts outside any transaction (what the caller read or staged commits first): a
    provider call inside one would hold SQLite's write lock, or leave a PostgreSQL connection
    idle in transaction, for as long as the tenant API takes."""
    session.commit()
    try:
        provider.begin_unit(key)
        fetched = fetch()
        lock_run(session=session, run_id=run_id)
        if _recorded(session, run_id, key):
            session.rollback()
            log.info("event=unit_already_counted run_id=%s unit_key=%s", run_id, key)
            return UnitResult(None)
        stored = store(fetched)
    except (PolicyNotFound, SkipUnit) as exc:
        session.rollback()
        return _count_unsuccessful(session, run_id, key, "skipped", exc)
    except ProviderError as exc:
        session.rollback()
        log.info("event=unit_failed run_id=%s unit_key=%s error=%s", run_id, key, type(exc).__name__)
        return _count_unsuccessful(session, run_id, key, "failed", exc)
    if not record_unit(session=session, run_id=run_id, unit_key=key, outcome="succeeded"):
        return UnitResult(None)  # record_unit rolled the unit's rows back with its ledger row
    return UnitResult("succeeded", stored)


def _count_unsuccessful(session: Session, run_id: int, key: str, outcome: str, exc: BaseException) -> UnitResult[Any]:
    counted = record_unit(session=session, run_id=run_id, unit_key=key, outcome=outcome, error=unit_error(exc))
    return UnitResult(outcome if counted else None)
