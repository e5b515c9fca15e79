"""The demo data set is made by the real services, so every surface tells the same story:
packs for pack runs, snapshots, inventory and backup sets matching their runs, a unit ledger
behind every finished counted run, ids in time order (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import json
import random
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from console.access import load_principal
from console.accounts.models import User
from console.audit.models import AuditEvent
from console.backups.models import BackupSet, BackupSetItem
from console.baselines.models import BaselineSnapshot
from console.config import Settings, load_settings
from console.db import Database, utcnow
from console.demo.history import plan_history
from console.evidence.models import EvidenceSnapshot
from console.inventory.models import InventoryItem
from console.models import Base
from console.notifications.models import Notification
from console.operations import registry
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.queries import run_snapshot, run_timeline, run_units
from console.operations.service import counts_of
from console.review_packs.models import ReviewPack
from console.review_packs.storage import storage_for
from console.seed import DEMO_HISTORY, seed_demo
from tests.support.db import DB_BACKENDS, fresh_database_url


@dataclass
class Seeded:
    db: Database
    settings: Settings
    started: datetime  # the real clock when seeding began
    runs: list[OperationRun]


@pytest.fixture(scope="module", params=DB_BACKENDS)
def seeded(request, tmp_path_factory) -> Iterator[Seeded]:
    """One seeded demo per backend for the whole module (seeding is the slow part)."""
    tmp = tmp_path_factory.mktemp(f"demo-{request.param}")
    with fresh_database_url(request.param, tmp) as url:
        db = Database(url)
        Base.metadata.create_all(db.engine)
        settings = load_settings({"instance_dir": tmp / "instance", "database_url": url}, environ={})
        started = utcnow()
        with db.session() as s:
            assert seed_demo(session=s, settings=settings) is True
        with db.session() as s:
            runs = list(s.scalars(select(OperationRun).order_by(OperationRun.id)))
            s.expunge_all()  # plain values for the tests: the session's rollback must not expire them
        try:
            yield Seeded(db, settings, started, runs)
        finally:
            db.dispose()


def _of_type(seeded: Seeded, type_: str) -> list[OperationRun]:
    return [r for r in seeded.runs if r.type == type_]


def test_the_history_has_every_type_and_outcome(seeded) -> None:
    assert len(seeded.runs) == DEMO_HISTORY
    assert {r.type for r in seeded.runs} == set(registry.types())
    assert {r.outcome for r in seeded.runs} == {"succeeded", "partially_succeeded", "failed", "cancelled"}
    assert all(r.status == "completed" for r in seeded.runs)


def test_run_ids_follow_time_and_every_timestamp_is_in_the_past(seeded) -> None:
    created = [r.created_at for r in seeded.runs]
    assert created == sorted(created) and len(set(created)) == len(created)
    assert created[0] >= seeded.started - timedelta(days=31)
    for run in seeded.runs:
        assert run.completed_at is not None and run.completed_at < seeded.started
        if run.started_at is not None:  # a run cancelled while queued never started
            assert run.created_at <= run.started_at <= run.heartbeat_at <= run.completed_at
    with seeded.db.session() as s:
        for model, column in (
            (AuditEvent, AuditEvent.created_at),
            (Notification, Notification.created_at),
            (OperationRunUnit, OperationRunUnit.created_at),
            (ReviewPack, ReviewPack.created_at),
            (EvidenceSnapshot, EvidenceSnapshot.created_at),
            (BackupSet, BackupSet.created_at),
            (InventoryItem, InventoryItem.synced_at),
            (BaselineSnapshot, BaselineSnapshot.created_at),
        ):
            newest = s.scalar(select(func.max(column)))
            assert newest is not None and newest < seeded.started, model.__tablename__


def test_every_run_has_its_enqueued_and_completed_audit_events(seeded) -> None:
    with seeded.db.session() as s:
        events = s.execute(
            select(AuditEvent.target_id, AuditEvent.action, AuditEvent.created_at).where(
                AuditEvent.target_type == "operation_run"
            )
        ).all()
    enqueued = {run_id: at for run_id, action, at in events if action == "run.enqueued"}
    completed = {run_id: at for run_id, action, at in events if action == "run.completed"}
    close = timedelta(seconds=1)  # written in the same use case (the demo clock ticks per read)
    for run in seeded.runs:
        assert abs(enqueued[run.id] - run.created_at) < close, run.id
        assert abs(completed[run.id] - run.completed_at) < close, run.id


def test_every_finished_counted_run_has_a_ledger_matching_its_counts(seeded) -> None:
    counted = [r for r in seeded.runs if registry.is_counted(r.type)]
    with seeded.db.session() as s:
        ledger = Counter(
            s.execute(select(OperationRunUnit.run_id, OperationRunUnit.outcome)).all()  # (run, outcome) -> n
        )
    with_units = 0
    for run in counted:
        counts = counts_of(run)
        units = {outcome: ledger[(run.id, outcome)] for outcome in ("succeeded", "failed", "skipped")}
        assert sum(units.values()) == counts.get("processed", 0), run.id
        for outcome, n in units.items():
            assert counts.get(outcome, 0) == n, (run.id, outcome)
        if run.outcome in ("succeeded", "partially_succeeded"):
            assert counts["processed"] == counts["total"] > 0, run.id
        with_units += sum(units.values()) > 0
    assert with_units >= len(counted) * 0.8


def test_pack_runs_have_their_pack_ready_or_expired_and_failed_runs_a_failed_pack(seeded) -> None:
    ttl = timedelta(days=seeded.settings.review_pack_ttl_days)
    storage = storage_for(seeded.settings)
    statuses = Counter()
    with seeded.db.session() as s:
        for run in _of_type(seeded, registry.REVIEW_PACK_GENERATE):
            pack = s.scalar(select(ReviewPack).where(ReviewPack.operation_run_id == run.id))
            assert pack is not None, run.id
            statuses[pack.status] += 1
            if run.outcome == "succeeded":
                assert pack.ready_at is not None and pack.expires_at == pack.ready_at + ttl
                if pack.expires_at <= seeded.started:
                    assert (pack.status, pack.file_path) == ("expired", None)
                else:
                    assert pack.status == "ready"
                    stored = storage.open(pack.file_path)
                    try:
                        assert stored.size == pack.size
                    finally:
                        stored.close()
            else:
                assert pack.status == "failed" and pack.file_path is None
    assert statuses["ready"] >= 1 and statuses["expired"] >= 1 and statuses["failed"] >= 1


def test_a_ready_pack_holds_the_evidence_and_inventory_made_before_it(seeded) -> None:
    storage = storage_for(seeded.settings)
    with seeded.db.session() as s:
        packs = s.scalars(select(ReviewPack).where(ReviewPack.status == "ready")).all()
        assert packs
        for pack in packs:
            run = s.get(OperationRun, pack.operation_run_id)
            earlier = [r for r in seeded.runs if r.tenant_id == pack.tenant_id and r.id < run.id]
            stored = storage.open(pack.file_path)
            try:
                archive = zipfile.ZipFile(io.BytesIO(stored.stream.read()))
            finally:
                stored.close()
            evidence = json.loads(archive.read("evidence.json"))
            made_evidence = any(
                r.type == registry.EVIDENCE_SNAPSHOT_GENERATE and r.outcome in ("succeeded", "partially_succeeded")
                for r in earlier
            )
            assert (evidence["snapshot"] is not None) == made_evidence, pack.id
            summary = json.loads(archive.read("tenant-summary.json"))
            synced = [r for r in earlier if r.type == registry.INVENTORY_SYNC and counts_of(r).get("succeeded")]
            assert synced and summary["inventory"]["items"] > 0, pack.id
            assert datetime.fromisoformat(summary["inventory"]["last_synced_at"]) <= synced[-1].completed_at
            assert summary["backup_sets"] == sum(
                r.type == registry.BACKUP_SET_ADD_POLICIES and r.started_at is not None for r in earlier
            )
            manifest = json.loads(archive.read("manifest.json"))
            # The archive was made when its run ran, not when the demo was seeded.
            assert run.created_at <= datetime.fromisoformat(manifest["generated_at"]) <= pack.ready_at


def test_snapshots_inventory_backup_sets_and_baselines_match_their_runs(seeded) -> None:
    with seeded.db.session() as s:
        for run in _of_type(seeded, registry.EVIDENCE_SNAPSHOT_GENERATE):
            snapshot = s.scalar(select(EvidenceSnapshot).where(EvidenceSnapshot.operation_run_id == run.id))
            if run.started_at is None:
                assert snapshot is None
                continue
            expected = {"succeeded": "complete", "partially_succeeded": "partial"}.get(run.outcome, "failed")
            assert snapshot is not None and snapshot.status == expected, run.id
        synced = {r.tenant_id for r in _of_type(seeded, registry.INVENTORY_SYNC) if counts_of(r).get("succeeded")}
        assert synced
        for tenant_id in synced:
            assert s.scalar(select(func.count()).where(InventoryItem.tenant_id == tenant_id)) > 0
        for run in _of_type(seeded, registry.BACKUP_SET_ADD_POLICIES):
            if run.started_at is None:
                continue
            backup_set = s.get(BackupSet, run.context["backup_set_id"])
            assert backup_set is not None and backup_set.tenant_id == run.tenant_id
            items = s.scalar(select(func.count()).where(BackupSetItem.backup_set_id == backup_set.id))
            assert items == counts_of(run).get("succeeded", 0), run.id
        restores = [r for r in _of_type(seeded, registry.BACKUP_SET_RESTORE) if r.outcome != "cancelled"]
        assert restores
        for run in restores:
            assert counts_of(run)["total"] > 0, run.id  # each restore had a set with items to restore
        for type_ in (registry.BASELINE_CAPTURE, registry.BASELINE_COMPARE):
            for run in _of_type(seeded, type_):
                stored = s.scalar(select(func.count()).where(BaselineSnapshot.operation_run_id == run.id))
                assert stored == (1 if run.outcome == "succeeded" else 0), run.id


def test_seeding_twice_changes_nothing(seeded) -> None:
    with seeded.db.session() as s:
        assert seed_demo(session=s, settings=seeded.settings) is False
        assert s.scalar(select(func.count()).select_from(OperationRun)) == len(seeded.runs)


def test_the_workers_fault_setting_does_not_reach_the_seeding(tmp_path, monkeypatch) -> None:
    """CONSOLE_PROVIDER_FAULTS paces (or breaks) the worker; the history must not inherit it."""
    monkeypatch.setenv("CONSOLE_PROVIDER_FAULTS", json.dumps({"fail_units": ["*"], "delay_seconds": 30}))
    url = f"sqlite:///{tmp_path / 'console.db'}"
    db = Database(url)
    Base.metadata.create_all(db.engine)
    settings = load_settings({"instance_dir": tmp_path / "instance", "database_url": url}, environ={})
    try:
        with db.session() as s:
            seed_demo(session=s, settings=settings, history=12)
            outcomes = Counter(s.scalars(select(OperationRun.outcome)))
    finally:
        db.dispose()
    assert outcomes["succeeded"] >= 6


def test_the_seedings_relaxed_durability_ends_with_it(seeded) -> None:
    """Every pooled connection is back to the normal commit durability after seeding."""
    with seeded.db.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        else:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


def test_a_history_too_long_for_its_days_is_refused_rather_than_dated_in_the_future() -> None:
    start = utcnow() - timedelta(days=2)
    with pytest.raises(ValueError, match="do not fit"):
        plan_history(
            n=500,
            start=start,
            end=start + timedelta(days=2),
            tenant_ids=[1],
            initiators={1: [(1, "Olivia Owner")]},
            rng=random.Random(1),
        )


def test_the_run_viewer_tells_each_runs_story(seeded) -> None:
    """What the viewer reads for every run: a pack run names its pack, every counted run with
    units lists them under people's names, the timeline runs queued -> (started) -> completed."""
    with seeded.db.session() as s:
        owner = load_principal(session=s, user_id=s.scalar(select(User.id).where(User.email == "owner@demo.example")))
        for run in seeded.runs:
            snap = run_snapshot(session=s, principal=owner, run_id=run.id)
            assert snap.initiator_name, run.id
            if run.type == registry.REVIEW_PACK_GENERATE:
                assert snap.pack_id is not None and snap.pack_downloadable == (snap.pack_status == "ready")
            timeline = [e.event for e in run_timeline(session=s, run_id=run.id, started_at=run.started_at)]
            assert timeline[0] == "queued" and timeline[-1] == "completed", (run.id, timeline)
            assert ("started" in timeline) == (run.started_at is not None)
            assert ("cancelled" in timeline) == (run.outcome == "cancelled")
            if registry.is_counted(run.type) and counts_of(run).get("processed"):
                units = run_units(session=s, run_id=run.id, limit=500, type_=run.type, tenant_id=run.tenant_id)
                assert len(units) == counts_of(run)["processed"]
                assert all(u.label for u in units), [u.unit_key for u in units if not u.label]
                assert all(u.error for u in units if u.outcome != "succeeded")
