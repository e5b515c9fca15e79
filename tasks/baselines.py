"""Baseline capture and compare tasks (phased; the service in console.baselines does the work)."""

from __future__ import annotations

from console.baselines.service import capture_baseline as capture
from console.baselines.service import compare_baseline as compare
from tasks import app
from tasks.base import ConsoleTask


@app.task(bind=True, base=ConsoleTask, name="tasks.baselines.capture_baseline")
def capture_baseline(self: ConsoleTask, run_id: int) -> None:
    self.run_operation(run_id, lambda session, provider: capture(session=session, run_id=run_id, provider=provider))


@app.task(bind=True, base=ConsoleTask, name="tasks.baselines.compare_baseline")
def compare_baseline(self: ConsoleTask, run_id: int) -> None:
    self.run_operation(run_id, lambda session, provider: compare(session=session, run_id=run_id, provider=provider))
