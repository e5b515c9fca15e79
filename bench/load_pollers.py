"""Load: many browsers polling at once, against gunicorn (2 workers) on PostgreSQL.

    .venv/bin/python -m bench.load_pollers [--run-pollers 200] [--dashboard-pollers 50]
        [--seconds 60] [--interval 1.0] [--workers 2] [--threads 8] [--database-url URL]

What it does, all on loopback and all scratch (dropped at the end):

1. A scratch PostgreSQL database, migrated, seeded with the test world (tests/factories.py:
   workspaces A and B, tenants a1/a2/b1, a user per role) plus five more tenants in A with
   ~300 runs each over 30 days (a few active), one long *running* counted run on a1 (the run
   every run-viewer poller watches), and one user per simulated browser (operators granted
   ``operations.view`` on their tenant) — a login is throttled per address (10/min) and per
   email (30/h), so every poller is its own user on its own loopback source address
   (127.1.x.y).
2. ``gunicorn console.wsgi:server`` with 2 workers (gthread, ``--threads`` each).
3. Every poller is a ``requests.Session`` that signs in through the real form (CSRF token from
   the login page), loads its page (which sets the session's ``_csrf_token`` cookie) and then
   posts the page's poll callback the way dash-renderer does (``X-CSRFToken`` header, the
   last fingerprint / signature it was sent, so an unchanged poll is an empty 204):
   ``--run-pollers`` on the run viewer's ``run-poll`` callback (``run-view``,
   ``run-fingerprint``, ``run-poll-policy``) for the one run, ``--dashboard-pollers`` on the
   tenant dashboards' ``dashboard-poll`` callback, spread over five tenants. Each polls every
   ``--interval`` seconds (1 s: the contract's fastest cadence, i.e. a run younger than 10 s;
   dashboards poll every 10 s by contract, so this overstates their load tenfold), with a
   random start offset. A writer thread bumps the watched run's ``processed`` count every
   ``--write-every`` seconds (3 s), as a worker would, so polls see real changes (200 with the
   re-rendered view) between unchanged ones (empty 204).
4. A monitor samples ``pg_stat_activity`` for the scratch database twice a second.

Prints: errors (anything but 200/204, exceptions), throughput, p50/p95/p99/max latency per
surface, the connection counts against the pool limit (workers × (pool_size + max_overflow)),
server errors in gunicorn's log, and the load average (the machine is shared; the load
generator runs on the same cores as the server). Exits 1 if anything failed."""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import requests  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402
from sqlalchemy import create_engine, text, update  # noqa: E402

from bench.common import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    Gunicorn,
    machine_line,
    percentile,
    scratch_database,
    uptime,
)

PASSWORD = "load-pollers-password"
CALLBACK = "/_dash-update-component"
REQUEST_TIMEOUT = 30
MONITOR_APP = "load-pollers-monitor"
WRITER_APP = "load-pollers-writer"


# --------------------------------------------------------------------------- seeding


@dataclass
class Seeded:
    run_id: int
    run_tenant: int
    dashboard_tenants: list[int]
    run_users: list[str]
    dashboard_users: list[str]
    runs: int


