"""Maintenance on Celery beat (schedule in console.celery_config): the stale-run reaper and
review-pack expiry, each every minute. Both are idempotent: a duplicate run changes nothing."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from console.db import utcnow
from console.operations import registry
from console.operations.service import reap_stale, resume_stale
from console.review_packs.service import (
    discard_abandoned_temporaries,
    expire_packs,
    fail_orphan_packs,
    sweep_temporary_files,
)
from console.review_packs.storage import storage_for
from tasks import app
from tasks.base import ConsoleTask

log = logging.getLogger(__name__)


@app.task(bind=True, base=ConsoleTask, name="tasks.maintenance.reap_stale_runs")
def reap_stale_runs(self: ConsoleTask) -> None:
    """Resume counted runs whose worker went silent (their task is sent again; the ledger makes
    the second worker do only what is left), up to CONSOLE_RESUME_ATTEMPTS times; fail the
    others (and queued runs never picked up), then their packs."""
    settings = self.settings

    def discard(session: Session, run_ids: list[int]) -> int:
        try:
            return discard_abandoned_temporaries(session=session, run_ids=run_ids, storage=storage_for(settings))
        except Exception as exc:  # tidying up never undoes the reaping; the hourly sweep retries
            log.warning("event=review_pack_temp_discard_failed error=%s", type(exc).__name__)
            return 0

    with self.db.session() as session:
        resumed = resume_stale(
            session=session,
            now=utcnow(),
            stale_after_seconds=settings.stale_after_seconds,
            max_attempts=settings.resume_attempts,
        )
        # Before the task goes out: the dead attempt's partial ZIP is removed, never the new one's.
        discarded = discard(session, [run_id for run_id, _ in resumed])
        for run_id, type_ in resumed:
            spec = registry.find(type_)
            if spec is not None:
                self.app.send_task(spec.task, args=[run_id])
        reaped = reap_stale(
            session=session,
            now=utcnow(),
            stale_after_seconds=settings.stale_after_seconds,
            queued_stale_after_seconds=settings.queued_stale_after_seconds,
        )
        packs = fail_orphan_packs(session=session)
        discarded += discard(session, reaped)
    log.info(
        "event=reaper_done resumed=%s reaped=%s packs_failed=%s temporaries_discarded=%s",
        len(resumed),
        len(reaped),
        len(packs),
        discarded,
    )


@app.task(bind=True, base=ConsoleTask, name="tasks.maintenance.expire_review_packs")
def expire_review_packs(self: ConsoleTask) -> None:
    """Ready packs past ``expires_at`` become ``expired``; their files are removed wherever they
    live (a failed delete is tried again on the next pass); orphan temporary files are swept."""
    storage = storage_for(self.settings)
    with self.db.session() as session:
        report = expire_packs(session=session, now=utcnow(), storage=storage)
    swept = sweep_temporary_files(storage=storage)
    log.info(
        "event=expiry_done expired=%s files_deleted=%s delete_failed=%s temporaries_swept=%s",
        len(report.expired),
        report.files_deleted,
        len(report.delete_failed),
        swept,
    )
