"""GET /metrics over the Flask test client, on SQLite (and PostgreSQL when configured): who may
read it, that every contracted metric and label set is there, and that the figures are the
database's — runs created in known states through the run service, as the writers make them."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from console.app import create_app
from console.config import embedded_broker_url
from console.db import utcnow
from console.migrate import upgrade
from console.operations import registry
from console.operations.models import OperationRun
from console.operations.service import (
    cancel_run,
    complete_run,
    enqueue_run,
    mark_running,
    reap_stale,
    record_unit,
    resume_stale,
    set_total,
)
from console.web import metrics
from tests.factories import build_world
from tests.integration.worker import flush_redis
from tests.support.db import BROKER_URL
from tests.support.web import RecordingDispatcher, login, post_callback

TOKEN = "s3cret-metrics-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REPO = Path(__file__).resolve().parents[2]

CONTRACT = {
    "console_runs_active": ("gauge", {"type", "status"}),
    "console_runs_completed": ("counter", {"type", "outcome"}),
    "console_units_processed": ("counter", {"type"}),
    "console_run_duration_seconds": ("histogram", {"type"}),
    "console_oldest_active_run_age_seconds": ("gauge", set()),
    "console_reaper_actions": ("counter", {"action"}),
    "console_poll_requests": ("counter", {"surface", "answer"}),
}


def make_app(url: str, tmp_path: Path, *, world: bool = True, **overrides):
    upgrade(url)
    app = create_app(
        {
            "instance_dir": tmp_path / "instance",
            "database_url": url,
            "secret_key": "test-secret",
            **{"dispatcher": RecordingDispatcher(), **overrides},
        }
    )
    if world:
        with app.server.extensions["console.db"].session() as s:
            app.world = build_world(s)
    return app


@pytest.fixture
def app(empty_db_url, tmp_path):
    app = make_app(empty_db_url, tmp_path, metrics_token=TOKEN)
    yield app
    app.server.extensions["console.db"].dispose()


def scrape(app) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """{sample name: {sorted label pairs: value}} from a fresh (uncached) scrape."""
    metrics.clear_cache(app.server)
    r = app.server.test_client().get("/metrics", headers=AUTH)
    assert r.status_code == 200, r.status_code
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples[name][tuple(sorted(labels.items()))]


# --------------------------------------------------------------------------- who may read it


def test_metrics_is_404_while_no_token_is_configured(empty_db_url, tmp_path) -> None:
    app = make_app(empty_db_url, tmp_path)
    try:
        client = app.server.test_client()
        assert client.get("/metrics").status_code == 404
        assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404
    finally:
        app.server.extensions["console.db"].dispose()


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer", f"bearer{TOKEN}", TOKEN],
)
def test_metrics_without_the_bearer_token_is_401_and_reveals_nothing(app, header) -> None:
    r = app.server.test_client().get("/metrics", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"console_" not in r.data


def test_metrics_with_the_token_is_prometheus_text_without_a_session_or_cookie(app) -> None:
    r = app.server.test_client().get("/metrics", headers=AUTH)
    assert r.status_code == 200
    assert r.mimetype == "text/plain"
    assert "version=0.0.4" in r.headers["Content-Type"]
    assert "Set-Cookie" not in r.headers
    names = {f.name for f in text_string_to_metric_families(r.get_data(as_text=True))}
    assert set(CONTRACT) <= names
    # The scheme is case-insensitive (RFC 7235).
    assert app.server.test_client().get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_metrics_refuses_writes(app) -> None:
    r = app.server.test_client().post("/metrics", headers=AUTH)
    assert r.status_code == 405


def test_the_templates_metrics_token_placeholder_is_refused(tmp_path) -> None:
    from console.config import ConfigError, load_settings

    environ = {"CONSOLE_INSTANCE_DIR": str(tmp_path), "CONSOLE_METRICS_TOKEN": "<random-token>"}
    with pytest.raises(ConfigError, match="CONSOLE_METRICS_TOKEN.*placeholder"):
        load_settings(environ=environ)
    assert load_settings(environ={**environ, "CONSOLE_METRICS_TOKEN": " "}).metrics_token is None
    assert load_settings(environ={**environ, "CONSOLE_METRICS_TOKEN": "abc"}).metrics_token == "abc"


# --------------------------------------------------------------------------- names and labels


def test_every_contracted_metric_has_its_labels_for_every_registered_type(app) -> None:
    r = app.server.test_client().get("/metrics", headers=AUTH)
    families = {f.name: f for f in text_string_to_metric_families(r.get_data(as_text=True))}
    for name, (kind, labels) in CONTRACT.items():
        family = families[name]
        assert family.type == kind, name
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)
    types = set(registry.types())
    assert {s.labels["type"] for s in families["console_runs_active"].samples} == types
    assert {(s.labels["type"], s.labels["status"]) for s in families["console_runs_active"].samples} == {
        (t, st) for t in types for st in ("queued", "running")
    }
    assert {s.labels["outcome"] for s in families["console_runs_completed"].samples} == {
        "succeeded",
        "partially_succeeded",
        "failed",
        "cancelled",
    }
    assert {s.labels["action"] for s in families["console_reaper_actions"].samples} == {"resumed", "failed"}
    polls = {(s.labels["surface"], s.labels["answer"]) for s in families["console_poll_requests"].samples}
    assert {(surface, a) for surface in ("run", "activity", "operations") for a in ("changed", "unchanged")} <= polls


# --------------------------------------------------------------------------- figures from the database


def _enqueue(s, world, type_: str, tenant_index: int = 0) -> int:
    run, created = enqueue_run(
        session=s,
        type=type_,
        workspace_id=world.workspace_id,
        tenant_id=world.tenant_ids[tenant_index],
        initiator_user_id=None,
    )
    assert created
    return run.id


def _times(s, run_id: int, **values) -> None:
    s.execute(update(OperationRun).where(OperationRun.id == run_id).values(**values))
    s.commit()


def test_figures_follow_runs_in_known_states(app) -> None:
    world, now = app.world, utcnow()
    before = scrape(app)
    assert value(before, "console_runs_active", type="inventory_sync", status="queued") == 0
    assert value(before, "console_oldest_active_run_age_seconds") == 0
    with app.server.extensions["console.db"].session() as s:
        # Completed: a succeeded sync of 3 units that took 42 s; a failed one of 1 unit, 2 s.
        ok = _enqueue(s, world, "inventory_sync")
        mark_running(session=s, run_id=ok)
        set_total(session=s, run_id=ok, total=3)
        for key in ("a", "b", "c"):
            record_unit(session=s, run_id=ok, unit_key=key, outcome="succeeded")
        complete_run(session=s, run_id=ok, outcome="succeeded")
        _times(s, ok, started_at=now - timedelta(seconds=50), completed_at=now - timedelta(seconds=8))
        bad = _enqueue(s, world, "inventory_sync")
        mark_running(session=s, run_id=bad)
        set_total(session=s, run_id=bad, total=4)
        record_unit(session=s, run_id=bad, unit_key="a", outcome="failed", error="boom")
        complete_run(session=s, run_id=bad, outcome="failed", failure_summary="provider said no")
        _times(s, bad, started_at=now - timedelta(seconds=5), completed_at=now - timedelta(seconds=3))
        # Cancelled while queued: completed, but never started (no duration).
        cancelled = _enqueue(s, world, "baseline_capture")
        cancel_run(session=s, run_id=cancelled, user_id=None, user_name="test")
        # Active: one queued (created 10 min ago), one running with 2 of 5 units.
        queued = _enqueue(s, world, "evidence_snapshot_generate")
        _times(s, queued, created_at=now - timedelta(minutes=10))
        running = _enqueue(s, world, "inventory_sync", tenant_index=1)
        mark_running(session=s, run_id=running)
        set_total(session=s, run_id=running, total=5)
        record_unit(session=s, run_id=running, unit_key="x", outcome="succeeded")
        record_unit(session=s, run_id=running, unit_key="y", outcome="skipped")
    after = scrape(app)
    assert value(after, "console_runs_active", type="evidence_snapshot_generate", status="queued") == 1
    assert value(after, "console_runs_active", type="inventory_sync", status="running") == 1
    assert value(after, "console_runs_active", type="inventory_sync", status="queued") == 0
    assert value(after, "console_runs_completed_total", type="inventory_sync", outcome="succeeded") == 1
    assert value(after, "console_runs_completed_total", type="inventory_sync", outcome="failed") == 1
    assert value(after, "console_runs_completed_total", type="baseline_capture", outcome="cancelled") == 1
    assert value(after, "console_units_processed_total", type="inventory_sync") == 3 + 1 + 2
    hist = {k: v for k, v in after["console_run_duration_seconds_bucket"].items() if ("type", "inventory_sync") in k}
    le = {dict(k)["le"]: v for k, v in hist.items()}
    assert (le["1.0"], le["5.0"], le["30.0"], le["60.0"], le["+Inf"]) == (0, 1, 1, 2, 2)
    assert value(after, "console_run_duration_seconds_count", type="inventory_sync") == 2
    assert value(after, "console_run_duration_seconds_sum", type="inventory_sync") == pytest.approx(44, abs=0.5)
    # The cancelled run never started: counted as completed, not in the duration histogram.
    assert value(after, "console_run_duration_seconds_count", type="baseline_capture") == 0
    assert value(after, "console_oldest_active_run_age_seconds") == pytest.approx(600, abs=30)


def test_reaper_actions_are_read_from_what_the_reaper_wrote(app) -> None:
    world, now = app.world, utcnow()
    with app.server.extensions["console.db"].session() as s:
        counted = _enqueue(s, world, "inventory_sync")
        mark_running(session=s, run_id=counted)
        set_total(session=s, run_id=counted, total=2)
        phased = _enqueue(s, world, "baseline_compare")
        mark_running(session=s, run_id=phased)
        silent = now - timedelta(seconds=600)
        _times(s, counted, heartbeat_at=silent, started_at=silent)
        _times(s, phased, heartbeat_at=silent, started_at=silent)
        # Twice resumed (the counted run), then failed; the phased run cannot resume: failed at once.
        assert resume_stale(session=s, now=now, stale_after_seconds=120, max_attempts=2) == [
            (counted, "inventory_sync")
        ]
        _times(s, counted, heartbeat_at=silent)
        assert resume_stale(session=s, now=now, stale_after_seconds=120, max_attempts=2)
        _times(s, counted, heartbeat_at=silent)
        assert resume_stale(session=s, now=now, stale_after_seconds=120, max_attempts=2) == []
        reaped = reap_stale(session=s, now=now, stale_after_seconds=120, queued_stale_after_seconds=3600)
        assert sorted(reaped) == sorted([counted, phased])
        # A failure that is not the reaper's does not count.
        other = _enqueue(s, world, "inventory_sync")
        complete_run(session=s, run_id=other, outcome="failed", failure_summary="Stalemate in the provider")
    after = scrape(app)
    assert value(after, "console_reaper_actions_total", action="resumed") == 2
    assert value(after, "console_reaper_actions_total", action="failed") == 2


def test_figures_are_cached_for_a_few_seconds_per_process(app, monkeypatch) -> None:
    client = app.server.test_client()
    first = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    with app.server.extensions["console.db"].session() as s:
        _enqueue(s, app.world, "inventory_sync")
    # Inside the cache's lifetime: the same figures (no query).
    assert 'console_runs_active{status="queued",type="inventory_sync"} 0.0' in first
    cached = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    assert 'console_runs_active{status="queued",type="inventory_sync"} 0.0' in cached
    monkeypatch.setattr(metrics, "CACHE_SECONDS", 0.0)
    fresh = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    assert 'console_runs_active{status="queued",type="inventory_sync"} 1.0' in fresh


# --------------------------------------------------------------------------- poll answers


_callback = post_callback


def run_poll(client, app, run_id, fingerprint=None, policy=None):
    """The run viewer's Interval tick."""
    state = [("run-id", "data", run_id), ("run-fingerprint", "data", fingerprint), ("run-poll-policy", "data", policy)]
    return _callback(
        client,
        app,
        "run-view.children",
        [("run-poll", "n_intervals", 1), ("run-viewer-run-kick", "data", None)],
        state,
        ["run-poll.n_intervals"],
    )


