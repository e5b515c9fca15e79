"""Time a bulk backup-set restore end to end (chunked fan-out) against a plain in-process loop.

    .venv/bin/python -m bench.bulk_restore [--items 10000] [--threads 4] [--processes 1]
        [--chunk-size N] [--embedded] [--compare 1,2,4 --repeat 2] [--sweep 10,25,50,100,250]
        [--profile] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--broker-url redis://127.0.0.1:6379/13] [--timeout 300]

One Celery measurement: creates a scratch PostgreSQL database next to the one named (dropped
afterwards), flushes the Redis db (FLUSHDB on that db only), seeds a tenant with a backup set of
``--items`` items, starts real workers (``celery -A tasks worker --pool threads``; ``--threads``
in all, split over ``--processes``; ``CONSOLE_FANOUT_CHUNK_SIZE=--chunk-size``), starts the
restore exactly as the console does (``start_operation`` + ``CeleryDispatcher``) and polls the
database until the run completes. ``--embedded`` uses the embedded default instead: a SQLite
file and the ``sqla+sqlite`` broker in a temporary instance folder.

The baseline (``plain``): the same seed in a fresh database, the same ``start_operation``, then
``plan_restore`` and ``restore_chunk`` per chunk in a plain loop in this process — the same
provider call (``provider_for_run``) and the same batched ledger write, no Celery, one thread.

``--compare`` interleaves plain, celery × each process count, plain, … ``--repeat`` times and
reports the medians and the ratio to the plain loop; ``--sweep`` does the same for chunk sizes
(one worker process). Every run must end succeeded with processed == total == ledger rows ==
items; the exit status is non-zero otherwise.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sqlalchemy import func, select, text  # noqa: E402

from bench.common import (  # noqa: E402
    DEFAULT_DATABASE_URL,
    DEFAULT_REDIS_URL,
    Section,
    flush_redis_db,
    load_average,
    machine_line,
    peak_rss_mb,
    scratch_database,
    uptime,
)
from console.access import load_principal  # noqa: E402
from console.accounts.service import create_tenant, create_user, create_workspace, grant_role  # noqa: E402
from console.backups.models import BackupSet, BackupSetItem  # noqa: E402
from console.backups.service import plan_restore, restore_chunk  # noqa: E402
from console.config import embedded_broker_url, load_settings  # noqa: E402
from console.db import Database, utcnow  # noqa: E402
from console.dispatch import CeleryDispatcher  # noqa: E402
from console.migrate import upgrade  # noqa: E402
from console.operations.launch import start_operation  # noqa: E402
from console.operations.models import OperationRunUnit  # noqa: E402
from console.operations.service import counts_of, get_run  # noqa: E402
from console.providers.builtin import POLICY_TYPES, provider_for_run  # noqa: E402
from tests.integration.worker import Worker  # noqa: E402

#: The chunk size a run uses when none is given (the console's default, CONSOLE_FANOUT_CHUNK_SIZE).
DEFAULT_CHUNK = load_settings(
    {"instance_dir": tempfile.gettempdir(), "secret_key": "bench"}, environ={}
).fanout_chunk_size
TARGET_UNITS_PER_S = 500
TARGET_RATIO = 0.5


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


def _backend_cpu(url: str) -> dict[int, float] | None:
    """CPU seconds used so far by each PostgreSQL backend of this database (None: not PostgreSQL).

    Read over a connection of its own (not counted), so a delta of two readings is the CPU the
    backends spent in between, whoever's pool they belong to."""
    if not url.startswith("postgresql"):
        return None
    try:
        import psutil
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        engine = create_engine(url, poolclass=NullPool)
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
        found: dict[int, float] = {}
        for pid in pids:
            try:
                found[pid] = sum(psutil.Process(pid).cpu_times()[:2])
            except psutil.Error:
                pass
        return found
    except Exception:
        return None


