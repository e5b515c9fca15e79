"""Figure 1 — the cost of one run-viewer poll, against a naive full-page refresh.

    .venv/bin/python -m bench.poll_cost [--pollers 1,20,100] [--paced-seconds 12] [--closed-seconds 6]

On a scratch PostgreSQL database with 100,000 runs across 50 tenants:

* **in process** (Flask test client, SQLAlchemy ``before_cursor_execute`` listener): SQL
  statements and server time per request for the guarded poll (unchanged run -> empty 204),
  the same poll when the run changed (200 with the re-rendered view), the activity shell's
  poll, and the naive baseline — the full page layout (Dash's page-router callback for
  ``/admin/operations/<id>``), which is what an always-on 1 s Interval re-rendering the page
  costs per tick.
* **over HTTP** against ``gunicorn console.wsgi:server`` (2 workers, gthread): N pollers
  (1, 20, 100), each a logged-in session (session cookie + X-CSRFToken header) polling its own
  active run. *Paced*: every poller polls once per second (the contract's fastest cadence; the
  offered load is N requests/s) — p50/p95/p99 latency. *Closed loop*: every poller sends its
  next request as soon as the previous answer arrives — throughput (requests/s) at saturation.
  The load generator runs on the same 2 cores as the server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    PASSWORD,
    SECRET,
    BenchWorld,
    Gunicorn,
    Section,
    dataset,
    load_average,
    ms,
    percentile,
    ratio,
    uptime,
)
from tests.support.db import queries, sql_statements

PAGES_ROUTER_FRAGMENT = "_pages_content.children"
RUN_POLL_FRAGMENT = "run-view.children"
SHELL_FRAGMENT = "activity-shell.children"
DASHBOARD_FRAGMENT = "tenant-kpis.children"


class NullDispatcher:
    def send(self, *_a: Any) -> None:  # pragma: no cover - nothing is started here
        raise RuntimeError("the benchmark starts no tasks")

    def ping(self) -> bool:
        return True


# --------------------------------------------------------------------------- callback bodies


def callback_key(app, fragment: str) -> str:
    keys = [k for k in app.callback_map if fragment in k]
    if len(keys) != 1:
        raise RuntimeError(f"callback {fragment!r}: {keys}")
    return keys[0]


def outputs_of(key: str) -> Any:
    parts = key.strip(".").split("...")
    outs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in parts]
    return outs if len(outs) > 1 else outs[0]


def body(key: str, inputs: list, state: list, changed: list[str]) -> bytes:
    return json.dumps(
        {
            "output": key,
            "outputs": outputs_of(key),
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
            "changedPropIds": changed,
        }
    ).encode()


@dataclass(frozen=True)
class Keys:
    run_poll: str
    router: str
    shell: str
    dashboard: str


def keys_of(app) -> Keys:
    return Keys(
        callback_key(app, RUN_POLL_FRAGMENT),
        callback_key(app, PAGES_ROUTER_FRAGMENT),
        callback_key(app, SHELL_FRAGMENT),
        callback_key(app, DASHBOARD_FRAGMENT),
    )


def run_poll_body(keys: Keys, run_id: int, fingerprint: str | None, policy: Any) -> bytes:
    return body(
        keys.run_poll,
        [("run-poll", "n_intervals", 5), ("run-viewer-run-kick", "data", None)],
        [("run-id", "data", run_id), ("run-fingerprint", "data", fingerprint), ("run-poll-policy", "data", policy)],
        ["run-poll.n_intervals"],
    )


def page_body(keys: Keys, path: str) -> bytes:
    return body(
        keys.router,
        [("_pages_location", "pathname", path), ("_pages_location", "search", "")],
        [],
        ["_pages_location.pathname"],
    )


def shell_body(keys: Keys, fingerprint: str | None, policy: Any, seen: int | None) -> bytes:
    return body(
        keys.shell,
        [
            ("_pages_location", "pathname", "/"),
            ("activity-poll", "n_intervals", 3),
            ("activity-kick", "data", None),
            ("activity-run-kick", "data", None),
        ],
        [
            ("activity-fingerprint", "data", fingerprint),
            ("activity-policy", "data", policy),
            ("activity-seen", "data", seen),
        ],
        ["activity-poll.n_intervals"],
    )


# --------------------------------------------------------------------------- in process


def in_process_app(world: BenchWorld, tmp: Path, **overrides: Any):
    from console.app import create_app

    return create_app(
        {
            "instance_dir": tmp / "instance",
            "database_url": world.url,
            "secret_key": SECRET,
            "dispatcher": NullDispatcher(),
            **overrides,
        }
    )


def test_client_login(app, email: str):
    client = app.server.test_client()
    client.get("/login")
    token = client.get_cookie("_csrf_token").value
    r = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.status_code
    client.get(r.headers["Location"])
    return client


def post(client, data: bytes):
    token = client.get_cookie("_csrf_token").value
    return client.post(
        "/_dash-update-component", data=data, content_type="application/json", headers={"X-CSRFToken": token}
    )


def measure_in_process(app, client, data: bytes, *, expect: int, n: int) -> tuple[list[float], list[str]]:
    engine = app.server.extensions["console.db"].engine
    with sql_statements(engine) as statements:
        r = post(client, data)
    assert r.status_code == expect, (r.status_code, r.get_data(as_text=True)[:300])
    size = len(r.get_data())
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        r = post(client, data)
        times.append(time.perf_counter() - t0)
        assert r.status_code == expect, (r.status_code, r.get_data(as_text=True)[:300])
    return times, queries(statements), size


def in_process_figures(
    world: BenchWorld, n: int
) -> tuple[list[list[Any]], dict[str, Any], Keys, dict[int, tuple[str, Any]]]:
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-poll-"))
    app = in_process_app(world, tmp)
    try:
        manager = test_client_login(app, world.manager_email)
        manager.get("/")  # the page router callback is registered on the first request
        keys = keys_of(app)
        run_id = world.active_run_ids[0]
        first = post(manager, run_poll_body(keys, run_id, None, None)).get_json()["response"]
        fp, policy = first["run-fingerprint"]["data"], first["run-poll-policy"]["data"]
        shell = post(manager, shell_body(keys, None, None, None)).get_json()["response"]
        shell_state = (
            shell["activity-fingerprint"]["data"],
            shell["activity-policy"]["data"],
            shell["activity-seen"]["data"],
        )
        operator = test_client_login(app, world.operator_email)
        op_shell = post(operator, shell_body(keys, None, None, None)).get_json()["response"]
        op_state = (
            op_shell["activity-fingerprint"]["data"],
            op_shell["activity-policy"]["data"],
            op_shell["activity-seen"]["data"],
        )
        op_run = world.active_by_tenant[world.tenant_ids[1]]  # a tenant granted to the operator
        op_first = post(operator, run_poll_body(keys, op_run, None, None)).get_json()["response"]

        cases = [
            ("run poll, unchanged (204) — manager", manager, run_poll_body(keys, run_id, fp, policy), 204),
            (
                "run poll, unchanged (204) — operator",
                operator,
                run_poll_body(keys, op_run, op_first["run-fingerprint"]["data"], op_first["run-poll-policy"]["data"]),
                204,
            ),
            ("run poll, changed (200, view re-rendered)", manager, run_poll_body(keys, run_id, None, policy), 200),
            ("activity shell poll, unchanged (204) — manager", manager, shell_body(keys, *shell_state), 204),
            ("activity shell poll, unchanged (204) — operator", operator, shell_body(keys, *op_state), 204),
            (
                "**baseline**: naive full page layout per tick",
                manager,
                page_body(keys, f"/admin/operations/{run_id}"),
                200,
            ),
        ]
        rows: list[list[Any]] = []
        raw: dict[str, Any] = {}
        for label, client, data, expect in cases:
            times, statements, size = measure_in_process(app, client, data, expect=expect, n=n)
            rows.append(
                [label, len(statements), size, ms(percentile(times, 50)), ms(percentile(times, 95)), load_average()]
            )
            raw[label] = {
                "statements": statements,
                "bytes": size,
                "p50_s": percentile(times, 50),
                "p95_s": percentile(times, 95),
            }
        # Fingerprints of every active run, for the HTTP pollers.
        states: dict[int, tuple[str, Any]] = {}
        for rid in world.active_run_ids:
            resp = post(manager, run_poll_body(keys, rid, None, None)).get_json()["response"]
            states[rid] = (resp["run-fingerprint"]["data"], resp["run-poll-policy"]["data"])
        return rows, raw, keys, states
    finally:
        app.server.extensions["console.db"].dispose()


# --------------------------------------------------------------------------- over HTTP


def http_login(base_url: str, email: str) -> tuple[str, str]:
    """(Cookie header, CSRF token) of a fresh logged-in session, as a browser gets them."""
    import requests

    s = requests.Session()
    s.get(base_url + "/login", timeout=10)
    r = s.post(
        base_url + "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": s.cookies["_csrf_token"]},
        allow_redirects=True,
        timeout=10,
    )
    r.raise_for_status()
    cookie = "; ".join(f"{c.name}={c.value}" for c in s.cookies)
    return cookie, s.cookies["_csrf_token"]


class Poller(threading.Thread):
    def __init__(
        self,
        port: int,
        headers: dict[str, str],
        data: bytes,
        expect: int,
        *,
        start_at: float,
        stop_at: float,
        period: float | None,
    ) -> None:
        super().__init__(daemon=True)
        self.port, self.headers, self.data, self.expect = port, headers, data, expect
        self.start_at, self.stop_at, self.period = start_at, stop_at, period
        self.latencies: list[float] = []
        self.errors = 0
        self.late = 0

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        next_at = self.start_at
        while True:
            now = time.perf_counter()
            if self.period is not None:
                if next_at > now:
                    time.sleep(next_at - now)
                elif now - next_at > 0.05:
                    self.late += 1
            if time.perf_counter() >= self.stop_at:
                break
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/_dash-update-component", body=self.data, headers=self.headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == self.expect
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            t1 = time.perf_counter()
            if ok:
                self.latencies.append(t1 - t0)
            else:
                self.errors += 1
            if self.period is not None:
                next_at += self.period
        conn.close()


class CpuProbe:
    """CPU seconds (user + system) used by the web workers and the database's backends.

    CPU per request does not depend on how busy the shared machine is, unlike latency: it is
    the figure to compare between runs, and 2 cores / CPU per request bounds the throughput."""

    def __init__(self, web: Gunicorn | None, database_url: str | None) -> None:
        import psutil

        self.procs = [psutil.Process(pid) for pid in (web.worker_pids() if web else [])]
        self.web_count = len(self.procs)
        if database_url:
            from sqlalchemy import create_engine, text

            engine = create_engine(database_url)
            try:
                with engine.connect() as conn:
                    pids = (
                        conn.execute(
                            text(
                                "SELECT pid FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                            )
                        )
                        .scalars()
                        .all()
                    )
            finally:
                engine.dispose()
            self.procs += [psutil.Process(pid) for pid in pids]

    def sample(self) -> tuple[float, float]:
        web = db = 0.0
        for i, p in enumerate(self.procs):
            try:
                t = p.cpu_times()
            except Exception:
                continue
            if i < self.web_count:
                web += t.user + t.system
            else:
                db += t.user + t.system
        return web, db


def drive(
    port: int,
    headers: dict[str, str],
    bodies: list[bytes],
    expect: int,
    *,
    seconds: float,
    period: float | None,
    probe: CpuProbe | None = None,
) -> dict[str, Any]:
    """Run len(bodies) pollers for ``seconds``; latencies, throughput and CPU per request."""
    cpu0 = probe.sample() if probe else (0.0, 0.0)
    start = time.perf_counter() + 0.3
    stop = start + seconds
    rng = random.Random(len(bodies))
    pollers = [
        Poller(
            port,
            headers,
            data,
            expect,
            start_at=start + (rng.uniform(0, period) if period else 0),
            stop_at=stop,
            period=period,
        )
        for data in bodies
    ]
    for p in pollers:
        p.start()
    for p in pollers:
        p.join(seconds + 60)
    lat = [x for p in pollers for x in p.latencies]
    cpu1 = probe.sample() if probe else (0.0, 0.0)
    n = max(1, len(lat))
    return {
        "cpu_web_ms": (cpu1[0] - cpu0[0]) / n * 1000,
        "cpu_db_ms": (cpu1[1] - cpu0[1]) / n * 1000,
        "n": len(lat),
        "errors": sum(p.errors for p in pollers),
        "late": sum(p.late for p in pollers),
        "p50": percentile(lat, 50),
        "p95": percentile(lat, 95),
        "p99": percentile(lat, 99),
        "rps": len(lat) / seconds,
        "load": load_average(),
    }


def http_figures(
    world: BenchWorld,
    keys: Keys,
    states: dict[int, tuple[str, Any]],
    pollers: list[int],
    paced_s: float,
    closed_s: float,
    threads: int,
) -> tuple[Section, dict[str, Any]]:
    web = Gunicorn(world.url, workers=2, threads=threads).start()
    section = Section(f"1b. Poll latency and throughput over HTTP (gunicorn, 2 workers × {threads} threads)")
    raw: dict[str, Any] = {}
    try:
        cookie, token = http_login(web.url, world.manager_email)
        headers = {
            "Content-Type": "application/json",
            "X-CSRFToken": token,
            "Cookie": cookie,
            "Connection": "keep-alive",
        }
        run_ids = list(states)
        # Warm both workers (imports, pools grown to the thread count, Dash pages' first request).
        drive(
            web.port,
            headers,
            [run_poll_body(keys, rid, *states[rid]) for rid in run_ids[:32]],
            204,
            seconds=2,
            period=None,
        )
        drive(
            web.port,
            headers,
            [page_body(keys, f"/admin/operations/{rid}") for rid in run_ids[:32]],
            200,
            seconds=2,
            period=None,
        )
        probe = CpuProbe(web, world.url)
        rows = []
        for n in pollers:
            ids = [run_ids[i % len(run_ids)] for i in range(n)]
            guarded = [run_poll_body(keys, rid, *states[rid]) for rid in ids]
            naive = [page_body(keys, f"/admin/operations/{rid}") for rid in ids]
            g_paced = drive(web.port, headers, guarded, 204, seconds=paced_s, period=1.0, probe=probe)
            n_paced = drive(web.port, headers, naive, 200, seconds=paced_s, period=1.0, probe=probe)
            g_closed = drive(web.port, headers, guarded, 204, seconds=closed_s, period=None, probe=probe)
            n_closed = drive(web.port, headers, naive, 200, seconds=closed_s, period=None, probe=probe)
            raw[str(n)] = {
                "guarded_paced": g_paced,
                "naive_paced": n_paced,
                "guarded_closed": g_closed,
                "naive_closed": n_closed,
            }
            for label, paced, closed in (
                ("guarded poll (204)", g_paced, g_closed),
                ("**baseline** naive full page", n_paced, n_closed),
            ):
                rows.append(
                    [
                        n,
                        label,
                        ms(paced["p50"]),
                        ms(paced["p95"]),
                        ms(paced["p99"]),
                        paced["n"],
                        paced["errors"] + closed["errors"],
                        f"{closed['rps']:.0f}",
                        ms(closed["p50"]),
                        f"{closed['cpu_web_ms']:.2f} + {closed['cpu_db_ms']:.2f}",
                        paced["load"],
                    ]
                )
            rows.append(
                [
                    n,
                    "ratio naive / guarded",
                    ratio(n_paced["p50"], g_paced["p50"]),
                    ratio(n_paced["p95"], g_paced["p95"]),
                    ratio(n_paced["p99"], g_paced["p99"]),
                    "",
                    "",
                    ratio(g_closed["rps"], n_closed["rps"]) + " (guarded/naive)",
                    "",
                    ratio(
                        n_closed["cpu_web_ms"] + n_closed["cpu_db_ms"], g_closed["cpu_web_ms"] + g_closed["cpu_db_ms"]
                    ),
                    "",
                ]
            )
        section.table(
            "Paced = each poller polls once per second (offered load = N req/s); "
            "closed loop = back-to-back requests (saturation). "
            "CPU ms/request = CPU time of the gunicorn workers + the PostgreSQL backends "
            "during the closed-loop phase, per request "
            "(independent of the machine's other load; 2 cores / CPU per request bounds the throughput).",
            [
                "pollers",
                "request",
                "paced p50 ms",
                "paced p95 ms",
                "paced p99 ms",
                "samples",
                "errors",
                "closed-loop req/s",
                "closed-loop p50 ms",
                "CPU ms/request (web + PG)",
                "load avg (1/5/15)",
            ],
            rows,
        )
        raw["peak_rss_mb"] = web.peak_rss()
    finally:
        rss = web.peak_rss()
        web.stop()
    raw["peak_rss_mb"] = rss
    return section, raw


def run(
    world: BenchWorld, *, pollers: list[int], paced_s: float, closed_s: float, n_in_process: int = 200, threads: int = 8
) -> tuple[list[Section], dict[str, Any]]:
    rows, raw_stmts, keys, states = in_process_figures(world, n_in_process)
    s1 = Section("1a. SQL statements and server time per request (in process, PostgreSQL, 100,000 runs)")
    s1.table("", ["request", "SQL statements", "response bytes", "server p50 ms", "server p95 ms", "load avg"], rows)
    s1.raw = raw_stmts
    s2, raw_http = http_figures(world, keys, states, pollers, paced_s, closed_s, threads)
    s2.raw = raw_http
    s2.notes.append(f"uptime at end: {uptime()}")
    return [s1, s2], {"peak_rss_mb": raw_http.get("peak_rss_mb"), "in_process": raw_stmts, "http": raw_http}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pollers", default="1,20,100")
    parser.add_argument("--paced-seconds", type=float, default=12)
    parser.add_argument("--closed-seconds", type=float, default=6)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--runs-per-tenant", type=int, default=2000)
    args = parser.parse_args(argv)
    with dataset(tenants=args.tenants, runs_per_tenant=args.runs_per_tenant) as world:
        print(
            f"dataset: {world.runs} runs, {len(world.tenant_ids)} tenants, seeded in {world.seconds:.1f} s",
            file=sys.stderr,
        )
        sections, extra = run(
            world,
            pollers=[int(x) for x in args.pollers.split(",")],
            paced_s=args.paced_seconds,
            closed_s=args.closed_seconds,
            threads=args.threads,
        )
    for s in sections:
        print(s.markdown())
    print(f"peak RSS (MiB): {extra['peak_rss_mb']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
