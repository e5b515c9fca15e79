"""Fault: a database outage longer than a restore child's budget for ordinary errors
(0.5 + 1 + 2 s): 6 s, mid fan-out and mid counted run.

A database outage gets its own, longer budget (tasks.base.retry_countdown: about a minute):
the children and the single task retry through it and the runs complete with exact counts —
nothing is given up, so nothing waits for the stale-run reaper.

Its own module (and stack): a second worker on the same broker as another module's stack would
take that stack's messages. The outage itself is test_faults_database.database_outage.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from console.operations.models import OperationRun, OperationRunUnit
from console.operations.service import counts_of
from console.operations.summary import normalize_counts
from tasks.backups import CHILD_MAX_RETRIES
from tests.integration.worker import STACKS, make_world, open_stack, start, start_with_faults, wait_run, wait_until
from tests.support.faults import database_outage

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

#: The most production-like stack configured (PostgreSQL + Redis in CI): one run is enough.
LONG_OUTAGE_STACK = STACKS[-1]
OUTAGE_SECONDS = 6.0  # the ordinary budget (0.5 + 1 + 2 s) plus a margin for a loaded machine


@pytest.mark.parametrize("combo", [LONG_OUTAGE_STACK], ids=["-".join(LONG_OUTAGE_STACK)])
def test_an_outage_longer_than_the_error_retries_is_ridden_out_with_exact_counts(combo, tmp_path) -> None:
    backend, broker = combo
    opened = open_stack(backend, broker, tmp_path)
    stack = next(opened)
    try:
        world = make_world(stack)
        wait_run(stack, start(stack, world, "backup_set_add_policies"))
        sync_world = make_world(stack)
        observer = create_engine(stack.database_url, poolclass=NullPool)  # reads without SQLite's write lock

        def processed(run_id: int) -> int:
            with observer.connect() as conn:
                raw = conn.execute(select(OperationRun.summary_counts).where(OperationRun.id == run_id)).scalar_one()
            return normalize_counts(raw).get("processed", 0)

        # 1 s per unit: a 6-unit sync on one of the worker's four threads and ~18 restore children
        # on the other three both run for ~6 s, so the outage (from ~2 s in) hits both mid-run.
        # The sync goes first: queued behind the children it would start only after them.
        sync_id = start_with_faults(stack, sync_world, "inventory_sync", {"delay_seconds": 1.0})
        wait_until(lambda: processed(sync_id) >= 1, stack=stack, what="sync under way", interval=0.02)
        restore_id = start_with_faults(stack, world, "backup_set_restore", {"delay_seconds": 1.0})
        wait_until(lambda: processed(restore_id) >= 2, stack=stack, what="restore under way", interval=0.02)
        observer.dispose()
        with database_outage(stack.database_url):
            time.sleep(OUTAGE_SECONDS)
        back_at = time.monotonic()
        runs = {run_id: wait_run(stack, run_id, timeout=90) for run_id in (restore_id, sync_id)}
        recovered = time.monotonic() - back_at

        log = stack.worker.log()
        child_retries = log.count(f"event=restore_item_retry run_id={restore_id} ")
        longest = max(
            (
                int(line.split("attempt=")[1].split()[0])
                for line in log.splitlines()
                if f"event=restore_item_retry run_id={restore_id} " in line
            ),
            default=0,
        )
        sync_retries = log.count(f"event=task_retry task=tasks.inventory.run_inventory_sync run_id={sync_id} ")
        print(
            f"\nFAULT database-long-outage db={backend} broker={broker}: {OUTAGE_SECONDS} s outage, "
            f"{child_retries} child retries (longest chain {longest}), {sync_retries} sync retries; "
            f"both runs completed {recovered:.1f} s after the database returned: "
            + ", ".join(f"{counts_of(r)['processed']}/{counts_of(r)['total']} {r.outcome}" for r in runs.values())
        )
        assert child_retries >= 1  # the outage really hit the children
        assert longest > CHILD_MAX_RETRIES  # ... for longer than an ordinary error's budget
        assert "restore_item_gave_up" not in log
        for run_id, run in runs.items():
            with stack.db.session() as s:
                keys = list(s.scalars(select(OperationRunUnit.unit_key).where(OperationRunUnit.run_id == run_id)))
            counts = counts_of(run)
            assert (run.status, run.outcome) == ("completed", "succeeded"), run.failure_summary
            assert counts["processed"] == counts["total"] == counts["succeeded"] == len(keys) == len(set(keys))
    finally:
        stack.worker.kill()
        opened.close()