def _cpu_delta(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
    """Backend CPU spent between two readings (a backend that ended in between is missed)."""
    if before is None or after is None:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


@contextmanager
def _stack(*, embedded: bool, database_url: str, broker_url: str) -> Iterator[tuple[str, str, Path]]:
    """(database url, broker url, instance folder) of one measurement, all scratch.

    PostgreSQL: a fresh database next to ``database_url`` (dropped afterwards) and ``broker_url``
    (a Redis db is flushed before and after). Embedded: a SQLite file and the sqla+sqlite broker
    in the temporary instance folder (removed afterwards)."""
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-restore-"))
    try:
        if embedded:
            yield f"sqlite:///{tmp / 'console.db'}", embedded_broker_url(tmp), tmp
            return
        with scratch_database(database_url) as url:
            redis = broker_url.startswith("redis")
            if redis:
                flush_redis_db(broker_url)
            try:
                yield url, broker_url, tmp
            finally:
                if redis:
                    flush_redis_db(broker_url)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _result(db: Database, run_id: int, items: int) -> dict[str, Any]:
    """What the run ended as: outcome, counts and ledger rows (the exactness check)."""
    with db.session() as s:
        run = get_run(session=s, run_id=run_id)
        counts, outcome = counts_of(run), run.outcome
        ledger = s.scalar(select(func.count()).select_from(OperationRunUnit).where(OperationRunUnit.run_id == run_id))
    processed, total = counts.get("processed", 0), counts.get("total", 0)
    return {
        "items": items,
        "outcome": outcome,
        "counts": counts,
        "processed": processed,
        "total": total,
        "ledger": int(ledger or 0),
        "exact": outcome == "succeeded" and processed == total == int(ledger or 0) == items,
    }


def backend(embedded: bool, broker_url: str = DEFAULT_REDIS_URL) -> str:
    if embedded:
        return "SQLite + embedded broker"
    return "PostgreSQL + " + ("Redis" if broker_url.startswith("redis") else broker_url.split(":")[0])


class _NoDispatch:
    """The plain loop's dispatcher: the run is started as the console starts it, nothing is sent."""

    def send(self, task_name: str, *args: Any) -> None:
        pass


def plain(
    *,
    items: int,
    chunk_size: int | None = None,
    embedded: bool = False,
    database_url: str = DEFAULT_DATABASE_URL,
    timeout: float = 300,
    profile: bool = False,
) -> dict[str, Any]:
    """The baseline: the same restore as a plain in-process loop over chunks (no Celery, one thread).

    Per chunk exactly what the child task does: a session, ``provider_for_run`` for the run,
    ``restore_chunk`` (provider call per item, units written by its BatchRecorder)."""
    size = chunk_size or DEFAULT_CHUNK
    with _stack(embedded=embedded, database_url=database_url, broker_url="") as (url, _broker, _tmp):
        db = Database(url)
        try:
            upgrade(url)
            tenant_id, user_id = seed(db, items)
            import psutil

            me = psutil.Process()
            db_cpu0 = _backend_cpu(url)
            cpu0 = sum(me.cpu_times()[:2])
            profiler = cProfile.Profile() if profile else None
            t0 = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            with db.session() as s:
                run_id = start_operation(
                    session=s,
                    principal=load_principal(session=s, user_id=user_id),
                    tenant_id=tenant_id,
                    operation_type="backup_set_restore",
                    options=None,
                    dispatcher=_NoDispatch(),
                ).run_id
            with db.session() as s:
                pending = plan_restore(session=s, run_id=run_id)
            for i in range(0, len(pending), size):
                with db.session() as s:
                    provider = provider_for_run(session=s, context=get_run(session=s, run_id=run_id).context)
                    restore_chunk(
                        session=s,
                        open_session=db.session,
                        run_id=run_id,
                        item_ids=pending[i : i + size],
                        provider=provider,
                    )
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"plain loop timed out after {timeout} s")
            elapsed = time.perf_counter() - t0
            if profiler is not None:
                profiler.disable()
            cpu = sum(me.cpu_times()[:2]) - cpu0
            db_cpu = _cpu_delta(db_cpu0, _backend_cpu(url))
            found = _result(db, run_id, items)
        finally:
            db.dispose()
    found |= {
        "kind": "plain",
        "backend": backend(embedded),
        "chunk_size": size,
        "seconds": elapsed,
        "units_per_s": items / elapsed,
        "load": load_average(),
        "cpu_ms_per_unit": cpu / items * 1000,
        "db_cpu_ms_per_unit": db_cpu / items * 1000 if db_cpu is not None else None,
    }
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(40)
        found["profile"] = out.getvalue()
    return found


