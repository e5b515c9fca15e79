"""Maintenance on a real worker: the stale-run reaper (also after a worker was killed mid-run),
and the task registry the beat schedule and the dispatcher rely on."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from console.celery_config import celery_config
from console.config import embedded_broker_url, load_settings
from console.db import utcnow
from console.dispatch import CeleryDispatcher
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.progress import progress_for_run
from console.operations.registry import TASK_NAMES
from console.operations.service import counts_of
from console.review_packs.models import ReviewPack
from console.review_packs.storage import TEMP_PREFIX, TEMP_SUFFIX
from tests.integration.worker import (
    Stack,
    Worker,
    load_run,
    make_world,
    stack_fixture,
    start_with_faults,
    wait_run,
    wait_until,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

stack = stack_fixture()
REAP = "tasks.maintenance.reap_stale_runs"


def test_the_worker_registers_every_operation_task_and_every_beat_task(stack: Stack) -> None:
    log = stack.worker.log()
    registered = set(re.findall(r"^\s+\. (tasks\.\S+)$", log, flags=re.MULTILINE))
    beat = {
        entry["task"]
        for entry in celery_config(load_settings(stack.settings_overrides(), environ={}))
        .get("beat_schedule", {})
        .values()
    }
    assert set(TASK_NAMES.values()) <= registered
    assert beat == {"tasks.maintenance.reap_stale_runs", "tasks.maintenance.expire_review_packs"} and beat <= registered
    assert "tasks.backups.restore_backup_item" in registered


def test_the_reaper_fails_silent_and_never_started_runs_and_their_packs(stack: Stack) -> None:
    world = make_world(stack)
    long_ago = utcnow() - timedelta(hours=2)
    with stack.db.session() as s:
        silent = OperationRun(
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            type="review_pack_generate",
            status="running",
            summary_counts={"total": 5, "processed": 2, "succeeded": 2},
            # Resumed three times already (CONSOLE_RESUME_ATTEMPTS): now the reaper fails it.
            context={"resume_attempts": 3},
            created_at=long_ago,
            started_at=long_ago,
            heartbeat_at=long_ago,
            initiator_user_id=world.user_id,
        )
        never = OperationRun(
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            type="inventory_sync",
            status="queued",
            summary_counts={},
            context={},
            created_at=long_ago,
        )
        alive = OperationRun(
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            type="baseline_capture",
            status="running",
            summary_counts={},
            context={"phase": "collecting"},
            created_at=long_ago,
            started_at=long_ago,
            heartbeat_at=utcnow(),
        )
        s.add_all([silent, never, alive])
        s.flush()
        s.add(ReviewPack(tenant_id=world.tenant_id, operation_run_id=silent.id, status="generating", options={}))
        s.commit()
        ids = silent.id, never.id, alive.id
    stack.dispatcher.send(REAP)

    def reaped() -> bool:
        with stack.db.session() as s:
            pack_status = s.query(ReviewPack.status).filter_by(operation_run_id=ids[0]).scalar()
        return pack_status == "failed" and all(load_run(stack, i).status == "completed" for i in ids[:2])

    wait_until(reaped, stack=stack, what="reaper")

    reaped_running, reaped_queued, untouched = (load_run(stack, i) for i in ids)
    assert (reaped_running.outcome, reaped_queued.outcome) == ("failed", "failed")
    assert "stale" in reaped_running.failure_summary and "stale" in reaped_queued.failure_summary
    assert counts_of(reaped_running) == {"total": 5, "processed": 2, "succeeded": 2}  # counts kept, no bar
    view = progress_for_run(reaped_running)
    assert (view.mode, view.percent, view.text) == ("none", None, "2 of 5 processed")
    assert untouched.status == "running"
    with stack.db.session() as s:
        pack = s.query(ReviewPack).filter_by(operation_run_id=ids[0]).one()
        # The type's clean-up ran in the reaper's own transaction (no pack left generating meanwhile).
        assert pack.status == "failed" and pack.error.startswith("Review pack generation failed: stale: no heartbeat")
        s.execute(update(OperationRun).where(OperationRun.id == ids[2]).values(status="completed", outcome="cancelled"))
        s.commit()


def test_a_worker_killed_mid_run_leaves_the_run_running_until_the_reaper_resumes_it(stack: Stack, tmp_path) -> None:
    """SIGKILL while a run is half done: nothing in the worker can record it; the reaper resumes
    it on a live worker, which does only the units the ledger does not hold yet."""
    world = make_world(stack)
    # The doomed worker gets its own (embedded) broker so the module's worker cannot take the task.
    broker_url = embedded_broker_url(tmp_path)
    doomed = Worker(
        env={**stack.env, "CONSOLE_BROKER_URL": broker_url}, log_path=tmp_path / "doomed.log", concurrency=1
    ).start()
    dispatcher = CeleryDispatcher(
        load_settings({**stack.settings_overrides(), "broker_url": broker_url, "secret_key": "x"}, environ={})
    )
    try:
        real_dispatcher, stack.dispatcher = stack.dispatcher, dispatcher
        try:
            run_id = start_with_faults(stack, world, "inventory_sync", {"delay_seconds": 0.5})
        finally:
            stack.dispatcher = real_dispatcher
        wait_until(lambda: counts_of(load_run(stack, run_id)).get("processed", 0) >= 1, what="first unit", timeout=30)
        doomed.kill()
    finally:
        doomed.kill()
        dispatcher.client.close()

    run = load_run(stack, run_id)
    assert run.status == "running" and 1 <= counts_of(run)["processed"] < counts_of(run)["total"]
    done_before = counts_of(run)["processed"]
    # Two minutes later (CONSOLE_STALE_AFTER_SECONDS=120): the heartbeat is old.
    with stack.db.session() as s:
        s.execute(
            update(OperationRun).where(OperationRun.id == run_id).values(heartbeat_at=utcnow() - timedelta(seconds=121))
        )
        s.commit()
    stack.dispatcher.send(REAP)
    resumed = wait_run(stack, run_id)
    counts = counts_of(resumed)
    assert (resumed.outcome, resumed.context["resume_attempts"]) == ("succeeded", 1)
    assert counts["processed"] == counts["total"] == counts["succeeded"] > done_before
    with stack.db.session() as s:
        ledger = s.scalar(select(func.count()).select_from(OperationRunUnit).where(OperationRunUnit.run_id == run_id))
    assert ledger == counts["total"]
    assert progress_for_run(resumed).mode == "none"


def test_the_reaper_resuming_a_pack_removes_the_dead_attempts_partial_zip_first(stack: Stack) -> None:
    """A worker SIGKILLed mid-pack leaves its partial ZIP in the staging folder. When the reaper
    resumes the run, that file goes (before the task is sent again, so never the new attempt's):
    the run ends with the pack ready and nothing else of it in the folder. Another pack's young
    temporary file is left alone (it may be someone's work in progress)."""
    world = make_world(stack)
    long_ago = utcnow() - timedelta(hours=2)
    with stack.db.session() as s:
        run = OperationRun(
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            type="review_pack_generate",
            status="running",
            summary_counts={},
            context={},
            created_at=long_ago,
            started_at=long_ago,
            heartbeat_at=long_ago,
            initiator_user_id=world.user_id,
        )
        s.add(run)
        s.flush()
        pack = ReviewPack(tenant_id=world.tenant_id, operation_run_id=run.id, status="generating", options={})
        s.add(pack)
        s.commit()
        run_id, pack_id = run.id, pack.id
    packs = stack.instance_dir / "review_packs"
    packs.mkdir(parents=True, exist_ok=True)
    dead = packs / f"{TEMP_PREFIX}{pack_id}-deadbeef{TEMP_SUFFIX}"
    dead.write_bytes(b"PK partial")
    other = packs / f"{TEMP_PREFIX}{pack_id + 1000}-cafe{TEMP_SUFFIX}"
    other.write_bytes(b"PK partial")
    try:
        stack.dispatcher.send(REAP)
        resumed = wait_run(stack, run_id)
        assert (resumed.outcome, resumed.context["resume_attempts"]) == ("succeeded", 1)
        with stack.db.session() as s:
            ready = s.get(ReviewPack, pack_id)
            assert ready.status == "ready"
            final = Path(ready.file_path).name
        assert sorted(p.name for p in packs.glob(f"*review-pack-{pack_id}-*")) == [final]
        assert other.exists()
    finally:
        other.unlink(missing_ok=True)
