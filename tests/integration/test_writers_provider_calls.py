"""A provider call (``begin_unit``: where a real provider talks to the tenant API, and where
``delay_seconds`` sleeps) never runs inside a database transaction.

On SQLite every transaction holds the write lock (BEGIN IMMEDIATE), so a unit that waited on
its provider inside one would stall every other writer and every page for the whole call; on
PostgreSQL it would leave a connection idle in transaction. Each writer is run here with a
provider that records whether its session was in a transaction when a unit began.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from console.accounts.service import create_tenant, create_user, create_workspace
from console.backups.service import add_policies_to_backup_set, plan_restore, restore_chunk
from console.baselines.service import capture_baseline
from console.db import Database
from console.evidence.service import generate_evidence_snapshot
from console.inventory.service import run_inventory_sync
from console.operations.service import counts_of, enqueue_run, get_run
from console.providers.builtin import BuiltinProvider, seed_tenant_dataset
from console.review_packs.generate import generate_review_pack
from console.review_packs.service import ensure_pack_for_run


class ProbeProvider(BuiltinProvider):
    """The builtin provider, noting for each unit whether the session was in a transaction."""

    def __init__(self, *, session) -> None:
        super().__init__(session=session)
        self.in_transaction: dict[str, bool] = {}

    def begin_unit(self, unit_key: str) -> None:
        self.in_transaction[unit_key] = self.session.in_transaction()
        super().begin_unit(unit_key)


def _tenant(database: Database) -> tuple[int, int, int]:
    with database.session() as s:
        ws = create_workspace(session=s, name="W")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="t")
        user = create_user(session=s, email="op@test.example", password="long-enough-pw", name="Op")
        seed_tenant_dataset(session=s, tenant_id=tenant.id)
        return ws.id, tenant.id, user.id


def _enqueue(database: Database, ids: tuple[int, int, int], operation_type: str) -> int:
    ws_id, tenant_id, user_id = ids
    with database.session() as s:
        run, _ = enqueue_run(
            session=s,
            type=operation_type,
            workspace_id=ws_id,
            tenant_id=tenant_id,
            initiator_user_id=user_id,
            context={"options": {}},
        )
        if operation_type == "review_pack_generate":
            ensure_pack_for_run(session=s, run_id=run.id, tenant_id=tenant_id, options={})
        return run.id


def _run(database: Database, ids: tuple[int, int, int], operation_type: str, writer: Callable) -> ProbeProvider:
    run_id = _enqueue(database, ids, operation_type)
    with database.session() as s:
        get_run(session=s, run_id=run_id)  # what the task does first (it reads the run's faults)
        provider = ProbeProvider(session=s)
        writer(session=s, run_id=run_id, provider=provider)
    with database.session() as s:
        run = get_run(session=s, run_id=run_id)
        assert (run.status, run.outcome) == ("completed", "succeeded")
    return provider


@pytest.mark.parametrize(
    ("operation_type", "writer"),
    [
        ("inventory_sync", run_inventory_sync),
        ("evidence_snapshot_generate", generate_evidence_snapshot),
        ("backup_set_add_policies", add_policies_to_backup_set),
        ("baseline_capture", capture_baseline),
    ],
)
def test_counted_and_phased_writers_call_the_provider_outside_any_transaction(
    database: Database, operation_type: str, writer: Callable
) -> None:
    provider = _run(database, _tenant(database), operation_type, writer)
    assert provider.in_transaction, "no unit began: the probe proves nothing"
    assert {k for k, inside in provider.in_transaction.items() if inside} == set()


def test_restore_children_call_the_provider_outside_any_transaction(database: Database) -> None:
    ids = _tenant(database)
    _run(database, ids, "backup_set_add_policies", add_policies_to_backup_set)
    run_id = _enqueue(database, ids, "backup_set_restore")
    with database.session() as s:
        items = plan_restore(session=s, run_id=run_id)
    probes = []
    for chunk in (items[i : i + 5] for i in range(0, len(items), 5)):
        with database.session() as s:
            get_run(session=s, run_id=run_id)  # the child task reads the run's faults first
            probe = ProbeProvider(session=s)
            done = restore_chunk(
                session=s, open_session=database.session, run_id=run_id, item_ids=chunk, provider=probe
            )
            assert done == {"counted": len(chunk), "duplicate": 0}
            probes.append(probe)
    with database.session() as s:
        run = get_run(session=s, run_id=run_id)
        assert (run.status, counts_of(run)["processed"]) == ("completed", len(items))
    began = {k: v for p in probes for k, v in p.in_transaction.items()}
    assert len(began) == len(items) > 0
    assert {k for k, inside in began.items() if inside} == set()


def test_review_pack_entries_call_the_provider_outside_any_transaction(database: Database, tmp_path) -> None:
    def generate(*, session, run_id, provider):
        return generate_review_pack(
            session=session, run_id=run_id, provider=provider, instance_dir=tmp_path / "instance", ttl_days=7
        )

    provider = _run(database, _tenant(database), "review_pack_generate", generate)
    assert provider.in_transaction, "no entry began: the probe proves nothing"
    assert {k for k, inside in provider.in_transaction.items() if inside} == set()
