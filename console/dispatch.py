"""The one door from the web layer (and CLI) to Celery: send a task by name with ids only.

A button press waits for ``send``, so it must fail fast when the broker is down: one connection
attempt (no kombu retry loop, no redis-py reconnect back-off), a short connect timeout, then
DispatchError, which the launch use case turns into a run failed with ``dispatch_failed``.
Measured with Redis on a closed port: ~6 s with kombu's defaults, a few ms with these options
(docs/operations-guide.md)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery

from console.celery_config import celery_config
from console.config import Settings
from console.errors import DispatchError

log = logging.getLogger(__name__)

#: Seconds to wait for a TCP connect to the broker (a refused port fails at once; a host that
#: drops packets would otherwise hang the request).
CONNECT_TIMEOUT = 2.0
#: Seconds a Redis command (the publish) may take on an established connection.
SOCKET_TIMEOUT = 5.0


def dispatch_config(settings: Settings) -> dict[str, Any]:
    """The worker's Celery configuration plus the fail-fast options of a web-facing producer."""
    conf = celery_config(settings)
    conf["broker_connection_timeout"] = CONNECT_TIMEOUT
    conf["task_publish_retry"] = False
    options = dict(conf.get("broker_transport_options") or {})
    # Read by kombu's Connection.default_channel: without it, a publish on a dead broker retries
    # the connection for broker_connection_timeout (4 s) plus redis-py's back-off (~6 s in all).
    # (kombu's SQLAlchemy transport drops this key before create_engine.)
    options["max_retries"] = 0
    if settings.broker_url.startswith(("redis://", "rediss://")):
        options.update(socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT)
    conf["broker_transport_options"] = options
    return conf


class CeleryDispatcher:
    """Sends tasks by name, so the web process never imports task code."""

    def __init__(self, settings: Settings) -> None:
        self.client = Celery("console-dispatch")
        self.client.conf.update(dispatch_config(settings))

    def send(self, task_name: str, *args: Any) -> None:
        try:
            self.client.send_task(task_name, args=list(args), retry=False)
        except Exception as exc:  # kombu raises many types; the caller needs one
            log.warning("event=dispatch_failed task=%s args=%s error=%s", task_name, args, type(exc).__name__)
            raise DispatchError(f"the task queue is unreachable ({type(exc).__name__})") from exc
        log.info("event=dispatched task=%s args=%s", task_name, args)

    def queue_lengths(self) -> dict[str, int]:
        """{queue: messages waiting} for the queue the tasks go to (Redis: LLEN; embedded: a count
        of the visible messages in its SQLite file); raises when the broker does not answer."""
        queue = self.client.conf.task_default_queue
        with self.client.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=CONNECT_TIMEOUT)
            _name, waiting, _consumers = conn.default_channel.queue_declare(queue=queue, passive=False)
        return {queue: int(waiting)}

    def ping(self) -> bool:
        """True only when the broker answered a real request (Redis: LLEN; embedded: a query
        on its SQLite file) — connecting alone proves nothing for the embedded broker, whose
        connection is lazy."""
        try:
            with self.client.connection_for_write() as conn:
                conn.ensure_connection(max_retries=0, timeout=CONNECT_TIMEOUT)
                # A non-passive declare of the default queue: creates it where it must exist
                # (embedded), then asks the broker for its size (a round trip on every transport).
                conn.default_channel.queue_declare(queue=self.client.conf.task_default_queue, passive=False)
            return True
        except Exception as exc:
            log.warning("event=broker_ping_failed error=%s", type(exc).__name__)
            return False
