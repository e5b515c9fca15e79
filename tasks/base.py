"""One base class for every task: a process-wide Database, the provider, and the failure path.

Tasks are thin: they receive ids only, re-fetch, call a domain service, and let the service
write status and counts through the operations core. ``run_operation`` is the one failure
path: any exception completes the run as ``failed`` with a sanitized one-line reason (plus the
family's own clean-up, e.g. the review pack marked ``failed``) and is re-raised for Celery's
log — except a database outage, which retries the task (``retry_countdown``: about a minute
of back-off, longer than a database restart) because failing the run needs the database too
and the re-run resumes from the ledger. A run that is already completed (a redelivered
message) is left alone."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import Task
from sqlalchemy.orm import Session

from console.db import Database, is_outage
from console.errors import InvalidTransition, RunNotFound
from console.operations import registry, staleness
from console.operations.failure import sanitize_failure_summary
from console.operations.service import fail_run, get_run, heartbeat
from console.providers.base import Provider
from console.providers.builtin import provider_for_run

log = logging.getLogger(__name__)
_db: Database | None = None

#: A database outage is retried this often, backing off 0.5, 1, 2, 4 s, then every
#: OUTAGE_RETRY_CAP_SECONDS: about a minute in all. Other errors keep the caller's budget.
OUTAGE_MAX_RETRIES = 14
RETRY_BASE_SECONDS = 0.5
OUTAGE_RETRY_CAP_SECONDS = 5.0
#: While a task of a run executes, its heartbeat is refreshed this often, however long one unit
#: (one provider call) takes: CONSOLE_STALE_AFTER_SECONDS (120) is many of these. The pages'
#: "No progress for …" warning starts at twice this (console.operations.staleness).
HEARTBEAT_SECONDS = float(staleness.HEARTBEAT_SECONDS)

#: work(session, provider) performs the operation for the run.
Work = Callable[[Session, Provider], Any]
#: cleanup(session, reason) stages the family's own failure changes (e.g. the review pack
#: ``failed``) without committing: they commit together with the run's failure.
Cleanup = Callable[[Session, str], Any]


def database() -> Database:
    """The worker process's Database (created on first use, after fork)."""
    global _db
    if _db is None:
        from tasks import settings

        _db = Database(settings.database_url)
    return _db


def retry_countdown(exc: BaseException, retries: int, *, max_retries: int) -> float | None:
    """Seconds before attempt ``retries + 1``, or None when the error's budget is spent.

    A database outage (``console.db.is_outage``) may last a restart, so it gets
    OUTAGE_MAX_RETRIES; any other error ``max_retries`` (0: never retried)."""
    budget = OUTAGE_MAX_RETRIES if is_outage(exc) else max_retries
    if retries >= budget:
        return None
    return min(RETRY_BASE_SECONDS * 2**retries, OUTAGE_RETRY_CAP_SECONDS)


def failure_reason(exc: BaseException) -> str:
    """What a user reads about a failed run: the error type and its first line, no secrets."""
    message = str(exc).strip()
    return sanitize_failure_summary(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


class ConsoleTask(Task):
    abstract = True
    acks_late = True
    ignore_result = True

    @property
    def db(self) -> Database:
        return database()

    @property
    def settings(self):  # noqa: ANN201 - console.config.Settings
        from tasks import settings

        return settings

    def provider(self, session: Session, run_id: int) -> Provider:
        """The provider for one run (faults from CONSOLE_PROVIDER_FAULTS and the run's context)."""
        run = get_run(session=session, run_id=run_id)
        return provider_for_run(session=session, context=run.context, production=self.settings.production)

    @contextmanager
    def keep_alive(self, run_id: int, every: float | None = None) -> Iterator[None]:
        """Refresh the run's heartbeat every ``every`` seconds from a side thread while the block runs."""
        stop = threading.Event()
        interval = HEARTBEAT_SECONDS if every is None else every

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    with self.db.session() as session:
                        heartbeat(session=session, run_id=run_id)
                except Exception as exc:  # a database outage: the work itself will notice and retry
                    log.warning("event=heartbeat_failed run_id=%s error=%s", run_id, type(exc).__name__)

        thread = threading.Thread(target=beat, name=f"heartbeat-{run_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def run_operation(self, run_id: int, work: Work, cleanup: Cleanup | None = None) -> Any:
        """Run ``work`` for the run; on any exception fail the run (and clean up), then re-raise.

        ``cleanup`` defaults to the run type's ``on_fail`` hook in the operation-type registry."""
        log.info("event=task_started task=%s run_id=%s", self.name, run_id)
        try:
            with self.keep_alive(run_id), self.db.session() as session:
                result = work(session, self.provider(session, run_id))
        except RunNotFound:
            log.warning("event=task_skipped task=%s run_id=%s reason=run_not_found", self.name, run_id)
            return None
        except InvalidTransition as exc:
            # The run completed without us (a redelivered message, or the reaper got there first).
            log.info("event=task_skipped task=%s run_id=%s reason=run_not_active detail=%s", self.name, run_id, exc)
            with self.db.session() as session:
                self._stage_cleanup(session, run_id, cleanup, "The run ended before this work finished.")
                session.commit()
            return None
        except Exception as exc:
            countdown = retry_countdown(exc, self.request.retries, max_retries=0)
            if countdown is not None:
                log.warning(
                    "event=task_retry task=%s run_id=%s attempt=%s error=%s",
                    self.name,
                    run_id,
                    self.request.retries + 1,
                    type(exc).__name__,
                )
                raise self.retry(exc=exc, countdown=countdown, max_retries=OUTAGE_MAX_RETRIES) from exc
            reason = failure_reason(exc)
            log.error("event=run_failing task=%s run_id=%s error=%s", self.name, run_id, type(exc).__name__)
            with self.db.session() as session:
                self._stage_cleanup(session, run_id, cleanup, reason)
                # One transaction: no reader sees the run failed but its pack still generating.
                fail_run(session=session, run_id=run_id, reason=reason)
            raise
        log.info("event=task_finished task=%s run_id=%s", self.name, run_id)
        return result

    def _stage_cleanup(self, session: Session, run_id: int, cleanup: Cleanup | None, reason: str) -> None:
        try:
            if cleanup is None:
                run_type = get_run(session=session, run_id=run_id).type
                registry.clean_up_failed(run_type, session=session, run_id=run_id, reason=reason)
            else:
                cleanup(session, reason)
        except Exception as exc:  # the run must still be failed; the clean-up must not mask that
            session.rollback()
            log.error("event=task_cleanup_failed task=%s run_id=%s error=%s", self.name, run_id, type(exc).__name__)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        log.error("event=task_failed task=%s task_id=%s args=%s error=%s", self.name, task_id, args, type(exc).__name__)
