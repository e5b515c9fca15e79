"""The run service: every change to a run's status and counts goes through here.

Each write use case commits exactly once (or rolls back when it raises or rejects).
Counters are changed in SQL, never read-modified-written in Python, and every
status change is a conditional UPDATE, so two workers can never both win a transition.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import BindParameter, Select, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from console.accounts.models import Tenant
from console.audit.service import record_audit
from console.db import JSONType, UTCDateTime, utcnow
from console.errors import BadRequest, InvalidTransition, RunNotFound, TotalAlreadySet
from console.notifications.service import notify_run_terminal
from console.operations import registry, staleness
from console.operations.constants import (
    ACTIVE_STATUSES,
    CANCELLED,
    COMPLETED,
    FAILED,
    OUTCOMES,
    PARTIALLY_SUCCEEDED,
    PROCESSED_AT_RESUME_KEY,
    QUEUED,
    RESUME_ATTEMPTS_KEY,
    RESUMED_AT_KEY,
    RUNNING,
    SUCCEEDED,
    UNIT_OUTCOMES,
)
from console.operations.failure import sanitize_failure_summary
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.summary import SUMMARY_KEYS, normalize_counts

log = logging.getLogger(__name__)

UNIT_KEY_MAX = 255
UNIT_ERROR_MAX = 1000
PHASE_MAX = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --------------------------------------------------------------------------- helpers


def _log(event: str, run: OperationRun, level: int = logging.INFO, **extra: object) -> None:
    tail = "".join(f" {key}={value}" for key, value in extra.items())
    log.log(
        level,
        "event=%s run_id=%s type=%s tenant_id=%s state=%s%s",
        event,
        run.id,
        run.type,
        run.tenant_id,
        run.status,
        tail,
    )


@contextmanager
def _use_case(session: Session) -> Iterator[None]:
    """Roll back on any error, so a failed use case leaves neither changes nor a held lock behind."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


class _JsonSql:
    """SQL fragments over ``summary_counts`` for one dialect.

    Keys are inlined into the SQL, so only the fixed SUMMARY_KEYS are accepted; all data
    travels as bound parameters. Values that are not JSON numbers count as absent (0),
    mirroring the normalizer.
    """

    def __init__(self, dialect: str) -> None:
        if dialect not in ("postgresql", "sqlite"):
            raise NotImplementedError(f"operations service supports postgresql and sqlite, not {dialect}")
        self.pg = dialect == "postgresql"

    @staticmethod
    def _key(key: str) -> str:
        if key not in SUMMARY_KEYS:
            raise ValueError(f"not a summary key: {key!r}")
        return key

    def obj(self, column: str = "summary_counts") -> str:
        """The column as a JSON object ('{}' when NULL or not an object)."""
        if self.pg:
            return f"(CASE WHEN jsonb_typeof({column}) = 'object' THEN {column} ELSE '{{}}'::jsonb END)"
        return f"(CASE WHEN json_type({column}) = 'object' THEN {column} ELSE '{{}}' END)"

    def has_number(self, key: str) -> str:
        key = self._key(key)
        if self.pg:
            return f"(COALESCE(jsonb_typeof(summary_counts -> '{key}'), '') = 'number')"
        return f"(COALESCE(json_type(summary_counts, '$.{key}'), '') IN ('integer', 'real'))"

    def num(self, key: str) -> str:
        key = self._key(key)
        if self.pg:
            return f"(CASE WHEN {self.has_number(key)} THEN (summary_counts ->> '{key}')::numeric ELSE 0 END)"
        return f"(CASE WHEN {self.has_number(key)} THEN json_extract(summary_counts, '$.{key}') ELSE 0 END)"

    def set_counts(self, assignments: Mapping[str, str]) -> str:
        """``summary_counts`` with each key set to an integer SQL expression."""
        if self.pg:
            expr = self.obj()
            for key, value in assignments.items():
                expr = f"jsonb_set({expr}, '{{{self._key(key)}}}', to_jsonb(CAST({value} AS bigint)))"
            return expr
        pairs = ", ".join(f"'$.{self._key(key)}', CAST({value} AS INTEGER)" for key, value in assignments.items())
        return f"json_set({self.obj()}, {pairs})"

    def merge_under(self, param: str) -> str:
        """The bound JSON object ``:param`` overlaid by the stored counts (stored keys win)."""
        if self.pg:
            return f"(CAST(:{param} AS jsonb) || {self.obj()})"
        return f"json_patch(:{param}, {self.obj()})"

    def set_phase(self, param: str) -> str:
        if self.pg:
            return f"jsonb_set({self.obj('context')}, '{{phase}}', to_jsonb(CAST(:{param} AS text)))"
        return f"json_set({self.obj('context')}, '$.phase', :{param})"


