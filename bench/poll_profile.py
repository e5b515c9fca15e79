"""Where a run-viewer poll's time goes, in process: the guarded poll that answers 204 (nothing
changed) against the bare Dash no-op callback (``bench/bare_dash.py``), both through Flask's
test client, interleaved; then a cProfile of the console's poll grouped by layer.

    .venv/bin/python -m bench.poll_profile [--polls 2000]

SQLite scratch database (the embedded default), the test world and one running run. Printed:
per-request time of each (median of interleaved rounds), the ratio, the machine yardstick, and
the share of the poll's time per layer (Flask/Werkzeug request handling, Dash dispatch, the
console's auth gate + CSRF, the principal, the snapshot read (SQLAlchemy + the driver), the
fingerprint, the rest).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bare_dash import BARE_POLL_BODY
from bench.bare_dash import app as bare_app
from bench.common import machine_line
from bench.web_layer import MANAGER, seed

#: Substrings of a profiled function's file path -> the layer it belongs to (first match wins).
LAYERS = (
    ("console/web/", "console: auth gate, CSRF, request context"),
    ("console/access", "console: principal and access"),
    ("console/accounts", "console: principal and access"),
    ("console/operations/queries", "console: snapshot read (query code)"),
    ("console/components/", "console: poll callback, fingerprint, guard"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("sqlite3", "SQLite driver"),
    ("flask_login", "Flask-Login"),
    ("flask_wtf", "Flask-WTF (CSRF)"),
    ("flask_limiter", "Flask-Limiter"),
    ("dash/", "Dash dispatch"),
    ("werkzeug/", "Werkzeug/Flask request handling"),
    ("flask/", "Werkzeug/Flask request handling"),
    ("json", "JSON"),
)


def console_client(url: str, tmp: Path):
    from console.app import create_app
    from tests.factories import PASSWORD

    app = create_app({"instance_dir": tmp / "instance", "database_url": url, "secret_key": "bench-secret"})
    client = app.server.test_client()
    client.get("/login")
    r = client.post(
        "/login", data={"email": MANAGER, "password": PASSWORD, "csrf_token": client.get_cookie("_csrf_token").value}
    )
    assert r.status_code == 302, r.status_code
    client.get(r.headers["Location"])  # a page after sign-in: the new session's CSRF token
    return app, client


def poll_body(app, client, run_id: int) -> bytes:
    from tests.support.web import callback_body

    def body(fingerprint, policy) -> bytes:
        return json.dumps(
            callback_body(
                app,
                "run-view.children",
                [("run-poll", "n_intervals", 5)],
                [
                    ("run-id", "data", run_id),
                    ("run-fingerprint", "data", fingerprint),
                    ("run-poll-policy", "data", policy),
                ],
                ["run-poll.n_intervals"],
            )
        ).encode()

    first = send(client, body(None, None)).get_json()["response"]
    return body(first["run-fingerprint"]["data"], first["run-poll-policy"]["data"])


def send(client, data: bytes):
    token = client.get_cookie("_csrf_token")
    headers = {"X-CSRFToken": token.value} if token else {}
    return client.post("/_dash-update-component", data=data, content_type="application/json", headers=headers)


def timed(client, data: bytes, n: int, expect: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        r = send(client, data)
    assert r.status_code == expect, r.status_code
    return (time.perf_counter() - t0) / n


def layer_of(filename: str) -> str:
    return next((layer for needle, layer in LAYERS if needle in filename), "other (Python, stdlib)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-profile-"))
    url = f"sqlite:///{tmp / 'console.db'}"
    run_id = seed(url).run_id
    app, client = console_client(url, tmp)
    data = poll_body(app, client, run_id)
    bare = bare_app.server.test_client()
    bare_data = json.dumps(BARE_POLL_BODY).encode()
    per = max(1, args.polls // args.rounds)
    console_t, bare_t = [], []
    for i in range(args.rounds):  # interleaved, order flipped each round
        pair = [("c", client, data, 204), ("b", bare, bare_data, 204)]
        for name, c, d, expect in pair if i % 2 == 0 else pair[::-1]:
            (console_t if name == "c" else bare_t).append(timed(c, d, per, expect))
    c_ms, b_ms = statistics.median(console_t) * 1000, statistics.median(bare_t) * 1000
    print("## Run-viewer poll (204) in process vs the bare Dash no-op callback\n")
    print(machine_line())
    print(f"\n| request | ms per request (median of {args.rounds} rounds × {per}) |\n|---|---|")
    print(f"| bare Dash no-op callback | {b_ms:.3f} |\n| console run-viewer poll, unchanged | {c_ms:.3f} |")
    print(f"\n- ratio console / bare: {c_ms / b_ms:.1f}×")

    profiler = cProfile.Profile()
    profiler.enable()
    timed(client, data, per, 204)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = sum(tt for (_, _, tt, _, _) in stats.stats.values())  # own time of every function
    by_layer: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        by_layer[layer_of(filename)] = by_layer.get(layer_of(filename), 0.0) + tt
    print("\n| layer (own time of its functions) | share of the poll | ms per poll |\n|---|---|---|")
    for layer, tt in sorted(by_layer.items(), key=lambda kv: -kv[1]):
        print(f"| {layer} | {100 * tt / total:.0f} % | {1000 * tt / per:.3f} |")
    print("\n(cProfile inflates per-call overhead; the shares, not the absolute ms, are the figure.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
