"""The fan-out restore against a real worker: one child task per item, each unit counted on the
parent exactly once — through duplicates, redelivery and retries — and only
``maybe_complete_bulk_run`` completing the parent."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from console.backups.models import BackupSet, BackupSetItem
from console.inventory.models import Policy
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.progress import progress_for_run
from console.operations.service import counts_of
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

CHUNK = 5  # small chunks: an 18-item set fans out to 4 child tasks
stack = stack_fixture(CONSOLE_FANOUT_CHUNK_SIZE=str(CHUNK))
CHILD = "tasks.backups.restore_backup_item"


def backed_up(stack: Stack) -> tuple[World, int, list[tuple[int, str]]]:
    """A tenant with a backup set of its active policies: (world, set id, [(item id, external id)])."""
    world = make_world(stack)
    add = wait_run(stack, start(stack, world, "backup_set_add_policies"))
    set_id = add.context["backup_set_id"]
    with stack.db.session() as s:
        items = s.execute(
            select(BackupSetItem.id, BackupSetItem.policy_external_id)
            .where(BackupSetItem.backup_set_id == set_id)
            .order_by(BackupSetItem.id)
        ).all()
    return world, set_id, [(i, e) for i, e in items]


def ledger_count(stack: Stack, run_id: int) -> int:
    with stack.db.session() as s:
        return int(
            s.scalar(select(func.count()).select_from(OperationRunUnit).where(OperationRunUnit.run_id == run_id))
        )


def test_restore_fans_out_one_child_per_chunk_and_restores_every_policy(stack: Stack) -> None:
    world, set_id, items = backed_up(stack)
    with stack.db.session() as s:  # drift after the backup: the restore must undo it
        policy = s.scalar(select(Policy).where(Policy.tenant_id == world.tenant_id, Policy.external_id == items[0][1]))
        original = dict(policy.settings)
        policy.settings = {"enabled": False, "tampered": True}
        s.commit()
    run = wait_run(stack, start(stack, world, "backup_set_restore"))

    counts = counts_of(run)
    assert (run.outcome, run.context["backup_set_id"]) == ("succeeded", set_id)
    assert counts == {"total": len(items), "processed": len(items), "succeeded": len(items)}
    with stack.db.session() as s:
        keys = set(s.scalars(select(OperationRunUnit.unit_key).where(OperationRunUnit.run_id == run.id)))
        restored = s.scalar(
            select(func.count())
            .select_from(BackupSetItem)
            .where(BackupSetItem.backup_set_id == set_id, BackupSetItem.restored_at.is_not(None))
        )
        policy = s.scalar(select(Policy).where(Policy.tenant_id == world.tenant_id, Policy.external_id == items[0][1]))
        assert policy.settings == original
        # Children count units on the parent; they are not runs of their own.
        assert s.scalar(select(func.count()).select_from(OperationRun).where(OperationRun.parent_run_id == run.id)) == 0
    assert keys == {f"item:{i}" for i, _ in items} and restored == len(items)
    assert progress_for_run(run).text == f"{len(items)} of {len(items)} processed"
    log = stack.worker.log()
    chunks = -(-len(items) // CHUNK)
    assert chunks > 1 and log.count(f"{CHILD}[") >= chunks  # one child per chunk, really sent through the broker


def test_child_failures_and_not_found_items_give_partially_succeeded(stack: Stack) -> None:
    world, _set_id, items = backed_up(stack)
    (bad, _), (_, gone) = items[0], items[1]
    run = wait_run(
        stack,
        start_with_faults(stack, world, "backup_set_restore", {"fail_units": [f"item:{bad}"], "not_found": [gone]}),
    )
    counts = counts_of(run)
    assert run.outcome == "partially_succeeded"
    assert counts == {
        "total": len(items),
        "processed": len(items),
        "succeeded": len(items) - 2,
        "failed": 1,
        "skipped": 1,
    }


def test_every_child_failing_gives_failed(stack: Stack) -> None:
    world, _set_id, items = backed_up(stack)
    run = wait_run(stack, start_with_faults(stack, world, "backup_set_restore", {"fail_units": ["item:*"]}))
    assert run.outcome == "failed" and counts_of(run) == {
        "total": len(items),
        "processed": len(items),
        "failed": len(items),
    }


def test_duplicate_child_deliveries_never_double_count(stack: Stack, tmp_path: Path) -> None:
    world, _set_id, items = backed_up(stack)
    # The children wait at a gate, so the duplicates are sent while the parent surely runs and
    # then race the originals once the gate opens.
    gate, held = closed_gate(tmp_path)
    run_id = start_with_faults(stack, world, "backup_set_restore", held)
    wait_until(
        lambda: f"event=restore_fanned_out run_id={run_id} " in stack.worker.log(),
        stack=stack,
        what="parent fanned out",
    )
    assert load_run(stack, run_id).status == "running"
    for item_id, _ in items:
        stack.dispatcher.send(CHILD, run_id, item_id)
        stack.dispatcher.send(CHILD, run_id, item_id)
    gate.unlink()
    run = wait_run(stack, run_id)
    assert counts_of(run) == {"total": len(items), "processed": len(items), "succeeded": len(items)}
    assert ledger_count(stack, run_id) == len(items)

    # The same child once more after completion: counts and ledger unchanged, the run stays completed.
    stack.dispatcher.send(CHILD, run_id, items[0][0])
    marker = f"event=restore_item_ignored run_id={run_id} unit_key=item:{items[0][0]}"
    wait_until(lambda: marker in stack.worker.log(), stack=stack, what="late duplicate handled")
    after = load_run(stack, run_id)
    assert (after.status, after.outcome, counts_of(after)) == ("completed", "succeeded", counts_of(run))
    assert after.completed_at == run.completed_at and ledger_count(stack, run_id) == len(items)


def test_a_child_whose_error_survives_retries_counts_as_failed_once(stack: Stack) -> None:
    world, _set_id, items = backed_up(stack)
    crashing = items[-1][0]
    run = wait_run(stack, start_with_faults(stack, world, "backup_set_restore", {"crash_units": [f"item:{crashing}"]}))
    assert run.outcome == "partially_succeeded"
    assert counts_of(run) == {"total": len(items), "processed": len(items), "succeeded": len(items) - 1, "failed": 1}
    with stack.db.session() as s:
        error = s.scalar(
            select(OperationRunUnit.error).where(
                OperationRunUnit.run_id == run.id, OperationRunUnit.unit_key == f"item:{crashing}"
            )
        )
    assert error == f"InjectedCrash: injected crash at unit item:{crashing}"
    assert stack.worker.log().count(f"event=restore_item_retry run_id={run.id} item_id={crashing}") == 3


def test_restore_option_names_the_set_and_an_empty_set_completes_at_once(stack: Stack) -> None:
    world, set_id, items = backed_up(stack)
    with stack.db.session() as s:
        empty = BackupSet(tenant_id=world.tenant_id, name="empty")
        s.add(empty)
        s.commit()
        empty_id = empty.id
    run = wait_run(stack, start(stack, world, "backup_set_restore", {"backup_set_id": str(empty_id)}))
    assert (run.outcome, counts_of(run), run.context["backup_set_id"]) == (
        "succeeded",
        {"total": 0, "processed": 0},
        empty_id,
    )
    # Without the option, the latest set that has items is restored (not the newer empty one).
    run = wait_run(stack, start(stack, world, "backup_set_restore"))
    assert run.context["backup_set_id"] == set_id and counts_of(run)["processed"] == len(items)