def seed(url: str, *, run_pollers: int, dashboard_pollers: int) -> Seeded:
    """The test world, five busy tenants, the watched run and one user per poller."""
    from console.accounts.models import Tenant, TenantGrant, User, WorkspaceMembership
    from console.accounts.service import create_tenant, create_user
    from console.db import Database, utcnow
    from console.operations.models import OperationRun
    from tests.factories import build_world

    rng = random.Random(11)
    db = Database(url)
    try:
        with db.session() as s:
            world = build_world(s)
            tenants = [
                create_tenant(session=s, workspace_id=world.workspace_id, name=f"Load tenant {i}").id
                for i in range(1, 6)
            ]
            now = utcnow()
            runs = []
            for tid in [world.tenant_ids[0], *tenants]:
                for _ in range(300):
                    created = now - timedelta(seconds=rng.uniform(600, 30 * 86400))
                    started = created + timedelta(seconds=rng.uniform(0.5, 5))
                    outcome = rng.choices(["succeeded", "partially_succeeded", "failed"], [88, 6, 6])[0]
                    total = rng.randint(5, 300)
                    runs.append(
                        OperationRun(
                            workspace_id=world.workspace_id,
                            tenant_id=tid,
                            type=rng.choice(["inventory_sync", "evidence_snapshot_generate", "baseline_compare"]),
                            status="completed",
                            outcome=outcome,
                            summary_counts={"total": total, "processed": total, "succeeded": total},
                            context={},
                            failure_summary="provider said: 503" if outcome == "failed" else None,
                            created_at=created,
                            started_at=started,
                            heartbeat_at=started,
                            completed_at=started + timedelta(seconds=rng.uniform(3, 600)),
                        )
                    )
                runs.append(
                    OperationRun(
                        workspace_id=world.workspace_id,
                        tenant_id=tid,
                        type="inventory_sync",
                        status="running",
                        summary_counts={"total": 400, "processed": 10},
                        context={},
                        created_at=now - timedelta(seconds=30),
                        started_at=now - timedelta(seconds=29),
                        heartbeat_at=now,
                    )
                )
            watched = OperationRun(
                workspace_id=world.workspace_id,
                tenant_id=world.tenant_ids[0],
                type="inventory_sync",
                status="running",
                summary_counts={"total": 1_000_000, "processed": 0, "succeeded": 0},
                context={},
                created_at=now,
                started_at=now,
                heartbeat_at=now,
            )
            s.add_all([*runs, watched])
            s.commit()
            run_id, run_tenant = watched.id, watched.tenant_id

            # One argon2 hash, shared by every poller account (hashing 250 passwords would take a minute).
            template = create_user(session=s, email="load-template@load.example", password=PASSWORD, name="Template")
            password_hash = template.password_hash
            run_users = [f"run-poller-{i}@load.example" for i in range(run_pollers)]
            dashboard_users = [f"dashboard-poller-{i}@load.example" for i in range(dashboard_pollers)]
            users = [
                User(email=e, name=e.split("@")[0], password_hash=password_hash) for e in run_users + dashboard_users
            ]
            s.add_all(users)
            s.flush()
            for i, user in enumerate(users):
                is_run = i < run_pollers
                tenant = run_tenant if is_run else tenants[(i - run_pollers) % len(tenants)]
                s.add(
                    WorkspaceMembership(
                        workspace_id=world.workspace_id, user_id=user.id, role="operator" if is_run else "viewer"
                    )
                )
                s.add(
                    TenantGrant(
                        user_id=user.id,
                        tenant_id=tenant,
                        capabilities=["tenant.view", "operations.view", "review_pack.view"],
                    )
                )
            s.commit()
            assert s.get(Tenant, run_tenant) is not None
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
        return Seeded(run_id, run_tenant, tenants, run_users, dashboard_users, len(runs) + 1)
    finally:
        db.dispose()


# --------------------------------------------------------------------------- pollers


