"""Read models of operation runs: what the UI surfaces show, as plain frozen dataclasses.

Components never query: they call these functions with the request's session and turn the
results into Dash props. Every list of runs a user sees is built by ``visible_runs`` — one
builder that applies ``console.access.run_visibility_filter`` (or, for one tenant, its
equivalent on the principal in memory) — so no surface can show a run ``require_run`` would
refuse."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, Select, and_, bindparam, case, false, func, or_, select
from sqlalchemy.orm import Session, aliased

from console.access import Principal, parse_id, require_tenant, run_visibility_filter, run_visible
from console.accounts.models import Tenant, User
from console.audit.models import AuditEvent
from console.db import utcnow
from console.errors import NotFound
from console.operations import registry, staleness
from console.operations.constants import (
    ACTIVE_STATUSES,
    COMPLETED,
    FAILED,
    OUTCOME_LABELS,
    PARTIALLY_SUCCEEDED,
    SUCCEEDED,
)
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.search import search_clause
from console.operations.summary import normalize_counts
from console.review_packs.models import ReviewPack

# --------------------------------------------------------------------------- run lists


@dataclass(frozen=True)
class RunFilters:
    """The operations list's filters (validated by the page; ``tenant_id`` is checked by ``run_page``)."""

    type: str | None = None
    status: str | None = None
    outcome: str | None = None
    tenant_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    #: Free text: a run id ("42" or "#42"), or part of the type label, the initiator's name or
    #: the failure text (case-insensitive).
    q: str | None = None


#: The list's status filter value for "queued or running" (what the overview's "Active" links to).
ACTIVE_FILTER: Final = "active"

SORTABLE: Final = ("id", "type", "tenant", "status", "outcome", "created_at", "completed_at")
DEFAULT_SORT: Final[tuple[tuple[str, str], ...]] = (("created_at", "desc"),)


@dataclass(frozen=True)
class RowsRequest:
    """One block of a list: rows ``start`` (inclusive) to ``end`` (exclusive), sorted by ``sort`` keys."""

    start: int
    end: int
    sort: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RunRow:
    """One run in a list, as plain values (what the progress contract and the tables need)."""

    id: int
    type: str
    status: str
    summary_counts: object
    context: object
    created_at: datetime
    started_at: datetime | None
    tenant_name: str | None
    outcome: str | None = None
    completed_at: datetime | None = None
    tenant_id: int | None = None
    workspace_id: int | None = None
    heartbeat_at: datetime | None = None

    def may_act(self, principal: Principal) -> bool:
        """May ``principal`` cancel or retry this run (the capability that starts its type)?"""
        spec = registry.find(self.type)
        if spec is None or self.tenant_id is None or self.workspace_id is None:
            return False
        return spec.capability in principal.capabilities_in(workspace_id=self.workspace_id, tenant_id=self.tenant_id)


@dataclass(frozen=True)
class RunPage:
    rows: tuple[RunRow, ...]
    total: int  # all runs matching, not only this page's — at most COUNT_LIMIT
    #: False when more than COUNT_LIMIT runs match (``total`` is then COUNT_LIMIT).
    exact: bool = True


#: The list counts matching runs up to this many: counting a million visible runs costs a
#: full scan on every page and poll (150 ms+ at 1,000,000 runs); past it the list says "more than".
COUNT_LIMIT: Final = 10_000


_RUN_COLUMNS: Final = (
    OperationRun.id,
    OperationRun.type,
    OperationRun.status,
    OperationRun.summary_counts,
    OperationRun.context,
    OperationRun.created_at,
    OperationRun.started_at,
    Tenant.name.label("tenant_name"),
    OperationRun.outcome,
    OperationRun.completed_at,
    OperationRun.tenant_id,
    OperationRun.workspace_id,
    OperationRun.heartbeat_at,
)
_NEWEST_FIRST: Final = (OperationRun.created_at.desc(), OperationRun.id.desc())


def _run_row(row: Any) -> RunRow:
    return RunRow(*row[: len(_RUN_COLUMNS)])