def shell_refresh(client, app):
    """The activity shell refreshed by a navigation (its location), not by its Interval."""
    inputs = [
        ("_pages_location", "pathname", "/"),
        ("activity-poll", "n_intervals", 1),
        ("activity-kick", "data", None),
        ("activity-run-kick", "data", None),
    ]
    state = [("activity-fingerprint", "data", None), ("activity-policy", "data", None), ("activity-seen", "data", None)]
    return _callback(client, app, "activity-shell.children", inputs, state, ["_pages_location.pathname"])


def test_poll_answers_are_counted_changed_or_unchanged_per_surface(app) -> None:
    client = app.server.test_client()
    login(client, "manager@test.example")
    with app.server.extensions["console.db"].session() as s:
        run_id = _enqueue(s, app.world, "inventory_sync")
    before = scrape(app)
    first = run_poll(client, app, run_id)
    assert first.status_code == 200
    answer = first.get_json()["response"]
    fingerprint, policy = answer["run-fingerprint"]["data"], answer["run-poll-policy"]["data"]
    for _ in range(3):
        assert run_poll(client, app, run_id, fingerprint, policy).status_code == 204
    # A shell refresh on navigation is not a poll (no Interval tick): not counted.
    assert shell_refresh(client, app).status_code == 200
    after = scrape(app)

    def delta(surface: str, answer: str) -> float:
        key = "console_poll_requests_total"
        return value(after, key, surface=surface, answer=answer) - value(before, key, surface=surface, answer=answer)

    assert (delta("run", "changed"), delta("run", "unchanged")) == (1, 3)
    assert (delta("activity", "changed"), delta("activity", "unchanged")) == (0, 0)


