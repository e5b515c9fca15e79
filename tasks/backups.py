"""Backup tasks: add policies to a set, and the chunked fan-out restore.

The restore parent writes ``total`` once and sends one child per chunk of
``CONSOLE_FANOUT_CHUNK_SIZE`` item ids (``restore_backup_item(run_id, [item_id, ...])``; the
name is kept from the one-item-per-task design, and a message from before — one int — is
still understood). A chunk counts each unit on the parent exactly once (the ledger), however
often it is delivered (acks_late redelivery, retries, a duplicate send); the batch that holds
the last unit completes the parent in the same transaction. An unexpected error retries the
chunk from its first uncounted item; when the retries are spent that one item is counted
``failed`` and the rest of the chunk is sent again with a fresh budget, so the parent still
ends and one bad item never fails its neighbours."""

from __future__ import annotations

import logging

from console.backups.service import add_policies_to_backup_set as add_policies
from console.backups.service import first_uncounted, plan_restore, record_item_failure, restore_chunk
from console.errors import RunNotFound
from console.operations.service import heartbeat
from tasks import app
from tasks.base import OUTAGE_MAX_RETRIES, ConsoleTask, failure_reason, retry_countdown

log = logging.getLogger(__name__)

CHILD_TASK = "tasks.backups.restore_backup_item"
#: Retries for an unexpected error (0.5, 1, 2 s); a database outage gets tasks.base.OUTAGE_MAX_RETRIES.
CHILD_MAX_RETRIES = 3
HEARTBEAT_EVERY = 50  # chunks sent between heartbeats while fanning out


@app.task(bind=True, base=ConsoleTask, name="tasks.backups.add_policies_to_backup_set")
def add_policies_to_backup_set(self: ConsoleTask, run_id: int) -> None:
    self.run_operation(
        run_id, lambda session, provider: add_policies(session=session, run_id=run_id, provider=provider)
    )


@app.task(bind=True, base=ConsoleTask, name="tasks.backups.restore_backup_set")
def restore_backup_set(self: ConsoleTask, run_id: int) -> None:
    size = self.settings.fanout_chunk_size

    def work(session, _provider) -> int:
        pending = plan_restore(session=session, run_id=run_id)
        # Ids only; a redelivered (or resumed) parent re-sends only the items not yet counted.
        chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
        for n, chunk in enumerate(chunks, 1):
            self.app.send_task(CHILD_TASK, args=[run_id, chunk])
            if n % HEARTBEAT_EVERY == 0:
                heartbeat(session=session, run_id=run_id)
        log.info("event=restore_fanned_out run_id=%s items=%s chunks=%s", run_id, len(pending), len(chunks))
        return len(pending)

    self.run_operation(run_id, work)


@app.task(bind=True, base=ConsoleTask, name=CHILD_TASK, max_retries=OUTAGE_MAX_RETRIES)
def restore_backup_item(self: ConsoleTask, run_id: int, item_ids: int | list[int]) -> None:
    chunk = [item_ids] if isinstance(item_ids, int) else [int(i) for i in item_ids]
    try:
        with self.keep_alive(run_id), self.db.session() as session:
            result = restore_chunk(
                session=session,
                open_session=self.db.session,
                run_id=run_id,
                item_ids=chunk,
                provider=self.provider(session, run_id),
            )
    except RunNotFound:
        log.warning("event=task_skipped task=%s run_id=%s reason=run_not_found", self.name, run_id)
        return
    except Exception as exc:
        countdown = retry_countdown(exc, self.request.retries, max_retries=CHILD_MAX_RETRIES)
        try:
            with self.db.session() as session:
                stopped_at = first_uncounted(session=session, run_id=run_id, item_ids=chunk)
        except Exception as lookup_exc:  # the database is still away: retry on the outage budget
            countdown = countdown or retry_countdown(lookup_exc, self.request.retries, max_retries=0)
            if countdown is None:
                raise
            stopped_at = chunk[0]
        if stopped_at is None:  # everything got counted before the error (e.g. in the last flush)
            return
        if countdown is not None:
            log.warning(
                "event=restore_item_retry run_id=%s item_id=%s attempt=%s error=%s",
                run_id,
                stopped_at,
                self.request.retries + 1,
                type(exc).__name__,
            )
            raise self.retry(exc=exc, countdown=countdown) from exc
        with self.db.session() as session:
            record_item_failure(session=session, run_id=run_id, item_id=stopped_at, error=failure_reason(exc))
        log.error("event=restore_item_gave_up run_id=%s item_id=%s error=%s", run_id, stopped_at, type(exc).__name__)
        rest = chunk[chunk.index(stopped_at) + 1 :]
        if rest:
            self.app.send_task(CHILD_TASK, args=[run_id, rest])
        return
    log.debug("event=restore_chunk_done run_id=%s items=%s result=%s", run_id, len(chunk), result)