def restore(
    *,
    items: int,
    threads: int,
    processes: int = 1,
    chunk_size: int | None = None,
    embedded: bool = False,
    database_url: str = DEFAULT_DATABASE_URL,
    broker_url: str = DEFAULT_REDIS_URL,
    timeout: float = 300,
) -> dict[str, Any]:
    """Run one restore of ``items`` units through real Celery workers: ``threads`` worker threads
    in all, split over ``processes`` processes, ``chunk_size`` items per child task (default: the
    console's). The figures; raises if it does not complete in ``timeout`` seconds."""
    if threads % processes:
        raise ValueError("threads must split evenly over processes")
    size = chunk_size or DEFAULT_CHUNK
    with _stack(embedded=embedded, database_url=database_url, broker_url=broker_url) as (url, broker, tmp):
        workers: list[Worker] = []
        db = Database(url)
        dispatcher: CeleryDispatcher | None = None
        try:
            upgrade(url)
            tenant_id, user_id = seed(db, items)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")} | {
                "CONSOLE_DATABASE_URL": url,
                "CONSOLE_INSTANCE_DIR": str(tmp),
                "CONSOLE_BROKER_URL": broker,
                "CONSOLE_SECRET_KEY": "bench",
                "CONSOLE_FANOUT_CHUNK_SIZE": str(size),
                "PYTHONUNBUFFERED": "1",
                "CONSOLE_LOG_LEVEL": "WARNING",
            }
            for i in range(processes):
                workers.append(
                    Worker(env=env, log_path=tmp / f"worker{i}.log", concurrency=threads // processes).start()
                )
            settings = load_settings(
                {"instance_dir": tmp, "database_url": url, "broker_url": broker, "secret_key": "bench"}, environ={}
            )
            dispatcher = CeleryDispatcher(settings)

            import psutil

            wprocs = [psutil.Process(w.proc.pid) for w in workers if w.proc is not None]
            db_cpu0 = _backend_cpu(url)
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
                    status, counts = run.status, counts_of(run)
                    started_at, completed_at = run.started_at, run.completed_at
                if status == "completed":
                    break
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"restore timed out after {timeout} s: {counts}\n{workers[0].tail()}")
                time.sleep(0.05)
            elapsed = time.perf_counter() - t0
            worker_cpu = sum(sum(p.cpu_times()[:2]) for p in wprocs) - cpu0
            db_cpu = _cpu_delta(db_cpu0, _backend_cpu(url))
            rss = max((peak_rss_mb(w.proc.pid) or 0) for w in workers if w.proc is not None)
            found = _result(db, run_id, items)
        finally:
            for w in workers:
                w.kill()  # the run completed: nothing is left to finish
            if dispatcher is not None:
                dispatcher.client.close()
            db.dispose()
    worker_side = (completed_at - started_at).total_seconds() if started_at and completed_at else float("nan")
    return found | {
        "kind": "celery",
        "backend": backend(embedded, broker_url),
        "threads": threads,
        "processes": processes,
        "chunk_size": size,
        "seconds": elapsed,
        "units_per_s": items / elapsed,
        "worker_seconds": worker_side,
        "worker_units_per_s": items / worker_side if worker_side > 0 else float("nan"),
        "worker_peak_rss_mb": rss,
        "load": load_average(),
        "worker_cpu_ms_per_unit": worker_cpu / items * 1000,
        "db_cpu_ms_per_unit": db_cpu / items * 1000 if db_cpu is not None else None,
    }


# --------------------------------------------------------------------------- interleaved series


def _say(msg: str) -> None:
    print(f"[bulk_restore] {msg}", file=sys.stderr, flush=True)


def _line(r: dict[str, Any]) -> str:
    who = "plain loop" if r["kind"] == "plain" else f"celery {r['processes']}×{r['threads'] // r['processes']}"
    return (
        f"{who:<13} chunk {r['chunk_size']:>4}: {r['units_per_s']:6.0f} units/s ({r['seconds']:.1f} s) "
        f"exact={r['exact']} processed={r['processed']} total={r['total']} ledger={r['ledger']} load {r['load']}"
    )