class SourceAddressAdapter(HTTPAdapter):
    """Connections from one loopback address (each poller is its own client for the limiter)."""

    def __init__(self, address: str, **kw) -> None:
        self.address = address
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw) -> None:
        kw["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kw)


def source_address(i: int) -> str:
    return f"127.1.{i // 200}.{i % 200 + 1}"


@dataclass
class Poller:
    kind: str  # "run" | "dashboard"
    email: str
    address: str
    page: str
    body: dict
    session: requests.Session | None = None
    token: str = ""
    n: int = 0
    latencies: list[float] = field(default_factory=list)
    by_status: dict = field(default_factory=dict)  # status -> latencies
    statuses: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def login(self, base: str) -> None:
        s = requests.Session()
        s.mount("http://", SourceAddressAdapter(self.address, pool_connections=1, pool_maxsize=1))
        s.get(base + "/login", timeout=REQUEST_TIMEOUT).raise_for_status()
        r = s.post(
            base + "/login",
            data={"email": self.email, "password": PASSWORD, "csrf_token": s.cookies["_csrf_token"]},
            allow_redirects=False,
            timeout=REQUEST_TIMEOUT,
        )
        if r.status_code != 302:
            raise RuntimeError(f"login {self.email}: HTTP {r.status_code}")
        s.get(
            base + self.page, timeout=REQUEST_TIMEOUT
        ).raise_for_status()  # the page load sets this session's CSRF cookie
        # Signing in 250 pollers takes ~25 s, longer than gunicorn's keep-alive (5 s): a connection
        # kept from here could be closed by the server just as the first poll reuses it (a TCP
        # reset the client library reports; a browser retries such a request). Start afresh.
        s.close()
        self.session, self.token = s, s.cookies["_csrf_token"]

    def poll(self, base: str) -> None:
        self.n += 1
        self.body["inputs"][0]["value"] = self.n
        started = time.perf_counter()
        try:
            r = self.session.post(
                base + CALLBACK,
                data=json.dumps(self.body),
                headers={"Content-Type": "application/json", "X-CSRFToken": self.token},
                timeout=REQUEST_TIMEOUT,
            )
        except requests.RequestException as exc:
            self.statuses["exception"] += 1
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])
            return
        seconds = time.perf_counter() - started
        self.latencies.append(seconds)
        key: int | str = r.status_code
        if r.status_code == 200:
            response = r.json().get("response", {})
            # Dash answers an all-no_update multi-output callback with 200 and an empty response.
            key = 200 if response else "200 empty"
            self.remember(response)
        self.statuses[key] += 1
        self.by_status.setdefault(key, []).append(seconds)
        if r.status_code in (200, 204):
            return
        if r.status_code != 204:
            self.errors.append(f"HTTP {r.status_code}: {r.text[:200]}")

    def remember(self, response: dict) -> None:
        """Send back what the page now holds, as the browser would (unchanged next time -> 204)."""
        state = {s["id"]: s for s in self.body["state"] if s.get("property") == "data"}
        for store, props in response.items():  # fingerprints, signatures, poll policies
            if store in state and isinstance(props, dict) and "data" in props:
                state[store]["value"] = props["data"]


def callback_spec(base: str, session: requests.Session, input_id: str) -> dict:
    """The server-side callback fed by ``input_id``, from /_dash-dependencies (as the renderer reads it)."""
    deps = session.get(base + "/_dash-dependencies", timeout=REQUEST_TIMEOUT).json()
    for dep in deps:
        if dep.get("clientside_function") is None and any(i["id"] == input_id for i in dep["inputs"]):
            return dep
    raise RuntimeError(f"no server callback listens to {input_id}")


def request_body(spec: dict, values: dict[str, object]) -> dict:
    def item(dep: dict) -> dict:
        return {"id": dep["id"], "property": dep["property"], "value": values.get(f"{dep['id']}.{dep['property']}")}

    output = spec["output"]
    outputs = [
        {"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in output[2:-2].split("...")
    ]
    first = spec["inputs"][0]
    return {
        "output": output,
        "outputs": outputs,
        "inputs": [item(d) for d in spec["inputs"]],
        "state": [item(d) for d in spec["state"]],
        "changedPropIds": [f"{first['id']}.{first['property']}"],
    }


# --------------------------------------------------------------------------- monitor and writer


class Monitor(threading.Thread):
    """Samples the scratch database's connections (ours excluded) twice a second."""

    def __init__(self, url: str, database: str) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            connect_args={"application_name": MONITOR_APP},
            pool_size=1,
            max_overflow=0,
        )
        self.database = database
        self.samples: list[tuple[int, int]] = []  # (total, active)
        self.stop_event = threading.Event()

    def run(self) -> None:
        sql = text(
            "SELECT count(*), count(*) FILTER (WHERE state = 'active') FROM pg_stat_activity "
            "WHERE datname = :db AND application_name NOT IN (:a, :b)"
        )
        with self.engine.connect() as conn:
            while not self.stop_event.is_set():
                total, active = conn.execute(sql, {"db": self.database, "a": MONITOR_APP, "b": WRITER_APP}).one()
                self.samples.append((int(total), int(active)))
                self.stop_event.wait(0.5)

    def stop(self) -> None:
        self.stop_event.set()
        if self.is_alive():
            self.join(timeout=5)
        self.engine.dispose()


