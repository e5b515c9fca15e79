"""Time a bulk backup-set restore end to end: one parent task fans out one child per item.

    .venv/bin/python -m bench.bulk_restore [--items 10000] [--threads 4]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--broker-url redis://127.0.0.1:6379/13]

Creates a scratch PostgreSQL database next to the one named (dropped afterwards), flushes the
Redis db (FLUSHDB on that db only), seeds a tenant with a backup set of ``--items`` items,
starts a real worker (``celery -A tasks worker --pool threads --concurrency N``), starts the
restore exactly as the console does (``start_operation`` + ``CeleryDispatcher``) and polls the
database until the run completes. Prints the figures; exits non-zero unless the run succeeded
with processed == total == items and exactly one ledger row per unit.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import func, select  # noqa: E402

from bench.common import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    flush_redis_db,
    load_average,
    machine_line,
    peak_rss_mb,
    scratch_database,
)
from console.access import load_principal  # noqa: E402
from console.accounts.service import create_tenant, create_user, create_workspace, grant_role  # noqa: E402
from console.backups.models import BackupSet, BackupSetItem  # noqa: E402
from console.config import load_settings  # noqa: E402
from console.db import Database, utcnow  # noqa: E402
from console.dispatch import CeleryDispatcher  # noqa: E402
from console.migrate import upgrade  # noqa: E402
from console.operations.launch import start_operation  # noqa: E402
from console.operations.models import OperationRunUnit  # noqa: E402
from console.operations.service import counts_of, get_run  # noqa: E402
from console.providers.builtin import POLICY_TYPES  # noqa: E402
from tests.integration.worker import Worker  # noqa: E402


def seed(db: Database, items: int) -> tuple[int, int]:
    with db.session() as s:
        ws = create_workspace(session=s, name="bench")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="Bench tenant")
        user = create_user(session=s, email="bench@bench.example", password="long-enough-pw", name="Bench")
        grant_role(session=s, email=user.email, workspace_id=ws.id, role="manager")
        backup = BackupSet(tenant_id=tenant.id, name="bench set", created_at=utcnow())
        s.add(backup)
        s.flush()
        s.execute(
            BackupSetItem.__table__.insert(),
            [
                {
                    "backup_set_id": backup.id,
                    "policy_external_id": f"bench-{i:05d}",
                    "policy_type": POLICY_TYPES[i % len(POLICY_TYPES)],
                    "payload": {"name": f"Bench policy {i}", "settings": {"enabled": True, "version": 1 + i % 9}},
                    "added_at": utcnow(),
                }
                for i in range(items)
            ],
        )
        s.commit()
        return tenant.id, user.id


def _backend_cpu(db: Database) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends of this database (other than ours)."""
    try:
        import psutil
        from sqlalchemy import text

        with db.engine.connect() as conn:
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
        total = 0.0
        for pid in pids:
            try:
                total += sum(psutil.Process(pid).cpu_times()[:2])
            except psutil.Error:
                pass
        return total
    except Exception:
        return None


