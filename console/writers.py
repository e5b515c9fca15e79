"""What every writer service (inventory, review packs, evidence, backups, baselines) shares.

Status and counts go through the operations core (``console.operations.service``); these
helpers only read the ledger, serialize duplicate deliveries of one run, and finish a counted
run with the outcome its counts imply."""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.operations.errors import sanitize_failure_summary
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.service import complete_run, counts_of, derive_outcome, get_run

log = logging.getLogger(__name__)


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
        log.warning("event=run_finished_short run_id=%s processed=%s total=%s", run_id, counts.get("processed"), counts.get("total"))
    outcome = derive_outcome(counts)
    if stage is not None:
        stage(outcome)
    return complete_run(session=session, run_id=run_id, outcome=outcome, summary=summary)
