"""Celery application: ``celery -A tasks worker`` (or ``console worker``)."""

from __future__ import annotations

import kombu.transport.sqlalchemy
from celery import Celery

from console.celery_config import celery_config
from console.config import load_settings

# The embedded broker polls its SQLite table; the default 1 s makes a live UI feel slow.
# (Putting this in broker_transport_options would reach create_engine() and crash.)
kombu.transport.sqlalchemy.Transport.polling_interval = 0.1

settings = load_settings()
app = Celery("console")
app.conf.update(celery_config(settings))
app.conf.include = [
    "tasks.inventory",
    "tasks.review_packs",
    "tasks.evidence",
    "tasks.backups",
    "tasks.baselines",
    "tasks.maintenance",
]
