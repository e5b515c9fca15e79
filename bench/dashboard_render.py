"""Figure 4 — server time to build the tenant dashboard and the operations list's first page.

    .venv/bin/python -m bench.dashboard_render [--repeat 30] [--explain]

On a scratch PostgreSQL database with 50 tenants × 2,000 runs (100,000 runs in one
workspace), in process (Flask test client, so the figure is the server's time: routing,
login, CSRF, access checks, queries, layout, JSON), for a manager (sees all 100,000 runs) and
an operator (granted 5 tenants):

* the tenant dashboard's layout (Dash's page-router callback for ``/admin/tenants/<id>``),
* the dashboard's 10 s refresh callback (nothing changed -> no_update),
* the operations list's layout and its first grid page (AG Grid ``getRowsRequest`` rows
  0–25, newest first) — the list's first paint needs both.

Baseline in the same run: the same requests **without the performance indexes** of
migration 0003 (dropped, then re-created from the model). With ``--explain`` the slowest
statements of each request are printed with ``EXPLAIN ANALYZE`` before and after.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    BenchWorld,
    Section,
    dataset,
    kept_dataset,
    load_average,
    machine_line,
    ms,
    percentile,
    ratio,
    uptime,
)
from bench.poll_cost import body, callback_key, in_process_app, post, test_client_login
from console.migrate import TRIGRAM_INDEX

#: Indexes added for these pages (migrations 0003, 0005 and 0007); the baseline drops them.
PERF_INDEXES = (
    "ix_operation_runs_workspace_created_id",
    "ix_operation_runs_tenant_completed",
    "ix_operation_runs_tenant_type_completed",
    "ix_operation_runs_initiator",
    TRIGRAM_INDEX,
)
GRID_FRAGMENT = "operations-table.getRowsResponse"
ROUTER_FRAGMENT = "_pages_content.children"
DASHBOARD_FRAGMENT = "tenant-kpis.children"
TARGET_MS = 150


def target_ms(label: str, runs_per_tenant: int) -> int:
    """Issue 15's targets: the tenant dashboard ≤ 150 ms at 2,000 runs per tenant and ≤ 300 ms at
    50,000; the operations list (first, filtered and searched pages) ≤ 100 ms at 1,000,000 runs."""
    if label.startswith("tenant dashboard"):
        return TARGET_MS if runs_per_tenant <= 2000 else 300
    return 100 if runs_per_tenant > 2000 else TARGET_MS


def perf_indexes():
    from console.models import Base

    found = []
    for table in Base.metadata.tables.values():
        found += [ix for ix in table.indexes if ix.name in PERF_INDEXES]
    return found


def drop_perf_indexes(engine) -> list[str]:
    dropped = []
    with engine.begin() as conn:
        for name in PERF_INDEXES:
            if conn.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar() is not None:
                conn.execute(text(f'DROP INDEX "{name}"'))
                dropped.append(name)
        conn.execute(text("ANALYZE operation_runs; ANALYZE review_packs"))
    return dropped


def create_perf_indexes(engine) -> list[str]:
    """Re-create what ``drop_perf_indexes`` dropped: the model's indexes, and migration 0007's
    trigram index where pg_trgm is installed (it is not in the model: it is optional)."""
    from console.migrate import TRIGRAM_DDL

    created = []
    with engine.begin() as conn:
        for ix in perf_indexes():
            if conn.execute(text("SELECT to_regclass(:n)"), {"n": ix.name}).scalar() is None:
                ix.create(conn)
                created.append(ix.name)
        trigram = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
        if trigram and conn.execute(text("SELECT to_regclass(:n)"), {"n": TRIGRAM_INDEX}).scalar() is None:
            conn.execute(text(TRIGRAM_DDL.replace(" CONCURRENTLY", "")))
            created.append(TRIGRAM_INDEX)
        conn.execute(text("ANALYZE operation_runs; ANALYZE review_packs"))
    return created


def capture(engine):
    captured: list[tuple[str, Any]] = []

    def _before(_conn, _cursor, statement, params, _context, _executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            captured.append((statement, params))

    event.listen(engine, "before_cursor_execute", _before)
    return captured, lambda: event.remove(engine, "before_cursor_execute", _before)


def explain(engine, statements: list[tuple[str, Any]], top: int = 3) -> list[dict[str, Any]]:
    """EXPLAIN ANALYZE each statement; the ``top`` slowest with their plans."""
    out = []
    raw = engine.raw_connection()
    try:
        cur = raw.driver_connection.cursor()
        for sql, params in statements:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = cur.fetchone()[0][0]
            cur.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) " + sql, params)
            textual = "\n".join(r[0] for r in cur.fetchall())
            out.append(
                {
                    "sql": " ".join(sql.split()),
                    "ms": plan["Execution Time"] + plan.get("Planning Time", 0),
                    "plan": textual,
                }
            )
        raw.driver_connection.rollback()
    finally:
        raw.close()
    return sorted(out, key=lambda x: -x["ms"])[:top]


def cases(app, world: BenchWorld) -> list[tuple[str, Any, bytes, int]]:
    manager = test_client_login(app, world.manager_email)
    manager.get("/")
    operator = test_client_login(app, world.operator_email)
    router, grid, dash_key = (
        callback_key(app, ROUTER_FRAGMENT),
        callback_key(app, GRID_FRAGMENT),
        callback_key(app, DASHBOARD_FRAGMENT),
    )
    tenant = world.tenant_ids[0]

    def page(path: str) -> bytes:
        return body(
            router,
            [("_pages_location", "pathname", path), ("_pages_location", "search", "")],
            [],
            ["_pages_location.pathname"],
        )

    def rows(status: str = "all", q: str | None = None) -> bytes:
        request = {"startRow": 0, "endRow": 25, "sortModel": [{"colId": "created_at", "sort": "desc"}]}
        states = [
            ("ops-filter-type", "value", "all"),
            ("ops-filter-status", "value", status),
            ("ops-filter-outcome", "value", "all"),
            ("ops-filter-tenant", "value", "all"),
            ("ops-filter-from", "value", None),
            ("ops-filter-to", "value", None),
            ("ops-filter-q", "value", q),
        ]
        return body(
            grid, [("operations-table", "getRowsRequest", request)], states, ["operations-table.getRowsRequest"]
        )

    def refresh(client, signature: str | None) -> bytes:
        states = [
            ("tenant-id", "data", tenant),
            ("dashboard-signature", "data", signature),
            ("dashboard-poll-policy", "data", None),
            ("chart-runs-range", "value", 30),
        ]
        return body(
            dash_key,
            [
                ("dashboard-poll", "n_intervals", 3),
                ("dashboard-refresh", "data", None),
                ("dashboard-run-kick", "data", None),
            ],
            states,
            ["dashboard-poll.n_intervals"],
        )

    first = post(manager, refresh(manager, None))
    signature = first.get_json()["response"]["dashboard-signature"]["data"] if first.status_code == 200 else None
    return [
        ("tenant dashboard layout — manager", manager, page(f"/admin/tenants/{tenant}"), 200),
        ("tenant dashboard layout — operator", operator, page(f"/admin/tenants/{tenant}"), 200),
        ("tenant dashboard 10 s refresh, unchanged — manager", manager, refresh(manager, signature), 200),
        ("operations list layout — manager", manager, page("/admin/operations"), 200),
        (f"operations list first page (25 rows of {world.runs:,}) — manager", manager, rows(), 200),
        (
            f"operations list first page (25 rows of {world.runs // len(world.tenant_ids) * 5:,}) — operator",
            operator,
            rows(),
            200,
        ),
        ("operations list filtered (status = running) — manager", manager, rows(status="running"), 200),
        ("operations list searched (q = 'timeout': failure text, no match) — manager", manager, rows(q="timeout"), 200),
        (
            "operations list searched (q = 'service unavailable': failure text of 6 % of runs) — manager",
            manager,
            rows(q="service unavailable"),
            200,
        ),
        (
            "operations list searched (q = 'bench operator': an initiator) — manager",
            manager,
            rows(q="bench operator"),
            200,
        ),
        ("operations list searched (q = 'restore': a type label) — manager", manager, rows(q="restore"), 200),
        ("operations list searched (q = '#<a run id>') — manager", manager, rows(q=f"#{world.active_run_ids[0]}"), 200),
    ]


def measure(app, world: BenchWorld, repeat: int, want_explain: bool) -> dict[str, dict[str, Any]]:
    engine = app.server.extensions["console.db"].engine
    results: dict[str, dict[str, Any]] = {}
    for label, client, data, expect in cases(app, world):
        r = post(client, data)  # warm
        assert r.status_code == expect, (label, r.status_code, r.get_data(as_text=True)[:300])
        captured, stop = capture(engine)
        post(client, data)
        stop()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            post(client, data)
            times.append(time.perf_counter() - t0)
        results[label] = {
            "p50": percentile(times, 50),
            "p95": percentile(times, 95),
            "statements": len(captured),
            "load": load_average(),
            "explain": explain(engine, captured) if want_explain else [],
        }
    return results


def breakdown(world: BenchWorld, repeat: int) -> dict[str, float] | None:
    """Where the dashboard's server time goes: its database reads vs building its two figures."""
    try:
        from console.access import load_principal
        from console.accounts.models import Tenant
        from console.components import tenant_dashboard as td
        from console.db import Database, utcnow
    except ImportError:  # pragma: no cover - the page moved
        return None
    db = Database(world.url)
    try:
        with db.session() as s:
            tenant = s.get(Tenant, world.tenant_ids[0])
            who = load_principal(session=s, user_id=world.manager_id)

            def reads():
                return td.load(session=s, who=who, tenant=tenant, now=utcnow(), stale_after_seconds=900)

            data = reads()
            t_reads, t_figs = [], []
            for _ in range(repeat):
                t0 = time.perf_counter()
                reads()
                t1 = time.perf_counter()
                td.figures(data)
                t_reads.append(t1 - t0)
                t_figs.append(time.perf_counter() - t1)
        return {"reads_p50": percentile(t_reads, 50), "figures_p50": percentile(t_figs, 50), "load": load_average()}
    except Exception as exc:  # the page's internals are not a contract: report, do not fail
        return {"error": repr(exc)}
    finally:
        db.dispose()


