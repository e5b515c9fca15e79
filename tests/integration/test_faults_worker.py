"""Fault: a real ``celery worker`` process is SIGKILLed while it runs a counted run and a fan-out
restore. Nothing is mocked: the worker, the broker (embedded SQLite or Redis) and the database
(SQLite or PostgreSQL) are real, and a new worker process takes over.

What happens next depends on the broker (measured times are printed: run with ``-s``):

* **Redis** redelivers what the dead worker held (acks_late; the message returns to the queue
  ``CONSOLE_BROKER_VISIBILITY_TIMEOUT`` seconds after delivery — 5 s here, 1 h by default) and
  the runs complete with exact counts: the unit ledger makes the re-run count nothing twice.
* **Embedded** (kombu's SQLAlchemy transport) never redelivers: a delivered message is marked
  ``visible = 0`` in ``kombu_message`` and nothing ever restores it. The runs stay ``running``
  until the stale-run reaper (``CONSOLE_STALE_AFTER_SECONDS``, 3 s here, 120 s by default)
  resumes them: their tasks are sent again and the ledger makes the new worker do only what is
  left, so both complete succeeded with exact counts (``CONSOLE_RESUME_ATTEMPTS``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.pool import NullPool

from console.audit.models import AuditEvent
from console.backups.models import BackupSet, BackupSetItem
from console.celery_config import celery_config
from console.config import ConfigError, load_settings
from console.dispatch import dispatch_config
from console.inventory.models import Policy
from console.notifications.models import Notification
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.service import counts_of
from console.operations.summary import normalize_counts
from tests.integration.worker import (
    STACKS,
    Stack,
    Worker,
    World,
    load_run,
    make_world,
    open_stack,
    start,
    start_with_faults,
    wait_run,
    wait_until,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

VISIBILITY_TIMEOUT = 5
STALE_AFTER = 3
REAP = "tasks.maintenance.reap_stale_runs"


@pytest.fixture(scope="module", params=STACKS, ids=[f"{d}-{b}" for d, b in STACKS])
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    """A stack whose workers use a short visibility timeout and stale limit; a test may replace
    its worker (the replacement is killed at the end too)."""
    backend, broker = request.param
    env = {
        "CONSOLE_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        "CONSOLE_STALE_AFTER_SECONDS": str(STALE_AFTER),
        # Small chunks: more chunks than threads, so a kill or a stop lands between chunks too.
        "CONSOLE_FANOUT_CHUNK_SIZE": "3",
    }
    opened = open_stack(backend, broker, tmp_path_factory.mktemp(f"faults-worker-{backend}-{broker}"), env)
    current = next(opened)
    try:
        yield current
    finally:
        current.worker.kill()
        opened.close()


def processed(observer: Engine, run_id: int) -> int:
    """The run's processed count, read without queueing for SQLite's write lock (the test's
    sessions begin IMMEDIATE like every writer; a plain WAL reader does not wait)."""
    with observer.connect() as conn:
        raw = conn.execute(select(OperationRun.summary_counts).where(OperationRun.id == run_id)).scalar_one()
    return normalize_counts(raw).get("processed", 0)


def ledger_keys(stack: Stack, run_id: int) -> list[str]:
    with stack.db.session() as s:
        return list(s.scalars(select(OperationRunUnit.unit_key).where(OperationRunUnit.run_id == run_id)))


def invisible_messages(stack: Stack) -> int:
    """Embedded broker: delivered messages that nothing will ever deliver again."""
    path = stack.broker_url.removeprefix("sqla+sqlite:///")
    with sqlite3.connect(path, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM kombu_message WHERE visible = 0").fetchone()[0])


def backed_up(stack: Stack) -> tuple[World, int]:
    world = make_world(stack)
    add = wait_run(stack, start(stack, world, "backup_set_add_policies"))
    with stack.db.session() as s:
        items = s.scalar(
            select(func.count())
            .select_from(BackupSetItem)
            .where(BackupSetItem.backup_set_id == add.context["backup_set_id"])
        )
    return world, int(items)


def test_a_worker_killed_mid_run_and_mid_fan_out_is_redelivered_or_resumed(stack: Stack, tmp_path) -> None:
    counted_world = make_world(stack)
    fan_world, items = backed_up(stack)
    assert items >= 8
    with stack.db.session() as s:
        item_ids = list(
            s.scalars(
                select(BackupSetItem.id)
                .join(BackupSet, BackupSet.id == BackupSetItem.backup_set_id)
                .where(BackupSet.tenant_id == fan_world.tenant_id)
                .order_by(BackupSetItem.id)
            )
        )
        types = sorted(
            {p.policy_type for p in s.scalars(select(Policy).where(Policy.tenant_id == counted_world.tenant_id))}
        )
    # The kill lands mid-run whatever the machine's speed: the sync does its first unit and the
    # restore its first 2 items, then every other unit waits at a gate that opens only after the
    # kill, for the replacement worker (the honest version of this test: no racing delays).
    gate = tmp_path / "hold"
    gate.touch()
    observer = create_engine(stack.database_url, poolclass=NullPool)
    sync_id = start_with_faults(
        stack, counted_world, "inventory_sync", {"hold": {"file": str(gate), "units": [f"type:{t}" for t in types[1:]]}}
    )
    wait_until(lambda: processed(observer, sync_id) >= 1, stack=stack, what="sync under way", interval=0.02)
    restore_id = start_with_faults(
        stack,
        fan_world,
        "backup_set_restore",
        {"hold": {"file": str(gate), "units": [f"item:{i}" for i in item_ids[2:]]}},
    )
    wait_until(lambda: processed(observer, restore_id) >= 2, stack=stack, what="restore under way", interval=0.02)
    observer.dispose()
    stack.worker.kill()
    gate.unlink()
    killed_at = time.monotonic()
    before = {run_id: counts_of(load_run(stack, run_id)) for run_id in (sync_id, restore_id)}
    assert all(0 < c["processed"] < c["total"] for c in before.values()), before
    assert {load_run(stack, i).status for i in (sync_id, restore_id)} == {"running"}

    stack.worker = Worker(env=stack.env, log_path=tmp_path / "replacement.log").start()
    worker_up = time.monotonic() - killed_at

    if stack.broker == "redis":
        runs = {run_id: wait_run(stack, run_id, timeout=60) for run_id in (sync_id, restore_id)}
        recovered = time.monotonic() - killed_at
        print(
            f"\nFAULT worker-killed broker=redis db={stack.backend}: new worker ready {worker_up:.1f} s, "
            f"both runs completed {recovered:.1f} s after the kill (visibility timeout {VISIBILITY_TIMEOUT} s)"
        )
        for run_id, run in runs.items():
            counts, keys = counts_of(run), ledger_keys(stack, run_id)
            assert (run.status, run.outcome) == ("completed", "succeeded"), run.failure_summary
            assert counts["processed"] == counts["total"] == counts["succeeded"] == len(keys) == len(set(keys))
        assert counts_of(runs[restore_id])["total"] == items and counts_of(runs[sync_id])["total"] == 6
        # The replacement really re-ran the dead worker's messages (the parent sync, and children).
        log = stack.worker.log()
        assert "tasks.inventory.run_inventory_sync[" in log and "tasks.backups.restore_backup_item[" in log
        assert f"event=run_resumed run_id={sync_id}" in log
        return

    # Embedded broker: the messages the dead worker held are gone for good.
    assert invisible_messages(stack) >= 2

    # The reaper, as beat would send it (every minute in production; every second here), finds
    # both runs stale and resumes them: their tasks are sent again, and the new worker does only
    # what the ledger says is left.
    def finished() -> bool:
        if all(load_run(stack, i).status == "completed" for i in (sync_id, restore_id)):
            return True
        stack.dispatcher.send(REAP)
        return False

    wait_until(finished, stack=stack, what="the reaper's resume", interval=1.0, timeout=90)
    recovered = time.monotonic() - killed_at
    print(
        f"\nFAULT worker-killed broker=embedded db={stack.backend}: new worker ready {worker_up:.1f} s; "
        f"both runs resumed by the reaper and completed {recovered:.1f} s after the kill (stale limit {STALE_AFTER} s)"
    )
    log = stack.worker.log()
    assert "tasks.inventory.run_inventory_sync[" in log and "tasks.backups.restore_backup_item[" in log
    for run_id, world in ((sync_id, counted_world), (restore_id, fan_world)):
        run, keys = load_run(stack, run_id), ledger_keys(stack, run_id)
        counts = counts_of(run)
        assert (run.status, run.outcome) == ("completed", "succeeded"), run.failure_summary
        assert counts["processed"] == counts["total"] == counts["succeeded"] == len(keys) == len(set(keys))
        assert run.context["resume_attempts"] >= 1
        with stack.db.session() as s:
            note = s.execute(select(Notification.user_id, Notification.kind).where(Notification.run_id == run_id)).one()
            resumed = s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "run.resumed", AuditEvent.target_id == run_id)
            )
        assert (note.user_id, note.kind) == (world.user_id, "run_completed")
        assert resumed == run.context["resume_attempts"]
    assert (
        counts_of(load_run(stack, restore_id))["total"] == items and counts_of(load_run(stack, sync_id))["total"] == 6
    )


def test_a_warm_shutdown_mid_run_loses_nothing(stack: Stack, tmp_path) -> None:
    """SIGTERM (a deploy, a supervisor's stop): the worker finishes the chunks it is running and
    hands the others back; a new worker completes the run, every unit counted once."""
    fan_world, items = backed_up(stack)
    observer = create_engine(stack.database_url, poolclass=NullPool)
    restore_id = start_with_faults(stack, fan_world, "backup_set_restore", {"delay_seconds": 0.2})
    wait_until(lambda: processed(observer, restore_id) >= 2, stack=stack, what="restore under way", interval=0.02)
    observer.dispose()
    stopping = time.monotonic()
    stack.worker.stop(timeout=60)
    stopped_in = time.monotonic() - stopping
    run = load_run(stack, restore_id)
    assert run.status in ("running", "completed") and run.outcome in (None, "succeeded")
    stack.worker = Worker(env=stack.env, log_path=tmp_path / "after-sigterm.log").start()

    def finished() -> bool:
        if load_run(stack, restore_id).status == "completed":
            return True
        stack.dispatcher.send(REAP)  # the embedded broker may not hand back what it had prefetched
        return False

    wait_until(finished, stack=stack, what="the run after a warm shutdown", interval=1.0, timeout=90)
    run, keys = load_run(stack, restore_id), ledger_keys(stack, restore_id)
    counts = counts_of(run)
    print(f"\nFAULT worker-sigterm broker={stack.broker} db={stack.backend}: warm shutdown took {stopped_in:.1f} s")
    assert (run.status, run.outcome) == ("completed", "succeeded"), run.failure_summary
    assert counts["processed"] == counts["total"] == counts["succeeded"] == items == len(keys) == len(set(keys))


def test_the_visibility_timeout_setting_reaches_redis_and_stays_out_of_the_embedded_broker(tmp_path) -> None:
    redis = load_settings(
        {"instance_dir": tmp_path, "broker_url": "redis://127.0.0.1:6379/0", "secret_key": "x"}, environ={}
    )
    options = celery_config(redis, environ={})["broker_transport_options"]
    assert options == {"visibility_timeout": 3600, "unacked_restore_interval": 10, "unacked_restore_throttle": 1}
    options = celery_config(redis, environ={"CONSOLE_BROKER_VISIBILITY_TIMEOUT": "8"})["broker_transport_options"]
    assert (options["visibility_timeout"], options["unacked_restore_interval"]) == (8, 2)
    for bad in ("0", "-5", "soon", "1.5"):
        with pytest.raises(ConfigError):
            celery_config(redis, environ={"CONSOLE_BROKER_VISIBILITY_TIMEOUT": bad})
    embedded = load_settings({"instance_dir": tmp_path, "secret_key": "x"}, environ={})
    assert (
        "visibility_timeout"
        not in celery_config(embedded, environ={"CONSOLE_BROKER_VISIBILITY_TIMEOUT": "8"})["broker_transport_options"]
    )
    # The web's producer fails fast; the worker's own options are left as they are.
    producer = dispatch_config(redis)
    assert producer["broker_transport_options"]["max_retries"] == 0 and producer["broker_connection_timeout"] == 2.0
    assert "max_retries" not in celery_config(redis, environ={})["broker_transport_options"]
