"""Issue 18 — the cost of a /metrics scrape at 50,000 runs (target: ≤ 50 ms).

    .venv/bin/python -m bench.metrics_scrape [--runs 50000] [--rounds 5] [--requests 20] \
        [--database sqlite|postgresql|both]

A console on a fresh database (SQLite file; PostgreSQL when ``--database`` asks for it — the
scratch database goes next to CONSOLE_TEST_DATABASE_URL, else BENCH_DATABASE_URL) seeded with
``--runs`` runs (history of every type, about 1 % queued or running, some reaped and resumed)
and a recording dispatcher (no broker: the broker's queue length is one LLEN, not what this
measures). Through the Flask test client, in the same process, segments interleaved and their
order flipped every round so the shared machine's drift falls on all alike:

* **baseline**: ``GET /healthz`` (one ``SELECT 1``, the same WSGI and after-request path);
* **cold**: ``GET /metrics`` with the figure cache emptied before each request (the aggregate
  statement runs every time — what one scrape costs when Prometheus scrapes less often than
  the cache lives);
* **cached**: ``GET /metrics`` inside the cache's lifetime;
* **first**: ``GET /metrics`` as a fresh web process's first scrape (the sums of settled runs
  forgotten too: every run is read once; fewer requests, it is slow by design).

Prints p50/p95 per segment (median over rounds), the ratio to the baseline and the machine
yardstick (bench.common.machine_line).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    COUNTED,
    DEFAULT_DATABASE_URL,
    TYPE_WEIGHTS,
    Section,
    machine_line,
    md_table,
    ms,
    percentile,
    ratio,
    scratch_database,
    uptime,
)

TOKEN = "bench-metrics-token"
TARGET_SECONDS = 0.050


@contextmanager
def console_database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{Path(tempfile.mkdtemp(prefix='console-bench-metrics-')) / 'console.db'}"
    else:
        base = os.environ.get("CONSOLE_TEST_DATABASE_URL") or DEFAULT_DATABASE_URL
        with scratch_database(base) as url:
            yield url


def seed_runs(url: str, *, runs: int, seed: int = 18) -> None:
    """The test world, then ``runs`` runs over its two granted tenants (one INSERT executemany)."""
    from sqlalchemy import insert

    from console.db import Database
    from console.migrate import upgrade
    from console.operations.models import OperationRun
    from tests.factories import build_world

    upgrade(url)
    rng = random.Random(seed)
    db = Database(url)
    try:
        with db.session() as s:
            world = build_world(s)
        now = datetime.now(UTC)
        types, weights = list(TYPE_WEIGHTS), list(TYPE_WEIGHTS.values())
        rows: list[dict[str, Any]] = []
        for i in range(runs):
            type_ = rng.choices(types, weights)[0]
            roll = rng.random()
            context: dict[str, Any] = {}
            failure = None
            if roll < 0.005:
                status, outcome, created = "queued", None, now - timedelta(seconds=rng.uniform(5, 600))
            elif roll < 0.01:
                status, outcome, created = "running", None, now - timedelta(seconds=rng.uniform(5, 3000))
            else:
                status = "completed"
                outcome = rng.choices(["succeeded", "partially_succeeded", "failed", "cancelled"], [85, 7, 6, 2])[0]
                created = now - timedelta(seconds=rng.uniform(900, 90 * 86400))
            started = created + timedelta(seconds=rng.uniform(0.2, 5)) if status != "queued" else None
            completed = started + timedelta(seconds=rng.expovariate(1 / 90)) if status == "completed" else None
            counts: dict[str, int] = {}
            if type_ in COUNTED and status != "queued":
                total = rng.randint(5, 400)
                processed = total if status == "completed" else rng.randint(0, total)
                counts = {"total": total, "processed": processed, "succeeded": processed}
            if outcome == "failed":
                failure = "stale: no heartbeat for 300 s (limit 120 s)" if rng.random() < 0.2 else "provider said: 503"
            if type_ in COUNTED and rng.random() < 0.01:
                context["resume_attempts"] = rng.randint(1, 3)
            rows.append(
                {
                    "workspace_id": world.workspace_id,
                    "tenant_id": world.tenant_ids[i % 2],
                    "type": type_,
                    "status": status,
                    "outcome": outcome,
                    "summary_counts": counts,
                    "context": context,
                    "failure_summary": failure,
                    "created_at": created,
                    "started_at": started,
                    "heartbeat_at": started,
                    "completed_at": completed,
                }
            )
        rows.sort(key=lambda r: r["created_at"])
        with db.session() as s:
            for start in range(0, len(rows), 5000):
                s.execute(insert(OperationRun), rows[start : start + 5000])
            s.commit()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    finally:
        db.dispose()


class _NoBroker:
    def send(self, *_a: Any) -> None:  # pragma: no cover - the bench starts nothing
        raise AssertionError("the bench dispatches nothing")

    def ping(self) -> bool:
        return True


def measure(kind: str, *, runs: int, rounds: int, requests: int) -> dict[str, Any]:
    from console.app import create_app
    from console.web import metrics

    with console_database(kind) as url:
        t0 = time.perf_counter()
        seed_runs(url, runs=runs)
        seeded = time.perf_counter() - t0
        instance = Path(tempfile.mkdtemp(prefix="console-bench-metrics-instance-"))
        app = create_app(
            {
                "instance_dir": instance,
                "database_url": url,
                "secret_key": "bench-secret",
                "metrics_token": TOKEN,
                "dispatcher": _NoBroker(),
            }
        )
        client = app.server.test_client()
        auth = {"Authorization": f"Bearer {TOKEN}"}
        body = client.get("/metrics", headers=auth)
        assert body.status_code == 200, body.status_code
        samples: dict[str, list[list[float]]] = {"baseline": [], "cold": [], "cached": [], "first": []}

        def segment(name: str) -> list[float]:
            out = []
            for _ in range(max(3, requests // 5) if name == "first" else requests):
                if name in ("cold", "first"):
                    metrics.clear_cache(app.server, settled=name == "first")
                started = time.perf_counter()
                if name == "baseline":
                    response = client.get("/healthz")
                else:
                    response = client.get("/metrics", headers=auth)
                out.append(time.perf_counter() - started)
                assert response.status_code == 200, (name, response.status_code)
            return out

        order = ["baseline", "cold", "cached", "first"]
        segment("cold")  # warm-up: statement caches, connection pool
        for r in range(rounds):
            for name in order if r % 2 == 0 else list(reversed(order)):
                samples[name].append(segment(name))
        app.server.extensions["console.db"].dispose()

    def med(name: str, p: float) -> float:
        return statistics.median(percentile(s, p) for s in samples[name])

    return {
        "database": kind,
        "runs": runs,
        "seed_seconds": seeded,
        **{f"{n}_p50": med(n, 50) for n in samples},
        **{f"{n}_p95": med(n, 95) for n in samples},
        "samples_per_segment": requests,
        "rounds": rounds,
    }


def report(results: list[dict[str, Any]]) -> Section:
    s = Section("Metrics scrape at scale (issue 18)")
    rows = []
    for r in results:
        for name in ("baseline", "cold", "cached", "first"):
            p50, p95 = r[f"{name}_p50"], r[f"{name}_p95"]
            target = "" if name in ("baseline", "first") else ("yes" if p95 <= TARGET_SECONDS else "**no**")
            rows.append(
                [r["database"], f"{r['runs']:,}", name, ms(p50), ms(p95), ratio(p50, r["baseline_p50"]), target]
            )
    s.tables.append(
        (
            "GET /metrics (Flask test client, in process)",
            ["database", "runs", "segment", "p50 ms", "p95 ms", "p50 / healthz", "p95 ≤ 50 ms"],
            rows,
        )
    )
    s.notes.append(machine_line())
    s.notes.append(uptime())
    s.raw = {"results": results}
    return s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = [measure(k, runs=args.runs, rounds=args.rounds, requests=args.requests) for k in kinds]
    section = report(results)
    print(f"## {section.title}\n")
    for caption, headers, rows in section.tables:
        print(f"{caption}\n\n{md_table(headers, rows)}\n")
    for note in section.notes:
        print(f"- {note}")
    if args.json:
        args.json.write_text(json.dumps(section.raw, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