def test_poll_answers_of_several_processes_add_up_in_multiprocess_mode(app, tmp_path, monkeypatch) -> None:
    """Two gunicorn-like worker processes count polls into PROMETHEUS_MULTIPROC_DIR; a scrape
    answered by a third process reports their sum."""
    folder = tmp_path / "prom"
    folder.mkdir()
    code = (
        "import sys; from console.web import metrics\n"
        "for _ in range(int(sys.argv[1])): metrics.record_poll('run', changed=False)\n"
        "metrics.record_poll('operations', changed=True)\n"
    )
    env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), "PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    for n in (3, 4):
        subprocess.run([sys.executable, "-c", code, str(n)], cwd=REPO, env=env, check=True, timeout=60)
    assert len(list(folder.glob("counter_*.db"))) == 2  # one file per process
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    scraper = make_app(
        app.server.extensions["console.settings"].database_url, tmp_path / "scraper", world=False, metrics_token=TOKEN
    )
    try:
        samples = scrape(scraper)
    finally:
        scraper.server.extensions["console.db"].dispose()
    assert value(samples, "console_poll_requests_total", surface="run", answer="unchanged") == 7
    assert value(samples, "console_poll_requests_total", surface="operations", answer="changed") == 2
    # The database figures are there too, exactly once.
    assert len(samples["console_oldest_active_run_age_seconds"]) == 1


