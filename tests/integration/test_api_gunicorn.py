"""The API and /metrics under ``gunicorn console.wsgi:server`` with 2 worker processes, as
production runs it, over HTTP: on SQLite + the embedded broker always, and on PostgreSQL + Redis
when CONSOLE_TEST_DATABASE_URL and CONSOLE_TEST_BROKER_URL are set.

* The per-token rate limit is ONE budget across both workers (Flask-Limiter on Redis: the
  broker's Redis by default; with the embedded broker, CONSOLE_RATELIMIT_STORAGE_URL names one):
  the 429 comes after exactly the limit, though both workers answered the requests before it.
* Poll answers are counted in prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR):
  every scrape reports the polls of both workers, whichever worker answers it.
* A run done by a real Celery worker shows in /metrics (completed, units, duration, queue)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from console.api_tokens.service import create_token
from tests.integration.worker import STACKS, Stack, World, make_world, open_stack, wait_until
from tests.support.servers import WebServer, private_redis, web_server
from tests.support.web import run_poll_request

METRICS_TOKEN = "gunicorn-metrics-token"
LIMIT = 30
POLLS = 24
#: gunicorn over the stacks whose database other processes can reach: SQLite + embedded, PG + Redis.
GUNICORN_STACKS = [s for s in STACKS if s in (("sqlite", "embedded"), ("postgresql", "redis"))]
CLOSE = {"Connection": "close"}  # a new connection per request: the kernel hands it to either worker


@dataclass
class Served:
    stack: Stack
    web: WebServer
    world: World
    prom_dir: object


@pytest.fixture(scope="module", params=GUNICORN_STACKS, ids=["-".join(s) for s in GUNICORN_STACKS])
def served(request, tmp_path_factory) -> Iterator[Served]:
    backend, broker = request.param
    tmp = tmp_path_factory.mktemp(f"gunicorn-{backend}-{broker}")
    prom_dir = tmp / "prom"
    prom_dir.mkdir()
    with ExitStack() as stack_of:
        env = {
            "CONSOLE_METRICS_TOKEN": METRICS_TOKEN,
            "CONSOLE_API_RATE_LIMIT": f"{LIMIT}/minute",
            "PROMETHEUS_MULTIPROC_DIR": str(prom_dir),
        }
        if broker == "embedded":  # no Redis broker to share the budget through: a Redis of this module
            env["CONSOLE_RATELIMIT_STORAGE_URL"] = stack_of.enter_context(private_redis(tmp))
        # (PostgreSQL + Redis: nothing set — the limiter counts in the broker's Redis by default.)
        gen = open_stack(backend, broker, tmp)
        stack = next(gen)
        stack_of.callback(gen.close)
        world = make_world(stack, role="manager")
        web = stack_of.enter_context(web_server("gunicorn", stack.env | env, tmp, workers=2))
        yield Served(stack, web, world, prom_dir)


def _token(served: Served, name: str) -> str:
    with served.stack.db.session() as s:
        return create_token(session=s, user_id=served.world.user_id, name=name).token


def _pids(served: Served, path: str) -> set[int]:
    return {pid for pid, _, line in served.web.answers() if f" {path} " in line}


def test_the_per_token_limit_is_one_budget_across_both_workers(served) -> None:
    token, other = _token(served, "limited"), _token(served, "another")
    path = f"/api/v1/tenants?limited={served.stack.backend}"  # its own path: its own access-log lines
    headers = {"Authorization": f"Bearer {token}", **CLOSE}
    for i in range(LIMIT):
        r = requests.get(served.web.url + path, headers=headers, timeout=30)
        assert r.status_code == 200, (i, r.status_code, r.text[:300])
    assert len(_pids(served, path)) == 2  # both workers spent the one budget
    over = requests.get(served.web.url + path, headers=headers, timeout=30)
    assert over.status_code == 429, over.status_code
    assert over.headers["Content-Type"] == "application/problem+json"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    assert over.json()["status"] == 429
    # Whichever worker answers next, the token stays over its limit; another token has its own budget.
    for _ in range(4):
        assert requests.get(served.web.url + path, headers=headers, timeout=30).status_code == 429
    fresh = {"Authorization": f"Bearer {other}", **CLOSE}
    assert requests.get(served.web.url + path, headers=fresh, timeout=30).status_code == 200


def _scrape(served: Served) -> dict[tuple[str, tuple], float]:
    r = requests.get(
        f"{served.web.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}", **CLOSE}, timeout=30
    )
    assert r.status_code == 200, r.status_code
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def _polls(sample: dict) -> dict[str, float]:
    return {
        dict(labels)["answer"]: value
        for (name, labels), value in sample.items()
        if name == "console_poll_requests_total" and dict(labels)["surface"] == "run"
    }


def test_a_worker_run_and_both_workers_polls_are_in_every_scrape(served) -> None:
    url = served.web.url
    api = {"Authorization": f"Bearer {_token(served, 'metrics')}", **CLOSE}
    started = requests.post(
        f"{url}/api/v1/runs", json={"type": "inventory_sync", "tenant_id": served.world.tenant_id}, headers=api
    )
    assert started.status_code == 202, started.text[:300]
    run_id = started.json()["id"]

    def finished() -> dict | None:
        run = requests.get(f"{url}/api/v1/runs/{run_id}", headers=api, timeout=30).json()
        return run if run["status"] == "completed" else None

    run = wait_until(finished, stack=served.stack, what=f"run {run_id} over the API", interval=0.5)
    assert run["outcome"] == "succeeded" and run["summary_counts"]["processed"] > 0
    completed = ("console_runs_completed_total", (("outcome", "succeeded"), ("type", "inventory_sync")))
    units = ("console_units_processed_total", (("type", "inventory_sync"),))
    # Figures are cached 5 s per process: within a few seconds every worker reports the run.
    after_run = wait_until(
        lambda: (s := _scrape(served)).get(completed) == 1 and s, timeout=20, what="the run in /metrics"
    )
    assert after_run[units] == run["summary_counts"]["processed"]
    assert after_run[("console_run_duration_seconds_count", (("type", "inventory_sync"),))] == 1
    if served.stack.broker == "redis":
        assert ("console_broker_queue_length", (("queue", "celery"),)) in after_run

    before = _polls(after_run)
    session = requests.Session()
    session.get(f"{url}/login", timeout=30)
    r = session.post(
        f"{url}/login",
        data={"email": served.world.email, "password": "long-enough-pw", "csrf_token": session.cookies["_csrf_token"]},
        timeout=30,
    )
    assert r.status_code == 200, r.status_code  # followed the redirect to the page
    headers = {"X-CSRFToken": session.cookies["_csrf_token"], "Content-Type": "application/json", **CLOSE}
    poll_url = f"{url}/_dash-update-component"
    first = session.post(poll_url, data=json.dumps(run_poll_request(run_id, None, None)), headers=headers, timeout=30)
    assert first.status_code == 200, first.text[:300]
    answer = first.json()["response"]
    policy = answer.get("run-poll-policy", {}).get("data")  # a completed run: no policy (no further polls)
    body = json.dumps(run_poll_request(run_id, answer["run-fingerprint"]["data"], policy))
    for _ in range(POLLS):
        assert session.post(poll_url, data=body, headers=headers, timeout=30).status_code == 204
    assert len(_pids(served, "/_dash-update-component")) == 2  # both workers answered polls
    assert len({p.name for p in served.prom_dir.glob("counter_*.db")}) == 2  # each its own file
    for _ in range(6):  # whichever worker answers the scrape, it reports every worker's polls
        after = _polls(_scrape(served))
        assert after.get("changed", 0) - before.get("changed", 0) == 1
        assert after.get("unchanged", 0) - before.get("unchanged", 0) == POLLS