def run(world: BenchWorld, *, repeat: int = 30, want_explain: bool = True) -> tuple[list[Section], dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-dash-"))
    app = in_process_app(world, tmp)
    engine = app.server.extensions["console.db"].engine
    try:
        dropped = drop_perf_indexes(engine)
        before = measure(app, world, repeat, want_explain)
        created = create_perf_indexes(engine)
        after = measure(app, world, repeat, want_explain)
        split = breakdown(world, repeat)
    finally:
        app.server.extensions["console.db"].dispose()
    per_tenant = world.runs // len(world.tenant_ids)
    section = Section(
        "4. Dashboard render (server time, in process, PostgreSQL, "
        f"{len(world.tenant_ids)} tenants × {per_tenant:,} runs)"
    )
    rows = []
    for label in before:
        b, a = before[label], after[label]
        rows.append(
            [
                label,
                ms(b["p50"]),
                ms(a["p50"]),
                ms(a["p95"]),
                ratio(b["p50"], a["p50"]),
                a["statements"],
                f"{target_ms(label, per_tenant)}: "
                + ("yes" if a["p50"] * 1000 <= target_ms(label, per_tenant) else "**no**"),
                a["load"],
            ]
        )
    section.table(
        f"Baseline = the same request without the performance indexes ({', '.join(PERF_INDEXES)}). "
        "Targets (issue 15): tenant dashboard ≤ 150 ms p50 at 2,000 runs per tenant, ≤ 300 ms at 50,000; "
        "operations list pages ≤ 100 ms at 1,000,000 runs.",
        [
            "request",
            "p50 ms without indexes",
            "p50 ms",
            "p95 ms",
            "speed-up",
            "SQL statements",
            "target ms: met",
            "load avg",
        ],
        rows,
    )
    if split and "error" not in split:
        section.notes.append(
            f"tenant dashboard, where the time goes (manager, p50): database reads {ms(split['reads_p50'])} ms, "
            f"building the two Plotly figures {ms(split['figures_p50'])} ms; "
            f"the rest is layout, JSON and the request (load {split['load']})"
        )
    elif split:
        section.notes.append(f"breakdown unavailable: {split['error']}")
    if not created:
        section.notes.append("the performance indexes were not in the model: before and after are the same schema")
    section.notes.append(
        f"indexes dropped for the baseline: {dropped or 'none (not in this schema)'}; re-created: {created or 'none'}"
    )
    section.notes.append(f"uptime at end: {uptime()}")
    section.notes.append(machine_line())
    section.raw = {"before": before, "after": after, "breakdown": split}
    return [section], section.raw


#: Migration 0007 replaced the tenant's (tenant_id, created_at) index by one that also holds status
#: and outcome, so the dashboard's runs per day are counted from the index alone.
COVERING = ("ix_operation_runs_tenant_created_status", "tenant_id, created_at, status, outcome")
REPLACED = ("ix_operation_runs_tenant_created", "tenant_id, created_at")
DASHBOARD_CASES = ("tenant dashboard layout", "tenant dashboard 10 s refresh")


def use_index(engine, wanted: tuple[str, str], other: tuple[str, str]) -> None:
    """Leave ``wanted`` (name, columns) on operation_runs and not ``other``."""
    with engine.begin() as conn:
        conn.execute(text(f"CREATE INDEX IF NOT EXISTS {wanted[0]} ON operation_runs ({wanted[1]})"))
        conn.execute(text(f"DROP INDEX IF EXISTS {other[0]}"))


def covering_ab(app, world: BenchWorld, *, rounds: int, repeat: int) -> Section:
    """The dashboard with migration 0007's covering index vs the (tenant_id, created_at) index it
    replaced: rounds alternate the two (the index is built again each time), the order flipped
    every round, so the machine's drift falls on both."""
    engine = app.server.extensions["console.db"].engine
    chosen = [c for c in cases(app, world) if c[0].startswith(DASHBOARD_CASES)]
    variants = {"covering (0007)": (COVERING, REPLACED), "(tenant_id, created_at) (before)": (REPLACED, COVERING)}
    from console.db import utcnow
    from console.operations.queries import HEALTH_DAYS, runs_per_day

    statement = "the runs-per-day statement alone (queries.runs_per_day, 30 days of one tenant)"
    p50s: dict[str, dict[str, list[float]]] = {
        label: {v: [] for v in variants} for label in [statement] + [c[0] for c in chosen]
    }
    db = app.server.extensions["console.db"]

    def per_day() -> None:
        with db.session() as s:
            runs_per_day(session=s, tenant_id=world.tenant_ids[0], since=utcnow() - timedelta(days=HEALTH_DAYS))

    requests = [(statement, per_day)] + [
        (label, lambda client=client, data=data: post(client, data)) for label, client, data, _expect in chosen
    ]
    try:
        for r in range(rounds):
            for variant in list(variants) if r % 2 == 0 else list(reversed(variants)):
                use_index(engine, *variants[variant])
                for label, request in requests:
                    for _ in range(3):  # warm: the index just built is not in the cache yet
                        request()
                    times = []
                    for _ in range(repeat):
                        t0 = time.perf_counter()
                        request()
                        times.append(time.perf_counter() - t0)
                    p50s[label][variant].append(percentile(times, 50))
    finally:
        use_index(engine, COVERING, REPLACED)
    section = Section("Tenant dashboard: the covering index of migration 0007, interleaved A/B")
    new, old = variants
    rows = []
    for label, by in p50s.items():
        per_round = [a / b for a, b in zip(by[new], by[old], strict=True)]
        rows.append(
            [
                label,
                ms(statistics.median(by[old])),
                ms(statistics.median(by[new])),
                f"{statistics.median(per_round):.2f} ({', '.join(f'{x:.2f}' for x in per_round)})",
            ]
        )
    section.table(
        f"{rounds} rounds × {repeat} requests per variant; p50 = median over rounds of each round's p50.",
        ["request", f"p50 ms, {old}", f"p50 ms, {new}", "covering / before (per round)"],
        rows,
    )
    section.notes.append(f"load {load_average()} at end; {machine_line()}")
    section.raw = {"p50s": p50s}
    return section


def print_explain(raw: dict[str, Any]) -> None:
    for phase in ("before", "after"):
        for label, res in raw[phase].items():
            for e in res["explain"]:
                print(f"--- {phase} · {label} · {e['ms']:.2f} ms\n{e['sql'][:400]}\n{e['plan']}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="print the slowest statements' plans before/after")
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--runs-per-tenant", type=int, default=2000)
    parser.add_argument(
        "--covering-ab",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="only the dashboard, with migration 0007's covering index vs the index it replaced, interleaved",
    )
    parser.add_argument(
        "--database-url",
        help="use (and keep) this PostgreSQL database instead of a scratch one: seeded when it holds no runs, "
        "reused as it is otherwise (1,000,000 runs take minutes to build)",
    )
    args = parser.parse_args(argv)
    size = {"tenants": args.tenants, "runs_per_tenant": args.runs_per_tenant}
    data = kept_dataset(args.database_url, **size) if args.database_url else dataset(**size)
    with data as world:
        if args.covering_ab:
            tmp = Path(tempfile.mkdtemp(prefix="console-bench-dash-"))
            app = in_process_app(world, tmp)
            try:
                print(covering_ab(app, world, rounds=args.covering_ab, repeat=args.repeat).markdown())
            finally:
                app.server.extensions["console.db"].dispose()
            return 0
        sections, raw = run(world, repeat=args.repeat, want_explain=True)
    for s in sections:
        print(s.markdown())
    if args.explain:
        print_explain(raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