class Writer(threading.Thread):
    """Bumps the watched run's processed count every ``every`` seconds (what a worker does)."""

    def __init__(self, url: str, run_id: int, every: float) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(url, connect_args={"application_name": WRITER_APP}, pool_size=1, max_overflow=0)
        self.run_id = run_id
        self.every = every
        self.stop_event = threading.Event()
        self.writes = 0

    def run(self) -> None:
        from console.db import utcnow
        from console.operations.models import OperationRun

        processed = 0
        while not self.stop_event.wait(self.every):
            processed += 7
            with self.engine.begin() as conn:
                conn.execute(
                    update(OperationRun)
                    .where(OperationRun.id == self.run_id)
                    .values(
                        summary_counts={"total": 1_000_000, "processed": processed, "succeeded": processed},
                        heartbeat_at=utcnow(),
                    )
                )
            self.writes += 1

    def stop(self) -> None:
        self.stop_event.set()
        if self.is_alive():
            self.join(timeout=5)
        self.engine.dispose()


# --------------------------------------------------------------------------- the run


def drive(poller: Poller, base: str, deadline: float, interval: float, stop: threading.Event) -> None:
    next_at = time.monotonic() + random.uniform(0, interval)
    while not stop.is_set():
        delay = next_at - time.monotonic()
        if delay > 0 and stop.wait(delay):
            return
        if time.monotonic() >= deadline:
            return
        poller.poll(base)
        next_at += interval
        if next_at < time.monotonic():  # fell behind: poll again at once, never in a burst
            next_at = time.monotonic()


