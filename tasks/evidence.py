"""Evidence snapshot task (thin: the service in console.evidence does the work)."""

from __future__ import annotations

from console.evidence.service import generate_evidence_snapshot as generate
from tasks import app
from tasks.base import ConsoleTask


@app.task(bind=True, base=ConsoleTask, name="tasks.evidence.generate_evidence_snapshot")
def generate_evidence_snapshot(self: ConsoleTask, run_id: int) -> None:
    self.run_operation(run_id, lambda session, provider: generate(session=session, run_id=run_id, provider=provider))
