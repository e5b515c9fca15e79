"""Celery configuration shared by the worker (tasks/) and the web layer's dispatcher."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from console.config import Settings


def celery_config(settings: Settings) -> dict[str, Any]:
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
        conf["broker_transport_options"] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    elif settings.broker_url.startswith("redis"):
        conf["broker_transport_options"] = {"visibility_timeout": 3600}
    conf["beat_schedule_filename"] = str(settings.instance_dir / "celerybeat-schedule")
    return conf
