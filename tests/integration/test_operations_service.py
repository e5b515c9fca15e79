"""The run service against real databases (SQLite always, PostgreSQL when configured)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from console.audit.models import AuditEvent
from console.db import Database, utcnow
from console.errors import BadRequest, InvalidTransition, RunNotFound, TotalAlreadySet, UnknownOperationType
from console.models import Tenant, User, Workspace
from console.notifications.models import Notification
from console.notifications.service import list_notifications, mark_read, notify_run_terminal, unread_count
from console.operations import service as svc
from console.operations.failure import sanitize_failure_summary
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.progress import progress_for_run


@dataclass
class Seed:
    workspace_id: int
    other_workspace_id: int
    tenant_id: int
    tenant2_id: int
    other_tenant_id: int
    user_id: int
    user2_id: int


@pytest.fixture
def seed(database: Database) -> Seed:
    with database.session() as s:
        ws, other = Workspace(name="A"), Workspace(name="B")
        s.add_all([ws, other])
        s.flush()
        t1, t2, t3 = (
            Tenant(workspace_id=ws.id, name="t1"),
            Tenant(workspace_id=ws.id, name="t2"),
            Tenant(workspace_id=other.id, name="b1"),
        )
        u1 = User(email="u1@test.example", name="U1", password_hash="x")
        u2 = User(email="u2@test.example", name="U2", password_hash="x")
        s.add_all([t1, t2, t3, u1, u2])
        s.commit()
        return Seed(ws.id, other.id, t1.id, t2.id, t3.id, u1.id, u2.id)


def make_run(
    database: Database,
    seed: Seed,
    *,
    status: str = "queued",
    counts: dict[str, Any] | None = None,
    type: str = "inventory_sync",
    initiator: int | None = -1,
    **kw: Any,
) -> int:
    """Insert a run in any state directly (the service only creates queued runs)."""
    with database.session() as s:
        run = OperationRun(
            workspace_id=seed.workspace_id,
            tenant_id=kw.pop("tenant_id", seed.tenant_id),
            type=type,
            status=status,
            outcome=kw.pop("outcome", "succeeded" if status == "completed" else None),
            summary_counts=counts or {},
            context=kw.pop("context", {}),
            initiator_user_id=seed.user_id if initiator == -1 else initiator,
            created_at=kw.pop("created_at", utcnow()),
            started_at=kw.pop("started_at", utcnow() if status == "running" else None),
            **kw,
        )
        s.add(run)
        s.commit()
        return run.id


def load(database: Database, run_id: int) -> OperationRun:
    with database.session() as s:
        run = svc.get_run(session=s, run_id=run_id)
        s.expunge(run)
        return run


def count(database: Database, model: Any, *where: Any) -> int:
    with database.session() as s:
        return int(s.scalar(select(func.count()).select_from(model).where(*where)))


def enqueue(database: Database, seed: Seed, type: str = "inventory_sync", **kw: Any) -> tuple[int, bool]:
    with database.session() as s:
        kw.setdefault("tenant_id", seed.tenant_id)
        run, created = svc.enqueue_run(
            session=s, type=type, workspace_id=seed.workspace_id, initiator_user_id=seed.user_id, **kw
        )
        return run.id, created


def started_run(database: Database, seed: Seed, total: int | None = None, type: str = "inventory_sync") -> int:
    run_id, _ = enqueue(database, seed, type=type)
    with database.session() as s:
        svc.mark_running(session=s, run_id=run_id)
        if total is not None:
            svc.set_total(session=s, run_id=run_id, total=total)
    return run_id


def unit(database: Database, run_id: int, key: str, outcome: str = "succeeded", error: str | None = None) -> bool:
    with database.session() as s:
        return svc.record_unit(session=s, run_id=run_id, unit_key=key, outcome=outcome, error=error)


# ---------------------------------------------------------------- enqueue and dedupe


def test_enqueue_three_times_gives_one_run(database, seed):
    results = [enqueue(database, seed) for _ in range(3)]
    assert [created for _, created in results] == [True, False, False]
    assert len({run_id for run_id, _ in results}) == 1
    assert count(database, OperationRun) == 1
    assert count(database, AuditEvent, AuditEvent.action == "run.enqueued") == 1
    run = load(database, results[0][0])
    assert (run.status, run.outcome, run.summary_counts, run.initiator_user_id) == ("queued", None, {}, seed.user_id)


def test_dedupe_is_per_type_and_scope(database, seed):
    a, _ = enqueue(database, seed)
    b, created_b = enqueue(database, seed, tenant_id=seed.tenant2_id)
    c, created_c = enqueue(database, seed, tenant_id=None)
    d, created_d = enqueue(database, seed, type="baseline_capture")
    assert created_b and created_c and created_d
    assert len({a, b, c, d}) == 4
    assert enqueue(database, seed, tenant_id=None) == (c, False)


def test_dedupe_also_returns_a_running_run_but_not_a_completed_one(database, seed):
    run_id = started_run(database, seed)
    assert enqueue(database, seed) == (run_id, False)
    with database.session() as s:
        svc.complete_run(session=s, run_id=run_id, outcome="succeeded")
    new_id, created = enqueue(database, seed)
    assert created and new_id != run_id


def test_enqueue_refuses_unknown_types_and_foreign_tenants(database, seed):
    with pytest.raises(UnknownOperationType):
        enqueue(database, seed, type="rm_rf")
    with pytest.raises(BadRequest):
        enqueue(database, seed, tenant_id=seed.other_tenant_id)
    assert count(database, OperationRun) == 0
    assert count(database, AuditEvent) == 0


def test_enqueue_keeps_context(database, seed):
    run_id, _ = enqueue(database, seed, type="backup_set_restore", context={"backup_set_id": 7})
    assert load(database, run_id).context == {"backup_set_id": 7}


# ---------------------------------------------------------------- transition table

STATES = ["queued", "running", "completed", "paused"]  # "paused": a status this version does not know


def _setup(database, seed, state):
    return make_run(database, seed, status=state, counts={"total": 1, "processed": 0})


@pytest.mark.parametrize(
    ("state", "expected"),
    [("queued", "running"), ("running", "running"), ("completed", InvalidTransition), ("paused", InvalidTransition)],
)
def test_transition_mark_running(database, seed, state, expected):
    run_id = _setup(database, seed, state)
    before = load(database, run_id)
    with database.session() as s:
        if isinstance(expected, type):
            with pytest.raises(expected):
                svc.mark_running(session=s, run_id=run_id)
        else:
            assert svc.mark_running(session=s, run_id=run_id).status == expected
    after = load(database, run_id)
    assert after.status == (before.status if isinstance(expected, type) else expected)
    if state == "queued":
        assert after.started_at is not None and after.heartbeat_at is not None
    if state == "running":  # a redelivered task resumes: nothing changes
        assert (after.started_at, after.heartbeat_at) == (before.started_at, before.heartbeat_at)


@pytest.mark.parametrize(
    ("state", "ok"), [("queued", True), ("running", True), ("completed", False), ("paused", False)]
)
def test_transition_set_total(database, seed, state, ok):
    run_id = make_run(database, seed, status=state)
    with database.session() as s:
        if ok:
            svc.set_total(session=s, run_id=run_id, total=4)
        else:
            with pytest.raises(InvalidTransition):
                svc.set_total(session=s, run_id=run_id, total=4)
    assert svc.counts_of(load(database, run_id)) == ({"total": 4, "processed": 0} if ok else {})


@pytest.mark.parametrize(
    ("state", "counted"), [("queued", False), ("running", True), ("completed", False), ("paused", False)]
)
def test_transition_record_unit(database, seed, state, counted):
    run_id = _setup(database, seed, state)
    assert unit(database, run_id, "u1") is counted
    assert svc.counts_of(load(database, run_id)).get("processed") == (1 if counted else 0)
    assert count(database, OperationRunUnit) == (1 if counted else 0)


@pytest.mark.parametrize(
    ("state", "bumped"), [("queued", False), ("running", True), ("completed", False), ("paused", False)]
)
def test_transition_heartbeat_and_phase(database, seed, state, bumped):
    run_id = make_run(database, seed, status=state, type="baseline_compare", heartbeat_at=None)
    with database.session() as s:
        svc.heartbeat(session=s, run_id=run_id)
    assert (load(database, run_id).heartbeat_at is not None) is bumped
    with database.session() as s:
        svc.set_phase(session=s, run_id=run_id, phase="Comparing")
    assert load(database, run_id).context.get("phase") == ("Comparing" if bumped else None)


@pytest.mark.parametrize(
    ("state", "ok"), [("queued", True), ("running", True), ("completed", False), ("paused", False)]
)
def test_transition_complete_and_fail(database, seed, state, ok):
    a = _setup(database, seed, state)
    b = _setup(database, seed, state)
    with database.session() as s:
        if ok:
            assert svc.complete_run(session=s, run_id=a, outcome="cancelled").outcome == "cancelled"
            assert svc.fail_run(session=s, run_id=b, reason="boom").outcome == "failed"
        else:
            with pytest.raises(InvalidTransition):
                svc.complete_run(session=s, run_id=a, outcome="cancelled")
            assert svc.fail_run(session=s, run_id=b, reason="boom") is None
    for run_id in (a, b):
        run = load(database, run_id)
        assert run.status == ("completed" if ok else state)
        assert (run.completed_at is not None) is ok
    assert count(database, Notification) == (2 if ok else 0)


@pytest.mark.parametrize(
    ("state", "completes"), [("queued", False), ("running", True), ("completed", False), ("paused", False)]
)
def test_transition_maybe_complete_bulk_run(database, seed, state, completes):
    run_id = make_run(database, seed, status=state, counts={"total": 0, "processed": 0})
    with database.session() as s:
        assert svc.maybe_complete_bulk_run(session=s, run_id=run_id) is completes
    assert load(database, run_id).status == ("completed" if completes else state)


def test_missing_run_raises_run_not_found_everywhere(database, seed):
    calls = [
        lambda s: svc.get_run(session=s, run_id=999),
        lambda s: svc.mark_running(session=s, run_id=999),
        lambda s: svc.set_total(session=s, run_id=999, total=1),
        lambda s: svc.record_unit(session=s, run_id=999, unit_key="x", outcome="succeeded"),
        lambda s: svc.heartbeat(session=s, run_id=999),
        lambda s: svc.set_phase(session=s, run_id=999, phase="x"),
        lambda s: svc.complete_run(session=s, run_id=999, outcome="succeeded"),
        lambda s: svc.fail_run(session=s, run_id=999, reason="x"),
        lambda s: svc.maybe_complete_bulk_run(session=s, run_id=999),
    ]
    for call in calls:
        with database.session() as s, pytest.raises(RunNotFound):
            call(s)


# ---------------------------------------------------------------- set_total


def test_set_total_is_written_once(database, seed, caplog):
    run_id = started_run(database, seed, total=10)
    with database.session() as s:
        svc.set_total(session=s, run_id=run_id, total=10)  # same value: a retried task, no-op
        with caplog.at_level(logging.WARNING, logger="console.operations.service"), pytest.raises(TotalAlreadySet):
            svc.set_total(session=s, run_id=run_id, total=11)
    assert svc.counts_of(load(database, run_id)) == {"total": 10, "processed": 0}
    assert any("event=total_rejected" in r.getMessage() and "requested=11" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("bad", [-1, 2.0, "5", True, None])
def test_set_total_refuses_non_counts(database, seed, bad):
    run_id = started_run(database, seed)
    with database.session() as s, pytest.raises(ValueError):
        svc.set_total(session=s, run_id=run_id, total=bad)
    assert svc.counts_of(load(database, run_id)) == {}


def test_zero_unit_run_is_never_counted_and_completes_as_succeeded(database, seed):
    run_id = started_run(database, seed, total=0)
    run = load(database, run_id)
    assert progress_for_run(run).mode == "activity"
    assert unit(database, run_id, "extra") is False
    with database.session() as s:
        assert svc.maybe_complete_bulk_run(session=s, run_id=run_id) is True
    run = load(database, run_id)
    assert (run.status, run.outcome) == ("completed", "succeeded")
    assert progress_for_run(run).text is None


def test_set_total_keeps_processed_written_before(database, seed):
    run_id = make_run(database, seed, status="running", counts={"processed": 0, "warnings": 2})
    with database.session() as s:
        svc.set_total(session=s, run_id=run_id, total=3)
    assert svc.counts_of(load(database, run_id)) == {"total": 3, "processed": 0, "warnings": 2}


# ---------------------------------------------------------------- record_unit


def test_units_count_exactly_once(database, seed):
    run_id = started_run(database, seed, total=5)
    assert unit(database, run_id, "a") is True
    assert unit(database, run_id, "a") is False  # redelivered
    assert unit(database, run_id, "a", "failed") is False  # redelivered with another outcome: still once
    assert (
        unit(database, run_id, "b", "failed", error="Traceback (most recent call last):\n  File x\nKeyError: 'id'")
        is True
    )
    assert unit(database, run_id, "c", "skipped") is True
    assert svc.counts_of(load(database, run_id)) == {
        "total": 5,
        "processed": 3,
        "succeeded": 1,
        "failed": 1,
        "skipped": 1,
    }
    with database.session() as s:
        rows = {u.unit_key: (u.outcome, u.error) for u in s.scalars(select(OperationRunUnit))}
    assert rows == {"a": ("succeeded", None), "b": ("failed", "KeyError: 'id'"), "c": ("skipped", None)}


def test_unit_past_total_is_rejected_and_leaves_no_ledger_row(database, seed, caplog):
    run_id = started_run(database, seed, total=2)
    assert unit(database, run_id, "a") and unit(database, run_id, "b")
    with caplog.at_level(logging.WARNING, logger="console.operations.service"):
        assert unit(database, run_id, "c") is False
    assert svc.counts_of(load(database, run_id))["processed"] == 2
    assert count(database, OperationRunUnit) == 2
    assert any("event=unit_rejected" in r.getMessage() and "unit_key=c" in r.getMessage() for r in caplog.records)


def test_unit_before_total_is_rejected(database, seed):
    run_id = started_run(database, seed)
    assert unit(database, run_id, "a") is False
    assert count(database, OperationRunUnit) == 0
    assert svc.counts_of(load(database, run_id)) == {}


def test_record_unit_bumps_heartbeat(database, seed):
    run_id = started_run(database, seed, total=2)
    before = load(database, run_id).heartbeat_at
    assert unit(database, run_id, "a")
    assert load(database, run_id).heartbeat_at > before


@pytest.mark.parametrize(
    ("key", "outcome"),
    [
        ("", "succeeded"),
        ("x" * 256, "succeeded"),
        (3, "succeeded"),
        ("k", "processed"),
        ("k", "total"),
        ("k", "created"),
        ("k", "ok"),
    ],
)
def test_record_unit_validates_input(database, seed, key, outcome):
    run_id = started_run(database, seed, total=2)
    with database.session() as s, pytest.raises(ValueError):
        svc.record_unit(session=s, run_id=run_id, unit_key=key, outcome=outcome)


def test_counters_with_junk_values_are_treated_as_zero_in_sql(database, seed):
    run_id = make_run(database, seed, status="running", counts={"total": 3, "processed": "2", "succeeded": True})
    assert unit(database, run_id, "a") is True
    assert svc.counts_of(load(database, run_id)) == {"total": 3, "processed": 1, "succeeded": 1}


# ---------------------------------------------------------------- complete_run


def test_complete_merges_without_overwriting_running_counts(database, seed):
    run_id = started_run(database, seed, total=3)
    unit(database, run_id, "a")
    unit(database, run_id, "b", "failed")
    with database.session() as s:
        run = svc.complete_run(
            session=s,
            run_id=run_id,
            outcome="partially_succeeded",
            summary={
                "processed": 99,
                "total": 1,
                "succeeded": 0,
                "created": 5,
                "updated": "7",
                "deleted": -1,
                "bogus": 3,
            },
        )
    assert svc.counts_of(run) == {"total": 3, "processed": 2, "succeeded": 1, "failed": 1, "created": 5}
    stored = load(database, run_id)
    assert svc.counts_of(stored) == svc.counts_of(run)
    assert (stored.status, stored.outcome) == ("completed", "partially_succeeded")
    assert stored.completed_at is not None and stored.completed_at >= stored.started_at
    assert progress_for_run(stored).text == "2 of 3 processed"


def test_complete_twice_is_refused(database, seed):
    run_id = started_run(database, seed)
    with database.session() as s:
        svc.complete_run(session=s, run_id=run_id, outcome="succeeded")
        with pytest.raises(InvalidTransition):
            svc.complete_run(session=s, run_id=run_id, outcome="succeeded")
    assert load(database, run_id).outcome == "succeeded"
    assert count(database, Notification) == 1
    assert count(database, AuditEvent, AuditEvent.action == "run.completed") == 1


@pytest.mark.parametrize("outcome", ["completed", "success", "", None])
def test_complete_refuses_unknown_outcomes(database, seed, outcome):
    run_id = started_run(database, seed)
    with database.session() as s, pytest.raises(ValueError):
        svc.complete_run(session=s, run_id=run_id, outcome=outcome)
    assert load(database, run_id).status == "running"


def test_completion_writes_notification_and_audit(database, seed):
    run_id = started_run(database, seed, total=1)
    unit(database, run_id, "a")
    with database.session() as s:
        svc.complete_run(session=s, run_id=run_id, outcome="succeeded")
    with database.session() as s:
        note = s.scalars(select(Notification)).one()
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "run.completed")).one()
        assert (note.user_id, note.run_id, note.kind, note.title) == (
            seed.user_id,
            run_id,
            "run_completed",
            "Inventory sync succeeded",
        )
        assert note.workspace_id == seed.workspace_id and note.read_at is None
        assert "1 of 1 processed" in (note.body or "")
        assert (audit.target_type, audit.target_id, audit.tenant_id) == ("operation_run", run_id, seed.tenant_id)
        assert audit.details["outcome"] == "succeeded"
        assert audit.details["summary_counts"] == {"total": 1, "processed": 1, "succeeded": 1}


def test_run_without_initiator_gets_no_notification(database, seed):
    run_id = make_run(database, seed, status="running", initiator=None)
    with database.session() as s:
        svc.complete_run(session=s, run_id=run_id, outcome="succeeded")
    assert count(database, Notification) == 0
    assert count(database, AuditEvent, AuditEvent.action == "run.completed") == 1


# ---------------------------------------------------------------- fail_run


def test_fail_run_stores_a_safe_one_line_reason(database, seed):
    run_id = started_run(database, seed)
    reason = "connect to postgresql://admin:hunter2@db:5432/x failed\x1b[31m\nTraceback...\n  File /srv/app/secret.py"
    with database.session() as s:
        run = svc.fail_run(session=s, run_id=run_id, reason=reason)
    assert run is not None
    stored = load(database, run_id)
    assert (stored.status, stored.outcome) == ("completed", "failed")
    assert stored.failure_summary == "connect to postgresql://***@db:5432/x failed"
    with database.session() as s:
        assert s.scalars(select(Notification)).one().kind == "run_failed"


def test_fail_run_on_completed_run_changes_nothing(database, seed):
    run_id = started_run(database, seed)
    with database.session() as s:
        svc.complete_run(session=s, run_id=run_id, outcome="succeeded")
        assert svc.fail_run(session=s, run_id=run_id, reason="late failure") is None
    run = load(database, run_id)
    assert (run.outcome, run.failure_summary) == ("succeeded", None)


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("", "Operation failed"),
        ("   \n\n", "Operation failed"),
        ('Traceback (most recent call last):\n  File "/a.py", line 1\nValueError: bad total', "ValueError: bad total"),
        ("first line\nsecond line", "first line"),
        ("tab\there\x00nul\x7fdel", "tab herenuldel"),
        ("login failed password=s3cr3t user=x", "login failed password=*** user=x"),
        ("api_key: 'abc def' rejected", "api_key: *** rejected"),
        ("Token=abc", "Token=***"),
    ],
)
def test_failure_summary_sanitizer(reason, expected):
    assert sanitize_failure_summary(reason) == expected


def test_failure_summary_is_truncated_to_500():
    text = sanitize_failure_summary("x" * 5000)
    assert len(text) == 500 and text.endswith("…")


# ---------------------------------------------------------------- maybe_complete_bulk_run / derive_outcome


@pytest.mark.parametrize(
    ("counts", "outcome"),
    [
        ({}, "succeeded"),
        ({"total": 0, "processed": 0}, "succeeded"),
        ({"succeeded": 4}, "succeeded"),
        ({"skipped": 4}, "succeeded"),
        ({"succeeded": 3, "failed": 1}, "partially_succeeded"),
        ({"skipped": 1, "failed": 1}, "partially_succeeded"),
        ({"failed": 4}, "failed"),
        ({"failed": "4", "succeeded": 1}, "succeeded"),  # strings are never counts
    ],
)
def test_derive_outcome(counts, outcome):
    assert svc.derive_outcome(counts) == outcome


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["succeeded", "succeeded"], "succeeded"),
        (["succeeded", "failed"], "partially_succeeded"),
        (["failed", "failed"], "failed"),
        (["skipped", "skipped"], "succeeded"),
    ],
)
def test_bulk_run_completes_when_last_unit_lands(database, seed, outcomes, expected):
    run_id = started_run(database, seed, total=len(outcomes), type="backup_set_restore")
    for i, outcome in enumerate(outcomes):
        with database.session() as s:
            assert svc.maybe_complete_bulk_run(session=s, run_id=run_id) is False
        unit(database, run_id, f"u{i}", outcome)
    with database.session() as s:
        assert svc.maybe_complete_bulk_run(session=s, run_id=run_id) is True
        assert svc.maybe_complete_bulk_run(session=s, run_id=run_id) is False
    run = load(database, run_id)
    assert (run.status, run.outcome) == ("completed", expected)
    assert count(database, Notification) == 1


def test_bulk_run_without_total_never_completes_itself(database, seed):
    run_id = started_run(database, seed)
    with database.session() as s:
        assert svc.maybe_complete_bulk_run(session=s, run_id=run_id) is False
    assert load(database, run_id).status == "running"


# ---------------------------------------------------------------- reap_stale


def test_reap_stale(database, seed):
    now = utcnow()
    old, fresh = now - timedelta(seconds=1000), now - timedelta(seconds=100)
    silent = make_run(database, seed, status="running", started_at=old, heartbeat_at=old)
    beating = make_run(database, seed, status="running", started_at=old, heartbeat_at=fresh)
    never_beat = make_run(database, seed, status="running", started_at=old, heartbeat_at=None, type="baseline_capture")
    stuck_queue = make_run(
        database, seed, status="queued", created_at=now - timedelta(seconds=4000), initiator=seed.user2_id
    )
    young_queue = make_run(database, seed, status="queued", created_at=now - timedelta(seconds=1000))
    done = make_run(database, seed, status="completed", created_at=now - timedelta(days=3))
    unknown = make_run(database, seed, status="paused", created_at=now - timedelta(days=3), started_at=old)
    with database.session() as s:
        reaped = svc.reap_stale(session=s, now=now, stale_after_seconds=900, queued_stale_after_seconds=3600)
    assert sorted(reaped) == sorted([silent, never_beat, stuck_queue])
    for run_id in reaped:
        run = load(database, run_id)
        assert (run.status, run.outcome) == ("completed", "failed")
        assert "stale" in run.failure_summary
    assert load(database, silent).failure_summary == "stale: no heartbeat for 1000 s (limit 900 s)"
    assert load(database, stuck_queue).failure_summary == "stale: never started within 3600 s"
    for run_id, status in [(beating, "running"), (young_queue, "queued"), (done, "completed"), (unknown, "paused")]:
        assert load(database, run_id).status == status
    with database.session() as s:
        notes = {(n.user_id, n.run_id, n.kind) for n in s.scalars(select(Notification))}
        audits = [
            (a.target_id, a.details) for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "run.completed"))
        ]
    assert notes == {
        (seed.user_id, silent, "run_failed"),
        (seed.user_id, never_beat, "run_failed"),
        (seed.user2_id, stuck_queue, "run_failed"),
    }
    assert {target for target, _ in audits} == set(reaped) and all(details["reaped"] for _, details in audits)
    with database.session() as s:
        assert svc.reap_stale(session=s, now=now, stale_after_seconds=900, queued_stale_after_seconds=3600) == []


def test_reaped_run_refuses_late_units(database, seed):
    run_id = started_run(database, seed, total=5)
    with database.session() as s:
        svc.reap_stale(
            session=s, now=utcnow() + timedelta(hours=1), stale_after_seconds=60, queued_stale_after_seconds=60
        )
    assert unit(database, run_id, "late") is False
    with database.session() as s:
        assert svc.fail_run(session=s, run_id=run_id, reason="worker noticed") is None


def test_resume_gives_stale_counted_runs_another_worker_until_the_attempts_are_spent(database, seed):
    now = utcnow()
    old = now - timedelta(seconds=1000)
    counted = make_run(
        database, seed, status="running", started_at=old, heartbeat_at=old, counts={"total": 4, "processed": 1}
    )
    phased = make_run(database, seed, status="running", started_at=old, heartbeat_at=old, type="baseline_capture")
    # A worker that keeps beating through the whole test.
    beating = make_run(database, seed, status="running", started_at=old, heartbeat_at=now + timedelta(seconds=600))
    spent = make_run(database, seed, status="running", started_at=old, heartbeat_at=old, context={"resume_attempts": 3})

    def resume(at, attempts=3):
        with database.session() as s:
            return svc.resume_stale(session=s, now=at, stale_after_seconds=120, max_attempts=attempts)

    # Only the counted family can resume (its ledger says what is left); the phased run is left to the reaper.
    assert resume(now) == [(counted, "inventory_sync")]
    run = load(database, counted)
    assert (run.status, run.context["resume_attempts"], run.heartbeat_at) == ("running", 1, now)
    # Where the ETA measures the new worker's rate from (not the silent minutes before).
    assert (run.context["resumed_at"], run.context["processed_at_resume"]) == (now.isoformat(), 1)
    assert resume(now) == []  # the fresh heartbeat gives the new worker its time
    assert resume(now + timedelta(seconds=121)) == [(counted, "inventory_sync")]
    assert resume(now + timedelta(seconds=242)) == [(counted, "inventory_sync")]
    assert resume(now + timedelta(seconds=363)) == []  # three attempts spent: the reaper fails it now
    with database.session() as s:
        reaped = svc.reap_stale(
            session=s, now=now + timedelta(seconds=363), stale_after_seconds=120, queued_stale_after_seconds=3600
        )
        audits = [
            a.details["attempt"]
            for a in s.scalars(
                select(AuditEvent).where(AuditEvent.action == "run.resumed", AuditEvent.target_id == counted)
            )
        ]
    assert sorted(reaped) == sorted([counted, phased, spent]) and beating not in reaped
    assert sorted(audits) == [1, 2, 3]
    failed = load(database, counted)
    assert (failed.outcome, failed.context["resume_attempts"]) == ("failed", 3) and "stale" in failed.failure_summary


def test_a_reaped_evidence_run_leaves_no_snapshot_collecting(database, seed):
    from console.evidence.models import EvidenceSnapshot

    old = utcnow() - timedelta(seconds=1000)
    run_id = make_run(
        database, seed, status="running", started_at=old, heartbeat_at=old, type="evidence_snapshot_generate"
    )
    with database.session() as s:
        s.add(EvidenceSnapshot(tenant_id=seed.tenant_id, operation_run_id=run_id, status="collecting"))
        s.commit()
        assert svc.reap_stale(session=s, now=utcnow(), stale_after_seconds=120, queued_stale_after_seconds=60) == [
            run_id
        ]
    with database.session() as s:
        assert s.scalar(select(EvidenceSnapshot.status).where(EvidenceSnapshot.operation_run_id == run_id)) == "failed"


def test_resume_attempts_zero_fails_a_stale_run_at_once(database, seed):
    old = utcnow() - timedelta(seconds=1000)
    run_id = make_run(database, seed, status="running", started_at=old, heartbeat_at=old, counts={"total": 4})
    with database.session() as s:
        assert svc.resume_stale(session=s, now=utcnow(), stale_after_seconds=120, max_attempts=0) == []
        reaped = svc.reap_stale(session=s, now=utcnow(), stale_after_seconds=120, queued_stale_after_seconds=3600)
    assert reaped == [run_id] and load(database, run_id).outcome == "failed"


def test_cancel_and_completion_race_one_winner_and_a_cancelled_run_never_completes(database, seed):
    cancelled = started_run(database, seed, total=2)
    assert unit(database, cancelled, "a")
    with database.session() as s:
        svc.cancel_run(session=s, run_id=cancelled, user_id=seed.user_id, user_name="Olga")
    # The last unit arrives after the cancel: refused, so the run cannot complete as succeeded.
    with database.session() as s:
        assert svc.record_fanout_unit(session=s, run_id=cancelled, unit_key="b", outcome="succeeded") is False
        assert svc.maybe_complete_bulk_run(session=s, run_id=cancelled) is False
    run = load(database, cancelled)
    assert (run.status, run.outcome, svc.counts_of(run)) == (
        "completed",
        "cancelled",
        {"total": 2, "processed": 1, "succeeded": 1},
    )
    assert count(database, OperationRunUnit, OperationRunUnit.run_id == cancelled) == 1

    finished = started_run(database, seed, total=1)
    with database.session() as s:
        assert svc.record_fanout_unit(session=s, run_id=finished, unit_key="a", outcome="succeeded")
        with pytest.raises(InvalidTransition, match="only a queued or running run can be cancelled"):
            svc.cancel_run(session=s, run_id=finished, user_id=seed.user_id, user_name="Olga")
    assert load(database, finished).outcome == "succeeded"


# ---------------------------------------------------------------- notifications


def test_notification_titles_and_kinds(database, seed):
    cases = {
        "succeeded": ("run_completed", "Inventory sync succeeded"),
        "partially_succeeded": ("run_completed", "Inventory sync partially succeeded"),
        "failed": ("run_failed", "Inventory sync failed"),
        "cancelled": ("run_completed", "Inventory sync cancelled"),
    }
    for outcome, (kind, title) in cases.items():
        run_id = make_run(database, seed, status="completed", outcome=outcome)
        with database.session() as s:
            note = notify_run_terminal(session=s, run=svc.get_run(session=s, run_id=run_id))
            assert note is not None and (note.kind, note.title) == (kind, title)


def test_notification_inbox(database, seed):
    ids = []
    for _ in range(3):
        run_id = started_run(database, seed)
        with database.session() as s:
            svc.complete_run(session=s, run_id=run_id, outcome="succeeded")
        ids.append(run_id)
    other = make_run(database, seed, status="running", initiator=seed.user2_id)
    with database.session() as s:
        svc.fail_run(session=s, run_id=other, reason="x")
    with database.session() as s:
        notes = list_notifications(session=s, user_id=seed.user_id)
        assert [n.run_id for n in notes] == ids[::-1]  # newest first
        assert len(list_notifications(session=s, user_id=seed.user_id, limit=2)) == 2
        assert unread_count(session=s, user_id=seed.user_id) == 3
        # Only one's own notifications can be marked read.
        other_note = list_notifications(session=s, user_id=seed.user2_id)[0].id
        assert mark_read(session=s, user_id=seed.user_id, notification_ids=[notes[0].id, other_note]) == 1
        assert unread_count(session=s, user_id=seed.user_id) == 2
        assert unread_count(session=s, user_id=seed.user2_id) == 1
        assert mark_read(session=s, user_id=seed.user_id, notification_ids=[]) == 0
        assert mark_read(session=s, user_id=seed.user_id, notification_ids=None) == 2
        assert unread_count(session=s, user_id=seed.user_id) == 0
        assert unread_count(session=s, user_id=seed.user2_id) == 1


# ---------------------------------------------------------------- lists


def test_list_and_count_runs(database, seed):
    a = started_run(database, seed)  # t1 inventory running
    b, _ = enqueue(database, seed, tenant_id=seed.tenant2_id)  # t2 inventory queued
    c, _ = enqueue(database, seed, tenant_id=None, type="baseline_compare")  # tenantless
    d = make_run(database, seed, status="completed", outcome="failed")
    with database.session() as s:

        def ids(**kw):
            runs = svc.list_runs(session=s, workspace_id=seed.workspace_id, **kw)
            kw.pop("limit", None), kw.pop("offset", None)
            assert svc.count_runs(session=s, workspace_id=seed.workspace_id, **kw) >= len(runs)
            return [r.id for r in runs]

        assert ids(tenant_ids=None) == [d, c, b, a]
        assert ids(tenant_ids=[seed.tenant_id]) == [d, a]
        assert ids(tenant_ids=[]) == []
        assert ids(tenant_ids=None, active_only=True) == [c, b, a]
        assert ids(tenant_ids=None, type="baseline_compare") == [c]
        assert ids(tenant_ids=None, status="queued") == [c, b]
        assert ids(tenant_ids=None, outcome="failed") == [d]
        assert ids(tenant_ids=None, limit=2, offset=1) == [c, b]
        assert svc.count_runs(session=s, workspace_id=seed.workspace_id, tenant_ids=None) == 4
        assert svc.count_runs(session=s, workspace_id=seed.other_workspace_id, tenant_ids=None) == 0


def test_reads_normalize_counts(database, seed):
    run_id = make_run(database, seed, status="running", counts={"total": "10", "processed": 3.0, "failed": -1, "x": 1})
    run = load(database, run_id)
    assert svc.counts_of(run) == {"processed": 3}
    assert progress_for_run(run).mode == "activity"


def test_lifecycle_is_logged_with_run_type_tenant_state(database, seed, caplog):
    with caplog.at_level(logging.INFO, logger="console.operations.service"):
        run_id = started_run(database, seed, total=1)
        unit(database, run_id, "a")
        with database.session() as s:
            svc.maybe_complete_bulk_run(session=s, run_id=run_id)
    lines = [r.getMessage() for r in caplog.records]
    for event, state in [("run_enqueued", "queued"), ("run_started", "running"), ("run_completed", "completed")]:
        expected = f"event={event} run_id={run_id} type=inventory_sync tenant_id={seed.tenant_id} state={state}"
        assert any(line.startswith(expected) for line in lines), (expected, lines)
