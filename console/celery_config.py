"""Celery configuration shared by the worker (tasks/) and the web layer's dispatcher."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from console.config import ConfigError, Settings

#: Seconds a Redis message may stay delivered-but-unacknowledged before another worker gets it.
VISIBILITY_TIMEOUT_ENV = "CONSOLE_BROKER_VISIBILITY_TIMEOUT"
DEFAULT_VISIBILITY_TIMEOUT = 3600


def visibility_timeout(environ: Mapping[str, str] | None = None) -> int:
    """CONSOLE_BROKER_VISIBILITY_TIMEOUT (seconds, default 3600); it must exceed the longest task."""
    raw = (os.environ if environ is None else environ).get(VISIBILITY_TIMEOUT_ENV, "")
    if not raw.strip():
        return DEFAULT_VISIBILITY_TIMEOUT
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{VISIBILITY_TIMEOUT_ENV} must be a whole number of seconds, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{VISIBILITY_TIMEOUT_ENV} must be positive, got {value}")
    return value


def celery_config(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Broker and delivery options; the database, not a result backend, holds run state."""
    conf: dict[str, Any] = {
        "broker_url": settings.broker_url,
        "result_backend": None,
        "task_ignore_result": True,
        # Tasks are idempotent (the unit ledger makes re-runs count nothing twice), so a
        # message is acknowledged only after the work, and redelivered if the worker dies.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            "reap-stale-runs": {"task": "tasks.maintenance.reap_stale_runs", "schedule": timedelta(seconds=60)},
            "expire-review-packs": {"task": "tasks.maintenance.expire_review_packs", "schedule": timedelta(seconds=60)},
        },
    }
    if settings.broker_is_embedded:
        # Engine options for kombu's SQLAlchemy transport (poll interval is set on the class).
        # This transport never redelivers a message whose worker died (it is marked invisible
        # on delivery and never restored): the stale-run reaper fails such runs instead.
        conf["broker_transport_options"] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    elif settings.broker_url.startswith("redis"):
        timeout = visibility_timeout(environ)
        conf["broker_transport_options"] = {
            # A message a dead worker had taken returns to the queue this long after delivery.
            # It must exceed the longest task: a live worker's message would be delivered twice
            # (harmless for counts — the ledger — but the work is done twice).
            "visibility_timeout": timeout,
            # Every worker sweeps for such messages every `interval × throttle` seconds (kombu's
            # default 10 × 10 s); sweep at least every 10 s, and faster for short timeouts.
            "unacked_restore_interval": max(1, min(10, timeout // 4)),
            "unacked_restore_throttle": 1,
        }
    conf["beat_schedule_filename"] = str(settings.instance_dir / "celerybeat-schedule")
    return conf
