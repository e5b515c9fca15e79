"""Backup tasks: add policies to a set, and the fan-out restore (one child task per item).

The restore parent writes ``total`` once and sends one ``restore_backup_item(run_id, item_id)``
per planned item. A child counts its unit on the parent exactly once (the ledger), however
often it is delivered (acks_late redelivery, retries, a duplicate send); the child that counts
the last unit completes the parent in the same transaction. A child whose unexpected error
survives its retries counts its unit as ``failed`` so the parent still ends."""

from __future__ import annotations

import logging

from console.backups.service import add_policies_to_backup_set as add_policies
from console.backups.service import plan_restore, record_item_failure, restore_item
from console.errors import RunNotFound
from console.operations.service import heartbeat
from tasks import app
from tasks.base import OUTAGE_MAX_RETRIES, ConsoleTask, failure_reason, retry_countdown

log = logging.getLogger(__name__)

CHILD_TASK = "tasks.backups.restore_backup_item"
#: Retries for an unexpected error (0.5, 1, 2 s); a database outage gets tasks.base.OUTAGE_MAX_RETRIES.
CHILD_MAX_RETRIES = 3
HEARTBEAT_EVERY = 200  # children sent between heartbeats while fanning out


@app.task(bind=True, base=ConsoleTask, name="tasks.backups.add_policies_to_backup_set")
def add_policies_to_backup_set(self: ConsoleTask, run_id: int) -> None:
    self.run_operation(
        run_id, lambda session, provider: add_policies(session=session, run_id=run_id, provider=provider)
    )


@app.task(bind=True, base=ConsoleTask, name="tasks.backups.restore_backup_set")
def restore_backup_set(self: ConsoleTask, run_id: int) -> None:
    def work(session, _provider) -> int:
        pending = plan_restore(session=session, run_id=run_id)
        # Ids only; a redelivered parent re-sends only the items not yet counted.
        for n, item_id in enumerate(pending, 1):
            self.app.send_task(CHILD_TASK, args=[run_id, item_id])
            if n % HEARTBEAT_EVERY == 0:
                heartbeat(session=session, run_id=run_id)
        log.info("event=restore_fanned_out run_id=%s children=%s", run_id, len(pending))
        return len(pending)

    self.run_operation(run_id, work)


@app.task(bind=True, base=ConsoleTask, name=CHILD_TASK, max_retries=OUTAGE_MAX_RETRIES)
def restore_backup_item(self: ConsoleTask, run_id: int, item_id: int) -> None:
    try:
        with self.db.session() as session:
            result = restore_item(
                session=session, run_id=run_id, item_id=item_id, provider=self.provider(session, run_id)
            )
    except RunNotFound:
        log.warning("event=task_skipped task=%s run_id=%s item_id=%s reason=run_not_found", self.name, run_id, item_id)
        return
    except Exception as exc:
        countdown = retry_countdown(exc, self.request.retries, max_retries=CHILD_MAX_RETRIES)
        if countdown is not None:
            log.warning(
                "event=restore_item_retry run_id=%s item_id=%s attempt=%s error=%s",
                run_id,
                item_id,
                self.request.retries + 1,
                type(exc).__name__,
            )
            raise self.retry(exc=exc, countdown=countdown) from exc
        with self.db.session() as session:
            record_item_failure(session=session, run_id=run_id, item_id=item_id, error=failure_reason(exc))
        log.error("event=restore_item_gave_up run_id=%s item_id=%s error=%s", run_id, item_id, type(exc).__name__)
        return
    log.debug("event=restore_item_done run_id=%s item_id=%s result=%s", run_id, item_id, result)
