"""Session 5 / issue 15 — the web layer's cost per poll against a bare Dash app
(``bench/bare_dash.py``: one no-op callback, no login, CSRF, limiter or database) under the same
gunicorn settings, and (``--dashboards``) the dashboard and operations-list figures, from one run.

    .venv/bin/python -m bench.web_layer [--database sqlite|postgresql] [--rounds 5] [--seconds 4]
        [--dashboards [--tenants 20 --runs-per-tenant 50000] [--database-url URL]]

Both apps run at once as ``gunicorn --workers 2 --worker-class gthread --threads 8``
(bench.common.Gunicorn); the console on a fresh database (the test world, a running run and a
review pack being generated; SQLite file = the embedded default, or a scratch PostgreSQL
database). Three polls of a signed-in manager, each unchanged (204) — the run viewer's, the
activity shell's and the review pack card's — against the bare callback (204). Segments are
interleaved, the order reversed every round, so the shared machine's drift falls on all alike:

* **latency**: one client, requests back to back — p50 (and p95) per segment;
* **throughput**: 16 clients in a closed loop — requests/s per segment.

Reported per poll: the medians over rounds, and the median of the per-round ratios poll / bare
(targets: p50 ≤ 2×, throughput ≥ 50 %), with the web workers' CPU per request. ``--dashboards``
then runs bench.dashboard_render (PostgreSQL, 1,000,000 runs by default; ``--database-url``
keeps that dataset for the next run) and prints its table; the CPU yardstick is printed at the
start and with each part.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bare_dash import BARE_POLL_BODY
from bench.common import (
    DEFAULT_DATABASE_URL,
    Gunicorn,
    Section,
    dataset,
    kept_dataset,
    machine_line,
    ms,
    scratch_database,
    uptime,
)
from bench.poll_cost import CpuProbe, drive

THREADS = 8
CLIENTS = 16
MANAGER = "manager@test.example"
BARE = "bare Dash no-op"


@contextmanager
def console_database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{Path(tempfile.mkdtemp(prefix='console-bench-weblayer-')) / 'console.db'}"
    else:
        with scratch_database(DEFAULT_DATABASE_URL) as url:
            yield url


@dataclass(frozen=True)
class Seeded:
    run_id: int
    tenant_id: int


def seed(url: str) -> Seeded:
    """The test world, one running run and a review pack being generated in tenant a1."""
    from console.db import Database, utcnow
    from console.migrate import upgrade
    from console.operations.models import OperationRun
    from console.review_packs.models import ReviewPack
    from tests.factories import build_world

    upgrade(url)
    db = Database(url)
    try:
        with db.session() as s:
            world = build_world(s)
            created = utcnow() - timedelta(minutes=5)
            tenant = world.tenant_ids[0]
            run, pack_run = (
                OperationRun(
                    workspace_id=world.workspace_id,
                    tenant_id=tenant,
                    type=type_,
                    status="running",
                    summary_counts={"total": 10, "processed": 3, "succeeded": 3},
                    context={},
                    initiator_user_id=world.users["manager"],
                    created_at=created,
                    started_at=created,
                    heartbeat_at=utcnow(),
                )
                for type_ in ("inventory_sync", "review_pack_generate")
            )
            s.add_all([run, pack_run])
            s.flush()
            s.add(
                ReviewPack(
                    tenant_id=tenant, operation_run_id=pack_run.id, status="generating", options={}, created_at=created
                )
            )
            s.commit()
            return Seeded(run.id, tenant)
    finally:
        db.dispose()


#: The polls measured: surface -> (a fragment of its callback's output, the page it polls on).
SURFACES = {
    "run viewer": ("run-view.children", "/admin/operations/{run_id}"),
    "activity shell": ("activity-shell.children", "/admin/tenants/{tenant_id}"),
    "review pack card": ("review-pack-body.children", "/admin/tenants/{tenant_id}"),
}


@contextmanager
def heartbeats(url: str, every: float = 5.0) -> Iterator[None]:
    """Keep the running runs' heartbeat fresh, as their worker would (every ≤ 10 s): a run silent
    for more than 20 s shows "No progress for N min", words that change every minute — the
    polls would then answer 200 (changed), not the 204 measured here."""
    from console.db import Database, utcnow
    from console.operations.models import OperationRun

    db = Database(url)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            with db.session() as s:
                s.execute(update(OperationRun).where(OperationRun.status == "running").values(heartbeat_at=utcnow()))
                s.commit()

    thread = threading.Thread(target=beat, name="bench-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
        db.dispose()


def console_polls(base_url: str, seeded: Seeded) -> dict[str, tuple[dict[str, str], bytes]]:
    """Headers of a signed-in manager and, per surface, its poll's body with the state the
    previous answer set (fingerprint, policy, signature) — so each answers 204, unchanged."""
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
    headers = {
        "Content-Type": "application/json",
        "X-CSRFToken": s.cookies["_csrf_token"],
        "Cookie": "; ".join(f"{c.name}={c.value}" for c in s.cookies),
        "Connection": "keep-alive",
    }
    known = {"run-id": seeded.run_id, "tenant-id": seeded.tenant_id}
    polls = {}
    for surface, (fragment, path) in SURFACES.items():
        dep = next(
            d for d in deps if fragment in d["output"] and any(i["property"] == "n_intervals" for i in d["inputs"])
        )
        key = dep["output"]
        outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in key.strip(".").split("...")]
        poll_input = next(i for i in dep["inputs"] if i["property"] == "n_intervals")
        location = path.format(**vars(seeded))

        def body(state: dict[str, Any], dep=dep, key=key, outputs=outputs, poll_input=poll_input, location=location):
            def value(item: dict[str, str]) -> Any:
                if item["property"] == "n_intervals":
                    return 5
                if item["property"] == "pathname":
                    return location
                return state.get(item["id"], known.get(item["id"]))

            return {
                "output": key,
                "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": [{**i, "value": value(i)} for i in dep["inputs"]],
                "state": [{**i, "value": value(i)} for i in dep.get("state", [])],
                "changedPropIds": [f"{poll_input['id']}.n_intervals"],
            }

        first = s.post(base_url + "/_dash-update-component", json=body({}), headers=headers, timeout=30)
        first.raise_for_status()
        answered = {id_: next(iter(props.values())) for id_, props in first.json()["response"].items()}
        data = json.dumps(body(answered)).encode()
        again = s.post(base_url + "/_dash-update-component", data=data, headers=headers, timeout=30)
        if again.status_code != 204:
            raise RuntimeError(f"{surface}: the repeated poll answered {again.status_code}, not 204 (unchanged)")
        polls[surface] = (headers, data)
    return polls


def run(kind: str, rounds: int, seconds: float) -> Section:
    with console_database(kind) as url, ExitStack() as stack:
        seeded = seed(url)
        stack.enter_context(heartbeats(url))
        console = Gunicorn(url, threads=THREADS).start()
        bare = Gunicorn(url, threads=THREADS, app="bench.bare_dash:server").start()
        try:
            b_headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
            targets = {
                BARE: (bare, b_headers, json.dumps(BARE_POLL_BODY).encode()),
                **{name: (console, h, b) for name, (h, b) in console_polls(console.url, seeded).items()},
            }
            probes = {name: CpuProbe(web, None) for name, (web, _h, _b) in targets.items()}
            for web, headers, data in targets.values():  # warm every worker and thread
                drive(web.port, headers, [data] * CLIENTS, 204, seconds=1.5, period=None)
            figures: dict[str, dict[str, list[float]]] = {
                n: {"p50": [], "p95": [], "rps": [], "cpu": []} for n in targets
            }
            errors = 0
            for r in range(rounds):
                # Each round: every poll alone (latency), then every poll under load (throughput),
                # the order reversed every round so the machine's drift falls on all alike.
                order = list(targets) if r % 2 == 0 else list(reversed(targets))
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
    section = Section(
        f"Web layer: three console polls vs a bare Dash no-op callback ({kind}, gunicorn 2 workers × {THREADS} threads)"
    )
    section.notes.append(f"{rounds} interleaved rounds of {seconds:g} s per segment; errors: {errors}; {uptime()}")
    section.notes.append(machine_line())
    rows = []
    ratios: dict[str, dict[str, list[float]]] = {}
    for name in targets:
        p50s = [c / b for c, b in zip(figures[name]["p50"], figures[BARE]["p50"], strict=True)]
        rpss = [c / b for c, b in zip(figures[name]["rps"], figures[BARE]["rps"], strict=True)]
        ratios[name] = {"p50": p50s, "rps": rpss}
        p50_ratio, rps_ratio = statistics.median(p50s), statistics.median(rpss)
        rows.append(
            [
                name,
                ms(med[name]["p50"]),
                ms(med[name]["p95"]),
                f"{med[name]['rps']:.0f}",
                f"{med[name]['cpu']:.2f}",
                "1×" if name == BARE else f"**{p50_ratio:.2f}×** ({', '.join(f'{x:.1f}' for x in p50s)})",
                "100 %" if name == BARE else f"**{rps_ratio:.0%}** ({', '.join(f'{x:.0%}' for x in rpss)})",
                "" if name == BARE else ("yes" if p50_ratio <= 2 and rps_ratio >= 0.5 else "no"),
            ]
        )
    section.table(
        "Ratios: the median over rounds of each round's console / bare (the rounds' own ratios in brackets). "
        "Targets: p50 ≤ 2×, throughput ≥ 50 %.",
        [
            "poll (unchanged: 204)",
            "p50 ms (1 client)",
            "p95 ms (1 client)",
            f"req/s ({CLIENTS} clients, closed loop)",
            "web CPU ms/req",
            "p50 / bare",
            "throughput / bare",
            "targets met",
        ],
        rows,
    )
    section.raw = {"figures": figures, "ratios": ratios}
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument(
        "--dashboards",
        action="store_true",
        help="also the dashboard and operations-list figures (bench.dashboard_render) in the same run",
    )
    parser.add_argument("--tenants", type=int, default=20, help="with --dashboards")
    parser.add_argument("--runs-per-tenant", type=int, default=50_000, help="with --dashboards")
    parser.add_argument("--repeat", type=int, default=15, help="with --dashboards: requests per figure")
    parser.add_argument(
        "--database-url", help="with --dashboards: keep the dataset in this database (bench.dashboard_render)"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"started: {uptime()}\n{machine_line()}\n")
    print(run(args.database, args.rounds, args.seconds).markdown(), flush=True)
    if args.dashboards:
        from bench import dashboard_render

        size = {"tenants": args.tenants, "runs_per_tenant": args.runs_per_tenant}
        data = kept_dataset(args.database_url, **size) if args.database_url else dataset(**size)
        with data as world:
            sections, _raw = dashboard_render.run(world, repeat=args.repeat, want_explain=False)
        for section in sections:
            print(section.markdown())
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
