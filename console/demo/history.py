"""The demo history: runs planned over the last 30 days, then made by the real services.

Each planned run is enqueued with ``enqueue_run`` (its ``run.enqueued`` audit event), prepared
by its registry hook (the review pack row) and executed in this process by its domain service
with the built-in provider — so the ledger, the counts, the packs and their files, snapshots,
inventory, backup sets and baselines are the ones a worker would have written. Runs are made in
time order under the demo clock (console.demo.clock): ids follow ``created_at`` and every
timestamp is the run's own. Failures and partial outcomes come from provider errors on chosen
units (``DemoProvider``), cancellations from ``cancel_run`` — never from invented counts.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from console.backups.service import add_policies_to_backup_set, plan_restore, restore_chunk
from console.baselines.service import capture_baseline, compare_baseline
from console.config import Settings
from console.demo.clock import DemoClock
from console.errors import InvalidTransition
from console.evidence.service import generate_evidence_snapshot
from console.inventory.models import Policy
from console.inventory.service import run_inventory_sync
from console.operations import registry
from console.operations.failure import sanitize_failure_summary
from console.operations.service import cancel_run, enqueue_run, fail_run
from console.providers.base import Faults, ProviderError
from console.providers.builtin import BuiltinProvider, dataset_for
from console.review_packs.generate import generate_review_pack
from console.review_packs.storage import PackStorage

log = logging.getLogger(__name__)

#: What a tenant API says when it fails (the units' and runs' failure text in the demo).
PROVIDER_ERRORS = (
    "Tenant API answered 503 Service Unavailable (throttled); try again later",
    "Tenant API did not answer within 30 s",
    "Tenant API answered 403: the app registration lacks DeviceManagementConfiguration.Read.All",
)
#: What happens to a type's runs after onboarding, in turn (each type starts at its own place in
#: the cycle): a fixed mix, so every demo shows every outcome of every family. A unit of an
#: all-or-nothing type fails the whole run, so those have no ``partial``.
SCENARIOS = ("ok", "ok", "partial", "ok", "failed", "ok", "ok", "partial", "ok", "cancelled")
ALL_OR_NOTHING_SCENARIOS = ("ok", "ok", "failed", "ok", "ok", "ok", "cancelled", "ok")


@dataclass(frozen=True)
class Planned:
    """One run of the history: when, what, on which tenant, by whom, and what goes wrong."""

    at: datetime
    type: str
    tenant_id: int
    initiator: tuple[int, str]  # user id, name (a cancel names who cancelled)
    scenario: str  # ok | partial | failed | cancelled
    seed: int  # the run's own random choices (which unit fails, how long units take)


@dataclass(frozen=True)
class Ctx:
    """What an executor needs besides the session and the provider."""

    settings: Settings
    storage: PackStorage
    open_session: Callable[[], Any]


class DemoProvider(BuiltinProvider):
    """The built-in provider with the run's scenario: units take demo time (the clock moves),
    chosen units fail with a tenant API's words, and a cancel can arrive before a unit."""

    def __init__(
        self,
        *,
        session: Session,
        clock: DemoClock,
        rng: random.Random,
        faults: Faults,
        fail: Callable[[int], bool],
        message: str,
        before_unit: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(session=session, faults=faults)
        self.clock, self.rng, self.fail, self.message, self.before_unit = clock, rng, fail, message, before_unit
        self.begun = 0

    def begin_unit(self, unit_key: str) -> None:
        super().begin_unit(unit_key)
        self.begun += 1
        seconds = self.rng.uniform(2.0, 9.0) if unit_key.startswith("phase:") else self.rng.uniform(0.4, 3.0)
        self.clock.jump_to(self.clock.peek() + timedelta(seconds=seconds))
        if self.before_unit is not None:
            self.before_unit(self.begun)
        if self.fail(self.begun):
            raise ProviderError(self.message)


# --------------------------------------------------------------------------- executors


def _restore(session: Session, run_id: int, provider: DemoProvider, ctx: Ctx) -> None:
    """The restore's fan-out in-process: each chunk the parent would send runs here, in turn."""
    pending = plan_restore(session=session, run_id=run_id)
    size = ctx.settings.fanout_chunk_size
    for start in range(0, len(pending), size):
        # One batch per chunk: the recorder writes at close (the seeding is not a live page).
        restore_chunk(
            session=session,
            open_session=ctx.open_session,
            run_id=run_id,
            item_ids=pending[start : start + size],
            provider=provider,
            flush_seconds=3600,
        )


Executor = Callable[[Session, int, DemoProvider, Ctx], Any]

#: How each type is executed in-process (what its Celery task calls). A type without an entry
#: is left out of the demo history (a new type adds its line here).
EXECUTORS: dict[str, Executor] = {
    registry.INVENTORY_SYNC: lambda s, r, p, c: run_inventory_sync(session=s, run_id=r, provider=p),
    registry.REVIEW_PACK_GENERATE: lambda s, r, p, c: generate_review_pack(
        session=s, run_id=r, provider=p, storage=c.storage, ttl_days=c.settings.review_pack_ttl_days
    ),
    registry.EVIDENCE_SNAPSHOT_GENERATE: lambda s, r, p, c: generate_evidence_snapshot(session=s, run_id=r, provider=p),
    registry.BACKUP_SET_ADD_POLICIES: lambda s, r, p, c: add_policies_to_backup_set(session=s, run_id=r, provider=p),
    registry.BACKUP_SET_RESTORE: _restore,
    registry.BASELINE_CAPTURE: lambda s, r, p, c: capture_baseline(session=s, run_id=r, provider=p),
    registry.BASELINE_COMPARE: lambda s, r, p, c: compare_baseline(session=s, run_id=r, provider=p),
}
#: Each tenant's first day, in this order: what a new tenant is given (so restores have a set to
#: restore and comparisons a baseline to compare with).
ONBOARDING = (
    registry.INVENTORY_SYNC,
    registry.BACKUP_SET_ADD_POLICIES,
    registry.BASELINE_CAPTURE,
    registry.EVIDENCE_SNAPSHOT_GENERATE,
)
#: Types cancelled before a worker took them (a restore's chunks or a phase have no unit to stop at).
CANCELLED_WHILE_QUEUED = frozenset({registry.BACKUP_SET_RESTORE, registry.BASELINE_CAPTURE, registry.BASELINE_COMPARE})
#: Before these, a policy may have changed at the source (so a comparison has something to report).
DRIFT_BEFORE = frozenset({registry.BASELINE_COMPARE})
#: A unit of these fails the whole run (a pack with a hole is no pack; a phase is the run).
ALL_OR_NOTHING = frozenset({registry.REVIEW_PACK_GENERATE, registry.BASELINE_CAPTURE, registry.BASELINE_COMPARE})


# --------------------------------------------------------------------------- the plan


def plan_history(
    *,
    n: int,
    start: datetime,
    end: datetime,
    tenant_ids: list[int],
    initiators: dict[int, list[tuple[int, str]]],
    rng: random.Random,
) -> list[Planned]:
    """``n`` runs between ``start`` and ``end``, sorted by time (at least 10 minutes apart):
    each tenant's onboarding on the first day, then the registry's types by ``seed_weight``."""
    weighted = [spec.type for spec in registry.specs() if spec.type in EXECUTORS for _ in range(spec.seed_weight)]
    skipped = [t for t in registry.types() if t not in EXECUTORS]
    if skipped:
        log.info("event=demo_types_left_out types=%s reason=no_demo_executor", ",".join(skipped))
    onboarding = [(tenant, type_) for tenant in tenant_ids for type_ in ONBOARDING if type_ in EXECUTORS][:n]
    runs: list[tuple[datetime, str, int, str]] = [
        (start + timedelta(hours=9, minutes=25 * i), type_, tenant, "ok")
        for i, (tenant, type_) in enumerate(onboarding)
    ]
    later = start + timedelta(days=1)
    span = int((end - later).total_seconds())
    for i in range(n - len(runs)):
        at = later + timedelta(seconds=rng.randint(0, span))
        runs.append((at, weighted[i % len(weighted)], rng.choice(tenant_ids), ""))
    runs.sort(key=lambda r: r[0])
    seen: dict[str, int] = {}
    offsets = {type_: rng.randrange(len(SCENARIOS)) for type_ in EXECUTORS}
    planned: list[Planned] = []
    previous: datetime | None = None
    for at, type_, tenant, scenario in runs:
        if previous is not None and at < previous + timedelta(minutes=10):
            at = previous + timedelta(minutes=10)
        previous = at
        if not scenario:
            cycle = ALL_OR_NOTHING_SCENARIOS if type_ in ALL_OR_NOTHING else SCENARIOS
            k = seen[type_] = seen.get(type_, -1) + 1
            scenario = cycle[(k + offsets[type_]) % len(cycle)]
        planned.append(Planned(at, type_, tenant, rng.choice(initiators[tenant]), scenario, rng.randrange(2**32)))
    if planned and planned[-1].at > end:
        raise ValueError(f"{n} runs do not fit between {start:%Y-%m-%d} and {end:%Y-%m-%d} 10 minutes apart")
    return planned


# --------------------------------------------------------------------------- making the runs


@contextmanager
def _sessions(bind: Engine) -> Iterator[Session]:
    session = Session(bind=bind, expire_on_commit=False)
    try:
        yield session
    finally:
        session.rollback()
        session.close()


#: Per connection while the history is written, and what every connection gets back when returned.
_RELAXED = {
    "sqlite": ("PRAGMA synchronous=NORMAL", "PRAGMA synchronous=FULL"),
    "postgresql": ("SET synchronous_commit TO off", "RESET synchronous_commit"),
}


@contextmanager
def bulk_load(engine: Engine) -> Iterator[None]:
    """No fsync per commit while the history is written: the services commit per unit (~1,000
    commits for the demo, each an fsync otherwise: 9 ms each measured on a busy disk). SQLite
    gets ``synchronous=NORMAL`` (WAL's usual setting), PostgreSQL ``synchronous_commit=off``: a
    power cut may lose the last commits, never corrupt anything. Each connection gets the normal
    setting back when it returns to the pool, so nothing outlives the seeding."""
    relaxed = _RELAXED.get(engine.dialect.name)
    if relaxed is None:
        yield
        return
    relax_sql, restore_sql = relaxed

    def run(dbapi_conn: Any, sql: str) -> None:
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(sql)
        finally:
            cursor.close()
        if engine.dialect.name == "postgresql":
            dbapi_conn.commit()  # a session setting, kept after this (otherwise empty) transaction

    def relax(dbapi_conn: Any, _rec: Any, _proxy: Any) -> None:
        run(dbapi_conn, relax_sql)

    def restore(dbapi_conn: Any, _rec: Any) -> None:
        if dbapi_conn is not None:
            run(dbapi_conn, restore_sql)

    event.listen(engine, "checkout", relax)
    event.listen(engine, "checkin", restore)
    try:
        yield
    finally:
        event.remove(engine, "checkout", relax)
        event.remove(engine, "checkin", restore)


def make_history(
    *,
    session: Session,
    workspace_id: int,
    planned: list[Planned],
    clock: DemoClock,
    settings: Settings,
    storage: PackStorage,
) -> None:
    """Make every planned run, in order, through the services (under the demo clock)."""
    bind = session.get_bind()
    ctx = Ctx(settings=settings, storage=storage, open_session=lambda: _sessions(bind))
    session.commit()  # the session's connection goes back to the pool: the next checkout is relaxed
    with bulk_load(bind):
        for run in planned:
            _make_run(session, workspace_id, run, clock, ctx)
        session.commit()


def _make_run(session: Session, workspace_id: int, plan: Planned, clock: DemoClock, ctx: Ctx) -> None:
    rng = random.Random(plan.seed)
    spec = registry.get(plan.type)
    user_id, user_name = plan.initiator
    clock.jump_to(plan.at)
    if plan.type in DRIFT_BEFORE and rng.random() < 0.6:
        _drift(session, plan.tenant_id, rng, clock)
    options = spec.validate_options(session=session, tenant_id=plan.tenant_id, options={})
    run, _created = enqueue_run(
        session=session,
        type=plan.type,
        workspace_id=workspace_id,
        tenant_id=plan.tenant_id,
        initiator_user_id=user_id,
        context={"options": options},
    )
    run_id = run.id
    if spec.prepare:
        registry.hook(spec.prepare)(session=session, run_id=run_id, tenant_id=plan.tenant_id, options=options)
    clock.jump_to(clock.peek() + timedelta(seconds=rng.uniform(0.5, 4.0)))  # a worker picks it up
    if plan.scenario == "cancelled" and plan.type in CANCELLED_WHILE_QUEUED:
        cancel_run(session=session, run_id=run_id, user_id=user_id, user_name=user_name)
        return
    provider = _provider(session, run_id, plan, rng, clock)
    try:
        EXECUTORS[plan.type](session, run_id, provider, ctx)
    except InvalidTransition:
        # Cancelled between two units: the cancel already completed the run and cleaned up.
        session.rollback()
    except ProviderError as exc:
        # What the task's failure path does (tasks.base.ConsoleTask.run_operation).
        session.rollback()
        reason = sanitize_failure_summary(f"{type(exc).__name__}: {exc}")
        registry.clean_up_failed(plan.type, session=session, run_id=run_id, reason=reason)
        fail_run(session=session, run_id=run_id, reason=reason)


def _drift(session: Session, tenant_id: int, rng: random.Random, clock: DemoClock) -> None:
    """Someone changed a policy at the source a while before this run (what a compare reports as
    changed, an inventory sync as updated, and a restore puts back)."""
    policies = session.scalars(
        select(Policy).where(Policy.tenant_id == tenant_id, Policy.is_archived.is_(False)).order_by(Policy.id)
    ).all()
    policy = rng.choice(policies)
    settings = dict(policy.settings or {})
    settings["version"] = int(settings.get("version", 0) or 0) + 1
    settings["assignments"] = rng.randint(0, 40)
    policy.settings, policy.updated_at = settings, clock.peek() - timedelta(hours=rng.randint(1, 20))
    session.commit()


def _provider(session: Session, run_id: int, plan: Planned, rng: random.Random, clock: DemoClock) -> DemoProvider:
    """The run's provider, set up for its scenario (never the worker's CONSOLE_PROVIDER_FAULTS)."""
    message = rng.choice(PROVIDER_ERRORS)
    faults = Faults()
    before_unit: Callable[[int], None] | None = None
    fail: Callable[[int], bool] = lambda _n: False  # noqa: E731
    if plan.scenario == "ok" and rng.random() < 0.3:
        # A policy deleted at the source since the last listing: its unit is skipped.
        active = [p["external_id"] for p in dataset_for(plan.tenant_id) if not p["is_archived"]]
        faults = Faults(not_found=frozenset({rng.choice(active)}))
    elif plan.scenario == "partial":
        bad = {rng.randint(1, 6)} | ({rng.randint(1, 16)} if rng.random() < 0.4 else set())
        fail = bad.__contains__
    elif plan.scenario == "failed":
        first = rng.randint(1, 3) if plan.type in ALL_OR_NOTHING else 1
        fail = lambda n: n >= first  # noqa: E731
    elif plan.scenario == "cancelled":
        at = rng.randint(2, 4)
        user_id, user_name = plan.initiator

        def before_unit(n: int) -> None:
            if n == at:
                cancel_run(session=session, run_id=run_id, user_id=user_id, user_name=user_name)

    return DemoProvider(
        session=session, clock=clock, rng=rng, faults=faults, fail=fail, message=message, before_unit=before_unit
    )
