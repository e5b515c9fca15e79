"""What every writer service (inventory, review packs, evidence, backups, baselines) shares.

Status and counts go through the operations core (``console.operations.service``); these
helpers read the ledger, run one counted unit exactly once (``run_unit``), serialize duplicate
deliveries of one run, and finish a counted run with the outcome its counts imply."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.errors import InvalidTransition
from console.operations import registry
from console.operations.constants import RUNNING
from console.operations.failure import sanitize_failure_summary
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.service import Unit, complete_run, counts_of, derive_outcome, get_run, record_unit, record_units
from console.providers.base import PolicyNotFound, Provider, ProviderError

log = logging.getLogger(__name__)

F = TypeVar("F")
T = TypeVar("T")
S = TypeVar("S")


class SkipUnit(Exception):
    """Raised by a unit's ``fetch`` or ``store``: count the unit ``skipped`` with this reason."""


def recorded_units(*, session: Session, run_id: int) -> set[str]:
    """Unit keys already in the run's ledger (a redelivered task skips their work)."""
    return set(session.scalars(select(OperationRunUnit.unit_key).where(OperationRunUnit.run_id == run_id)))


def retry_filter(*, session: Session, run_id: int, planned: Sequence[T], key: Callable[[T], str]) -> list[T]:
    """The planned units of a run, less those a run it retries already did (``context.retry_of``).

    A retry of a counted family does exactly the old run's units that have no ``succeeded``
    ledger entry (failed, skipped, never reached); its ``total`` is their number. Types whose
    registry entry says ``retry_units=False`` (and first runs) keep every planned unit."""
    run = get_run(session=session, run_id=run_id)
    old = (run.context or {}).get("retry_of") if isinstance(run.context, dict) else None
    spec = registry.find(run.type)
    if not isinstance(old, int) or isinstance(old, bool) or spec is None or not spec.retry_units:
        return list(planned)
    done = set(
        session.scalars(
            select(OperationRunUnit.unit_key).where(
                OperationRunUnit.run_id == old, OperationRunUnit.outcome == "succeeded"
            )
        )
    )
    return [unit for unit in planned if key(unit) not in done]


def stop_if_ended(*, session: Session, run_id: int) -> None:
    """InvalidTransition when the run is no longer running (cancelled, reaped): a unit loop that
    saw a unit refused asks this, and stops between units."""
    run = get_run(session=session, run_id=run_id)
    session.commit()
    if run.status != RUNNING:
        raise InvalidTransition(f"run {run_id} is {run.status}: stopping")


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
        locked = lock_run(session=session, run_id=run_id)
        if locked.status != RUNNING:
            # Cancelled (or reaped) meanwhile: stop between units; the task's failure path
            # sees InvalidTransition as "the run ended without us" and leaves it alone.
            session.rollback()
            raise InvalidTransition(f"run {run_id} is {locked.status}: unit {key} not done")
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


class BatchRecorder:
    """Counts a chunk's units in batches, written by a side thread at least every ``every`` seconds.

    The unit loop only ``add``s results; a flusher thread with its own session writes what has
    accumulated (``record_units``: one transaction per batch, each unit once), so progress
    moves every ``every`` seconds however long one provider call takes, and a fast chunk costs
    one transaction per batch instead of one per unit. ``stage(session, counted_units)`` adds the
    domain rows of the counted units to that transaction. A failed write (a database outage)
    keeps its units for the next attempt; ``close()`` writes the rest in the caller's thread and
    raises what the database said, so the task retries with nothing lost or counted twice."""

    def __init__(
        self,
        *,
        open_session: Callable[[], AbstractContextManager[Session]],
        run_id: int,
        every: float,
        stage: Callable[[Session, list[Unit]], None] | None = None,
    ) -> None:
        self._open_session = open_session
        self._run_id = run_id
        self._every = every
        self._stage = stage
        self._pending: list[Unit] = []
        self._lock = threading.Lock()  # guards _pending
        self._write_lock = threading.Lock()  # one batch write at a time
        self._stop = threading.Event()
        self.counted = 0
        self.refused = 0
        #: Set when a write found the run no longer running (cancelled, reaped): stop the loop.
        self.run_ended = False
        self._thread = threading.Thread(target=self._loop, name=f"units-{run_id}", daemon=True)
        self._thread.start()

    def add(self, unit: Unit) -> None:
        with self._lock:
            self._pending.append(unit)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.flush()
            except Exception as exc:  # kept for the next tick, or for close() to raise
                log.warning("event=units_flush_failed run_id=%s error=%s", self._run_id, type(exc).__name__)

    def flush(self) -> None:
        """Write what has accumulated (nothing when another write is under way)."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                with self._open_session() as session:
                    stage = self._stage
                    by_key = {u.key: u for u in batch}
                    counted = record_units(
                        session=session,
                        run_id=self._run_id,
                        units=batch,
                        stage=None if stage is None else (lambda keys: stage(session, [by_key[k] for k in keys])),
                    )
            except BaseException:
                with self._lock:
                    self._pending[:0] = batch
                raise
            self.counted += len(counted)
            self.refused += len(batch) - len(counted)
            if len(counted) < len(batch):
                with self._open_session() as session:
                    self.run_ended = get_run(session=session, run_id=self._run_id).status != RUNNING

    def close(self) -> None:
        """Stop the side thread and write the rest (raises if the database refuses)."""
        self._stop.set()
        self._thread.join()
        self.flush()