def visible_runs(
    *columns: Any,
    session: Session,
    principal: Principal,
    workspace_id: int | None = None,
    tenant_id: int | None = None,
    filters: RunFilters | None = None,
    active_only: bool = False,
    top_level_only: bool = False,
) -> Select[Any]:
    """``SELECT columns`` over the runs the principal may see (tenant name outer-joined), narrowed.

    ``tenant_id`` (with its ``workspace_id``) narrows to one tenant: the visibility filter
    restricted to one tenant is "the principal holds operations.view there", decided in memory
    (no query for the user's tenants). ``filters`` adds type/status/outcome/created-date
    clauses; its ``tenant_id`` is the caller's to check and pass as ``tenant_id``."""
    stmt = select(*columns).select_from(OperationRun).outerjoin(Tenant, Tenant.id == OperationRun.tenant_id)
    if tenant_id is not None:
        if workspace_id is None:
            raise ValueError("a tenant scope needs the tenant's workspace_id")
        if "operations.view" in principal.capabilities_in(workspace_id=workspace_id, tenant_id=tenant_id):
            stmt = stmt.where(OperationRun.workspace_id == workspace_id, OperationRun.tenant_id == tenant_id)
        else:
            stmt = stmt.where(false())
    else:
        stmt = stmt.where(run_visibility_filter(session=session, principal=principal))
        if workspace_id is not None:
            stmt = stmt.where(OperationRun.workspace_id == workspace_id)
    if active_only:
        stmt = stmt.where(OperationRun.status.in_(sorted(ACTIVE_STATUSES)))
    if top_level_only:
        stmt = stmt.where(OperationRun.parent_run_id.is_(None))
    if filters is not None:
        stmt = stmt.where(*_filter_clauses(filters, session=session))
    return stmt


def _filter_clauses(filters: RunFilters, *, session: Session) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    if filters.type:
        clauses.append(OperationRun.type == filters.type)
    if filters.status == ACTIVE_FILTER:
        clauses.append(OperationRun.status.in_(sorted(ACTIVE_STATUSES)))
    elif filters.status:
        clauses.append(OperationRun.status == filters.status)
    if filters.outcome:
        clauses.append(OperationRun.outcome == filters.outcome)
    if filters.date_from:
        clauses.append(OperationRun.created_at >= datetime.combine(filters.date_from, time.min, tzinfo=UTC))
    if filters.date_to:
        clauses.append(
            OperationRun.created_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, tzinfo=UTC)
        )
    if filters.q:
        clauses.append(search_clause(filters.q, session=session))
    return clauses


def _sort_column(key: str) -> ColumnElement[Any]:
    return {
        "id": OperationRun.id,
        "type": OperationRun.type,
        "tenant": Tenant.name,
        "status": OperationRun.status,
        "outcome": OperationRun.outcome,
        "created_at": OperationRun.created_at,
        "completed_at": OperationRun.completed_at,
    }[key]


def run_page(*, session: Session, principal: Principal, filters: RunFilters, request: RowsRequest) -> RunPage:
    """One block of the operations list and how many runs match (two statements).

    A tenant filter naming a tenant the user may not see answers NotFound (404), one without
    ``operations.view`` Forbidden (403) — like its dashboard would."""
    scope: dict[str, int] = {}
    if filters.tenant_id is not None:
        tenant = require_tenant(
            session=session, principal=principal, tenant_id=filters.tenant_id, capability="operations.view"
        )
        scope = {"workspace_id": tenant.workspace_id, "tenant_id": tenant.id}
    # One builder call for both statements: the visibility filter may cost a query of its own.
    runs = visible_runs(*_RUN_COLUMNS, session=session, principal=principal, filters=filters, **scope)
    capped = runs.with_only_columns(OperationRun.id).limit(COUNT_LIMIT + 1).subquery()
    counted = int(session.scalar(select(func.count()).select_from(capped)) or 0)
    order = []
    for key, direction in request.sort:
        col = _sort_column(key)
        order.append(col.asc().nulls_last() if direction == "asc" else col.desc().nulls_last())
    order.append(OperationRun.id.desc())
    stmt = runs.order_by(*order).offset(request.start).limit(request.end - request.start)
    rows = tuple(_run_row(r) for r in session.execute(stmt))
    return RunPage(rows=rows, total=min(counted, COUNT_LIMIT), exact=counted <= COUNT_LIMIT)


