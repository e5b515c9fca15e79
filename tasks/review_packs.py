"""Review pack generation task (thin: console.review_packs.generate does the work)."""

from __future__ import annotations

import logging

from console.review_packs.generate import generate_review_pack as generate
from console.review_packs.storage import storage_for
from tasks import app
from tasks.base import ConsoleTask

log = logging.getLogger(__name__)


@app.task(bind=True, base=ConsoleTask, name="tasks.review_packs.generate_review_pack")
def generate_review_pack(self: ConsoleTask, run_id: int) -> None:
    settings = self.settings
    storage = storage_for(settings)
    # Temporaries of a worker that died on this host (S3 stages in a local folder beat never sees).
    # Best effort: tidying up must never keep the run from starting (or from failing properly).
    try:
        storage.sweep_temporaries()
    except Exception as exc:
        log.warning("event=review_pack_temp_sweep_failed run_id=%s error=%s", run_id, exc)
    self.run_operation(
        run_id,
        lambda session, provider: generate(
            session=session,
            run_id=run_id,
            provider=provider,
            storage=storage,
            ttl_days=settings.review_pack_ttl_days,
        ),
    )
