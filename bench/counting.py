"""Figure 3 — counting: exact per-unit counters vs a read-modify-write JSON counter.

    .venv/bin/python -m bench.counting [--units 10000] [--threads 4]

Two measurements on scratch PostgreSQL databases:

* **End to end**: a ``--units``-item backup-set restore (bench/bulk_restore.py): one parent
  task fans out one child task per chunk of ``CONSOLE_FANOUT_CHUNK_SIZE`` items through Redis
  (db 13) to a real ``celery -A tasks worker --pool threads --concurrency 4``; each child
  restores its items and counts them on the parent in batches (``record_units``: ledger rows +
  in-SQL increments; the batch holding the last unit completes the parent). Units/s from
  enqueue to completion; processed == total checked exactly, and the ledger must hold exactly
  one row per unit. (``python -m bench.bulk_restore --compare 1,2,4`` adds the plain-loop
  baseline and more worker processes: figure 6.)
* **Same concurrency, counter only** (in process, 4 threads, ``--units`` units): the
  service's ``record_unit`` against the naive baseline — ``SELECT summary_counts``, +1 in
  Python, ``UPDATE`` it back, one transaction per unit. Units/s and lost updates
  (``units - processed``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, Section, load_average, scratch_database, uptime


def _counter_run(url: str, units: int) -> int:
    """A running counted run with total = ``units`` (what set_total writes)."""
    from console.accounts.service import create_tenant, create_user, create_workspace
    from console.db import Database
    from console.operations.service import enqueue_run, mark_running, set_total

    db = Database(url)
    try:
        with db.session() as s:
            ws = create_workspace(session=s, name="count")
            tenant = create_tenant(session=s, workspace_id=ws.id, name="count")
            user = create_user(
                session=s, email=f"count{time.monotonic_ns()}@bench.example", password="long-enough-pw", name="c"
            )
            run, _ = enqueue_run(
                session=s, type="backup_set_restore", workspace_id=ws.id, tenant_id=tenant.id, initiator_user_id=user.id
            )
            mark_running(session=s, run_id=run.id)
            set_total(session=s, run_id=run.id, total=units)
            return run.id
    finally:
        db.dispose()


def _threads(n: int, target) -> float:
    barrier = threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            target(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - t0


def exact_counter(url: str, units: int, threads: int) -> dict[str, Any]:
    """record_unit from ``threads`` threads, ``units`` distinct units in all."""
    from console.db import Database
    from console.operations.models import OperationRunUnit
    from console.operations.service import counts_of, get_run, record_unit

    run_id = _counter_run(url, units)
    db = Database(url, pool_size=threads, max_overflow=0)
    try:

        def work(i: int) -> None:
            with db.session() as s:
                for u in range(i, units, threads):
                    assert record_unit(session=s, run_id=run_id, unit_key=f"unit-{u:06d}", outcome="succeeded")

        seconds = _threads(threads, work)
        with db.session() as s:
            counts = counts_of(get_run(session=s, run_id=run_id))
            ledger = s.scalar(
                select(func.count()).select_from(OperationRunUnit).where(OperationRunUnit.run_id == run_id)
            )
    finally:
        db.dispose()
    return {
        "seconds": seconds,
        "units_per_s": units / seconds,
        "processed": counts.get("processed"),
        "ledger": ledger,
        "lost": units - counts.get("processed", 0),
        "load": load_average(),
    }


def naive_counter(url: str, units: int, threads: int) -> dict[str, Any]:
    """The anti-pattern: read the JSON counts, add one in Python, write them back."""
    from console.db import Database

    run_id = _counter_run(url, units)
    db = Database(url, pool_size=threads, max_overflow=0)
    try:

        def work(i: int) -> None:
            with db.engine.connect() as conn:
                for _ in range(i, units, threads):
                    counts = conn.execute(
                        text("SELECT summary_counts FROM operation_runs WHERE id = :id"), {"id": run_id}
                    ).scalar_one()
                    counts = dict(counts)
                    counts["processed"] = counts.get("processed", 0) + 1
                    counts["succeeded"] = counts.get("succeeded", 0) + 1
                    conn.execute(
                        text("UPDATE operation_runs SET summary_counts = CAST(:c AS jsonb) WHERE id = :id"),
                        {"c": json.dumps(counts), "id": run_id},
                    )
                    conn.commit()

        seconds = _threads(threads, work)
        with db.engine.connect() as conn:
            counts = conn.execute(
                text("SELECT summary_counts FROM operation_runs WHERE id = :id"), {"id": run_id}
            ).scalar_one()
    finally:
        db.dispose()
    processed = int(counts.get("processed", 0))
    return {
        "seconds": seconds,
        "units_per_s": units / seconds,
        "processed": processed,
        "ledger": None,
        "lost": units - processed,
        "load": load_average(),
    }


def run(
    *, units: int, threads: int, database_url: str = DEFAULT_DATABASE_URL, broker_url: str = DEFAULT_REDIS_URL
) -> tuple[list[Section], dict[str, Any]]:
    from bench.bulk_restore import restore

    e2e = restore(items=units, threads=threads, database_url=database_url, broker_url=broker_url)
    with scratch_database(database_url) as url:
        from console.migrate import upgrade

        upgrade(url)
        exact = exact_counter(url, units, threads)
        naive = naive_counter(url, units, threads)

    section = Section(
        f"3. Counting: {units:,} units, {threads} threads, PostgreSQL"
        + (" + Redis" if broker_url.startswith("redis") else "")
    )
    target = 500
    section.table(
        f"End to end: a {units:,}-item backup-set restore through a real Celery worker "
        f"(--pool threads --concurrency {threads}). Target ≥ {target} units/s, zero lost or doubled units.",
        ["figure", "value"],
        [
            ["outcome", e2e["outcome"]],
            ["processed / total", f"{e2e['processed']:,} / {e2e['total']:,}"],
            ["ledger rows (one per unit)", f"{e2e['ledger']:,}"],
            [
                "lost or doubled units",
                e2e["total"] - e2e["processed"]
                if e2e["ledger"] == e2e["processed"]
                else f"ledger {e2e['ledger']} ≠ processed {e2e['processed']}",
            ],
            ["enqueue → completed", f"{e2e['seconds']:.1f} s"],
            [
                "units/s (enqueue → completed)",
                f"{e2e['units_per_s']:.0f}" + ("" if e2e["units_per_s"] >= target else " (**below target**)"),
            ],
            ["units/s (worker: started → completed)", f"{e2e['worker_units_per_s']:.0f}"],
            [
                "CPU per unit: worker process + PostgreSQL",
                f"{e2e['worker_cpu_ms_per_unit']:.2f} ms + {e2e['db_cpu_ms_per_unit'] or float('nan'):.2f} ms",
            ],
            [
                "ceiling of one GIL-bound worker process (1 s / worker CPU per unit)",
                f"≈ {1000 / e2e['worker_cpu_ms_per_unit']:.0f} units/s",
            ],
            ["worker peak RSS", f"{e2e['worker_peak_rss_mb']:.0f} MiB" if e2e.get("worker_peak_rss_mb") else "n/a"],
            ["load avg (1/5/15)", e2e["load"]],
        ],
    )
    section.table(
        f"Counter only, in process, {threads} threads, one transaction per unit — "
        "the service vs the naive read-modify-write baseline.",
        ["counter", "units/s", "processed", "lost updates", "ledger rows", "load avg"],
        [
            [
                "`record_unit` (ledger + in-SQL increment)",
                f"{exact['units_per_s']:.0f}",
                f"{exact['processed']:,}",
                exact["lost"],
                f"{exact['ledger']:,}",
                exact["load"],
            ],
            [
                "**baseline** read-modify-write JSON",
                f"{naive['units_per_s']:.0f}",
                f"{naive['processed']:,}",
                f"**{naive['lost']:,}** ({naive['lost'] / units:.0%})",
                "—",
                naive["load"],
            ],
        ],
    )
    section.notes.append(
        f"the naive counter is {naive['units_per_s'] / exact['units_per_s']:.1f}× the speed of the exact one "
        f"and loses {naive['lost']:,} of {units:,} updates"
    )
    section.notes.append(f"uptime at end: {uptime()}")
    section.raw = {"end_to_end": e2e, "exact": exact, "naive": naive}
    return [section], {"worker_peak_rss_mb": e2e.get("worker_peak_rss_mb")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=DEFAULT_REDIS_URL)
    args = parser.parse_args(argv)
    sections, _ = run(
        units=args.units, threads=args.threads, database_url=args.database_url, broker_url=args.broker_url
    )
    for s in sections:
        print(s.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