def active_runs(
    *, session: Session, principal: Principal, workspace_id: int, tenant_id: int | None, limit: int
) -> tuple[list[RunRow], int]:
    """The newest ``limit`` active top-level runs in a workspace (or one of its tenants) and how
    many there are in all (one statement: the total is a window count)."""
    stmt = (
        visible_runs(
            *_RUN_COLUMNS,
            func.count().over().label("total"),
            session=session,
            principal=principal,
            workspace_id=workspace_id,
            tenant_id=tenant_id,
            active_only=True,
            top_level_only=True,
        )
        .order_by(*_NEWEST_FIRST)
        .limit(limit)
    )
    rows = session.execute(stmt).all()
    return [_run_row(r) for r in rows], (rows[0].total if rows else 0)


def recent_runs(
    *, session: Session, principal: Principal, workspace_id: int, tenant_id: int, limit: int
) -> list[RunRow]:
    """A tenant's newest runs (empty without ``operations.view`` on it)."""
    stmt = (
        visible_runs(
            *_RUN_COLUMNS, session=session, principal=principal, workspace_id=workspace_id, tenant_id=tenant_id
        )
        .order_by(*_NEWEST_FIRST)
        .limit(limit)
    )
    return [_run_row(r) for r in session.execute(stmt)]


# --------------------------------------------------------------------------- one run (the run viewer)


