"""The API's cheap poll against the bare Dash no-op callback, in one process, interleaved.

    .venv/bin/python -m bench.api_poll [--rounds 7] [--requests 300]

``GET /api/v1/runs/<id>`` with ``If-None-Match`` (304: two SQL statements — token + user +
access, then the run with its tenant and pack — the limiter, the run object and its ETag) on
the console (SQLite, the test world, one running run), against
``bench/bare_dash.py``'s no-op callback (Flask + Dash dispatch only, 204). Both go through
Werkzeug's WSGI test client in this process, so the figures are the server's work without the
network; segments alternate and the order flips every round. Printed: p50 of each, per round
and the median over rounds, and the ratio (target ≤ 1.5×)."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bare_dash import BARE_POLL_BODY
from bench.bare_dash import server as bare_server


def _console():
    from tests.support.api import api_app, make_run

    tmp = Path(tempfile.mkdtemp(prefix="console-bench-api-"))
    ctx = api_app(f"sqlite:///{tmp / 'console.db'}", tmp, api_rate_limit="1000000/minute")
    app = ctx.__enter__()
    run_id = make_run(app, app.api.world.tenant_ids[0], status="running", outcome=None, units=3)
    return ctx, app, run_id


def _p50(fn, n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    ctx, app, run_id = _console()
    try:
        api = app.server.test_client()
        headers = {"Authorization": f"Bearer {app.api.tokens['manager', 'read_only']}"}
        path = f"/api/v1/runs/{run_id}"
        etag = api.get(path, headers=headers).headers["ETag"]
        headers["If-None-Match"] = etag
        bare = bare_server.test_client()

        def api_poll() -> None:
            r = api.get(path, headers=headers)
            assert r.status_code == 304, r.status_code

        def bare_poll() -> None:
            r = bare.post("/_dash-update-component", json=BARE_POLL_BODY)
            assert r.status_code == 204, r.status_code

        for fn in (api_poll, bare_poll):  # warm both
            _p50(fn, 50)
        api_p50s, bare_p50s = [], []
        print("| round | API 304 p50 (ms) | bare Dash no-op p50 (ms) | ratio |\n|---|---|---|---|")
        for i in range(args.rounds):
            order = (api_poll, bare_poll) if i % 2 == 0 else (bare_poll, api_poll)
            got = {fn.__name__: _p50(fn, args.requests) for fn in order}
            api_p50s.append(got["api_poll"])
            bare_p50s.append(got["bare_poll"])
            print(
                f"| {i + 1} | {got['api_poll'] * 1000:.2f} | {got['bare_poll'] * 1000:.2f} | "
                f"{got['api_poll'] / got['bare_poll']:.2f}× |"
            )
        a, b = statistics.median(api_p50s), statistics.median(bare_p50s)
        print(f"| median | {a * 1000:.2f} | {b * 1000:.2f} | **{a / b:.2f}×** (target ≤ 1.5×) |")
    finally:
        ctx.__exit__(None, None, None)


if __name__ == "__main__":
    main()
