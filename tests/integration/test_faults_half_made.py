"""Fault: a real worker is SIGKILLed mid-snapshot and mid-pack, and the reaper fails the runs
(``CONSOLE_RESUME_ATTEMPTS=0``): nothing is left half-made (issue #20, contract "Failure leaves
nothing half-made"). The snapshot is ``failed``, never ``collecting``; the pack is ``failed``,
never ``generating``; the dead worker's temporary ZIP is removed by the reaper's pass, and no
pack file is left in the instance folder. Nothing is mocked: the worker, the broker (embedded
SQLite or Redis) and the database (SQLite or PostgreSQL) are real."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from console.evidence.models import EvidenceSnapshot
from console.operations.models import OperationRun
from console.review_packs.models import ReviewPack
from console.review_packs.storage import TEMP_PREFIX, TEMP_SUFFIX
from tests.integration.worker import (
    Stack,
    Worker,
    load_run,
    make_world,
    stack_fixture,
    start_with_faults,
    wait_until,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

REAP = "tasks.maintenance.reap_stale_runs"
EXPIRE = "tasks.maintenance.expire_review_packs"


#: Reaped after 3 s of silence, failed at once (no resume): the failure path under test.
stack = stack_fixture(CONSOLE_STALE_AFTER_SECONDS="3", CONSOLE_RESUME_ATTEMPTS="0")


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and ("review-pack" in p.name))


def test_a_worker_killed_mid_snapshot_and_mid_pack_leaves_nothing_half_made(stack: Stack, tmp_path) -> None:
    world = make_world(stack)
    gate = tmp_path / "hold"
    gate.touch()
    held = {"hold": {"file": str(gate)}}  # every unit waits: the kill lands mid-run, whatever the speed
    snapshot_run = start_with_faults(stack, world, "evidence_snapshot_generate", held)
    pack_run = start_with_faults(stack, world, "review_pack_generate", held)
    packs = stack.instance_dir / "review_packs"

    def under_way() -> bool:
        with stack.db.session() as s:
            snap = s.scalar(select(EvidenceSnapshot.status).where(EvidenceSnapshot.operation_run_id == snapshot_run))
            pack = s.scalar(select(ReviewPack.status).where(ReviewPack.operation_run_id == pack_run))
            runs = set(s.scalars(select(OperationRun.status).where(OperationRun.id.in_([snapshot_run, pack_run]))))
        temporaries = [n for n in files_in(packs) if n.startswith(TEMP_PREFIX) and n.endswith(TEMP_SUFFIX)]
        return (snap, pack, runs, len(temporaries)) == ("collecting", "generating", {"running"}, 1)

    wait_until(under_way, stack=stack, what="snapshot collecting and pack ZIP being written", interval=0.05)
    stack.worker.kill()
    gate.unlink()
    assert len(files_in(packs)) == 1  # the dead worker's partial ZIP

    # A new worker (the old one's messages are not redelivered here: embedded never does, Redis
    # only after the 1 h visibility timeout) runs the reaper, as beat would every minute.
    stack.worker = Worker(env=stack.env, log_path=tmp_path / "replacement.log").start()
    time.sleep(3.5)  # past CONSOLE_STALE_AFTER_SECONDS=3 since the last heartbeat

    def reaped() -> bool:
        if {load_run(stack, i).status for i in (snapshot_run, pack_run)} == {"completed"}:
            return True
        stack.dispatcher.send(REAP)
        return False

    wait_until(reaped, stack=stack, what="the reaper to fail both runs", interval=1.0, timeout=60)
    for run_id in (snapshot_run, pack_run):
        run = load_run(stack, run_id)
        assert run.outcome == "failed" and run.failure_summary.startswith("stale:"), run.failure_summary
    with stack.db.session() as s:
        snap = s.scalar(select(EvidenceSnapshot.status).where(EvidenceSnapshot.operation_run_id == snapshot_run))
        pack = s.execute(
            select(ReviewPack.status, ReviewPack.file_path, ReviewPack.error).where(
                ReviewPack.operation_run_id == pack_run
            )
        ).one()
    assert snap == "failed"
    assert pack.status == "failed" and pack.file_path is None and "stale" in (pack.error or ""), pack
    # The reaper removed the dead worker's temporary file on its pass: nothing is left anywhere.
    wait_until(lambda: files_in(packs) == [], stack=stack, what="the partial ZIP to be removed", timeout=30)
    assert "temporaries_discarded=1" in stack.worker.log()
    assert files_in(stack.instance_dir) == []


def test_the_expiry_pass_sweeps_orphan_temporaries_older_than_an_hour_only(stack: Stack) -> None:
    """The backstop for a host the reaper does not run on (e.g. a worker's local S3 staging)."""
    packs = stack.instance_dir / "review_packs"
    packs.mkdir(parents=True, exist_ok=True)
    old, young = packs / f"{TEMP_PREFIX}990-aa{TEMP_SUFFIX}", packs / f"{TEMP_PREFIX}991-bb{TEMP_SUFFIX}"
    old.write_bytes(b"PK partial")
    young.write_bytes(b"PK partial")
    hour_ago = time.time() - 3700
    os.utime(old, (hour_ago, hour_ago))
    stack.dispatcher.send(EXPIRE)
    wait_until(lambda: not old.exists(), stack=stack, what="the orphan to be swept", timeout=30)
    assert young.exists()  # may still be someone's work in progress
    young.unlink()