@dataclass(frozen=True)
class UnitRow:
    unit_key: str
    outcome: str
    error: str | None
    id: int | None = None  # the ledger row's id (the API's units cursor)
    #: What the run viewer calls the unit (the type's ``unit_labels``), None: the key itself.
    label: str | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a run (an audit event, or its start), for the run viewer."""

    at: datetime
    event: str  # queued | started | resumed | cancelled | completed | the audit action
    who: str | None  # the user who did it; None: the console itself (a worker, the reaper)
    detail: str | None = None


#: Audit action -> timeline event.
_TIMELINE_EVENTS: Final = {
    "run.enqueued": "queued",
    "run.resumed": "resumed",
    "run.cancelled": "cancelled",
    "run.completed": "completed",
}
_TIMELINE_ORDER: Final = {"queued": 0, "started": 1, "cancelled": 2, "completed": 4}
TIMELINE_LIMIT: Final = 50


def run_timeline(*, session: Session, run_id: int, started_at: datetime | None) -> tuple[TimelineEntry, ...]:
    """The run's audit events (who and when, oldest first) with its start between them: one
    statement, on the ``ix_audit_events_target`` index."""
    rows = session.execute(
        select(AuditEvent.action, AuditEvent.created_at, AuditEvent.details, User.name)
        .outerjoin(User, User.id == AuditEvent.user_id)
        .where(AuditEvent.target_type == "operation_run", AuditEvent.target_id == run_id)
        .order_by(AuditEvent.id)
        .limit(TIMELINE_LIMIT)
    )
    entries = [
        TimelineEntry(at, _TIMELINE_EVENTS.get(action, action), who, _timeline_detail(action, details))
        for action, at, details, who in rows
    ]
    if started_at is not None:
        entries.append(TimelineEntry(started_at, "started", None))
    # Events of the same instant in the order they happen (a cancel writes both in one commit).
    return tuple(sorted(entries, key=lambda e: (_utc(e.at), _TIMELINE_ORDER.get(e.event, 3))))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _timeline_detail(action: str, details: object) -> str | None:
    details = details if isinstance(details, dict) else {}
    if action == "run.completed":
        outcome = details.get("outcome")
        return OUTCOME_LABELS.get(outcome) if isinstance(outcome, str) else None
    if action == "run.resumed":
        attempt, most = details.get("attempt"), details.get("max_attempts")
        return f"attempt {attempt} of {most}" if isinstance(attempt, int) and isinstance(most, int) else None
    return None


@dataclass(frozen=True)
class RunSnapshot:
    """Everything the run viewer shows about one run, as plain values (no ORM objects)."""

    id: int
    type: str
    status: str
    outcome: str | None
    summary_counts: dict[str, int]
    context: dict[str, Any]
    failure_summary: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    tenant_id: int | None
    tenant_name: str | None
    initiator_name: str | None
    pack_id: int | None = None
    pack_status: str | None = None
    pack_downloadable: bool = False
    heartbeat_at: datetime | None = None
    units: tuple[UnitRow, ...] | None = None  # None: not a counted run (or not loaded)
    timeline: tuple[TimelineEntry, ...] | None = None  # None: not loaded
    #: The viewer holds the capability that starts this type (so may cancel and retry it).
    may_act: bool = False


_PACK = aliased(ReviewPack)
#: Built once: constructing this statement (joins, an aliased table) costs more CPU than running
#: it, and every poll of every open run page runs it. Plain columns: no ORM objects to load.
_RUN_ROW = (
    select(
        OperationRun.id,
        OperationRun.workspace_id,
        OperationRun.tenant_id,
        OperationRun.initiator_user_id,
        OperationRun.type,
        OperationRun.status,
        OperationRun.outcome,
        OperationRun.summary_counts,
        OperationRun.context,
        OperationRun.failure_summary,
        OperationRun.created_at,
        OperationRun.started_at,
        OperationRun.completed_at,
        OperationRun.heartbeat_at,
        Tenant.workspace_id.label("tenant_workspace_id"),
        Tenant.name.label("tenant_name"),
        User.name.label("initiator_name"),
        _PACK.id.label("pack_id"),
        _PACK.status.label("pack_status"),
        _PACK.expires_at.label("pack_expires_at"),
    )
    .outerjoin(Tenant, Tenant.id == OperationRun.tenant_id)
    .outerjoin(User, User.id == OperationRun.initiator_user_id)
    .outerjoin(_PACK, _PACK.operation_run_id == OperationRun.id)
    .where(OperationRun.id == bindparam("run_id"))
    .order_by(_PACK.id.desc())
    .limit(1)
)


def visible_run_row(*, session: Session, principal: Principal, run_id: object) -> Any:
    """The run's row — its columns, ``tenant_workspace_id``, ``tenant_name``, ``initiator_name``
    and its latest review pack's ``pack_id``/``pack_status``/``pack_expires_at`` — if the
    principal may see it (NotFound otherwise), in **one** statement."""
    row = session.execute(_RUN_ROW, {"run_id": parse_id(run_id)}).first()
    # The same rule as access.require_run, on the row's values: no second query.
    if row is None or not run_visible(
        principal,
        workspace_id=row.workspace_id,
        tenant_id=row.tenant_id,
        tenant_workspace_id=row.tenant_workspace_id,
        initiator_user_id=row.initiator_user_id,
    ):
        raise NotFound("run")
    return row


def run_snapshot(*, session: Session, principal: Principal, run_id: object) -> RunSnapshot:
    """The run if the principal may see it (NotFound otherwise), in **one** statement (no units)."""
    row = visible_run_row(session=session, principal=principal, run_id=run_id)
    downloadable = bool(
        row.pack_id is not None
        and row.pack_status == "ready"
        # Past expires_at the pack is expired already (the expiry pass runs every minute): no link.
        and (row.pack_expires_at is None or _utc(row.pack_expires_at) > utcnow())
        and row.tenant_workspace_id is not None
        and "review_pack.view"
        in principal.capabilities_in(workspace_id=row.tenant_workspace_id, tenant_id=row.tenant_id)
    )
    return RunSnapshot(
        id=row.id,
        type=row.type,
        status=row.status,
        outcome=row.outcome,
        summary_counts=normalize_counts(row.summary_counts),
        context=dict(row.context) if isinstance(row.context, dict) else {},
        failure_summary=row.failure_summary,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        tenant_id=row.tenant_id,
        tenant_name=row.tenant_name if row.tenant_workspace_id is not None else None,
        initiator_name=row.initiator_name,
        pack_id=row.pack_id,
        pack_status=row.pack_status,
        pack_downloadable=downloadable,
        heartbeat_at=row.heartbeat_at,
        may_act=_may_act(principal, row),
    )


def _may_act(principal: Principal, row: Any) -> bool:
    spec = registry.find(row.type)
    if spec is None or row.tenant_id is None or row.tenant_workspace_id is None:
        return False
    return spec.capability in principal.capabilities_in(workspace_id=row.tenant_workspace_id, tenant_id=row.tenant_id)


def run_units(
    *, session: Session, run_id: int, limit: int, type_: str | None = None, tenant_id: int | None = None
) -> tuple[UnitRow, ...]:
    """The run's ledger rows, failures first, then in the order they were recorded (one statement;
    with ``type_``, named by the type's ``unit_labels`` hook: at most one more)."""
    failed_first = case((OperationRunUnit.outcome == "failed", 0), else_=1)
    rows = session.execute(
        select(OperationRunUnit.unit_key, OperationRunUnit.outcome, OperationRunUnit.error)
        .where(OperationRunUnit.run_id == run_id)
        .order_by(failed_first, OperationRunUnit.id)
        .limit(limit)
    )
    units = [UnitRow(key, outcome, error) for key, outcome, error in rows]
    labels = registry.unit_labels(type_, session=session, tenant_id=tenant_id, keys=[u.unit_key for u in units])
    return tuple(UnitRow(u.unit_key, u.outcome, u.error, label=labels.get(u.unit_key)) for u in units)