# --------------------------------------------------------------------------- the broker's queue


@pytest.mark.parametrize("broker", ["embedded"] + (["redis"] if BROKER_URL else []))
def test_the_broker_queue_length_counts_the_messages_no_worker_took_yet(empty_db_url, tmp_path, broker) -> None:
    instance = tmp_path / "instance"
    instance.mkdir()
    broker_url = BROKER_URL if broker == "redis" else embedded_broker_url(instance)
    if broker == "redis":
        flush_redis(broker_url)
    app = make_app(empty_db_url, tmp_path, world=False, metrics_token=TOKEN, broker_url=broker_url, dispatcher=None)
    dispatcher = app.server.extensions["console.dispatcher"]
    try:
        assert value(scrape(app), "console_broker_queue_length", queue="celery") == 0
        for run_id in (1, 2, 3):  # no worker listens: the messages wait
            dispatcher.send("tasks.inventory.run_inventory_sync", run_id)
        assert dispatcher.queue_lengths() == {"celery": 3}
        assert value(scrape(app), "console_broker_queue_length", queue="celery") == 3
    finally:
        dispatcher.client.close()
        app.server.extensions["console.db"].dispose()
        if broker == "redis":
            flush_redis(broker_url)


def test_a_broker_that_does_not_answer_leaves_the_queue_length_out(app, monkeypatch) -> None:
    class Down(RecordingDispatcher):
        def queue_lengths(self) -> dict[str, int]:
            raise ConnectionRefusedError("test")

    app.server.extensions["console.dispatcher"] = Down()
    samples = scrape(app)
    assert "console_broker_queue_length" not in samples
    assert "console_runs_active" in samples  # the rest of the scrape still answers
