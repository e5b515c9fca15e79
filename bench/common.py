"""Shared pieces of the benchmark suite: scratch databases, the 100k-run dataset, a gunicorn
process, percentiles, peak RSS and markdown tables.

Everything a benchmark creates is scratch: a PostgreSQL database named ``console_bench_<hex>``
(dropped at the end), Redis db 13 (FLUSHDB only, never FLUSHALL), a temporary instance folder.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402

DEFAULT_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
DEFAULT_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PASSWORD = "bench-password-1"
SECRET = "bench-secret"


# --------------------------------------------------------------------------- reporting


def load_average() -> str:
    """The 1/5/15-minute load average, for every figure (the machine is shared)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except Exception:  # pragma: no cover - uptime is missing on odd systems
        return f"load average: {load_average()}"


#: The CPU yardstick printed next to every figure: a pure-Python loop with no I/O. The same code
#: measured 2.7x slower in one session than in another (docs/performance.md, session 3); this
#: number tells a slower machine from slower code.
CPU_BASELINE_LOOP = 30_000_000


def cpu_baseline(repeat: int = 3) -> float:
    """Seconds for ``sum(range(3e7))`` in this interpreter, best of ``repeat`` (lower = faster CPU)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        sum(range(CPU_BASELINE_LOOP))
        best = min(best, time.perf_counter() - started)
    return best


def cpu_ticks() -> tuple[int, int] | None:
    """(steal, total) jiffies of all CPUs from /proc/stat; None where there is no /proc/stat.

    Steal is the time a virtual machine's CPUs were ready to run but the hypervisor ran someone
    else: on an oversubscribed host every figure here is slower for reasons outside the code."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def steal_percent(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


def machine_line() -> str:
    """One line for every report: load average, the CPU yardstick and the hypervisor's steal."""
    before = cpu_ticks()
    loop = cpu_baseline()
    after = cpu_ticks()
    steal = steal_percent(before, after)
    since_boot = steal_percent((0, 0), after)
    stolen = "n/a" if steal is None else f"{steal:.0f} % during the yardstick, {since_boot:.0f} % since boot"
    return f"load {load_average()}; CPU yardstick sum(range(3e7)) = {loop:.2f} s (best of 3); CPU steal {stolen}"