def restore(
    *,
    items: int,
    threads: int,
    processes: int = 1,
    database_url: str = DEFAULT_DATABASE_URL,
    broker_url: str = DEFAULT_REDIS_URL,
    timeout: float = 600,
) -> dict[str, Any]:
    """Run one restore of ``items`` units with ``threads`` worker threads in all, split over
    ``processes`` worker processes; the figures (raises if it does not complete in time)."""
    if threads % processes:
        raise ValueError("threads must split evenly over processes")
    with scratch_database(database_url) as url:
        tmp = Path(tempfile.mkdtemp(prefix="console-bench-restore-"))
        workers: list[Worker] = []
        db = Database(url)
        try:
            upgrade(url)
            if broker_url.startswith("redis"):
                flush_redis_db(broker_url)
            tenant_id, user_id = seed(db, items)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")} | {
                "CONSOLE_DATABASE_URL": url,
                "CONSOLE_INSTANCE_DIR": str(tmp),
                "CONSOLE_BROKER_URL": broker_url,
                "CONSOLE_SECRET_KEY": "bench",
                "PYTHONUNBUFFERED": "1",
                "CONSOLE_LOG_LEVEL": "WARNING",
            }
            for i in range(processes):
                workers.append(
                    Worker(env=env, log_path=tmp / f"worker{i}.log", concurrency=threads // processes).start()
                )
            settings = load_settings(
                {"instance_dir": tmp, "database_url": url, "broker_url": broker_url, "secret_key": "bench"}, environ={}
            )
            dispatcher = CeleryDispatcher(settings)

            import psutil

            wprocs = [psutil.Process(w.proc.pid) for w in workers]
            cpu0 = sum(sum(p.cpu_times()[:2]) for p in wprocs)
            t0 = time.perf_counter()
            with db.session() as s:
                run_id = start_operation(
                    session=s,
                    principal=load_principal(session=s, user_id=user_id),
                    tenant_id=tenant_id,
                    operation_type="backup_set_restore",
                    options=None,
                    dispatcher=dispatcher,
                ).run_id
            deadline = t0 + timeout
            while True:
                with db.session() as s:
                    run = get_run(session=s, run_id=run_id)
                    status, outcome, counts = run.status, run.outcome, counts_of(run)
                    started_at, completed_at = run.started_at, run.completed_at
                if status == "completed":
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"restore timed out after {timeout} s: {counts}\n{workers[0].tail()}")
                time.sleep(0.05)
            elapsed = time.perf_counter() - t0
            worker_cpu = sum(sum(p.cpu_times()[:2]) for p in wprocs) - cpu0
            rss = max((peak_rss_mb(w.proc.pid) or 0) for w in workers)
            db_cpu = _backend_cpu(db)
            with db.session() as s:
                ledger = s.scalar(
                    select(func.count()).select_from(OperationRunUnit).where(OperationRunUnit.run_id == run_id)
                )
            dispatcher.client.close()
            worker_side = (completed_at - started_at).total_seconds()
            return {
                "items": items,
                "threads": threads,
                "processes": processes,
                "outcome": outcome,
                "counts": counts,
                "processed": counts.get("processed", 0),
                "total": counts.get("total", 0),
                "ledger": int(ledger or 0),
                "seconds": elapsed,
                "units_per_s": items / elapsed,
                "worker_seconds": worker_side,
                "worker_units_per_s": items / worker_side if worker_side > 0 else float("nan"),
                "worker_peak_rss_mb": rss,
                "load": load_average(),
                "worker_cpu_ms_per_unit": worker_cpu / items * 1000,
                "db_cpu_ms_per_unit": db_cpu / items * 1000 if db_cpu is not None else None,
            }
        finally:
            for w in workers:
                w.kill()  # the run completed: nothing is left to finish
            db.dispose()
            if broker_url.startswith("redis"):
                flush_redis_db(broker_url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--processes", type=int, default=1, help="worker processes sharing the threads")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    r = restore(
        items=args.items,
        threads=args.threads,
        processes=args.processes,
        database_url=args.database_url,
        broker_url=args.broker_url,
        timeout=args.timeout,
    )
    print(f"machine: {machine_line()}")
    print(
        f"bulk restore: {r['items']} items, {r['threads']} worker threads in {r['processes']} process(es), "
        f"PostgreSQL + {args.broker_url.split(':')[0]} (load {r['load']})"
    )
    print(f"  outcome={r['outcome']} counts={r['counts']} ledger rows={r['ledger']}")
    print(f"  enqueue -> completed: {r['seconds']:.2f} s ({r['units_per_s']:.0f} items/s)")
    print(f"  started -> completed (worker side): {r['worker_seconds']:.2f} s ({r['worker_units_per_s']:.0f} items/s)")
    print(
        f"  worker peak RSS: {r['worker_peak_rss_mb']} MiB; CPU per unit: worker {r['worker_cpu_ms_per_unit']:.2f} ms, "
        f"PostgreSQL {r['db_cpu_ms_per_unit'] or float('nan'):.2f} ms"
    )
    ok = r["outcome"] == "succeeded" and r["processed"] == r["total"] == r["ledger"] == args.items
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
