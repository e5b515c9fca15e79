"""Session 5 — the web layer's cost per poll, against a bare Dash app (``bench/bare_dash.py``: one
no-op callback, no login, CSRF, limiter or database) under the same gunicorn settings.

    .venv/bin/python -m bench.web_layer [--database sqlite|postgresql] [--rounds 5] [--seconds 4]

Both run at once as ``gunicorn --workers 2 --worker-class gthread --threads 8`` (bench.common.Gunicorn);
the console on a fresh database (the test world, one running run; SQLite file = the embedded
default, or a scratch PostgreSQL database), the run viewer's guarded poll unchanged (204) for a
signed-in manager, against the bare callback (204). Segments are interleaved, the order flipped
every round, so the shared machine's drift falls on both alike:

* **latency**: one client, requests back to back — p50 (and p95) per segment;
* **throughput**: 16 clients in a closed loop — requests/s per segment.

Reported: the median over rounds of each, and the ratios console / bare (targets: p50 ≤ 2×,
throughput ≥ 50 %), with the web workers' CPU per request.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bare_dash import BARE_POLL_BODY
from bench.common import DEFAULT_DATABASE_URL, Gunicorn, Section, machine_line, ms, scratch_database, uptime
from bench.poll_cost import CpuProbe, drive

THREADS = 8
CLIENTS = 16
MANAGER = "manager@test.example"


@contextmanager
def console_database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{Path(tempfile.mkdtemp(prefix='console-bench-weblayer-')) / 'console.db'}"
    else:
        with scratch_database(DEFAULT_DATABASE_URL) as url:
            yield url


def seed(url: str) -> int:
    """The test world and one running run; the run's id."""
    from console.db import Database, utcnow
    from console.migrate import upgrade
    from console.operations.models import OperationRun
    from tests.factories import build_world

    upgrade(url)
    db = Database(url)
    try:
        with db.session() as s:
            world = build_world(s)
            created = utcnow() - timedelta(minutes=5)
            run = OperationRun(
                workspace_id=world.workspace_id,
                tenant_id=world.tenant_ids[0],
                type="inventory_sync",
                status="running",
                summary_counts={"total": 10, "processed": 3, "succeeded": 3},
                context={},
                initiator_user_id=world.users["manager"],
                created_at=created,
                started_at=created,
            )
            s.add(run)
            s.commit()
            return run.id
    finally:
        db.dispose()


def console_poll(base_url: str, run_id: int) -> tuple[dict[str, str], bytes]:
    """Headers of a signed-in manager and the run poll's body with its current fingerprint (-> 204)."""
    import requests

    from tests.factories import PASSWORD

    s = requests.Session()
    s.get(base_url + "/login", timeout=10)
    r = s.post(
        base_url + "/login",
        data={"email": MANAGER, "password": PASSWORD, "csrf_token": s.cookies["_csrf_token"]},
        timeout=30,
    )
    r.raise_for_status()
    deps = s.get(base_url + "/_dash-dependencies", timeout=30).json()
    key = next(d["output"] for d in deps if "run-view.children" in d["output"])
    outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in key.strip(".").split("...")]

    def body(fingerprint: Any, policy: Any) -> dict[str, Any]:
        return {
            "output": key,
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [
                {"id": "run-poll", "property": "n_intervals", "value": 5},
                {"id": "run-viewer-run-kick", "property": "data", "value": None},
            ],
            "state": [
                {"id": "run-id", "property": "data", "value": run_id},
                {"id": "run-fingerprint", "property": "data", "value": fingerprint},
                {"id": "run-poll-policy", "property": "data", "value": policy},
            ],
            "changedPropIds": ["run-poll.n_intervals"],
        }

    headers = {
        "Content-Type": "application/json",
        "X-CSRFToken": s.cookies["_csrf_token"],
        "Cookie": "; ".join(f"{c.name}={c.value}" for c in s.cookies),
        "Connection": "keep-alive",
    }
    first = s.post(base_url + "/_dash-update-component", json=body(None, None), headers=headers, timeout=30)
    first.raise_for_status()
    resp = first.json()["response"]
    data = json.dumps(body(resp["run-fingerprint"]["data"], resp["run-poll-policy"]["data"])).encode()
    return headers, data


def run(kind: str, rounds: int, seconds: float) -> Section:
    with console_database(kind) as url:
        run_id = seed(url)
        console = Gunicorn(url, threads=THREADS).start()
        bare = Gunicorn(url, threads=THREADS, app="bench.bare_dash:server").start()
        try:
            c_headers, c_body = console_poll(console.url, run_id)
            b_headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
            b_body = json.dumps(BARE_POLL_BODY).encode()
            targets = {
                "console": (console, c_headers, c_body),
                "bare": (bare, b_headers, b_body),
            }
            probes = {name: CpuProbe(web, None) for name, (web, _h, _b) in targets.items()}
            for web, headers, data in targets.values():  # warm every worker and thread
                drive(web.port, headers, [data] * CLIENTS, 204, seconds=1.5, period=None)
            figures: dict[str, dict[str, list[float]]] = {
                n: {"p50": [], "p95": [], "rps": [], "cpu": []} for n in targets
            }
            errors = 0
            for r in range(rounds):
                order = ["console", "bare"] if r % 2 == 0 else ["bare", "console"]
                for name in order:
                    web, headers, data = targets[name]
                    one = drive(web.port, headers, [data], 204, seconds=seconds, period=None)
                    figures[name]["p50"].append(one["p50"])
                    figures[name]["p95"].append(one["p95"])
                    errors += one["errors"]
                for name in reversed(order):
                    web, headers, data = targets[name]
                    many = drive(
                        web.port, headers, [data] * CLIENTS, 204, seconds=seconds, period=None, probe=probes[name]
                    )
                    figures[name]["rps"].append(many["rps"])
                    figures[name]["cpu"].append(many["cpu_web_ms"])
                    errors += many["errors"]
        finally:
            console.stop()
            bare.stop()
    med = {n: {k: statistics.median(v) for k, v in f.items()} for n, f in figures.items()}
    per_round_p50 = [c / b for c, b in zip(figures["console"]["p50"], figures["bare"]["p50"], strict=True)]
    per_round_rps = [c / b for c, b in zip(figures["console"]["rps"], figures["bare"]["rps"], strict=True)]
    section = Section(f"Web layer vs a bare Dash no-op callback ({kind}, gunicorn 2 workers × {THREADS} threads)")
    section.notes.append(f"{rounds} interleaved rounds of {seconds:g} s per segment; errors: {errors}; {uptime()}")
    section.notes.append(machine_line())
    section.table(
        "",
        ["app", "p50 (1 client)", "p95 (1 client)", f"req/s ({CLIENTS} clients, closed loop)", "web CPU ms/req"],
        [
            [
                name,
                ms(med[name]["p50"]),
                ms(med[name]["p95"]),
                f"{med[name]['rps']:.0f}",
                f"{med[name]['cpu']:.2f}",
            ]
            for name in ("console", "bare")
        ],
    )
    section.raw = {"figures": figures, "p50_ratios": per_round_p50, "rps_ratios": per_round_rps}
    section.notes.append(
        f"p50 ratio console/bare: median {statistics.median(per_round_p50):.2f}× "
        f"(rounds {', '.join(f'{x:.2f}' for x in per_round_p50)}; target ≤ 2×); "
        f"throughput ratio: median {statistics.median(per_round_rps):.0%} "
        f"(rounds {', '.join(f'{x:.0%}' for x in per_round_rps)}; target ≥ 50 %)"
    )
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(run(args.database, args.rounds, args.seconds).markdown())
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