def percentile(samples: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (no interpolation); NaN for no samples."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.1f}"


def ratio(a: float, b: float) -> str:
    """How many times ``a`` is ``b`` (as 'N×')."""
    if not b or a != a or b != b:
        return "n/a"
    value = a / b
    return f"{value:.0f}×" if value >= 10 else f"{value:.1f}×"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


@dataclass
class Section:
    """One benchmark's result: a title, one or more tables, notes, raw figures for JSON."""

    title: str
    tables: list[tuple[str, list[str], list[list[Any]]]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    def table(self, caption: str, headers: list[str], rows: list[list[Any]]) -> None:
        self.tables.append((caption, headers, rows))

    def markdown(self) -> str:
        parts = [f"## {self.title}", ""]
        for caption, headers, rows in self.tables:
            if caption:
                parts += [caption, ""]
            parts += [md_table(headers, rows), ""]
        parts += [f"- {n}" for n in self.notes]
        return "\n".join(parts).rstrip() + "\n"


def dump_json(sections: Sequence[Section], path: Path) -> None:
    path.write_text(json.dumps([asdict(s) for s in sections], indent=2, default=str))


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set size (VmHWM) in MiB, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children_pids(pid: int) -> list[int]:
    try:
        import psutil

        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except Exception:
        return []


# --------------------------------------------------------------------------- databases


@contextmanager
def scratch_database(base_url: str = DEFAULT_DATABASE_URL, prefix: str = "console_bench") -> Iterator[str]:
    """A fresh empty PostgreSQL database next to ``base_url``; dropped afterwards."""
    from tests.support.db import scratch_postgres_database

    with scratch_postgres_database(base_url, prefix=prefix) as url:
        yield url


def flush_redis_db(url: str) -> None:
    """FLUSHDB on the benchmark's own Redis db (never FLUSHALL)."""
    from tests.integration.worker import flush_redis

    flush_redis(url)


# --------------------------------------------------------------------------- the dataset

#: Run types and their share of the history (roughly what a busy console sees).
TYPE_WEIGHTS = {
    "inventory_sync": 40,
    "evidence_snapshot_generate": 15,
    "review_pack_generate": 10,
    "backup_set_add_policies": 10,
    "backup_set_restore": 10,
    "baseline_capture": 8,
    "baseline_compare": 7,
}
COUNTED = {
    "inventory_sync",
    "evidence_snapshot_generate",
    "review_pack_generate",
    "backup_set_add_policies",
    "backup_set_restore",
}


@dataclass
class BenchWorld:
    """Ids of what ``seed_dataset`` created."""

    url: str
    workspace_id: int
    tenant_ids: list[int]
    manager_email: str
    operator_email: str
    manager_id: int
    operator_id: int
    active_run_ids: list[int]  # running, one per tenant, created minutes ago
    queued_run_ids: list[int]
    active_by_tenant: dict[int, int]
    runs: int
    seconds: float


def seed_dataset(url: str, *, tenants: int = 50, runs_per_tenant: int = 2000, seed: int = 7) -> BenchWorld:
    """``tenants`` tenants in one workspace, ``runs_per_tenant`` runs each (COPY), review packs,
    notifications, a manager (sees everything) and an operator (granted 5 tenants)."""
    from console.accounts.service import create_tenant, create_user, create_workspace, grant_capabilities, grant_role
    from console.db import Database

    t0 = time.perf_counter()
    rng = random.Random(seed)
    db = Database(url)
    try:
        with db.session() as s:
            ws = create_workspace(session=s, name="Bench workspace")
            tenant_ids = [
                create_tenant(session=s, workspace_id=ws.id, name=f"Tenant {i:02d}").id for i in range(tenants)
            ]
            manager = create_user(session=s, email="manager@bench.example", password=PASSWORD, name="Bench Manager")
            operator = create_user(session=s, email="operator@bench.example", password=PASSWORD, name="Bench Operator")
            grant_role(session=s, email=manager.email, workspace_id=ws.id, role="manager")
            grant_role(session=s, email=operator.email, workspace_id=ws.id, role="operator")
            for tid in tenant_ids[:5]:
                grant_capabilities(
                    session=s,
                    email=operator.email,
                    tenant_id=tid,
                    capabilities=["operations.view", "review_pack.view", "inventory.sync"],
                )
            ws_id, manager_id, operator_id = ws.id, manager.id, operator.id

        now = datetime.now(UTC).replace(tzinfo=None)
        types = list(TYPE_WEIGHTS)
        weights = list(TYPE_WEIGHTS.values())
        rows: list[tuple] = []
        for tid in tenant_ids:
            for i in range(runs_per_tenant):
                type_ = rng.choices(types, weights)[0]
                if i == runs_per_tenant - 1:  # the newest: running, counted, a few minutes old
                    created = now - timedelta(seconds=rng.uniform(120, 600))
                    status, outcome = "running", None
                    type_ = "inventory_sync"
                elif i == runs_per_tenant - 2:  # queued
                    created = now - timedelta(seconds=rng.uniform(90, 300))
                    status, outcome = "queued", None
                    type_ = "evidence_snapshot_generate"
                else:
                    created = now - timedelta(seconds=rng.uniform(900, 90 * 86400))
                    status = "completed"
                    outcome = rng.choices(["succeeded", "partially_succeeded", "failed", "cancelled"], [85, 7, 6, 2])[0]
                started = created + timedelta(seconds=rng.uniform(0.2, 5)) if status != "queued" else None
                completed = (
                    started + timedelta(seconds=rng.uniform(3, 300)) if status == "completed" and started else None
                )
                counts: dict[str, int] = {}
                if type_ in COUNTED and status != "queued":
                    total = rng.randint(5, 400)
                    processed = total if status == "completed" else rng.randint(0, total)
                    failed = processed // 10 if outcome in ("failed", "partially_succeeded") else 0
                    counts = {"total": total, "processed": processed, "succeeded": processed - failed, "failed": failed}
                failure = "provider said: 503 Service Unavailable" if outcome == "failed" else None
                rows.append(
                    (
                        ws_id,
                        tid,
                        type_,
                        status,
                        outcome,
                        json.dumps(counts),
                        "{}",
                        failure,
                        manager_id,
                        created,
                        started,
                        started if status == "running" else completed,
                        completed,
                    )
                )
        rows.sort(key=lambda r: r[9])  # ids grow with created_at, as they do in production
        raw = db.engine.raw_connection()
        try:
            pg = raw.driver_connection
            with pg.cursor() as cur:
                with cur.copy(
                    "COPY operation_runs (workspace_id, tenant_id, type, status, outcome, summary_counts, context, "
                    "failure_summary, initiator_user_id, created_at, started_at, heartbeat_at, completed_at) FROM STDIN"
                ) as copy:
                    for row in rows:
                        copy.write_row(row)
                # A review pack for every review-pack run, like the writer makes them.
                cur.execute(
                    "INSERT INTO review_packs (tenant_id, operation_run_id, status, options, created_at, ready_at, "
                    "expires_at, size, sha256, file_path) "
                    "SELECT tenant_id, id, CASE WHEN status = 'completed' "
                    "THEN (CASE WHEN outcome = 'succeeded' THEN 'expired' ELSE 'failed' END) ELSE 'queued' END, "
                    "'{}'::jsonb, created_at, completed_at, completed_at + interval '14 days', 123456, NULL, NULL "
                    "FROM operation_runs WHERE type = 'review_pack_generate' ORDER BY id"
                )
                # The manager's bell: a few hundred notifications, most read.
                cur.execute(
                    "INSERT INTO notifications (user_id, workspace_id, run_id, kind, title, body, created_at, read_at) "
                    "SELECT %s, workspace_id, id, 'run_completed', 'Run finished', NULL, completed_at, "
                    "CASE WHEN id %% 10 = 0 THEN NULL ELSE completed_at END "
                    "FROM operation_runs WHERE status = 'completed' ORDER BY id DESC LIMIT 500",
                    (manager_id,),
                )
                cur.execute("SELECT tenant_id, id FROM operation_runs WHERE status = 'running' ORDER BY id")
                active_by_tenant = {t: r for t, r in cur.fetchall()}
                active = sorted(active_by_tenant.values())
                cur.execute("SELECT id FROM operation_runs WHERE status = 'queued' ORDER BY id")
                queued = [r[0] for r in cur.fetchall()]
            pg.commit()
        finally:
            raw.close()
        vacuum_analyze(url)
    finally:
        db.dispose()
    return BenchWorld(
        url=url,
        workspace_id=ws_id,
        tenant_ids=tenant_ids,
        manager_email="manager@bench.example",
        operator_email="operator@bench.example",
        manager_id=manager_id,
        operator_id=operator_id,
        active_run_ids=active,
        queued_run_ids=queued,
        active_by_tenant=active_by_tenant,
        runs=len(rows),
        seconds=time.perf_counter() - t0,
    )


def load_world(url: str) -> BenchWorld:
    """The ``BenchWorld`` of a database ``seed_dataset`` filled earlier (read back, nothing written)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:

            def ids(sql: str, **params: Any) -> list[Any]:
                return list(conn.execute(text(sql), params).scalars())

            manager_id, operator_id = (
                ids("SELECT id FROM users WHERE email = :e", e=email)[0]
                for email in ("manager@bench.example", "operator@bench.example")
            )
            running = text("SELECT tenant_id, id FROM operation_runs WHERE status = 'running' ORDER BY id")
            active_by_tenant = dict(conn.execute(running).all())
            return BenchWorld(
                url=url,
                workspace_id=ids("SELECT id FROM workspaces WHERE name = 'Bench workspace'")[0],
                tenant_ids=ids("SELECT id FROM tenants ORDER BY id"),
                manager_email="manager@bench.example",
                operator_email="operator@bench.example",
                manager_id=manager_id,
                operator_id=operator_id,
                active_run_ids=sorted(active_by_tenant.values()),
                queued_run_ids=ids("SELECT id FROM operation_runs WHERE status = 'queued' ORDER BY id"),
                active_by_tenant=active_by_tenant,
                runs=ids("SELECT count(*) FROM operation_runs")[0],
                seconds=0.0,
            )
    finally:
        engine.dispose()


@contextmanager
def kept_dataset(url: str, *, tenants: int, runs_per_tenant: int, rebuild: bool = False) -> Iterator[BenchWorld]:
    """The dataset in the database ``url``, kept afterwards: migrated to head, seeded when it holds
    no runs, else reused as it is (building 1,000,000 runs takes minutes). It must hold nothing
    but a ``seed_dataset`` world of that size: a database of another size is refused.
    ``rebuild``: drop everything in it first (a fresh schema), then seed."""
    from console.migrate import upgrade

    if rebuild:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        finally:
            engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(text("SELECT count(*) FROM operation_runs")).scalar_one()
    finally:
        engine.dispose()
    if runs == 0:
        yield seed_dataset(url, tenants=tenants, runs_per_tenant=runs_per_tenant)
        return
    world = load_world(url)
    if (len(world.tenant_ids), world.runs) != (tenants, tenants * runs_per_tenant):
        raise SystemExit(
            f"{url} holds {world.runs:,} runs in {len(world.tenant_ids)} tenants, not "
            f"{tenants} × {runs_per_tenant:,}: use an empty database (or the options it was built with)"
        )
    yield world


def vacuum_analyze(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


@contextmanager
def dataset(base_url: str = DEFAULT_DATABASE_URL, **kw: Any) -> Iterator[BenchWorld]:
    """A scratch database, migrated and seeded; dropped afterwards."""
    from console.migrate import upgrade

    with scratch_database(base_url) as url:
        upgrade(url)
        yield seed_dataset(url, **kw)


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def console_env(database_url: str, instance_dir: Path, broker_url: str = DEFAULT_REDIS_URL) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")} | {
        "CONSOLE_DATABASE_URL": database_url,
        "CONSOLE_INSTANCE_DIR": str(instance_dir),
        "CONSOLE_BROKER_URL": broker_url,
        "CONSOLE_SECRET_KEY": SECRET,
        "CONSOLE_LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


class Gunicorn:
    """``gunicorn console.wsgi:server`` with N workers x T threads (gthread) on a free port."""

    def __init__(
        self,
        database_url: str,
        *,
        workers: int = 2,
        threads: int = 8,
        cwd: Path = REPO,
        app: str = "console.wsgi:server",
    ) -> None:
        self.database_url = database_url
        self.app = app
        self.cwd = cwd
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="console-bench-web-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Gunicorn:
        import urllib.request

        argv = [
            sys.executable,
            "-m",
            "gunicorn",
            self.app,
            "--workers",
            str(self.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(self.threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--keep-alive",
            "5",
            "--backlog",
            "512",
            "--log-level",
            "warning",
        ]
        self._log = (self.tmp / "gunicorn.log").open("ab")
        self.proc = subprocess.Popen(
            argv,
            cwd=self.cwd,
            env=console_env(self.database_url, self.tmp / "instance"),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_tail()}")
            try:
                urllib.request.urlopen(
                    self.url + ("/login" if self.app.startswith("console.") else "/"), timeout=2
                ).read()
                if len(children_pids(self.proc.pid)) >= self.workers:
                    return self
            except Exception:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer in {timeout} s: {self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join((self.tmp / "gunicorn.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def worker_pids(self) -> list[int]:
        return children_pids(self.proc.pid) if self.proc else []

    def peak_rss(self) -> dict[str, float | None]:
        """Peak RSS (MiB) of the master and each worker, read before stopping."""
        out: dict[str, float | None] = {"master": peak_rss_mb(self.proc.pid)} if self.proc else {}
        for i, pid in enumerate(self.worker_pids()):
            out[f"worker {i + 1}"] = peak_rss_mb(pid)
        return out

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()
        self.proc = None
