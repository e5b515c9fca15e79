"""Fault: a database outage longer than a restore child's retries (0.5 + 1 + 2 s), mid fan-out.

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
from tests.integration.test_faults_database import database_outage
from tests.integration.worker import STACKS, load_run, make_world, open_stack, start, start_with_faults, wait_run, wait_until

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

#: The most production-like stack configured (PostgreSQL + Redis in CI): one run is enough.
LONG_OUTAGE_STACK = STACKS[-1]


@pytest.mark.parametrize("combo", [LONG_OUTAGE_STACK], ids=["-".join(LONG_OUTAGE_STACK)])
def test_an_outage_longer_than_the_retries_ends_in_a_stale_failure_with_consistent_counts(combo, tmp_path) -> None:
    """Children give up after 0.5 + 1 + 2 s of retries and cannot even record their failure
    while the database is down: their units are never counted, so the run cannot finish — the
    reaper completes it as failed (stale), and what was counted still equals the ledger.

    (The stale limit is longer than the outage here. With a shorter one, the first reaper pass
    after the database returns fails every running run at once — their heartbeats could not be
    written during the outage — even runs whose workers were about to finish.)"""
    backend, broker = combo
    opened = open_stack(backend, broker, tmp_path, {"CONSOLE_STALE_AFTER_SECONDS": "6"})
    stack = next(opened)
    try:
        world = make_world(stack)
        wait_run(stack, start(stack, world, "backup_set_add_policies"))
        run_id = start_with_faults(stack, world, "backup_set_restore", {"delay_seconds": 0.25})
        observer = create_engine(stack.database_url, poolclass=NullPool)  # reads without SQLite's write lock

        def processed() -> int:
            with observer.connect() as conn:
                return normalize_counts(conn.execute(select(OperationRun.summary_counts).where(OperationRun.id == run_id)).scalar_one()).get("processed", 0)

        wait_until(lambda: processed() >= 3, stack=stack, what="restore under way", interval=0.02)
        observer.dispose()
        with database_outage(stack.database_url):
            time.sleep(4.5)
        back_at = time.monotonic()

        def reaped() -> bool:
            if load_run(stack, run_id).status == "completed":
                return True
            stack.dispatcher.send("tasks.maintenance.reap_stale_runs")
            return False

        wait_until(reaped, stack=stack, what="the reaper", interval=1.0, timeout=60)
        run = load_run(stack, run_id)
        with stack.db.session() as s:
            keys = list(s.scalars(select(OperationRunUnit.unit_key).where(OperationRunUnit.run_id == run_id)))
        counts = counts_of(run)
        # A child that gave up and could not record its failure ends as a failed Celery task.
        gave_up = stack.worker.log().count("event=task_failed task=tasks.backups.restore_backup_item ")
        print(f"\nFAULT database-long-outage-fan-out db={backend} broker={broker}: 4.5 s outage, {gave_up} children gave up; "
              f"run {run.outcome} ({run.failure_summary}) {time.monotonic() - back_at:.1f} s after the database returned; "
              f"processed {counts['processed']} of {counts['total']}")
        assert (run.status, run.outcome) == ("completed", "failed") and run.failure_summary.startswith("stale:")
        assert gave_up >= 1 and counts["processed"] == len(keys) == len(set(keys)) == counts["total"] - gave_up
    finally:
        stack.worker.kill()
        opened.close()
