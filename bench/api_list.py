"""The API's run list at scale: ``GET /api/v1/runs?limit=50`` with 1,000,000 runs (PostgreSQL).

    .venv/bin/python -m bench.api_list --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test_api \
        [--tenants 20 --runs-per-tenant 50000] [--repeat 30] [--explain]

The data set is bench/dashboard_render.py's (bench.common.seed_dataset: one workspace, a
manager who sees every run, an operator granted 5 tenants). Building 1,000,000 runs takes
minutes, so it is built once into ``--database-url`` and reused (``bench.common.kept_dataset``,
shared with bench.web_layer; a data set of another size is refused; ``--rebuild`` drops and
builds it again); without ``--database-url`` a scratch database is built and dropped.

In process (Flask test client: the server's time, no network), interleaved, order flipped every
round, for the manager and the operator:

* ``GET /api/v1/runs?limit=50`` (first page), and the next page through its ``next_cursor``,
* ``GET /api/v1/runs?limit=50&status=running`` (a filter),
* baseline, same run: the operations list's first grid page (bench.dashboard_render's request,
  25 rows through the Dash callback — the browser's way to the same rows).

Printed: p50/p95 of each, the ratio to the baseline, and with ``--explain`` the slowest
statement of each API request with its plan. Target (issue 18): the first page ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BenchWorld,
    Section,
    kept_dataset,
    load_average,
    machine_line,
    ms,
    percentile,
    ratio,
    scratch_database,
)
from bench.dashboard_render import capture, cases, explain
from bench.poll_cost import in_process_app, post

TARGET_MS = 100
LIMIT = 50


def _token(app, user_id: int) -> str:
    from console.api_tokens.service import create_token

    with app.server.extensions["console.db"].session() as s:
        return create_token(session=s, user_id=user_id, name="bench api_list", read_only=True).token


def requests_to_time(app, world: BenchWorld) -> list[tuple[str, Any, str]]:
    """(label, callable answering the response, kind) — kind ``api`` or ``baseline``."""
    api = app.server.test_client()
    grid = {label: (client, data) for label, client, data, _ in cases(app, world) if "first page (25 rows" in label}
    out: list[tuple[str, Any, str]] = []
    for who, user_id in (("manager", world.manager_id), ("operator", world.operator_id)):
        headers = {"Authorization": f"Bearer {_token(app, user_id)}"}
        first = api.get(f"/api/v1/runs?limit={LIMIT}", headers=headers)
        assert first.status_code == 200, first.get_data(as_text=True)[:300]
        cursor = first.get_json()["next_cursor"]
        assert cursor, "a first page of 1,000,000 runs has a next page"
        for label, url in (
            (f"API first page ({LIMIT}) — {who}", f"/api/v1/runs?limit={LIMIT}"),
            (f"API second page (cursor) — {who}", f"/api/v1/runs?limit={LIMIT}&cursor={cursor}"),
            (f"API status=running — {who}", f"/api/v1/runs?limit={LIMIT}&status=running"),
        ):
            out.append((label, lambda url=url, headers=headers: api.get(url, headers=headers), "api"))
        [(client, data)] = [v for k, v in grid.items() if k.endswith(who)]
        out.append(
            (f"baseline: operations list grid page (25) — {who}", lambda c=client, d=data: post(c, d), "baseline")
        )
    return out


def measure(app, world: BenchWorld, *, repeat: int, rounds: int = 3) -> dict[str, list[float]]:
    timed = requests_to_time(app, world)
    samples: dict[str, list[float]] = {label: [] for label, _, _ in timed}
    for label, fn, _ in timed:  # warm: plans cached, pages in shared buffers
        for _ in range(3):
            r = fn()
            assert r.status_code == 200, (label, r.status_code)
    for rnd in range(rounds):
        order = timed if rnd % 2 == 0 else list(reversed(timed))
        for _ in range(max(1, repeat // rounds)):
            for label, fn, _ in order:
                t0 = time.perf_counter()
                fn()
                samples[label].append(time.perf_counter() - t0)
    return samples


def explain_api(app, world: BenchWorld) -> list[tuple[str, list[dict[str, Any]]]]:
    engine = app.server.extensions["console.db"].engine
    out = []
    for label, fn, kind in requests_to_time(app, world):
        if kind != "api":
            continue
        captured, stop = capture(engine)
        try:
            fn()
        finally:
            stop()
        out.append((label, explain(engine, captured, top=1)))
    return out


def run(world: BenchWorld, *, repeat: int, want_explain: bool) -> tuple[Section, list]:
    with tempfile.TemporaryDirectory(prefix="console-bench-api-list-") as tmp:
        app = in_process_app(world, Path(tmp), api_rate_limit="1000000/minute")
        try:
            load_before = load_average()
            samples = measure(app, world, repeat=repeat)
            plans = explain_api(app, world) if want_explain else []
        finally:
            app.server.extensions["console.db"].dispose()
    section = Section(f"API run list at {world.runs:,} runs (PostgreSQL, in process, interleaved)")
    section.notes += [machine_line(), f"load average before: {load_before}; after: {load_average()}"]
    base = {who: statistics.median(v) for k, v in samples.items() if k.startswith("baseline") for who in [k[-8:]]}
    rows = []
    for label, got in samples.items():
        p50 = statistics.median(got)
        who = label[-8:]
        target = "" if label.startswith("baseline") else ("yes" if p50 * 1000 <= TARGET_MS else "**no**")
        rows.append([label, ms(p50), ms(percentile(got, 95)), ratio(p50, base[who]), target])
    section.table("", ["request", "p50", "p95", "vs baseline (same user)", f"≤ {TARGET_MS} ms"], rows)
    return section, plans


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="keep the data set here (built once, then reused)")
    parser.add_argument("--rebuild", action="store_true", help="drop the kept data set and build it again")
    parser.add_argument("--build-only", action="store_true", help="build (or check) the data set, measure nothing")
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--runs-per-tenant", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="print each API request's slowest statement plan")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        url = args.database_url or stack.enter_context(scratch_database())
        t0 = time.perf_counter()
        world = stack.enter_context(
            kept_dataset(url, tenants=args.tenants, runs_per_tenant=args.runs_per_tenant, rebuild=args.rebuild)
        )
        print(f"data set: {world.runs:,} runs, ready in {time.perf_counter() - t0:.0f} s", flush=True)
        if args.build_only:
            return 0
        section, plans = run(world, repeat=args.repeat, want_explain=args.explain)
    print(section.markdown())
    for label, top in plans:
        for plan in top:
            print(f"\n### {label}: {plan['ms']:.1f} ms\n{plan['sql']}\n```\n{plan['plan']}\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
