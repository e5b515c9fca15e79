"""/metrics after a real Celery worker did the work: the web process that answers the scrape
never ran the run, yet reports it (the figures are the database's) — on every stack: SQLite +
the embedded broker always, PostgreSQL + Redis when configured. The broker's queue length is
asked of the real broker."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from console.app import create_app
from tests.integration.worker import make_world, stack_fixture, start, wait_run

stack = stack_fixture()
TOKEN = "worker-metrics-token"


def test_a_run_done_by_a_worker_is_counted_by_the_web_process(stack, tmp_path) -> None:
    world = make_world(stack)
    run = wait_run(stack, start(stack, world, "inventory_sync"))
    assert run.outcome == "succeeded"
    processed = run.summary_counts["processed"]
    assert processed > 0

    app = create_app(
        {**stack.settings_overrides(), "instance_dir": tmp_path / "web", "secret_key": "x", "metrics_token": TOKEN}
    )
    try:
        r = app.server.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(r.get_data(as_text=True))
            for s in f.samples
        }
    finally:
        app.server.extensions["console.dispatcher"].client.close()
        app.server.extensions["console.db"].dispose()

    def get(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert get("console_runs_completed_total", type="inventory_sync", outcome="succeeded") == 1
    assert get("console_units_processed_total", type="inventory_sync") == processed
    assert get("console_run_duration_seconds_count", type="inventory_sync") == 1
    assert get("console_runs_active", type="inventory_sync", status="running") == 0
    assert get("console_oldest_active_run_age_seconds") == 0
    # The broker answered for the queue the tasks go to; the worker took everything.
    assert get("console_broker_queue_length", queue="celery") == 0