def _now_param(name: str, value: datetime) -> BindParameter[datetime]:
    return bindparam(name, value, type_=UTCDateTime())


def _scope_lock_key(type_: str, workspace_id: int, tenant_id: int | None, parent_run_id: int | None) -> int:
    """A stable signed 64-bit key for pg_advisory_xact_lock (Python's hash() is salted per process)."""
    scope = f"operation_runs:{type_}:{workspace_id}:{tenant_id}:{parent_run_id}".encode()
    return int.from_bytes(hashlib.blake2b(scope, digest_size=8).digest(), "big", signed=True)


def _clean_line(value: str, max_len: int) -> str:
    return " ".join(_CONTROL.sub(" ", value).split())[:max_len]


def counts_of(run: OperationRun) -> dict[str, int]:
    """The run's summary counts, normalized (every read goes through this)."""
    return normalize_counts(run.summary_counts)


def derive_outcome(counts: Mapping[str, Any]) -> str:
    """The outcome a bulk run's unit counts imply (zero units is a success)."""
    normalized = normalize_counts(counts)
    failed = normalized.get("failed", 0)
    if failed == 0:
        return SUCCEEDED
    if normalized.get("succeeded", 0) + normalized.get("skipped", 0) > 0:
        return PARTIALLY_SUCCEEDED
    return FAILED


def _load(session: Session, run_id: int) -> OperationRun:
    # populate_existing: counters change in SQL behind the identity map's back.
    stmt = select(OperationRun).where(OperationRun.id == run_id).execution_options(populate_existing=True)
    run = session.scalars(stmt).one_or_none()
    if run is None:
        raise RunNotFound(f"operation run {run_id} not found")
    return run


def _complete(
    session: Session,
    *,
    run_id: int,
    outcome: str,
    from_statuses: Collection[str],
    extra_counts: Mapping[str, int] | None = None,
    failure_summary: str | None = None,
    condition: str = "",
    binds: tuple[BindParameter[Any], ...] = (),
    audit_details: Mapping[str, Any] | None = None,
) -> OperationRun | None:
    """Complete the run if (and only if) it is still in ``from_statuses`` and ``condition`` holds.

    Returns the completed run when this call won, None otherwise; adds the initiator's
    notification and the audit event to the same transaction. Does not commit.
    """
    sql = _JsonSql(_dialect(session))
    sets = ["status = :completed", "outcome = :outcome", "completed_at = :now"]
    params: dict[str, Any] = {"completed": COMPLETED, "outcome": outcome, "run_id": run_id}
    if failure_summary is not None:
        sets.append("failure_summary = :failure_summary")
        params["failure_summary"] = failure_summary
    if extra_counts:
        sets.append(f"summary_counts = {sql.merge_under('extra_counts')}")
        params["extra_counts"] = json.dumps(dict(extra_counts))
    where = "id = :run_id AND status IN :from_statuses" + (f" AND {condition}" if condition else "")
    stmt = text(f"UPDATE operation_runs SET {', '.join(sets)} WHERE {where}").bindparams(
        _now_param("now", utcnow()),
        bindparam("from_statuses", list(from_statuses), expanding=True),
        *binds,
    )
    if session.execute(stmt, params).rowcount != 1:
        return None
    run = _load(session, run_id)
    notify_run_terminal(session=session, run=run)
    details: dict[str, Any] = {"outcome": outcome, "summary_counts": counts_of(run)}
    details.update(audit_details or {})
    record_audit(
        session=session,
        action="run.completed",
        target_type="operation_run",
        target_id=run.id,
        workspace_id=run.workspace_id,
        tenant_id=run.tenant_id,
        user_id=None,
        details=details,
    )
    return run


