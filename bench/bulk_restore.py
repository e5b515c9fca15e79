"""Time a bulk backup-set restore end to end: one parent task fans out one child per item.

    .venv/bin/python bench/bulk_restore.py [--items 1000] [--threads 4]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--broker-url redis://127.0.0.1:6379/15]

Creates a scratch PostgreSQL database next to the one named (dropped afterwards), flushes the
Redis db, seeds a tenant with a backup set of ``--items`` items, starts a real worker
(``celery -A tasks worker --pool threads --concurrency N``), starts the restore exactly as
the console does (``start_operation`` + ``CeleryDispatcher``) and polls the database until
the run completes. Prints the figures; exits non-zero if the run did not succeed fully.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from console.access import load_principal  # noqa: E402
from console.accounts.service import create_tenant, create_user, create_workspace, grant_role  # noqa: E402
from console.backups.models import BackupSet, BackupSetItem  # noqa: E402
from console.config import load_settings  # noqa: E402
from console.db import Database, utcnow  # noqa: E402
from console.dispatch import CeleryDispatcher  # noqa: E402
from console.migrate import upgrade  # noqa: E402
from console.operations.launch import start_operation  # noqa: E402
from console.operations.service import counts_of, get_run  # noqa: E402
from console.providers.builtin import POLICY_TYPES  # noqa: E402
from tests.integration.worker import Worker, flush_redis  # noqa: E402


def seed(db: Database, items: int) -> tuple[int, int]:
    with db.session() as s:
        ws = create_workspace(session=s, name="bench")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="Bench tenant")
        user = create_user(session=s, email="bench@bench.example", password="long-enough-pw", name="Bench")
        grant_role(session=s, email=user.email, workspace_id=ws.id, role="manager")
        backup = BackupSet(tenant_id=tenant.id, name="bench set", created_at=utcnow())
        s.add(backup)
        s.flush()
        s.add_all(
            BackupSetItem(
                backup_set_id=backup.id,
                policy_external_id=f"bench-{i:05d}",
                policy_type=POLICY_TYPES[i % len(POLICY_TYPES)],
                payload={"name": f"Bench policy {i}", "settings": {"enabled": True, "version": 1 + i % 9}},
                added_at=utcnow(),
            )
            for i in range(items)
        )
        s.commit()
        return tenant.id, user.id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    base = make_url(args.database_url)
    name = f"console_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-"))
    worker = None
    db = Database(url)
    try:
        upgrade(url)
        if args.broker_url.startswith("redis"):
            flush_redis(args.broker_url)
        tenant_id, user_id = seed(db, args.items)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")} | {
            "CONSOLE_DATABASE_URL": url, "CONSOLE_INSTANCE_DIR": str(tmp),
            "CONSOLE_BROKER_URL": args.broker_url, "CONSOLE_SECRET_KEY": "bench", "PYTHONUNBUFFERED": "1",
        }
        worker = Worker(env=env, log_path=tmp / "worker.log", concurrency=args.threads).start()
        settings = load_settings({"instance_dir": tmp, "database_url": url, "broker_url": args.broker_url, "secret_key": "bench"}, environ={})
        dispatcher = CeleryDispatcher(settings)

        t0 = time.perf_counter()
        with db.session() as s:
            run_id = start_operation(
                session=s, principal=load_principal(session=s, user_id=user_id), tenant_id=tenant_id,
                operation_type="backup_set_restore", options=None, dispatcher=dispatcher,
            ).run_id
        deadline = t0 + args.timeout
        while True:
            with db.session() as s:
                run = get_run(session=s, run_id=run_id)
                status, outcome, counts = run.status, run.outcome, counts_of(run)
                started_at, completed_at = run.started_at, run.completed_at
            if status == "completed":
                break
            if time.perf_counter() > deadline:
                print(f"timed out after {args.timeout} s: {counts}", file=sys.stderr)
                return 1
            time.sleep(0.05)
        elapsed = time.perf_counter() - t0
        worker_side = (completed_at - started_at).total_seconds()
        print(f"bulk restore: {args.items} items, {args.threads} worker threads, PostgreSQL + {args.broker_url.split(':')[0]}")
        print(f"  outcome={outcome} counts={counts}")
        print(f"  enqueue -> completed: {elapsed:.2f} s ({args.items / elapsed:.0f} items/s)")
        print(f"  started -> completed (worker side): {worker_side:.2f} s")
        dispatcher.client.close()
        ok = outcome == "succeeded" and counts.get("processed") == counts.get("total") == args.items
        return 0 if ok else 1
    finally:
        if worker is not None:
            worker.stop()
        db.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        if args.broker_url.startswith("redis"):
            flush_redis(args.broker_url)


if __name__ == "__main__":
    sys.exit(main())
