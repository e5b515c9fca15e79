"""Operator control against a real worker and broker: cancel a running fan-out and a counted
single task, retry what did not succeed — and the refusals (rights, states, double clicks)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from console.access import load_principal
from console.audit.models import AuditEvent
from console.backups.models import BackupSetItem
from console.errors import Conflict, Forbidden, NotFound
from console.notifications.models import Notification
from console.operations.launch import cancel_operation, retry_operation, retry_plan
from console.operations.models import OperationRunUnit
from console.operations.progress import progress_for_run
from console.operations.service import counts_of
from console.review_packs.models import ReviewPack
from tests.integration.worker import (
    Stack,
    World,
    load_run,
    make_world,
    stack_fixture,
    start,
    start_with_faults,
    wait_run,
    wait_until,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

CHUNK = 4
stack = stack_fixture(CONSOLE_FANOUT_CHUNK_SIZE=str(CHUNK))


def ledger(stack: Stack, run_id: int) -> dict[str, str]:
    with stack.db.session() as s:
        return dict(
            s.execute(
                select(OperationRunUnit.unit_key, OperationRunUnit.outcome).where(OperationRunUnit.run_id == run_id)
            ).all()
        )


def backed_up(stack: Stack, **kw) -> tuple[World, list[int]]:
    world = make_world(stack, **kw)
    add = wait_run(stack, start(stack, world, "backup_set_add_policies"))
    with stack.db.session() as s:
        items = list(
            s.scalars(
                select(BackupSetItem.id)
                .where(BackupSetItem.backup_set_id == add.context["backup_set_id"])
                .order_by(BackupSetItem.id)
            )
        )
    return world, items


def cancel(stack: Stack, world: World, run_id: object, name: str = "Olga Operator") -> int:
    with stack.db.session() as s:
        principal = load_principal(session=s, user_id=world.user_id)
        return cancel_operation(session=s, principal=principal, run_id=run_id, user_name=name)


def retry(stack: Stack, world: World, run_id: object):
    with stack.db.session() as s:
        principal = load_principal(session=s, user_id=world.user_id)
        return retry_operation(session=s, principal=principal, run_id=run_id, dispatcher=stack.dispatcher)


def test_cancelling_a_running_fan_out_stops_its_chunks_and_keeps_exact_counts(stack: Stack) -> None:
    world, items = backed_up(stack)
    run_id = start_with_faults(stack, world, "backup_set_restore", {"delay_seconds": 0.2})
    wait_until(lambda: counts_of(load_run(stack, run_id)).get("processed", 0) >= 2, stack=stack, what="2 units")
    cancelled_at = time.monotonic()
    assert cancel(stack, world, run_id) == run_id
    run = load_run(stack, run_id)
    assert (run.status, run.outcome) == ("completed", "cancelled")

    # The chunks notice between units (each BatchRecorder write, every 0.5 s) and stop: the
    # ledger stops growing well within the contract's 10 s.
    def settled() -> bool:
        before = len(ledger(stack, run_id))
        time.sleep(1.0)
        return len(ledger(stack, run_id)) == before

    wait_until(settled, stack=stack, what="the chunks to stop", timeout=10)
    stopped_after = time.monotonic() - cancelled_at
    run, keys = load_run(stack, run_id), ledger(stack, run_id)
    counts = counts_of(run)
    assert counts["processed"] == len(keys) < counts["total"] == len(items)
    assert (run.status, run.outcome) == ("completed", "cancelled")  # never completes afterwards
    view = progress_for_run(run)
    assert (view.mode, view.percent, view.text) == ("none", None, f"{len(keys)} of {len(items)} processed")
    assert stopped_after < 10
    with stack.db.session() as s:
        note = s.scalar(select(Notification.title).where(Notification.run_id == run_id))
        audit = s.scalar(
            select(AuditEvent.details).where(AuditEvent.action == "run.cancelled", AuditEvent.target_id == run_id)
        )
    assert note == "Backup restore cancelled" and audit == {"message": "cancelled by Olga Operator"}

    # Retry does exactly what the cancel left undone, with its own total.
    launch = retry(stack, world, run_id)
    assert launch.created and retry(stack, world, run_id).run_id == launch.run_id  # a double click: one retry
    again = wait_run(stack, launch.run_id)
    again_keys = ledger(stack, again.id)
    assert (again.outcome, again.context["retry_of"]) == ("succeeded", run_id)
    assert counts_of(again)["total"] == len(items) - len(keys) == len(again_keys)
    assert set(again_keys).isdisjoint({k for k, outcome in keys.items() if outcome == "succeeded"})
    assert load_run(stack, run_id).context["retried_as"] == again.id


def test_a_retry_of_a_partially_succeeded_restore_runs_only_the_failed_units(stack: Stack) -> None:
    world, items = backed_up(stack)
    failing = [f"item:{i}" for i in items[:3]]
    run = wait_run(stack, start_with_faults(stack, world, "backup_set_restore", {"fail_units": failing}))
    assert run.outcome == "partially_succeeded" and counts_of(run)["failed"] == 3
    assert retry_plan(load_run(stack, run.id)) == "Retry the 3 units that did not succeed"
    launch = retry(stack, world, run.id)
    again = wait_run(stack, launch.run_id)
    assert again.outcome == "succeeded" and sorted(ledger(stack, again.id)) == sorted(failing)
    assert counts_of(again) == {"total": 3, "processed": 3, "succeeded": 3}
    # The retry keeps the old run's backup set (resolved once, passed on as the option).
    assert again.context["backup_set_id"] == run.context["backup_set_id"]


def test_cancelling_a_queued_run_is_immediate_and_its_task_does_nothing(stack: Stack) -> None:
    world = make_world(stack)
    with stack.db.session() as s:
        from console.operations.service import enqueue_run

        queued, _ = enqueue_run(
            session=s,
            type="inventory_sync",
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            initiator_user_id=world.user_id,
            context={"options": {}},
        )
    cancel(stack, world, queued.id)
    stack.dispatcher.send("tasks.inventory.run_inventory_sync", queued.id)  # the task arrives late
    wait_until(lambda: f"run_id={queued.id} reason=run_not_active" in stack.worker.log(), stack=stack, what="late task")
    run = load_run(stack, queued.id)
    assert (run.status, run.outcome, counts_of(run), ledger(stack, run.id)) == ("completed", "cancelled", {}, {})
    assert retry_plan(run) == "Run inventory sync again"


def test_a_cancelled_review_pack_ends_without_a_file(stack: Stack, tmp_path) -> None:
    world = make_world(stack)
    run_id = start_with_faults(stack, world, "review_pack_generate", {"delay_seconds": 0.3})
    wait_until(lambda: counts_of(load_run(stack, run_id)).get("processed", 0) >= 1, stack=stack, what="1 entry")
    cancel(stack, world, run_id)
    wait_until(
        lambda: f"run_id={run_id} reason=run_not_active" in stack.worker.log(), stack=stack, what="generator stop"
    )
    with stack.db.session() as s:
        pack_id, status, path, error = s.execute(
            select(ReviewPack.id, ReviewPack.status, ReviewPack.file_path, ReviewPack.error).where(
                ReviewPack.operation_run_id == run_id
            )
        ).one()
    assert (status, path) == ("failed", None) and "cancelled by Olga Operator" in (error or "")
    packs = stack.instance_dir / "review_packs"
    assert not packs.exists() or not [p for p in packs.iterdir() if f"-{pack_id}-" in p.name]


def test_refusals_are_clear_and_change_nothing(stack: Stack) -> None:
    world, _items = backed_up(stack)
    done = wait_run(stack, start(stack, world, "inventory_sync"))
    with pytest.raises(Conflict, match="only a queued or running run can be cancelled"):
        cancel(stack, world, done.id)
    with pytest.raises(Conflict, match="only a failed, partially succeeded or cancelled run can be retried"):
        retry(stack, world, done.id)  # succeeded: nothing to retry
    outsider = make_world(stack, seed=False)  # a manager of another workspace: may not know it exists
    for junk in (done.id, "abc", -1, 10**20, None):
        with pytest.raises(NotFound):
            cancel(stack, outsider, junk)
        with pytest.raises(NotFound):
            retry(stack, outsider, junk)
    viewer = make_world(stack, role="viewer", seed=False)
    with stack.db.session() as s:
        from console.accounts.service import grant_capabilities, grant_role

        grant_role(session=s, email=viewer.email, workspace_id=world.workspace_id, role="viewer")
        grant_capabilities(session=s, email=viewer.email, tenant_id=world.tenant_id, capabilities=["operations.view"])
    with pytest.raises(Forbidden):
        retry(stack, viewer, done.id)
    after = load_run(stack, done.id)
    assert (after.status, after.outcome, after.context.get("retried_as")) == ("completed", "succeeded", None)
    with stack.db.session() as s:
        cancelled = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "run.cancelled", AuditEvent.target_id == done.id)
        )
    assert cancelled == 0