def _median(rs: Sequence[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")


def series(plan: Sequence[Callable[[], dict[str, Any]]], *, repeat: int) -> list[list[dict[str, Any]]]:
    """Run ``plan`` (one callable per configuration) ``repeat`` times, interleaved: round by round."""
    rounds: list[list[dict[str, Any]]] = []
    for n in range(repeat):
        row = []
        for step in plan:
            r = step()
            _say(f"round {n + 1}/{repeat}: {_line(r)}")
            row.append(r)
        rounds.append(row)
    return rounds


def compare(
    *,
    items: int,
    threads: int = 4,
    processes: Sequence[int] = (1, 2, 4),
    chunk_size: int | None = None,
    embedded: bool = False,
    repeat: int = 2,
    database_url: str = DEFAULT_DATABASE_URL,
    broker_url: str = DEFAULT_REDIS_URL,
    timeout: float = 300,
) -> dict[str, Any]:
    """Plain loop, then Celery with each process count, ``repeat`` rounds interleaved; medians and ratios."""
    common = {"items": items, "chunk_size": chunk_size, "embedded": embedded, "database_url": database_url}
    plan: list[Callable[[], dict[str, Any]]] = [lambda: plain(**common, timeout=timeout)]
    for p in processes:
        plan.append(lambda p=p: restore(**common, threads=threads, processes=p, broker_url=broker_url, timeout=timeout))
    rounds = series(plan, repeat=repeat)
    base = [row[0] for row in rounds]
    base_rate = _median(base, "units_per_s")
    rows = []
    for i, p in enumerate(processes, 1):
        rs = [row[i] for row in rounds]
        paired = [row[i]["units_per_s"] / row[0]["units_per_s"] for row in rounds]
        rows.append(
            {
                "processes": p,
                "threads_each": threads // p,
                "units_per_s": _median(rs, "units_per_s"),
                "runs": [r["units_per_s"] for r in rs],
                "ratio": _median(rs, "units_per_s") / base_rate,
                "paired_ratios": paired,
                "worker_units_per_s": _median(rs, "worker_units_per_s"),
                "worker_cpu_ms_per_unit": _median(rs, "worker_cpu_ms_per_unit"),
                "db_cpu_ms_per_unit": _median(rs, "db_cpu_ms_per_unit"),
                "worker_peak_rss_mb": max(r["worker_peak_rss_mb"] for r in rs),
                "exact": all(r["exact"] for r in rs),
                "checks": [(r["processed"], r["total"], r["ledger"]) for r in rs],
                "loads": [r["load"] for r in rs],
            }
        )
    return {
        "backend": backend(embedded, broker_url),
        "items": items,
        "threads": threads,
        "chunk_size": chunk_size or DEFAULT_CHUNK,
        "repeat": repeat,
        "plain": {
            "units_per_s": base_rate,
            "runs": [r["units_per_s"] for r in base],
            "cpu_ms_per_unit": _median(base, "cpu_ms_per_unit"),
            "db_cpu_ms_per_unit": _median(base, "db_cpu_ms_per_unit"),
            "exact": all(r["exact"] for r in base),
            "checks": [(r["processed"], r["total"], r["ledger"]) for r in base],
        },
        "celery": rows,
        "rounds": rounds,
    }


def sweep(
    *,
    items: int,
    sizes: Sequence[int],
    threads: int = 4,
    repeat: int = 2,
    database_url: str = DEFAULT_DATABASE_URL,
    broker_url: str = DEFAULT_REDIS_URL,
    timeout: float = 300,
    tolerance: float = 0.05,
) -> dict[str, Any]:
    """Chunk sizes, one worker process × ``threads``: each size as plain loop then Celery, rounds interleaved.

    The choice: the smallest size whose Celery rate is within ``tolerance`` of the best one, on
    the rate normalised by its round's plain-loop median (so a round on a busier machine does
    not pick the size); the raw medians are reported next to it."""
    plan: list[Callable[[], dict[str, Any]]] = []
    for size in sizes:
        common = {"items": items, "chunk_size": size, "database_url": database_url, "timeout": timeout}
        plan.append(lambda common=common: plain(**common))
        plan.append(lambda common=common: restore(**common, threads=threads, processes=1, broker_url=broker_url))
    rounds = series(plan, repeat=repeat)
    rows = []
    for j, size in enumerate(sizes):
        ps = [row[2 * j] for row in rounds]
        cs = [row[2 * j + 1] for row in rounds]
        normalised = [
            row[2 * j + 1]["units_per_s"] / statistics.median(r["units_per_s"] for r in row[0::2]) for row in rounds
        ]
        rows.append(
            {
                "chunk_size": size,
                "plain_units_per_s": _median(ps, "units_per_s"),
                "celery_units_per_s": _median(cs, "units_per_s"),
                "celery_runs": [r["units_per_s"] for r in cs],
                "ratio": _median(cs, "units_per_s") / _median(ps, "units_per_s"),
                "normalised": statistics.median(normalised),
                "worker_cpu_ms_per_unit": _median(cs, "worker_cpu_ms_per_unit"),
                "db_cpu_ms_per_unit": _median(cs, "db_cpu_ms_per_unit"),
                "exact": all(r["exact"] for r in ps + cs),
                "loads": [r["load"] for r in cs],
            }
        )
    best = max(r["normalised"] for r in rows)
    chosen = min(r["chunk_size"] for r in rows if r["normalised"] >= (1 - tolerance) * best)
    return {"items": items, "threads": threads, "repeat": repeat, "rows": rows, "chosen": chosen, "rounds": rounds}


# --------------------------------------------------------------------------- reporting


def _cpu(process_ms: float, db_ms: float | None) -> str:
    """CPU per unit: the process(es), plus the PostgreSQL backends (SQLite runs inside the process)."""
    if db_ms is None or db_ms != db_ms:  # None or NaN: no PostgreSQL backends to read
        return f"{process_ms:.2f} (SQLite in process)"
    return f"{process_ms:.2f} + {db_ms:.2f}"


def compare_table(found: dict[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    plain_ = found["plain"]
    rows: list[list[Any]] = [
        [
            "plain loop (in process, 1 thread, no Celery)",
            f"{plain_['units_per_s']:.0f}",
            " / ".join(f"{x:.0f}" for x in plain_["runs"]),
            "1.00 (baseline)",
            _cpu(plain_["cpu_ms_per_unit"], plain_["db_cpu_ms_per_unit"]),
            "yes" if plain_["exact"] else "**no**",
        ]
    ]
    for r in found["celery"]:
        rows.append(
            [
                f"Celery: {r['processes']} process(es) × {r['threads_each']} threads",
                f"{r['units_per_s']:.0f}",
                " / ".join(f"{x:.0f}" for x in r["runs"]),
                f"{r['ratio']:.2f} (rounds: {', '.join(f'{x:.2f}' for x in r['paired_ratios'])})",
                _cpu(r["worker_cpu_ms_per_unit"], r["db_cpu_ms_per_unit"]),
                "yes" if r["exact"] else "**no**",
            ]
        )
    caption = (
        f"{found['items']:,}-item restore, {found['backend']}, chunk size {found['chunk_size']}, "
        f"{found['repeat']} interleaved round(s) (plain loop, then Celery with "
        f"{', '.join(str(r['processes']) for r in found['celery'])} process(es), …); medians. "
        f"Target: ≥ {TARGET_UNITS_PER_S} units/s and ≥ {TARGET_RATIO:.0%} of the plain loop."
    )
    headers = [
        "what",
        "units/s (median)",
        "runs",
        "ratio to plain loop",
        "CPU ms/unit: process(es) + database",
        "exact (processed == total == ledger == items)",
    ]
    return caption, headers, rows


def sweep_table(found: dict[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    rows = [
        [
            r["chunk_size"],
            f"{r['plain_units_per_s']:.0f}",
            f"{r['celery_units_per_s']:.0f} ({' / '.join(f'{x:.0f}' for x in r['celery_runs'])})",
            f"{r['ratio']:.2f}",
            f"{r['normalised']:.2f}",
            f"{r['worker_cpu_ms_per_unit']:.2f} + {r['db_cpu_ms_per_unit'] or float('nan'):.2f}",
            "yes" if r["exact"] else "**no**",
            "; ".join(r["loads"]),
        ]
        for r in found["rows"]
    ]
    caption = (
        f"Chunk-size sweep: {found['items']:,} items, PostgreSQL + Redis, 1 worker × {found['threads']} threads, "
        f"{found['repeat']} interleaved round(s) (each size: plain loop, then Celery); medians. "
        f"Chosen: **{found['chosen']}** (smallest within 5 % of the best normalised rate)."
    )
    headers = [
        "chunk size",
        "plain loop units/s",
        "Celery units/s (runs)",
        "Celery / plain",
        "Celery / round's plain median",
        "worker + PostgreSQL CPU ms/unit",
        "exact",
        "load avg (Celery runs)",
    ]
    return caption, headers, rows


def run(
    *,
    units: int = 10_000,
    threads: int = 4,
    repeat: int = 2,
    embedded_repeat: int = 2,
    chunk_size: int | None = None,
    database_url: str = DEFAULT_DATABASE_URL,
    broker_url: str = DEFAULT_REDIS_URL,
) -> tuple[list[Section], dict[str, Any]]:
    """The ``python -m bench`` part: PostgreSQL + Redis with 1/2/4 processes, then the embedded default."""
    yard_before = machine_line()
    pg = compare(
        items=units,
        threads=threads,
        processes=(1, 2, 4),
        chunk_size=chunk_size,
        repeat=repeat,
        database_url=database_url,
        broker_url=broker_url,
    )
    emb = compare(
        items=units, threads=threads, processes=(1,), chunk_size=chunk_size, embedded=True, repeat=embedded_repeat
    )
    section = Section(f"6. Chunked fan-out restore: {units:,} units vs a plain in-process loop")
    for found in (pg, emb):
        section.table(*compare_table(found))
    section.notes.append(f"machine before: {yard_before}")
    section.notes.append(f"machine after: {machine_line()}")
    section.notes.append(f"uptime at end: {uptime()}")
    section.raw = {"postgresql": _strip(pg), "embedded": _strip(emb)}
    return [section], {"worker_peak_rss_mb": pg["celery"][0]["worker_peak_rss_mb"]}


def _strip(found: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in found.items() if k != "rounds"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--processes", type=int, default=1, help="worker processes sharing the threads")
    parser.add_argument("--chunk-size", type=int, help=f"CONSOLE_FANOUT_CHUNK_SIZE (default {DEFAULT_CHUNK})")
    parser.add_argument("--embedded", action="store_true", help="SQLite + the embedded sqla+sqlite broker")
    parser.add_argument("--compare", help="interleave the plain loop with Celery at these process counts, e.g. 1,2,4")
    parser.add_argument("--sweep", help="chunk sizes to sweep (PostgreSQL + Redis, 1 process), e.g. 10,25,50,100,250")
    parser.add_argument("--repeat", type=int, default=2, help="interleaved rounds for --compare / --sweep")
    parser.add_argument("--plain-only", action="store_true", help="only the plain loop")
    parser.add_argument("--profile", action="store_true", help="with --plain-only: cProfile the loop")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--broker-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=300, help="seconds per run")
    args = parser.parse_args(argv)
    kw = {"items": args.items, "database_url": args.database_url, "timeout": args.timeout}
    print(f"machine: {machine_line()}")
    ok = True
    if args.sweep:
        found = sweep(
            **kw,
            sizes=[int(x) for x in args.sweep.split(",")],
            threads=args.threads,
            repeat=args.repeat,
            broker_url=args.broker_url,
        )
        from bench.common import md_table

        caption, headers, rows = sweep_table(found)
        print(f"\n{caption}\n\n{md_table(headers, rows)}")
        ok = all(r["exact"] for r in found["rows"])
    elif args.compare:
        found = compare(
            **kw,
            threads=args.threads,
            processes=[int(x) for x in args.compare.split(",")],
            chunk_size=args.chunk_size,
            embedded=args.embedded,
            repeat=args.repeat,
            broker_url=args.broker_url,
        )
        from bench.common import md_table

        caption, headers, rows = compare_table(found)
        print(f"\n{caption}\n\n{md_table(headers, rows)}")
        ok = found["plain"]["exact"] and all(r["exact"] for r in found["celery"])
    elif args.plain_only:
        r = plain(**kw, chunk_size=args.chunk_size, embedded=args.embedded, profile=args.profile)
        print(_line(r))
        print(f"  CPU per unit: this process {r['cpu_ms_per_unit']:.2f} ms, database {r['db_cpu_ms_per_unit']} ms")
        if args.profile:
            print(r["profile"])
        ok = r["exact"]
    else:
        r = restore(
            **kw,
            threads=args.threads,
            processes=args.processes,
            chunk_size=args.chunk_size,
            embedded=args.embedded,
            broker_url=args.broker_url,
        )
        print(
            f"bulk restore: {r['items']} items, {r['threads']} worker threads in {r['processes']} process(es), "
            f"chunk size {r['chunk_size']}, {r['backend']} (load {r['load']})"
        )
        print(f"  outcome={r['outcome']} counts={r['counts']} ledger rows={r['ledger']}")
        print(f"  enqueue -> completed: {r['seconds']:.2f} s ({r['units_per_s']:.0f} items/s)")
        print(
            f"  started -> completed (worker side): {r['worker_seconds']:.2f} s ({r['worker_units_per_s']:.0f} items/s)"
        )
        print(
            f"  worker peak RSS: {r['worker_peak_rss_mb']} MiB; CPU per unit: worker "
            f"{r['worker_cpu_ms_per_unit']:.2f} ms, database {r['db_cpu_ms_per_unit'] or float('nan'):.2f} ms"
        )
        ok = r["exact"]
    print(f"machine: {machine_line()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
