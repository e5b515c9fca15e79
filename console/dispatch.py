"""The one door from the web layer (and CLI) to Celery: send a task by name with ids only."""
from __future__ import annotations

import logging
from typing import Any, Protocol

from celery import Celery

from console.celery_config import celery_config
from console.config import Settings

log = logging.getLogger(__name__)


class DispatchError(RuntimeError):
    """The broker did not take the message."""


class Dispatcher(Protocol):
    def send(self, task_name: str, *args: Any) -> None: ...

    def ping(self) -> bool: ...


class CeleryDispatcher:
    """Sends tasks by name, so the web process never imports task code."""

    def __init__(self, settings: Settings) -> None:
        self.client = Celery("console-dispatch")
        self.client.conf.update(celery_config(settings))

    def send(self, task_name: str, *args: Any) -> None:
        try:
            self.client.send_task(task_name, args=list(args), retry=False)
        except Exception as exc:  # kombu raises many types; the caller needs one
            log.warning("event=dispatch_failed task=%s args=%s error=%s", task_name, args, type(exc).__name__)
            raise DispatchError(f"the task queue is unreachable ({type(exc).__name__})") from exc
        log.info("event=dispatched task=%s args=%s", task_name, args)

    def ping(self) -> bool:
        try:
            with self.client.connection_for_write() as conn:
                conn.ensure_connection(max_retries=0, timeout=2)
            return True
        except Exception:
            return False
