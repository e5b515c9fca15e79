"""A counted single task delivered twice *at the same time* (a broker redelivering a task whose
visibility timeout ran out while the first worker still runs it).

Two threads run the same writer for the same run, each with its own session, and meet inside
their first unit (the provider waits for the other delivery), so both fetch the same unit
before either stores it. Whatever the interleaving: the run completes succeeded, every unit is
counted once, every domain row exists once, and neither delivery fails with a database error.
On SQLite the write lock serialises the deliveries (they may not meet); PostgreSQL runs them
truly side by side.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from console.accounts.service import create_tenant, create_user, create_workspace
from console.backups.models import BackupSetItem
from console.backups.service import add_policies_to_backup_set
from console.db import Database
from console.errors import InvalidTransition
from console.evidence.models import EvidenceSnapshot, EvidenceSnapshotItem
from console.evidence.service import generate_evidence_snapshot
from console.inventory.models import InventoryItem
from console.inventory.service import run_inventory_sync
from console.operations.models import OperationRunUnit
from console.operations.service import counts_of, enqueue_run, get_run
from console.providers.builtin import BuiltinProvider, dataset_for, seed_tenant_dataset
from console.review_packs.generate import generate_review_pack
from console.review_packs.models import ReviewPack
from console.review_packs.service import packs_dir

#: How long a delivery waits in its first unit for the other one (SQLite never lets both in).
MEET_TIMEOUT_S = 2.0


class MeetingProvider(BuiltinProvider):
    """The builtin provider whose first unit waits (bounded) for the other delivery's first unit."""

    def __init__(self, *, session, barrier: threading.Barrier) -> None:
        super().__init__(session=session)
        self.barrier, self.first, self.met = barrier, True, False

    def begin_unit(self, unit_key: str) -> None:
        if self.first:
            self.first = False
            try:
                self.barrier.wait(timeout=MEET_TIMEOUT_S)
                self.met = True
            except threading.BrokenBarrierError:
                pass  # serialised by the database: nothing to meet
        super().begin_unit(unit_key)


def _run_twice(database: Database, operation_type: str, writer: Callable) -> tuple[int, int, list[BaseException]]:
    with database.session() as s:
        ws = create_workspace(session=s, name="W")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="t")
        user = create_user(session=s, email="op@test.example", password="long-enough-pw", name="Op")
        seed_tenant_dataset(session=s, tenant_id=tenant.id)
        run, _ = enqueue_run(
            session=s,
            type=operation_type,
            workspace_id=ws.id,
            tenant_id=tenant.id,
            initiator_user_id=user.id,
            context={"options": {}},
        )
        run_id, tenant_id = run.id, tenant.id
    barrier = threading.Barrier(2)
    met: list[bool] = []

    def deliver() -> None:
        with database.session() as s:
            provider = MeetingProvider(session=s, barrier=barrier)
            try:
                writer(session=s, run_id=run_id, provider=provider)
            except InvalidTransition:
                pass  # the other delivery completed the run first: what the task treats as "ended"
            met.append(provider.met)

    errors: list[BaseException] = []
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(deliver) for _ in range(2)]:
            if (exc := future.exception()) is not None:
                errors.append(exc)
    if database.engine.dialect.name == "postgresql":
        assert met == [True, True], "the deliveries never ran side by side: the test proves nothing"
    return run_id, tenant_id, errors


def _assert_counted_once(database: Database, run_id: int, errors: list[BaseException], expected_units: int) -> None:
    assert errors == []
    with database.session() as s:
        run = get_run(session=s, run_id=run_id)
        keys = list(s.scalars(select(OperationRunUnit.unit_key).where(OperationRunUnit.run_id == run_id)))
        counts = counts_of(run)
        assert (run.status, run.outcome) == ("completed", "succeeded"), run.failure_summary
    assert (
        counts["total"] == counts["processed"] == counts["succeeded"] == expected_units == len(keys) == len(set(keys))
    )


def _active(tenant_id: int) -> list[dict]:
    return [p for p in dataset_for(tenant_id) if not p["is_archived"]]


def test_inventory_sync_delivered_twice_at_once_counts_and_stores_each_type_once(database: Database) -> None:
    run_id, tenant_id, errors = _run_twice(database, "inventory_sync", run_inventory_sync)
    _assert_counted_once(database, run_id, errors, len({p["policy_type"] for p in dataset_for(tenant_id)}))
    with database.session() as s:
        stored = s.scalar(select(func.count()).select_from(InventoryItem).where(InventoryItem.tenant_id == tenant_id))
    assert stored == len(_active(tenant_id))


def test_evidence_snapshot_delivered_twice_at_once_stores_one_snapshot_with_each_item_once(database: Database) -> None:
    run_id, tenant_id, errors = _run_twice(database, "evidence_snapshot_generate", generate_evidence_snapshot)
    _assert_counted_once(database, run_id, errors, len(_active(tenant_id)))
    with database.session() as s:
        snapshots = list(s.scalars(select(EvidenceSnapshot).where(EvidenceSnapshot.operation_run_id == run_id)))
        statuses = [snap.status for snap in snapshots]
        items = list(
            s.scalars(select(EvidenceSnapshotItem.item_key).where(EvidenceSnapshotItem.snapshot_id == snapshots[0].id))
        )
    assert statuses == ["complete"]
    assert len(items) == len(set(items)) == len(_active(tenant_id))


def test_adding_policies_delivered_twice_at_once_fills_one_set_once(database: Database) -> None:
    run_id, tenant_id, errors = _run_twice(database, "backup_set_add_policies", add_policies_to_backup_set)
    _assert_counted_once(database, run_id, errors, len(_active(tenant_id)))
    with database.session() as s:
        set_id = get_run(session=s, run_id=run_id).context["backup_set_id"]
        items = list(s.scalars(select(BackupSetItem.policy_external_id).where(BackupSetItem.backup_set_id == set_id)))
    assert sorted(items) == sorted(p["external_id"] for p in _active(tenant_id))


def test_a_review_pack_delivered_twice_at_once_is_ready_with_its_own_intact_file(database: Database, tmp_path) -> None:
    """Both deliveries build an archive; the one that completes the run names its own file, the
    other removes only its own — never a ready pack without its file or with another's digest."""
    instance_dir = tmp_path / "instance"

    def generate(*, session, run_id, provider):
        return generate_review_pack(
            session=session, run_id=run_id, provider=provider, instance_dir=instance_dir, ttl_days=7
        )

    run_id, _tenant_id, errors = _run_twice(database, "review_pack_generate", generate)
    assert errors == []
    with database.session() as s:
        run = get_run(session=s, run_id=run_id)
        assert (run.status, run.outcome) == ("completed", "succeeded"), run.failure_summary
        packs = list(s.scalars(select(ReviewPack).where(ReviewPack.operation_run_id == run_id)))
        assert [p.status for p in packs] == ["ready"]
        path, digest = Path(packs[0].file_path), packs[0].sha256
    assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in packs_dir(instance_dir).iterdir()) == [path.name]  # the loser left nothing behind
