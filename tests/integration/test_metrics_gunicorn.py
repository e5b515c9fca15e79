"""Poll answers under gunicorn with two worker processes and PROMETHEUS_MULTIPROC_DIR: every
scrape reports the polls of both workers, whichever worker answers it (SQLite file, as the
embedded default)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from console.db import Database, utcnow
from console.migrate import upgrade
from console.operations.models import OperationRun
from tests.factories import PASSWORD, build_world

REPO = Path(__file__).resolve().parents[2]
TOKEN = "gunicorn-metrics-token"
POLLS = 24


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _poll_body(run_id: int, fingerprint, policy) -> dict:
    key = "..run-view.children...run-fingerprint.data...run-poll-policy.data.."
    return {
        "output": key,
        "outputs": [
            {"id": "run-view", "property": "children"},
            {"id": "run-fingerprint", "property": "data"},
            {"id": "run-poll-policy", "property": "data"},
        ],
        "inputs": [
            {"id": "run-poll", "property": "n_intervals", "value": 1},
            {"id": "run-viewer-run-kick", "property": "data", "value": None},
        ],
        "state": [
            {"id": "run-id", "property": "data", "value": run_id},
            {"id": "run-fingerprint", "property": "data", "value": fingerprint},
            {"id": "run-poll-policy", "property": "data", "value": policy},
        ],
        "changedPropIds": ["run-poll.n_intervals"],
    }


def _polls(url: str) -> dict[str, float]:
    r = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"}, timeout=30)
    assert r.status_code == 200, r.status_code
    return {
        s.labels["answer"]: s.value
        for f in text_string_to_metric_families(r.text)
        for s in f.samples
        if s.name == "console_poll_requests_total" and s.labels["surface"] == "run"
    }


def test_poll_answers_of_every_gunicorn_worker_are_in_every_scrape(tmp_path) -> None:
    url_db = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url_db)
    db = Database(url_db)
    with db.session() as s:
        world = build_world(s)
        run = OperationRun(
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_ids[0],
            type="inventory_sync",
            status="running",
            summary_counts={},
            context={},
            created_at=utcnow(),
            started_at=utcnow(),
        )
        s.add(run)
        s.commit()
        run_id = run.id
    db.dispose()
    folder = tmp_path / "prom"
    folder.mkdir()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "PROMETHEUS_"))} | {
        "CONSOLE_DATABASE_URL": url_db,
        "CONSOLE_INSTANCE_DIR": str(tmp_path / "instance"),
        "CONSOLE_SECRET_KEY": "test-secret",
        "CONSOLE_METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    argv = [sys.executable, "-m", "gunicorn", "console.wsgi:server", "--workers", "2", "--threads", "2"]
    argv += ["--worker-class", "gthread", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    log = (tmp_path / "gunicorn.log").open("ab")
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=2).read()
                break
            except Exception:
                assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
                time.sleep(0.2)
        before = _polls(url)
        session = requests.Session()
        session.get(f"{url}/login", timeout=30)
        token = session.cookies["_csrf_token"]
        r = session.post(
            f"{url}/login",
            data={"email": "manager@test.example", "password": PASSWORD, "csrf_token": token},
            timeout=30,
        )
        assert r.status_code == 200, r.status_code  # followed the redirect to the page
        headers = {"X-CSRFToken": session.cookies["_csrf_token"], "Content-Type": "application/json"}
        first = session.post(
            f"{url}/_dash-update-component",
            data=json.dumps(_poll_body(run_id, None, None)),
            headers=headers,
            timeout=30,
        )
        assert first.status_code == 200, first.text[:300]
        answer = first.json()["response"]
        body = json.dumps(_poll_body(run_id, answer["run-fingerprint"]["data"], answer["run-poll-policy"]["data"]))
        for _ in range(POLLS):
            # A new connection each time: the kernel hands it to either worker.
            r = session.post(
                f"{url}/_dash-update-component", data=body, headers={**headers, "Connection": "close"}, timeout=30
            )
            assert r.status_code == 204
        writers = {p.name for p in folder.glob("counter_*.db")}
        for _ in range(6):  # whichever worker answers the scrape, it reports every worker's polls
            after = _polls(url)
            assert after["changed"] - before["changed"] == 1
            assert after["unchanged"] - before["unchanged"] == POLLS
        assert len(writers) == 2, writers  # both workers answered polls (and wrote their own file)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
