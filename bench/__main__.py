"""Run the whole benchmark suite and print the figures as markdown: ``python -m bench``.

    .venv/bin/python -m bench [--only poll,dashboard,counting,fanout,browser] [--json results.json] [--explain]

Needs PostgreSQL (BENCH_DATABASE_URL, default postgresql+psycopg://postgres@127.0.0.1:5432/test;
scratch databases are created next to it and dropped), Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/13 — FLUSHDB on that db only) and Debian's chromium + chromedriver.
Each figure is measured against a baseline in the same run; every table carries the load
average at the time, because the figures move with whatever else the machine is doing.
See docs/performance.md for what each figure means.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import Section, cpu_ticks, dataset, dump_json, machine_line, ms, steal_percent, uptime

ALL = ("poll", "dashboard", "counting", "fanout", "browser")


def _summary(found: dict[str, Any]) -> Section:
    s = Section("Summary: targets (issue 7)")
    rows: list[list[Any]] = []
    poll = found.get("poll")
    if poll:
        g100 = (poll["http"].get("100") or {}).get("guarded_paced")
        if g100:
            rows.append(
                [
                    "run-viewer poll p50 at 100 pollers (paced 1/s, over HTTP)",
                    "≤ 5 ms",
                    f"{ms(g100['p50'])} ms",
                    "yes" if g100["p50"] <= 0.005 else "**no**",
                ]
            )
            rows.append(
                [
                    "run-viewer poll p99 at 100 pollers",
                    "≤ 25 ms",
                    f"{ms(g100['p99'])} ms",
                    "yes" if g100["p99"] <= 0.025 else "**no**",
                ]
            )
            closed = poll["http"]["100"]["guarded_closed"]
            rows.append(
                [
                    "CPU per poll (web + PostgreSQL, closed loop at 100)",
                    "—",
                    f"{closed['cpu_web_ms']:.2f} + {closed['cpu_db_ms']:.2f} ms",
                    "",
                ]
            )
        stmts = {k: v["statements"] for k, v in poll["in_process"].items()}
        worst = max(len(v) for k, v in stmts.items() if k.startswith("run poll"))
        rows.append(["SQL statements per run-viewer poll", "≤ 2", str(worst), "yes" if worst <= 2 else "**no**"])
    browser = found.get("browser")
    if browser:
        zero = [r for r in browser["results"] if r["expected"] == "0"]
        rows.append(
            [
                "requests/min: terminal run, hidden tab, open modal",
                "0",
                ", ".join(f"{r['per_minute']:.0f}" for r in zero),
                "yes" if all(r["requests"] == 0 for r in zero) else "**no**",
            ]
        )
        active = [r for r in browser["results"] if r["scenario"].startswith("active run")]
        rows.append(
            [
                "requests/min: active run < 10 s / 10–60 s / older (run-poll + shell)",
                "120 / 24 / 12",
                " / ".join(f"{r['per_minute']:.0f}" for r in active),
                "see table 2 (±60/window)",
            ]
        )
    counting = found.get("counting")
    if counting:
        e2e = counting["end_to_end"]
        rows.append(
            [
                "bulk restore units/s (10,000 units, 4 threads)",
                "≥ 500",
                f"{e2e['units_per_s']:.0f}",
                "yes" if e2e["units_per_s"] >= 500 else "**no**",
            ]
        )
        exact = e2e["processed"] == e2e["total"] == e2e["ledger"] == e2e["items"]
        rows.append(
            [
                "processed == total, one ledger row per unit",
                "exact",
                f"{e2e['processed']:,} / {e2e['total']:,}, ledger {e2e['ledger']:,}",
                "yes" if exact else "**no**",
            ]
        )
        rows.append(
            [
                "naive read-modify-write counter, lost updates",
                "(baseline)",
                f"{counting['naive']['lost']:,} of {e2e['items']:,}",
                "",
            ]
        )
    fanout = found.get("fanout")
    if fanout:
        pg, emb = fanout["postgresql"], fanout["embedded"]
        for row in pg["celery"]:
            rows.append(
                [
                    f"chunked restore units/s, {row['processes']} × {row['threads_each']} threads "
                    f"(chunk {pg['chunk_size']}, {pg['backend']})",
                    "≥ 500" if row["processes"] == 1 else "—",
                    f"{row['units_per_s']:.0f} ({row['ratio']:.2f} × the plain loop's "
                    f"{pg['plain']['units_per_s']:.0f})",
                    ("yes" if row["units_per_s"] >= 500 else "**no**") if row["processes"] == 1 else "",
                ]
            )
        one = pg["celery"][0]
        rows.append(
            [
                "1 worker × 4 threads vs plain in-process loop (same run, interleaved)",
                "≥ 50 %",
                f"{one['ratio']:.0%}",
                "yes" if one["ratio"] >= 0.5 else "**no**",
            ]
        )
        e1 = emb["celery"][0]
        rows.append(
            [
                f"embedded default (SQLite + embedded broker), {e1['processes']} × {e1['threads_each']} threads",
                "—",
                f"{e1['units_per_s']:.0f} ({e1['ratio']:.2f} × the plain loop's {emb['plain']['units_per_s']:.0f})",
                "",
            ]
        )
        exact = pg["plain"]["exact"] and emb["plain"]["exact"] and all(r["exact"] for r in pg["celery"] + emb["celery"])
        rows.append(
            [
                "chunked restore: processed == total == ledger rows == items, every run",
                "exact",
                "",
                "yes" if exact else "**no**",
            ]
        )
    dash_ = found.get("dashboard")
    if dash_:
        worst_label, worst = max(((k, v["p50"]) for k, v in dash_["after"].items()), key=lambda kv: kv[1])
        rows.append(
            [
                f"dashboard / operations list server time, slowest p50 ({worst_label})",
                "≤ 150 ms",
                f"{ms(worst)} ms",
                "yes" if worst <= 0.150 else "**no**",
            ]
        )
    mem = found.get("memory", {})
    for label, value in mem.items():
        rows.append([f"peak RSS: {label}", "—", f"{value:.0f} MiB" if value else "n/a", ""])
    s.table("", ["figure", "target", "measured", "met"], rows)
    return s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmark suite (docs/performance.md).")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated subset of {', '.join(ALL)}")
    parser.add_argument("--json", type=Path, help="also write every figure (and raw samples) here")
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the dashboard's slowest statements"
    )
    parser.add_argument("--pollers", default="1,20,100")
    parser.add_argument("--units", type=int, default=10_000)
    args = parser.parse_args(argv)
    only = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = set(only) - set(ALL)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    started = time.monotonic()
    header = [f"uptime at start: {uptime()}", f"at start: {machine_line()}"]
    sections: list[Section] = []
    found: dict[str, Any] = {"memory": {}}
    failed: list[str] = []

    @contextmanager
    def part(name: str) -> Iterator[None]:
        """One benchmark: a failure is reported (traceback on stderr) and the others still run;
        the hypervisor's CPU steal while it ran goes in the header."""
        ticks = cpu_ticks()
        try:
            yield
        except Exception:
            traceback.print_exc()
            failed.append(name)
            print(f"[bench] {name} FAILED at {time.monotonic() - started:.0f} s", file=sys.stderr)
        else:
            print(f"[bench] {name} done at {time.monotonic() - started:.0f} s", file=sys.stderr)
        finally:
            steal = steal_percent(ticks, cpu_ticks())
            if steal is not None:
                header.append(f"CPU steal during {name}: {steal:.0f} %")

    if "poll" in only or "dashboard" in only:
        from bench import dashboard_render, poll_cost

        with dataset() as world:
            header.append(
                f"dataset: {world.runs:,} runs across {len(world.tenant_ids)} tenants (PostgreSQL), "
                f"seeded in {world.seconds:.1f} s"
            )
            if "poll" in only:
                with part("poll"):
                    secs, extra = poll_cost.run(
                        world, pollers=[int(x) for x in args.pollers.split(",")], paced_s=12, closed_s=6
                    )
                    sections += secs
                    found["poll"] = extra
                    for name, value in (extra.get("peak_rss_mb") or {}).items():
                        found["memory"][f"gunicorn {name}"] = value
            if "dashboard" in only:
                with part("dashboard"):
                    secs, raw = dashboard_render.run(world, repeat=30, want_explain=True)
                    sections += secs
                    found["dashboard"] = raw
                    if args.explain:
                        dashboard_render.print_explain(raw)
    if "counting" in only:
        from bench import counting

        with part("counting"):
            secs, extra = counting.run(units=args.units, threads=4)
            sections += secs
            found["counting"] = secs[0].raw
            found["memory"]["Celery worker (4 threads)"] = extra.get("worker_peak_rss_mb")
    if "fanout" in only:
        from bench import bulk_restore

        with part("fanout"):
            secs, extra = bulk_restore.run(units=args.units, threads=4)
            sections += secs
            found["fanout"] = secs[0].raw
            found["memory"]["Celery worker, chunked restore (1 × 4 threads)"] = extra.get("worker_peak_rss_mb")
    if "browser" in only:
        from bench import page_requests

        with part("browser"):
            secs, extra = page_requests.run()
            sections += secs
            found["browser"] = extra

    summary = _summary(found)
    header.append(f"uptime at end: {uptime()}; suite took {time.monotonic() - started:.0f} s")
    header.append(f"at end: {machine_line()}")
    if failed:
        header.append(f"**FAILED (traceback on stderr): {', '.join(failed)}**")
    print("# Benchmark figures\n")
    print("\n".join(f"- {h}" for h in header) + "\n")
    print(summary.markdown())
    for s in sections:
        print(s.markdown())
    if args.json:
        dump_json([summary, *sections], args.json)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