# --------------------------------------------------------------------------- one tenant (the dashboard)


@dataclass(frozen=True)
class TenantHealth:
    runs_30d: int
    completed_30d: int
    succeeded_30d: int
    active: int
    last_inventory_sync: datetime | None


@dataclass(frozen=True)
class RunBrief:
    id: int
    type: str
    at: datetime  # completed_at for failed runs, last sign of life for running ones
    failure_summary: str | None = None


@dataclass(frozen=True)
class DayCount:
    """How many runs created on ``day`` have this status and outcome."""

    day: date
    status: str
    outcome: str | None
    count: int


@dataclass(frozen=True)
class RunDuration:
    type: str
    seconds: float


HEALTH_DAYS: Final = 30


def tenant_health(
    *, session: Session, tenant_id: int, now: datetime, sync_type: str, days: Sequence[DayCount] | None = None
) -> TenantHealth:
    """The KPI numbers for one tenant (three small aggregate statements); ``sync_type``: the
    operation type whose latest successful completion is "last inventory sync". ``days``: the
    tenant's ``runs_per_day`` since ``now - HEALTH_DAYS`` when the caller read them anyway (the
    dashboard's chart): the 30-day numbers are summed from them instead of a second scan."""
    since = now - timedelta(days=HEALTH_DAYS)
    runs = completed = succeeded = 0
    grouped = (
        ((d.status, d.outcome, d.count) for d in days)
        if days is not None
        else session.execute(
            select(OperationRun.status, OperationRun.outcome, func.count())
            .where(OperationRun.tenant_id == tenant_id, OperationRun.created_at >= since)
            .group_by(OperationRun.status, OperationRun.outcome)
        )
    )
    for status, outcome, n in grouped:
        runs += n
        if status == COMPLETED:
            completed += n
            if outcome == SUCCEEDED:
                succeeded += n
    active = session.scalar(
        select(func.count())
        .select_from(OperationRun)
        .where(OperationRun.tenant_id == tenant_id, OperationRun.status.in_(ACTIVE_STATUSES))
    )
    last_sync = session.scalar(
        select(func.max(OperationRun.completed_at)).where(
            OperationRun.tenant_id == tenant_id,
            OperationRun.type == sync_type,
            OperationRun.status == COMPLETED,
            OperationRun.outcome.in_((SUCCEEDED, PARTIALLY_SUCCEEDED)),
        )
    )
    if last_sync is not None and last_sync.tzinfo is None:
        last_sync = last_sync.replace(tzinfo=UTC)  # max() bypasses the column type on SQLite
    return TenantHealth(runs, completed, succeeded, int(active or 0), last_sync)


def failed_runs(*, session: Session, tenant_id: int, since: datetime, limit: int) -> list[RunBrief]:
    """The tenant's runs that completed as failed since ``since``, newest first."""
    return [
        RunBrief(run_id, type_, completed_at, failure_summary)
        for run_id, type_, completed_at, failure_summary in session.execute(
            select(OperationRun.id, OperationRun.type, OperationRun.completed_at, OperationRun.failure_summary)
            .where(
                OperationRun.tenant_id == tenant_id,
                OperationRun.status == COMPLETED,
                OperationRun.outcome == FAILED,
                OperationRun.completed_at >= since,
            )
            .order_by(OperationRun.completed_at.desc())
            .limit(limit)
        )
    ]


def silent_runs(
    *, session: Session, tenant_id: int, now: datetime, stale_after_seconds: int, limit: int
) -> list[RunBrief]:
    """The tenant's running runs the reaper's rule calls stale (``at``: their last sign of life)."""
    last = staleness.last_sign_of_life()
    return [
        RunBrief(run_id, type_, at)
        for run_id, type_, at in session.execute(
            select(OperationRun.id, OperationRun.type, last)
            .where(OperationRun.tenant_id == tenant_id, staleness.silent_running(now, stale_after_seconds))
            .order_by(last, OperationRun.id)
            .limit(limit)
        )
    ]


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def runs_per_day(*, session: Session, tenant_id: int, since: datetime) -> list[DayCount]:
    """Runs created since ``since`` per creation day, status and outcome."""
    day = func.date(OperationRun.created_at)
    return [
        DayCount(_as_date(d), status, outcome, int(n))
        for d, status, outcome, n in session.execute(
            select(day, OperationRun.status, OperationRun.outcome, func.count())
            .where(OperationRun.tenant_id == tenant_id, OperationRun.created_at >= since)
            .group_by(day, OperationRun.status, OperationRun.outcome)
        )
    ]