def summarize(kind: str, pollers: list[Poller], seconds: float) -> dict:
    lat = [x for p in pollers for x in p.latencies]
    statuses: Counter = Counter()
    for p in pollers:
        statuses.update(p.statuses)
    errors = sum(n for s, n in statuses.items() if s not in (200, 204, "200 empty"))
    return {
        "surface": kind,
        "pollers": len(pollers),
        "requests": sum(statuses.values()),
        "errors": errors,
        "statuses": ", ".join(f"{k}: {v}" for k, v in sorted((str(k), v) for k, v in statuses.items())),
        "throughput": sum(statuses.values()) / seconds,
        "p50_ms": percentile(lat, 50) * 1000,
        "p95_ms": percentile(lat, 95) * 1000,
        "p99_ms": percentile(lat, 99) * 1000,
        "max_ms": (max(lat) if lat else float("nan")) * 1000,
        "error_samples": [e for p in pollers for e in p.errors][:5],
        "p50_by_status": ", ".join(
            f"{k}: {percentile([x for p in pollers for x in p.by_status.get(k, [])], 50) * 1000:.0f}"
            for k in sorted({k for p in pollers for k in p.by_status}, key=str)
        ),
    }


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(web: Gunicorn) -> float:
    """CPU seconds used so far by gunicorn's workers (where the requests are served)."""
    import psutil

    total = 0.0
    for pid in web.worker_pids():
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-pollers", type=int, default=200)
    ap.add_argument("--dashboard-pollers", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between one poller's polls")
    ap.add_argument("--write-every", type=float, default=3.0, help="seconds between progress writes to the watched run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8, help="gthread threads per gunicorn worker")
    ap.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE_URL,
        help="a PostgreSQL server; a scratch database is created next to it",
    )
    args = ap.parse_args(argv)

    print(f"before: {uptime()}; {machine_line()}", flush=True)
    from console.db import make_engine

    probe = make_engine(args.database_url)
    pool_limit = args.workers * (probe.pool.size() + probe.pool._max_overflow)  # noqa: SLF001
    probe.dispose()

    with scratch_database(args.database_url, prefix="console_load") as url:
        from console.migrate import upgrade

        t0 = time.perf_counter()
        upgrade(url)
        seeded = seed(url, run_pollers=args.run_pollers, dashboard_pollers=args.dashboard_pollers)
        print(
            f"seeded {seeded.runs} runs and {args.run_pollers + args.dashboard_pollers} poller accounts "
            f"in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        web = Gunicorn(url, workers=args.workers, threads=args.threads).start()
        monitor = Monitor(url, url.rsplit("/", 1)[1])
        writer = Writer(url, seeded.run_id, args.write_every)
        stop = threading.Event()
        try:
            base = web.url
            probe = Poller("probe", "load-template@load.example", "127.1.255.1", "/", {})
            probe.login(base)  # /_dash-dependencies is behind the login too
            run_spec = callback_spec(base, probe.session, "run-poll")
            dash_spec = callback_spec(base, probe.session, "dashboard-poll")
            pollers: list[Poller] = []
            for i, email in enumerate(seeded.run_users):
                body = request_body(run_spec, {"run-poll.n_intervals": 0, "run-id.data": seeded.run_id})
                pollers.append(
                    Poller(
                        "run viewer (run-poll)", email, source_address(i), f"/admin/operations/{seeded.run_id}", body
                    )
                )
            for j, email in enumerate(seeded.dashboard_users):
                tenant = seeded.dashboard_tenants[j % len(seeded.dashboard_tenants)]
                body = request_body(dash_spec, {"dashboard-poll.n_intervals": 0, "tenant-id.data": tenant})
                pollers.append(
                    Poller(
                        "tenant dashboard (dashboard-poll)",
                        email,
                        source_address(len(seeded.run_users) + j),
                        f"/admin/tenants/{tenant}",
                        body,
                    )
                )

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=16) as pool:
                list(pool.map(lambda p: p.login(base), pollers))
            print(
                f"{len(pollers)} pollers signed in (each its own user, address and CSRF token) "
                f"in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )

            monitor.start()
            writer.start()
            load_start = uptime()
            client_cpu0 = _own_cpu()
            server_cpu0 = _server_cpu(web)
            started = time.monotonic()
            deadline = started + args.seconds
            threads = [
                threading.Thread(target=drive, args=(p, base, deadline, args.interval, stop), daemon=True)
                for p in pollers
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=max(0.0, deadline - time.monotonic()) + REQUEST_TIMEOUT + 5)
            elapsed = time.monotonic() - started
            stop.set()
            load_end = uptime()
            client_cpu = _own_cpu() - client_cpu0
            server_cpu = _server_cpu(web) - server_cpu0
        finally:
            stop.set()
            writer.stop()
            monitor.stop()
            log_tail = web.log_tail(400)
            web.stop()

    groups: dict[str, list[Poller]] = {}
    for p in pollers:
        groups.setdefault(p.kind, []).append(p)
    rows = [summarize(kind, ps, elapsed) for kind, ps in groups.items()]
    everything = summarize("all", pollers, elapsed)
    server_errors = [
        line
        for line in log_tail.splitlines()
        if any(w in line for w in ("Traceback", "ERROR", "Exception", "TimeoutError", "QueuePool"))
    ]
    peak_total = max((t for t, _ in monitor.samples), default=0)
    peak_active = max((a for _, a in monitor.samples), default=0)

    print()
    print(
        f"## Load: {args.run_pollers} run-viewer + {args.dashboard_pollers} dashboard pollers, "
        f"every {args.interval:g} s, {elapsed:.0f} s, "
        f"gunicorn {args.workers} workers × {args.threads} threads (gthread), PostgreSQL"
    )
    print()
    print(
        "| surface | pollers | requests | errors | statuses | req/s "
        "| p50 ms | p95 ms | p99 ms | max ms | p50 ms by status |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in [*rows, everything]:
        print(
            f"| {r['surface']} | {r['pollers']} | {r['requests']} | {r['errors']} | {r['statuses']} "
            f"| {r['throughput']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['max_ms']:.1f} | {r['p50_by_status']} |"
        )
    print()
    print(
        f"- offered load: {len(pollers) / args.interval:.0f} requests/s; "
        f"writer updated the watched run {writer.writes} times"
    )
    print(
        f"- PostgreSQL connections of the app (pg_stat_activity, {len(monitor.samples)} samples): "
        f"peak {peak_total} open, peak {peak_active} active; "
        f"pool limit {pool_limit} (= {args.workers} workers × (pool_size + max_overflow))"
    )
    print(
        f"- CPU during the load window ({elapsed:.0f} s on {os.cpu_count()} cores): "
        f"gunicorn workers {server_cpu:.0f} s ({server_cpu / elapsed:.2f} cores), "
        f"the load generator itself {client_cpu:.0f} s ({client_cpu / elapsed:.2f} cores)"
    )
    print(
        f"- gunicorn log lines with errors: {len(server_errors)}"
        + (f" (first: {server_errors[0][:200]})" if server_errors else "")
    )
    print(f"- load average at start: {load_start}")
    print(f"- load average at end:   {load_end}")
    for r in [*rows]:
        for sample in r["error_samples"]:
            print(f"- error sample ({r['surface']}): {sample}")
    ok = everything["errors"] == 0 and peak_total < pool_limit and not server_errors and everything["requests"] > 0
    print(f"\nresult: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
