"""Inventory sync task (thin: the service in console.inventory does the work)."""

from __future__ import annotations

from console.inventory.service import run_inventory_sync as sync
from tasks import app
from tasks.base import ConsoleTask


@app.task(bind=True, base=ConsoleTask, name="tasks.inventory.run_inventory_sync")
def run_inventory_sync(self: ConsoleTask, run_id: int) -> None:
    self.run_operation(run_id, lambda session, provider: sync(session=session, run_id=run_id, provider=provider))