def run_durations(*, session: Session, tenant_id: int, since: datetime, limit: int) -> list[RunDuration]:
    """Start-to-completion seconds of the newest ``limit`` runs completed since ``since``."""
    return [
        RunDuration(type_, (done - started).total_seconds())
        for type_, started, done in session.execute(
            select(OperationRun.type, OperationRun.started_at, OperationRun.completed_at)
            .where(
                OperationRun.tenant_id == tenant_id,
                OperationRun.status == COMPLETED,
                OperationRun.started_at.is_not(None),
                OperationRun.completed_at >= since,
            )
            .order_by(OperationRun.completed_at.desc())
            .limit(limit)
        )
    ]


# --------------------------------------------------------------------------- many tenants (the overview)


@dataclass(frozen=True)
class TenantRunCounts:
    active: dict[int, int]  # tenant id -> queued or running runs (tenants with none are absent)
    failed: dict[int, int]  # tenant id -> runs failed since the given moment


def tenant_run_counts(*, session: Session, tenant_ids: Sequence[int], failed_since: datetime) -> TenantRunCounts:
    """Active and recently failed runs per tenant (two grouped statements; none without tenants)."""
    if not tenant_ids:
        return TenantRunCounts({}, {})
    ids_ = list(tenant_ids)
    active = {
        tid: n
        for tid, n in session.execute(
            select(OperationRun.tenant_id, func.count())
            .where(OperationRun.tenant_id.in_(ids_), OperationRun.status.in_(ACTIVE_STATUSES))
            .group_by(OperationRun.tenant_id)
        )
    }
    failed = {
        tid: n
        for tid, n in session.execute(
            select(OperationRun.tenant_id, func.count())
            .where(
                OperationRun.tenant_id.in_(ids_),
                OperationRun.status == COMPLETED,
                OperationRun.outcome == FAILED,
                OperationRun.completed_at >= failed_since,
            )
            .group_by(OperationRun.tenant_id)
        )
    }
    return TenantRunCounts(active, failed)


# --------------------------------------------------------------------------- the API's lists (keyset pages)


def runs_after(
    *,
    session: Session,
    principal: Principal,
    filters: RunFilters,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[OperationRun]:
    """Up to ``limit`` runs the principal sees, newest first, strictly after the position
    ``after`` (created_at, id) of the previous page's last run — through the same builder
    (``visible_runs``) and filters as the operations list, so a page never holds a run the
    list would not show, whatever position a client sends."""
    scope: dict[str, int] = {}
    if filters.tenant_id is not None:
        tenant = require_tenant(
            session=session, principal=principal, tenant_id=filters.tenant_id, capability="operations.view"
        )
        scope = {"workspace_id": tenant.workspace_id, "tenant_id": tenant.id}
    stmt = visible_runs(OperationRun, session=session, principal=principal, filters=filters, **scope)
    if after is not None:
        created_at, run_id = after
        stmt = stmt.where(
            or_(
                OperationRun.created_at < created_at,
                and_(OperationRun.created_at == created_at, OperationRun.id < run_id),
            )
        )
    return list(session.scalars(stmt.order_by(*_NEWEST_FIRST).limit(limit)))


def units_after(*, session: Session, run_id: int, after: int | None, limit: int) -> tuple[UnitRow, ...]:
    """Up to ``limit`` ledger rows of a run (the caller has checked it is visible), in the order
    they were recorded, after the ledger row id ``after``; each row carries its id for the next page."""
    stmt = select(OperationRunUnit.id, OperationRunUnit.unit_key, OperationRunUnit.outcome, OperationRunUnit.error)
    stmt = stmt.where(OperationRunUnit.run_id == run_id)
    if after is not None:
        stmt = stmt.where(OperationRunUnit.id > after)
    rows = session.execute(stmt.order_by(OperationRunUnit.id).limit(limit))
    return tuple(UnitRow(key, outcome, error, id_) for id_, key, outcome, error in rows)
