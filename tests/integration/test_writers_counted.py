"""Counted and phased writers against a real Celery worker: inventory sync, evidence snapshots,
adding policies to a backup set, baseline capture/compare — counts, ledger, artefacts, faults."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from console.backups.models import BackupSet, BackupSetItem
from console.baselines.models import BaselineSnapshot
from console.evidence.models import EvidenceSnapshot, EvidenceSnapshotItem
from console.inventory.models import InventoryItem, Policy
from console.operations.models import OperationRunUnit
from console.operations.progress import progress_for_run
from console.operations.registry import TASK_NAMES
from console.operations.service import counts_of, enqueue_run, fail_run, mark_running, record_unit, set_total
from console.providers.builtin import dataset_for
from tests.integration.worker import (
    Stack,
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


def ledger(stack: Stack, run_id: int) -> dict[str, tuple[str, str | None]]:
    with stack.db.session() as s:
        rows = s.execute(
            select(OperationRunUnit.unit_key, OperationRunUnit.outcome, OperationRunUnit.error).where(
                OperationRunUnit.run_id == run_id
            )
        )
        return {key: (outcome, error) for key, outcome, error in rows}


def scalar(stack: Stack, stmt):
    with stack.db.session() as s:
        return s.scalar(stmt)


def policy_types(tenant_id: int) -> list[str]:
    return sorted({p["policy_type"] for p in dataset_for(tenant_id)})


def active_policies(tenant_id: int) -> list[dict]:
    return [p for p in dataset_for(tenant_id) if not p["is_archived"]]


# ---------------------------------------------------------------- inventory sync


def test_inventory_sync_counts_one_unit_per_policy_type_and_upserts_items(stack: Stack) -> None:
    world = make_world(stack)
    types = policy_types(world.tenant_id)
    run = wait_run(stack, start(stack, world, "inventory_sync"))

    counts = counts_of(run)
    assert (run.status, run.outcome, run.failure_summary) == ("completed", "succeeded", None)
    assert counts["total"] == counts["processed"] == counts["succeeded"] == len(types)
    assert ledger(stack, run.id) == {f"type:{t}": ("succeeded", None) for t in types}
    items = scalar(
        stack, select(func.count()).select_from(InventoryItem).where(InventoryItem.tenant_id == world.tenant_id)
    )
    assert items == len(active_policies(world.tenant_id)) == counts["items"] == counts["created"]
    view = progress_for_run(run)
    assert (view.mode, view.percent, view.text) == ("none", None, f"{len(types)} of {len(types)} processed")

    # A second sync finds nothing new: upserts, not duplicates.
    again = wait_run(stack, start(stack, world, "inventory_sync"))
    assert counts_of(again)["created"] == 0 and counts_of(again)["items"] == items
    assert (
        scalar(stack, select(func.count()).select_from(InventoryItem).where(InventoryItem.tenant_id == world.tenant_id))
        == items
    )


def test_inventory_sync_with_some_failing_types_is_partially_succeeded(stack: Stack) -> None:
    world = make_world(stack)
    types = policy_types(world.tenant_id)
    failing = ["conditionalAccess", "appProtection"]
    run = wait_run(
        stack, start_with_faults(stack, world, "inventory_sync", {"fail_units": [f"type:{t}" for t in failing]})
    )

    counts = counts_of(run)
    assert run.outcome == "partially_succeeded"
    assert counts["total"] == counts["processed"] == len(types)
    assert (counts["failed"], counts["succeeded"]) == (2, len(types) - 2)
    rows = ledger(stack, run.id)
    assert {k for k, (outcome, _) in rows.items() if outcome == "failed"} == {f"type:{t}" for t in failing}
    assert "injected failure" in rows["type:appProtection"][1]
    synced_types = set(
        scalar_all(stack, select(InventoryItem.policy_type).where(InventoryItem.tenant_id == world.tenant_id))
    )
    assert synced_types == set(types) - set(failing)


def scalar_all(stack: Stack, stmt) -> list:
    with stack.db.session() as s:
        return list(s.scalars(stmt))


def test_a_run_whose_every_unit_fails_is_failed_but_fully_processed(stack: Stack) -> None:
    world = make_world(stack)
    run = wait_run(stack, start_with_faults(stack, world, "inventory_sync", {"fail_units": ["type:*"]}))
    counts = counts_of(run)
    assert run.outcome == "failed"
    assert counts["processed"] == counts["total"] == counts["failed"] > 0
    assert "succeeded" not in counts


@pytest.mark.parametrize(
    "operation_type", ["inventory_sync", "evidence_snapshot_generate", "backup_set_add_policies", "backup_set_restore"]
)
def test_zero_units_complete_as_succeeded_and_are_never_counted(stack: Stack, operation_type: str) -> None:
    world = make_world(stack, seed=False)  # a tenant without any policy
    run = wait_run(stack, start(stack, world, operation_type))
    counts = counts_of(run)
    assert (run.status, run.outcome) == ("completed", "succeeded")
    assert counts.get("total", 0) == counts.get("processed", 0) == 0
    assert ledger(stack, run.id) == {}
    view = progress_for_run(run)
    assert (view.mode, view.percent, view.text) == ("none", None, None)


def test_an_exception_mid_run_fails_the_run_with_a_sanitized_one_line_message(stack: Stack) -> None:
    world = make_world(stack)
    types = policy_types(world.tenant_id)
    crash_at = types[2]
    run = wait_run(stack, start_with_faults(stack, world, "inventory_sync", {"crash_units": [f"type:{crash_at}"]}))

    counts = counts_of(run)
    assert (run.status, run.outcome) == ("completed", "failed")
    assert run.failure_summary == f"InjectedCrash: injected crash at unit type:{crash_at}"
    assert "\n" not in run.failure_summary and "Traceback" not in run.failure_summary
    # The units before the crash stay counted; no bar is ever shown on the failed run.
    assert counts["total"] == len(types) and counts["processed"] == 2
    assert progress_for_run(run).mode == "none" and progress_for_run(run).percent is None


def test_a_redelivered_task_resumes_a_running_run_without_counting_a_unit_twice(stack: Stack) -> None:
    """A worker died after counting one unit; the broker delivers the task again."""
    world = make_world(stack)
    types = policy_types(world.tenant_id)
    with stack.db.session() as s:
        run, _ = enqueue_run(
            session=s,
            type="inventory_sync",
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            initiator_user_id=world.user_id,
            context={"options": {}},
        )
        mark_running(session=s, run_id=run.id)
        set_total(session=s, run_id=run.id, total=len(types))
        assert record_unit(session=s, run_id=run.id, unit_key=f"type:{types[0]}", outcome="failed", error="worker died")
        run_id = run.id
    stack.dispatcher.send(TASK_NAMES["inventory_sync"], run_id)
    done = wait_run(stack, run_id)
    counts = counts_of(done)
    assert counts["processed"] == counts["total"] == len(types)
    assert (counts["failed"], counts["succeeded"]) == (1, len(types) - 1)  # the first unit was not redone
    assert len(ledger(stack, run_id)) == len(types)

    # Delivered once more after completion: nothing changes.
    stack.dispatcher.send(TASK_NAMES["inventory_sync"], run_id)
    wait_until(
        lambda: f"reason=run_not_active detail=run {run_id} is completed" in stack.worker.log(),
        stack=stack,
        what="skip log",
    )
    assert counts_of(load_run(stack, run_id)) == counts and len(ledger(stack, run_id)) == len(types)


# ---------------------------------------------------------------- evidence snapshot


def test_evidence_snapshot_persists_one_item_per_active_policy_and_skips_not_found(stack: Stack) -> None:
    world = make_world(stack)
    active = active_policies(world.tenant_id)
    gone = active[1]["external_id"]
    run = wait_run(stack, start_with_faults(stack, world, "evidence_snapshot_generate", {"not_found": [gone]}))

    counts = counts_of(run)
    assert run.outcome == "succeeded"  # a skipped item is not a failure
    assert counts["total"] == counts["processed"] == len(active)
    assert (counts["succeeded"], counts["skipped"]) == (len(active) - 1, 1)
    with stack.db.session() as s:
        snapshot = s.scalar(select(EvidenceSnapshot).where(EvidenceSnapshot.operation_run_id == run.id))
        keys = set(
            s.scalars(select(EvidenceSnapshotItem.item_key).where(EvidenceSnapshotItem.snapshot_id == snapshot.id))
        )
        assert snapshot.status == "complete"
    expected = {f"item:{p['policy_type']}:{p['external_id']}" for p in active}
    assert keys == expected - {next(k for k in expected if k.endswith(":" + gone))}
    assert set(ledger(stack, run.id)) == expected
    assert counts["items"] == len(keys)


def test_a_failed_evidence_run_leaves_no_collecting_snapshot(stack: Stack) -> None:
    world = make_world(stack)
    run = wait_run(stack, start_with_faults(stack, world, "evidence_snapshot_generate", {"crash_units": ["item:*"]}))
    assert run.outcome == "failed" and run.failure_summary.startswith("InjectedCrash")
    status = scalar(stack, select(EvidenceSnapshot.status).where(EvidenceSnapshot.operation_run_id == run.id))
    assert status == "failed"


# ---------------------------------------------------------------- add policies to a backup set


def test_add_policies_counts_every_selected_policy_once_and_skips_archived_and_foreign(stack: Stack) -> None:
    world = make_world(stack)
    other = make_world(stack)
    with stack.db.session() as s:
        mine = s.execute(
            select(Policy.id, Policy.is_archived).where(Policy.tenant_id == world.tenant_id).order_by(Policy.id)
        ).all()
        foreign = s.scalar(select(Policy.id).where(Policy.tenant_id == other.tenant_id).limit(1))
        archived = next((pid for pid, arch in mine if arch), None)
        if archived is None:  # make sure one selected policy is archived
            archived = mine[-1][0]
            s.execute(update(Policy).where(Policy.id == archived).values(is_archived=True))
            s.commit()
    chosen = [pid for pid, arch in mine[:4] if not arch and pid != archived][:3]
    selected = chosen + [archived, foreign]
    run = wait_run(stack, start(stack, world, "backup_set_add_policies", {"policy_ids": ",".join(map(str, selected))}))

    counts = counts_of(run)
    assert run.outcome == "succeeded"
    assert counts["total"] == counts["processed"] == len(selected)
    assert (counts["succeeded"], counts["skipped"]) == (len(chosen), 2)
    rows = ledger(stack, run.id)
    assert rows[f"policy:{archived}"] == ("skipped", "policy is archived")
    assert rows[f"policy:{foreign}"][0] == "skipped"
    set_id = run.context["backup_set_id"]
    with stack.db.session() as s:
        assert s.get(BackupSet, set_id).tenant_id == world.tenant_id
        items = s.scalar(select(func.count()).select_from(BackupSetItem).where(BackupSetItem.backup_set_id == set_id))
    assert items == len(chosen) == counts["items"]


def test_add_policies_defaults_to_all_active_policies_into_a_new_set(stack: Stack) -> None:
    world = make_world(stack)
    run = wait_run(
        stack,
        start_with_faults(
            stack, world, "backup_set_add_policies", {"fail_units": ["policy:*"], "delay_seconds": 0}, {}
        ),
    )
    counts = counts_of(run)
    assert run.outcome == "failed" and counts["total"] == counts["failed"] == len(active_policies(world.tenant_id))
    run2 = wait_run(
        stack, start(stack, world, "backup_set_add_policies", {"backup_set_id": run.context["backup_set_id"]})
    )
    assert run2.outcome == "succeeded" and counts_of(run2)["created"] == len(active_policies(world.tenant_id))
    assert run2.context["backup_set_id"] == run.context["backup_set_id"]


# ---------------------------------------------------------------- baselines (phased)


def test_baseline_capture_reports_phases_and_never_counts_progress(stack: Stack) -> None:
    world = make_world(stack)
    run_id = start_with_faults(stack, world, "baseline_capture", {"delay_seconds": 0.4})
    seen: set[str] = set()

    def observe() -> bool:
        run = load_run(stack, run_id)
        if run.status == "running":
            view = progress_for_run(run)
            assert view.mode == "phased" and view.percent is None
            assert "total" not in counts_of(run) and "processed" not in counts_of(run)
            if run.context.get("phase"):
                seen.add(run.context["phase"])
                words = {"collecting": "Collecting policies", "normalizing": "Normalizing settings"}
                assert view.text == {**words, "storing": "Storing the baseline"}[run.context["phase"]]
        return run.status == "completed"

    wait_until(observe, interval=0.05, stack=stack, what="capture to finish")
    run = load_run(stack, run_id)
    assert run.outcome == "succeeded" and counts_of(run) == {"items": len(active_policies(world.tenant_id))}
    assert seen and seen <= {"collecting", "normalizing", "storing"}
    assert run.context["phase"] == "storing"


def test_baseline_compare_without_a_capture_fails_readably_then_reports_drift(stack: Stack) -> None:
    world = make_world(stack)
    first = wait_run(stack, start(stack, world, "baseline_compare"))
    assert first.outcome == "failed" and "No baseline has been captured" in first.failure_summary

    wait_run(stack, start(stack, world, "baseline_capture"))
    with stack.db.session() as s:
        policies = s.scalars(
            select(Policy).where(Policy.tenant_id == world.tenant_id, Policy.is_archived.is_(False)).order_by(Policy.id)
        ).all()
        policies[0].settings = {**policies[0].settings, "version": 99}
        policies[1].is_archived = True
        s.commit()
    run = wait_run(stack, start(stack, world, "baseline_compare"))
    assert run.outcome == "succeeded"
    assert counts_of(run) == {
        "created": 0,
        "updated": 1,
        "deleted": 1,
        "items": len(active_policies(world.tenant_id)) - 1,
    }
    with stack.db.session() as s:
        snap = s.scalar(select(BaselineSnapshot).where(BaselineSnapshot.operation_run_id == run.id))
        assert snap.kind == "compare" and len(snap.payload["changed"]) == 1 and len(snap.payload["removed"]) == 1


def test_a_run_the_reaper_completed_is_not_touched_by_its_late_task(stack: Stack) -> None:
    world = make_world(stack)
    with stack.db.session() as s:
        run, _ = enqueue_run(
            session=s,
            type="evidence_snapshot_generate",
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            initiator_user_id=world.user_id,
            context={"options": {}},
        )
        fail_run(session=s, run_id=run.id, reason="stale: no heartbeat")
        run_id = run.id
    stack.dispatcher.send(TASK_NAMES["evidence_snapshot_generate"], run_id)
    wait_until(
        lambda: f"reason=run_not_active detail=run {run_id} is completed" in stack.worker.log(),
        stack=stack,
        what="skip log",
    )
    run = load_run(stack, run_id)
    assert (run.outcome, run.failure_summary, counts_of(run)) == ("failed", "stale: no heartbeat", {})
    assert (
        scalar(
            stack, select(func.count()).select_from(EvidenceSnapshot).where(EvidenceSnapshot.operation_run_id == run_id)
        )
        == 0
    )
