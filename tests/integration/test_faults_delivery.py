"""Fault: duplicate and out-of-order delivery, against a real worker and broker.

What tests/integration/test_writers_restore.py already proves: every restore child delivered
twice while the parent runs counts once, and one child delivered again after the parent
succeeded changes nothing. This module adds the other orders a broker can produce:

* children that arrive *before* their parent started (the run still queued);
* the parent of a fan-out delivered twice at once (what a visibility timeout shorter than the
  task does: Redis hands a still-running task to a second worker);
* every task delivered again after its run completed, and children that arrive after their
  parent was *failed* (reaped) — late retries, redeliveries, duplicates.

In every case: counts equal the distinct ledger rows, nothing is counted twice, a completed
run never changes (status, outcome, counts, completed_at) and its initiator is notified once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from console.backups.models import BackupSetItem
from console.notifications.models import Notification
from console.operations.models import OperationRunUnit
from console.operations.registry import TASK_NAMES
from console.operations.service import counts_of, enqueue_run, fail_run
from tests.integration.worker import (
    Stack,
    World,
    closed_gate,
    load_run,
    make_world,
    stack_fixture,
    start,
    start_with_faults,
    wait_run,
    wait_until,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

stack = stack_fixture()
CHILD = "tasks.backups.restore_backup_item"
PARENT = TASK_NAMES["backup_set_restore"]
SYNC = TASK_NAMES["inventory_sync"]


def backed_up(stack: Stack) -> tuple[World, list[int]]:
    world = make_world(stack)
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


def ledger(stack: Stack, run_id: int) -> list[str]:
    with stack.db.session() as s:
        return list(s.scalars(select(OperationRunUnit.unit_key).where(OperationRunUnit.run_id == run_id)))


def notifications(stack: Stack, run_id: int) -> int:
    with stack.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(Notification).where(Notification.run_id == run_id)))


def handled(stack: Stack, marker: str, times: int) -> None:
    """Wait until the worker logged ``marker`` at least ``times`` times."""
    wait_until(lambda: stack.worker.log().count(marker) >= times, stack=stack, what=f"{times}× {marker!r}")


def assert_exact(stack: Stack, run_id: int, total: int) -> None:
    run, keys = load_run(stack, run_id), ledger(stack, run_id)
    counts = counts_of(run)
    assert (run.status, run.outcome) == ("completed", "succeeded"), run.failure_summary
    assert counts["processed"] == counts["total"] == counts["succeeded"] == total == len(keys) == len(set(keys))
    assert notifications(stack, run_id) == 1


def test_children_that_arrive_before_their_parent_started_count_nothing(stack: Stack) -> None:
    world, items = backed_up(stack)
    with stack.db.session() as s:
        run, _ = enqueue_run(
            session=s,
            type="backup_set_restore",
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            initiator_user_id=world.user_id,
            context={"options": {}},
        )
        run_id = run.id
    for item_id in items:  # the parent has not run: the run is queued, it has no total
        stack.dispatcher.send(CHILD, run_id, item_id)
    handled(stack, f"event=restore_item_ignored run_id={run_id} ", len(items))
    early = load_run(stack, run_id)
    assert (early.status, counts_of(early), ledger(stack, run_id)) == ("queued", {}, [])

    stack.dispatcher.send(PARENT, run_id)  # the parent plans every item and sends the children again
    wait_run(stack, run_id)
    assert_exact(stack, run_id, len(items))


def test_a_fan_out_parent_delivered_twice_at_once_counts_every_unit_once(stack: Stack) -> None:
    """Both deliveries plan the restore and send children for the items not yet counted; the
    ledger turns the duplicates into no-ops."""
    world, items = backed_up(stack)
    restore_id = start_with_faults(stack, world, "backup_set_restore", {"delay_seconds": 0.05})
    stack.dispatcher.send(PARENT, restore_id)  # the same parent again, while the first fans out
    wait_run(stack, restore_id)
    handled(stack, f"event=task_started task={PARENT} run_id={restore_id}\n", 2)
    assert_exact(stack, restore_id, len(items))


def test_the_same_chunk_delivered_twice_at_once_counts_every_unit_once(stack: Stack, tmp_path: Path) -> None:
    """Two deliveries of one chunk run side by side (a duplicate send, or Redis handing a chunk
    still being worked on to a second worker): both restore, the ledger counts each unit once."""
    world, items = backed_up(stack)
    gate, held = closed_gate(tmp_path, [f"item:{i}" for i in items[2:]])
    restore_id = start_with_faults(stack, world, "backup_set_restore", held)
    # The parent's chunk holds every item (18 < the default chunk size): it stops at the gate.
    wait_until(lambda: counts_of(load_run(stack, restore_id)).get("processed", 0) >= 2, stack=stack, what="2 units")
    received = stack.worker.log().count(f"Task {CHILD}[")
    stack.dispatcher.send(CHILD, restore_id, items)  # the same chunk again, while the first is held
    wait_until(lambda: stack.worker.log().count(f"Task {CHILD}[") > received, stack=stack, what="the duplicate chunk")
    time.sleep(0.3)  # the duplicate has read the ledger and is held at the gate too
    gate.unlink()
    wait_run(stack, restore_id)
    assert_exact(stack, restore_id, len(items))


def test_deliveries_after_a_run_completed_or_was_reaped_change_nothing(stack: Stack, tmp_path: Path) -> None:
    world, items = backed_up(stack)
    done_id = start(stack, world, "backup_set_restore")
    done = wait_run(stack, done_id)
    sync_world = make_world(stack)
    synced = wait_run(stack, start(stack, sync_world, "inventory_sync"))

    # A restore failed mid-run (what the reaper does to a run whose worker went silent), with
    # children in flight and queued behind it: two items restore, the rest wait at a gate.
    reaped_world, reaped_items = backed_up(stack)
    gate, held = closed_gate(tmp_path, [f"item:{i}" for i in reaped_items[2:]])
    reaped_id = start_with_faults(stack, reaped_world, "backup_set_restore", held)
    wait_until(
        lambda: counts_of(load_run(stack, reaped_id)).get("processed", 0) >= 2, stack=stack, what="restore under way"
    )
    with stack.db.session() as s:
        assert fail_run(session=s, run_id=reaped_id, reason="stale: no heartbeat (test)") is not None
    failed = load_run(stack, reaped_id)
    assert counts_of(failed)["processed"] == 2
    gate.unlink()

    # Late: every child again (as redeliveries or late retries would), the parents, the sync.
    for item_id in items:
        stack.dispatcher.send(CHILD, done_id, item_id)
    for item_id in reaped_items:
        stack.dispatcher.send(CHILD, reaped_id, item_id)
    stack.dispatcher.send(PARENT, done_id)
    stack.dispatcher.send(PARENT, reaped_id)
    stack.dispatcher.send(SYNC, synced.id)
    handled(stack, f"event=restore_item_ignored run_id={done_id} ", len(items))
    handled(stack, f"event=restore_item_ignored run_id={reaped_id} ", len(reaped_items))
    for run_id in (done_id, reaped_id, synced.id):
        handled(stack, f"run_id={run_id} reason=run_not_active", 1)
    time.sleep(0.5)  # the reaped run's in-flight children had time to try to count

    for before in (done, synced, failed):
        after = load_run(stack, before.id)
        assert (after.status, after.outcome, counts_of(after), after.completed_at, after.failure_summary) == (
            before.status,
            before.outcome,
            counts_of(before),
            before.completed_at,
            before.failure_summary,
        )
        assert notifications(stack, before.id) == 1
    assert_exact(stack, done_id, len(items))
    # The failed run keeps the counts it had when it failed, and they match its ledger.
    keys = ledger(stack, reaped_id)
    assert counts_of(failed)["processed"] == len(keys) == len(set(keys)) < len(reaped_items)