# --------------------------------------------------------------------------- reads


def get_run(*, session: Session, run_id: int) -> OperationRun:
    """The run with this id, freshly read; raises RunNotFound."""
    return _load(session, run_id)


def _runs_query(
    stmt: Select[Any],
    *,
    workspace_id: int,
    tenant_ids: Collection[int] | None,
    active_only: bool,
    type: str | None,  # noqa: A002
    status: str | None,
    outcome: str | None,
) -> Select[Any]:
    stmt = stmt.where(OperationRun.workspace_id == workspace_id)
    if tenant_ids is not None:
        # An explicit tenant list is an entitlement scope: tenantless runs are not in it.
        stmt = stmt.where(OperationRun.tenant_id.in_(list(tenant_ids)))
    if active_only:
        stmt = stmt.where(OperationRun.status.in_(ACTIVE_STATUSES))
    if type is not None:
        stmt = stmt.where(OperationRun.type == type)
    if status is not None:
        stmt = stmt.where(OperationRun.status == status)
    if outcome is not None:
        stmt = stmt.where(OperationRun.outcome == outcome)
    return stmt


def list_runs(
    *,
    session: Session,
    workspace_id: int,
    tenant_ids: Collection[int] | None,
    active_only: bool = False,
    type: str | None = None,  # noqa: A002 - the contract's field name
    status: str | None = None,
    outcome: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[OperationRun]:
    """Runs in scope, newest first (tenant_ids None = the whole workspace, tenantless runs included)."""
    stmt = _runs_query(
        select(OperationRun),
        workspace_id=workspace_id,
        tenant_ids=tenant_ids,
        active_only=active_only,
        type=type,
        status=status,
        outcome=outcome,
    )
    stmt = (
        stmt.order_by(OperationRun.created_at.desc(), OperationRun.id.desc())
        .limit(max(0, limit))
        .offset(max(0, offset))
        .execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def count_runs(
    *,
    session: Session,
    workspace_id: int,
    tenant_ids: Collection[int] | None,
    active_only: bool = False,
    type: str | None = None,  # noqa: A002
    status: str | None = None,
    outcome: str | None = None,
) -> int:
    """How many runs list_runs would return without limit/offset."""
    stmt = _runs_query(
        select(func.count()).select_from(OperationRun),
        workspace_id=workspace_id,
        tenant_ids=tenant_ids,
        active_only=active_only,
        type=type,
        status=status,
        outcome=outcome,
    )
    return int(session.scalar(stmt) or 0)


# --------------------------------------------------------------------------- lifecycle


def enqueue_run(
    *,
    session: Session,
    type: str,  # noqa: A002 - the contract's field name
    workspace_id: int,
    tenant_id: int | None,
    initiator_user_id: int | None,
    context: dict[str, Any] | None = None,
    parent_run_id: int | None = None,
) -> tuple[OperationRun, bool]:
    """Create a queued run, or return the active run of the same type and scope (created=False)."""
    registry.get(type)  # UnknownOperationType for a type this version does not know
    if context is not None and not isinstance(context, dict):
        raise TypeError("context must be a dict")
    with _use_case(session):
        if _dialect(session) == "postgresql":
            # Two requests for the same scope must not both see "no active run" and both insert:
            # the transaction-scoped lock serializes check-then-insert per scope and is released
            # by the commit below. (SQLite's BEGIN IMMEDIATE already serializes all writers.)
            key = _scope_lock_key(type, workspace_id, tenant_id, parent_run_id)
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        active = session.scalars(
            select(OperationRun)
            .where(
                OperationRun.type == type,
                OperationRun.workspace_id == workspace_id,
                OperationRun.tenant_id.is_(None) if tenant_id is None else OperationRun.tenant_id == tenant_id,
                OperationRun.parent_run_id.is_(None)
                if parent_run_id is None
                else OperationRun.parent_run_id == parent_run_id,
                OperationRun.status.in_(ACTIVE_STATUSES),
            )
            .order_by(OperationRun.created_at, OperationRun.id)
            .limit(1)
            .execution_options(populate_existing=True)
        ).first()
        if active is not None:
            session.commit()
            _log("run_deduplicated", active)
            return active, False
        if tenant_id is not None:
            tenant_workspace = session.scalar(select(Tenant.workspace_id).where(Tenant.id == tenant_id))
            if tenant_workspace != workspace_id:
                raise BadRequest(f"tenant {tenant_id} is not in workspace {workspace_id}")
        run = OperationRun(
            type=type,
            workspace_id=workspace_id,
            tenant_id=tenant_id,
            parent_run_id=parent_run_id,
            initiator_user_id=initiator_user_id,
            status=QUEUED,
            outcome=None,
            summary_counts={},
            context=dict(context or {}),
            created_at=utcnow(),
        )
        session.add(run)
        session.flush()
        record_audit(
            session=session,
            action="run.enqueued",
            target_type="operation_run",
            target_id=run.id,
            workspace_id=workspace_id,
            tenant_id=tenant_id,
            user_id=initiator_user_id,
            details={"type": type, "parent_run_id": parent_run_id},
        )
        session.commit()
    _log("run_enqueued", run)
    return run, True


def mark_running(*, session: Session, run_id: int, stage: Callable[[OperationRun], None] | None = None) -> OperationRun:
    """queued -> running; a run already running is returned unchanged (a redelivered task resumes).

    ``stage(run)`` writes what starts with the run in the same transaction (a review pack's
    queued -> generating): no reader ever sees one without the other; if it raises, nothing changes."""
    with _use_case(session):
        now = utcnow()
        result = session.execute(
            update(OperationRun)
            .where(OperationRun.id == run_id, OperationRun.status == QUEUED)
            .values(status=RUNNING, started_at=now, heartbeat_at=now)
            .execution_options(synchronize_session=False)
        )
        run = _load(session, run_id)
        if result.rowcount != 1 and run.status != RUNNING:
            raise InvalidTransition(f"run {run_id} is {run.status}, cannot start")
        if stage is not None:
            stage(run)
        session.commit()
    _log("run_started" if result.rowcount == 1 else "run_resumed", run)
    return run


def set_total(*, session: Session, run_id: int, total: int) -> None:
    """Write the run's unit total once (and processed=0 with it, so progress is counted from the start)."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise ValueError(f"total must be a non-negative int, got {total!r}")
    with _use_case(session):
        sql = _JsonSql(_dialect(session))
        stmt = text(
            f"UPDATE operation_runs SET summary_counts = "
            f"{sql.set_counts({'total': ':total', 'processed': sql.num('processed')})} "
            f"WHERE id = :run_id AND status IN :active AND NOT {sql.has_number('total')}"
        ).bindparams(bindparam("active", sorted(ACTIVE_STATUSES), expanding=True))
        written = session.execute(stmt, {"total": total, "run_id": run_id}).rowcount == 1
        run = _load(session, run_id)
        if not written:
            if run.status not in ACTIVE_STATUSES:
                raise InvalidTransition(f"run {run_id} is {run.status}, cannot set total")
            existing = counts_of(run).get("total")
            if existing != total:
                _log("total_rejected", run, logging.WARNING, existing=existing, requested=total)
                raise TotalAlreadySet(f"run {run_id} already has total {existing}, refused {total}")
        session.commit()
    if written:
        _log("total_set", run, total=total)


def record_unit(*, session: Session, run_id: int, unit_key: str, outcome: str, error: str | None = None) -> bool:
    """Count one unit exactly once; False for a duplicate, a unit past the total, or a run not running."""
    units = [Unit(unit_key, outcome, error)]
    return bool(record_units(session=session, run_id=run_id, units=units, complete_when_last=False))


def record_fanout_unit(*, session: Session, run_id: int, unit_key: str, outcome: str, error: str | None = None) -> bool:
    """``record_unit`` for a fan-out child: when this unit is the run's last, the run completes in
    the same transaction (the outcome its counts imply)."""
    units = [Unit(unit_key, outcome, error)]
    return bool(record_units(session=session, run_id=run_id, units=units, complete_when_last=True))


class Unit(NamedTuple):
    """One unit's result for ``record_units``."""

    key: str
    outcome: str
    error: str | None = None


def record_units(
    *,
    session: Session,
    run_id: int,
    units: Sequence[Unit],
    complete_when_last: bool = True,
    stage: Callable[[list[str]], None] | None = None,
) -> list[str]:
    """Count a batch of units, each exactly once, in ONE transaction; returns the keys this call counted.

    The chunked fan-out's write: a multi-row ledger insert that skips keys already counted (a
    redelivered or duplicated chunk), one counter UPDATE that adds only what was inserted, the
    domain rows ``stage(counted_keys)`` adds (e.g. ``restored_at``), and — when the batch holds
    the run's last unit — the run's completion. ``processed`` therefore never exceeds the ledger
    rows, and equals them when the transaction commits. A batch that would pass ``total``, or a
    run that is not running, counts nothing (all rolled back)."""
    for unit in units:
        if not isinstance(unit.key, str) or not unit.key or len(unit.key) > UNIT_KEY_MAX:
            raise ValueError(f"unit_key must be a non-empty string of at most {UNIT_KEY_MAX} chars")
        if unit.outcome not in UNIT_OUTCOMES:
            raise ValueError(f"unit outcome must be one of {sorted(UNIT_OUTCOMES)}, got {unit.outcome!r}")
    unique = list({u.key: u for u in units}.values())
    if not unique:
        return []
    dialect = _dialect(session)
    sql = _JsonSql(dialect)
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = utcnow()
    rows = [
        {
            "run_id": run_id,
            "unit_key": u.key,
            "outcome": u.outcome,
            "error": sanitize_failure_summary(u.error, max_len=UNIT_ERROR_MAX) if u.error else None,
            "created_at": now,
        }
        for u in unique
    ]
    table = OperationRunUnit.__table__
    with _use_case(session):
        ledger = (
            insert(table)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["run_id", "unit_key"])
            .returning(table.c.unit_key, table.c.outcome)
        )
        try:
            inserted = session.execute(ledger).all()
        except IntegrityError as exc:  # the run_id foreign key
            session.rollback()
            raise RunNotFound(f"operation run {run_id} not found") from exc
        if not inserted:
            session.rollback()
            log.debug("event=unit_duplicate run_id=%s units=%s", run_id, len(unique))
            return []
        added: dict[str, int] = {"processed": len(inserted)}
        for _key, outcome in inserted:
            added[outcome] = added.get(outcome, 0) + 1
        assignments = {key: f"{sql.num(key)} + {n}" for key, n in added.items()}
        counter = (
            text(
                f"UPDATE operation_runs SET summary_counts = {sql.set_counts(assignments)}, heartbeat_at = :now "
                f"WHERE id = :run_id AND status = :running AND {sql.has_number('total')} "
                f"AND {sql.num('processed')} + {len(inserted)} <= {sql.num('total')}"
                f" RETURNING summary_counts"
            )
            .bindparams(_now_param("now", now))
            .columns(summary_counts=JSONType)
        )
        counts = session.execute(counter, {"run_id": run_id, "running": RUNNING}).scalar_one_or_none()
        if counts is None:
            session.rollback()
            keys = ",".join(key for key, _outcome in inserted[:5])
            log.warning("event=unit_rejected run_id=%s units=%s unit_key=%s", run_id, len(inserted), keys)
            return []
        keys = [key for key, _outcome in inserted]
        if stage is not None:
            stage(keys)
        completed = None
        counts = normalize_counts(counts)
        if complete_when_last and counts.get("processed") == counts.get("total"):
            completed = _complete(session, run_id=run_id, outcome=derive_outcome(counts), from_statuses=(RUNNING,))
        session.commit()
    log.debug("event=units_recorded run_id=%s units=%s", run_id, len(keys))
    if completed is not None:
        _log("run_completed", completed, outcome=completed.outcome)
    return keys


def heartbeat(*, session: Session, run_id: int) -> None:
    """Tell the reaper the worker is alive (no-op unless the run is running)."""
    with _use_case(session):
        result = session.execute(
            update(OperationRun)
            .where(OperationRun.id == run_id, OperationRun.status == RUNNING)
            .values(heartbeat_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            run = _load(session, run_id)
            log.info("event=heartbeat_ignored run_id=%s state=%s", run_id, run.status)
        session.commit()


def set_phase(*, session: Session, run_id: int, phase: str) -> None:
    """Record the current phase of a running (phased) run in context.phase, with a heartbeat."""
    label = _clean_line(phase, PHASE_MAX) if isinstance(phase, str) else ""
    if not label:
        raise ValueError("phase must be a non-empty string")
    with _use_case(session):
        sql = _JsonSql(_dialect(session))
        stmt = text(
            f"UPDATE operation_runs SET context = {sql.set_phase('phase')}, heartbeat_at = :now "
            f"WHERE id = :run_id AND status = :running"
        ).bindparams(_now_param("now", utcnow()))
        changed = session.execute(stmt, {"phase": label, "run_id": run_id, "running": RUNNING}).rowcount == 1
        run = _load(session, run_id)
        session.commit()
    if changed:
        _log("phase_changed", run, phase=json.dumps(label))
    else:
        _log("phase_ignored", run, phase=json.dumps(label))


def complete_run(
    *,
    session: Session,
    run_id: int,
    outcome: str,
    summary: Mapping[str, Any] | None = None,
    failure_summary: str | None = None,
) -> OperationRun:
    """Complete an active run; the terminal summary adds keys but never overwrites running counts."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, got {outcome!r}")
    extra = normalize_counts(summary) if summary is not None else {}
    with _use_case(session):
        run = _complete(
            session,
            run_id=run_id,
            outcome=outcome,
            from_statuses=ACTIVE_STATUSES,
            extra_counts=extra,
            failure_summary=sanitize_failure_summary(failure_summary) if failure_summary else None,
        )
        if run is None:
            current = _load(session, run_id)
            raise InvalidTransition(f"run {run_id} is {current.status}, cannot complete")
        session.commit()
    _log("run_completed", run, outcome=outcome)
    return run


def fail_run(*, session: Session, run_id: int, reason: str) -> OperationRun | None:
    """Complete an active run as failed with a safe one-line reason; None if it already completed."""
    with _use_case(session):
        run = _complete(
            session,
            run_id=run_id,
            outcome=FAILED,
            from_statuses=ACTIVE_STATUSES,
            failure_summary=sanitize_failure_summary(reason),
        )
        if run is None:
            current = _load(session, run_id)
            session.commit()
            _log("fail_ignored", current)
            return None
        session.commit()
    _log("run_completed", run, outcome=FAILED)
    return run


def cancel_run(*, session: Session, run_id: int, user_id: int | None, user_name: str) -> OperationRun:
    """queued/running -> completed/cancelled; InvalidTransition (409) when the run already ended.

    One conditional UPDATE decides a cancel racing a completion: exactly one of them wins, so a
    cancelled run never completes afterwards (writers count nothing on a run that is not
    running, and their unit loops stop at the next unit). The counts stay as they are
    (``processed`` = the units done). The type's ``on_fail`` clean-up (the pack marked failed,
    no file) commits with it, with the initiator's notification and a ``run.cancelled`` audit
    event naming who cancelled (written first: the timeline reads the request, then the end)."""
    with _use_case(session):
        target = _load(session, run_id)
        record_audit(
            session=session,
            action="run.cancelled",
            target_type="operation_run",
            target_id=run_id,
            workspace_id=target.workspace_id,
            tenant_id=target.tenant_id,
            user_id=user_id,
            details={"message": f"cancelled by {user_name}"},
        )
        run = _complete(
            session,
            run_id=run_id,
            outcome=CANCELLED,
            from_statuses=(QUEUED, RUNNING),
            audit_details={"cancelled_by": user_name},
        )
        if run is None:
            current = _load(session, run_id)
            session.rollback()
            ended = f"{current.status} ({current.outcome})" if current.outcome else current.status
            raise InvalidTransition(f"run {run_id} is {ended}: only a queued or running run can be cancelled")
        registry.clean_up_failed(run.type, session=session, run_id=run_id, reason=f"cancelled by {user_name}")
        session.commit()
    _log("run_cancelled", run, by=json.dumps(user_name))
    return run


def merge_run_context(*, session: Session, run_id: int, values: Mapping[str, Any]) -> None:
    """Add keys to a run's context (e.g. ``retried_as``) in its own use case."""
    with _use_case(session):
        run = _load(session, run_id)
        context = dict(run.context) if isinstance(run.context, dict) else {}
        context.update(values)
        session.execute(
            update(OperationRun)
            .where(OperationRun.id == run_id)
            .values(context=context)
            .execution_options(synchronize_session="fetch")
        )
        session.commit()


def maybe_complete_bulk_run(*, session: Session, run_id: int) -> bool:
    """Complete a running bulk run once processed == total; True only for the caller that completed it."""
    with _use_case(session):
        run = _load(session, run_id)
        counts = counts_of(run)
        if run.status != RUNNING or "total" not in counts or counts.get("processed", 0) != counts["total"]:
            session.commit()
            return False
        # Once processed == total, record_unit refuses further units, so these counts are final;
        # the conditional UPDATE makes sure only one concurrent caller completes the run.
        sql = _JsonSql(_dialect(session))
        outcome = derive_outcome(counts)
        done = _complete(
            session,
            run_id=run_id,
            outcome=outcome,
            from_statuses=(RUNNING,),
            condition=f"{sql.has_number('total')} AND {sql.num('processed')} = {sql.num('total')}",
        )
        session.commit()
    if done is None:
        return False
    _log("run_completed", done, outcome=outcome)
    return True


def resume_stale(
    *, session: Session, now: datetime, stale_after_seconds: int, max_attempts: int
) -> list[tuple[int, str]]:
    """Give stale runs of counted families another worker; returns ``(run id, type)`` to dispatch again.

    A run whose heartbeat is older than ``stale_after_seconds`` lost its worker (killed, OOM, a
    lost node): its ledger says which units are done, so dispatching its task again finishes
    exactly the rest. Each resume bumps ``context.resume_attempts`` and the heartbeat (the run
    is not stale again until the new worker had its chance) and writes a ``run.resumed`` audit
    event; a run that already had ``max_attempts`` is left to ``reap_stale``, which fails it."""
    if stale_after_seconds <= 0:
        raise ValueError("stale thresholds must be positive")
    if max_attempts <= 0:
        return []
    silent = staleness.silent_running(now, stale_after_seconds)
    resumed: list[tuple[OperationRun, int]] = []
    with _use_case(session):
        stale = session.scalars(
            select(OperationRun).where(silent, OperationRun.parent_run_id.is_(None)).order_by(OperationRun.id)
        ).all()
        for run in stale:
            context = dict(run.context) if isinstance(run.context, dict) else {}
            attempts = context.get(RESUME_ATTEMPTS_KEY, 0)
            attempts = attempts if isinstance(attempts, int) and not isinstance(attempts, bool) else 0
            if not registry.is_counted(run.type) or attempts >= max_attempts:
                continue
            context[RESUME_ATTEMPTS_KEY] = attempts + 1
            context[RESUMED_AT_KEY] = now.isoformat()
            context[PROCESSED_AT_RESUME_KEY] = normalize_counts(run.summary_counts).get("processed", 0)
            # Re-checked in the UPDATE: a heartbeat that landed since the SELECT means the worker lives.
            changed = session.execute(
                update(OperationRun)
                .where(OperationRun.id == run.id, silent)
                .values(heartbeat_at=now, context=context)
                .execution_options(synchronize_session=False)
            ).rowcount
            if changed != 1:
                continue
            record_audit(
                session=session,
                action="run.resumed",
                target_type="operation_run",
                target_id=run.id,
                workspace_id=run.workspace_id,
                tenant_id=run.tenant_id,
                details={"attempt": attempts + 1, "max_attempts": max_attempts},
            )
            resumed.append((run, attempts + 1))
        session.commit()
    for run, attempt in resumed:
        _log("run_resumed_by_reaper", run, attempt=attempt, max_attempts=max_attempts)
    return [(run.id, run.type) for run, _attempt in resumed]


def reap_stale(
    *, session: Session, now: datetime, stale_after_seconds: int, queued_stale_after_seconds: int
) -> list[int]:
    """Fail running runs without a recent heartbeat and queued runs that never started; returns their ids."""
    if stale_after_seconds <= 0 or queued_stale_after_seconds <= 0:
        raise ValueError("stale thresholds must be positive")
    running_cutoff = staleness.cutoff(now, stale_after_seconds)
    queued_cutoff = staleness.cutoff(now, queued_stale_after_seconds)
    last_sign_of_life = staleness.last_sign_of_life()
    reaped: list[OperationRun] = []
    with _use_case(session):
        running = session.execute(
            select(OperationRun.id, last_sign_of_life)
            .where(staleness.silent_running(now, stale_after_seconds))
            .order_by(OperationRun.id)
        ).all()
        queued = session.execute(
            select(OperationRun.id)
            .where(staleness.never_started(now, queued_stale_after_seconds))
            .order_by(OperationRun.id)
        ).all()
        # (run, the status it must still be in, the reason, the condition re-checked in the UPDATE)
        targets: list[tuple[int, str, str, str, datetime]] = [
            (
                run_id,
                RUNNING,
                staleness.running_reason(
                    int((now - last).total_seconds()) if last is not None else stale_after_seconds,
                    stale_after_seconds,
                ),
                staleness.RUNNING_STALE_SQL,
                running_cutoff,
            )
            for run_id, last in running
        ] + [
            (
                run_id,
                QUEUED,
                staleness.queued_reason(queued_stale_after_seconds),
                staleness.QUEUED_STALE_SQL,
                queued_cutoff,
            )
            for (run_id,) in queued
        ]
        for run_id, status, reason, condition, cutoff in targets:
            # Re-checked in the UPDATE: a heartbeat (or a start) that landed since the SELECT saves the run.
            run = _complete(
                session,
                run_id=run_id,
                outcome=FAILED,
                from_statuses=(status,),
                failure_summary=reason,
                condition=condition,
                binds=(_now_param("cutoff", cutoff),),
                audit_details={"reaped": True},
            )
            if run is not None:
                # Nothing half-made: the type's own clean-up (a snapshot left collecting, a pack
                # generating) commits with the run's failure.
                registry.clean_up_failed(run.type, session=session, run_id=run_id, reason=reason)
                reaped.append(run)
        session.commit()
    for run in reaped:
        _log("run_reaped", run, outcome=FAILED)
    return [run.id for run in reaped]
