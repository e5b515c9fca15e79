"""Figure 2 — requests per page-minute in headless Chromium, against an always-on 1 s Interval.

    .venv/bin/python -m bench.page_requests [--window 20]

The console runs in process (threaded Werkzeug on a scratch SQLite file, the browser suites'
test world); a ``before_request`` hook counts every request the server receives. Debian's
Chromium (headless, the browser suites' options; never a downloaded driver) logs in through
the real form, opens each page with a full load, waits for it to settle, then the requests in
a window are counted and scaled to one minute. Windows are short (``--window`` s, 30 s for
10 s cadences, ~7 s for the < 10 s bucket, which a run only stays in for 10 s), so a count is
±1 poll: ±(60 / window) per minute.

Scenarios: an active run in each age bucket (< 10 s, 10–60 s, older), a terminal run, a hidden
tab (Page Visibility overridden as in tests/browser/test_polling_guards.py), an open modal,
and the tenant dashboard while a review pack is being generated — versus a naive page: a
dcc.Interval always on at 1 s whose server callback re-reads the run every tick.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file (python bench/x.py): make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Section, free_port, load_average, ratio, uptime

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = (
    "--headless=new",
    "--no-first-run",
    "--disable-extensions",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--window-size=1280,900",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
    # what dash's testing plugin adds to every browser it starts
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
)
SET_HIDDEN_JS = """
var hidden = arguments[0];
Object.defineProperty(document, "visibilityState", {
    configurable: true, get: function () { return hidden ? "hidden" : "visible"; }
});
Object.defineProperty(document, "hidden", {configurable: true, get: function () { return hidden; }});
document.dispatchEvent(new Event("visibilitychange"));
"""
SURFACES = ("run-poll", "activity-poll", "review-pack-poll", "dashboard-poll", "operations-poll", "naive-poll")


class RequestLog:
    """Every request a Flask server receives: (monotonic time, path, surface)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: list[tuple[float, str, str]] = []

    def install(self, server) -> RequestLog:
        from flask import request

        def _record() -> None:
            surface = "page/asset"
            if request.path == "/_dash-update-component":
                body = request.get_json(silent=True) or {}
                changed = [str(p) for p in body.get("changedPropIds") or ()]
                surface = next((s for s in SURFACES for p in changed if p.startswith(s + ".")), "other callback")
            with self.lock:
                self.entries.append((time.monotonic(), request.path, surface))

        server.before_request_funcs.setdefault(None, []).insert(0, _record)
        return self

    def between(self, t0: float, t1: float) -> Counter:
        with self.lock:
            return Counter(s for t, _, s in self.entries if t0 <= t < t1)


class Served:
    """A WSGI app on a free loopback port, in a thread."""

    def __init__(self, wsgi_app) -> None:
        from werkzeug.serving import make_server

        self.port = free_port()
        self.httpd = make_server("127.0.0.1", self.port, wsgi_app, threaded=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.httpd.shutdown()


def chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    missing = [
        n for n, p in (("chromedriver", shutil.which("chromedriver")), ("chromium", shutil.which(CHROMIUM))) if not p
    ]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver); no driver is downloaded"
        )
    options = Options()
    options.binary_location = CHROMIUM
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    return webdriver.Chrome(options=options)


def wait_for(driver, css: str, timeout: float = 10) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def naive_app(database_url: str):
    """The baseline: an always-on 1 s Interval; its callback re-reads the run every tick."""
    import dash
    from dash import Input, Output, dcc, html

    from console.db import Database
    from console.operations.models import OperationRun

    db = Database(database_url)
    app = dash.Dash("naive", serve_locally=True, update_title=None)
    app.layout = html.Div(
        [dcc.Interval(id="naive-poll", interval=1000), dcc.Store(id="naive-run"), html.Div(id="naive-status")]
    )

    @app.callback(Output("naive-status", "children"), Input("naive-poll", "n_intervals"), Input("naive-run", "data"))
    def _tick(_n, _run):
        with db.session() as s:
            run = s.query(OperationRun).order_by(OperationRun.id.desc()).first()
            return f"{run.status} {run.summary_counts}" if run else "no run"

    return app, db


def run(*, window: float = 15.0, quiet_window: float = 12.0) -> tuple[list[Section], dict[str, Any]]:
    import logging

    from sqlalchemy import update

    from bench.poll_cost import NullDispatcher
    from console.app import create_app
    from console.db import utcnow
    from console.migrate import upgrade
    from console.operations.models import OperationRun
    from console.review_packs.models import ReviewPack
    from tests.factories import PASSWORD, build_world

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log lines on stderr
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-browser-"))
    url = f"sqlite:///{tmp / 'console.db'}"
    upgrade(url)
    app = create_app(
        {
            "instance_dir": tmp / "instance",
            "database_url": url,
            "secret_key": "bench-browser",
            "dispatcher": NullDispatcher(),
        }
    )
    db = app.server.extensions["console.db"]
    with db.session() as s:
        world = build_world(s)
    log = RequestLog().install(app.server)
    naive, naive_db = naive_app(url)
    naive_log = RequestLog().install(naive.server)
    served, served_naive = Served(app.server), Served(naive.server)
    driver = chrome()
    results: list[dict[str, Any]] = []

    def quiet_everything() -> None:
        with db.session() as s:
            s.execute(
                update(OperationRun)
                .where(OperationRun.status.in_(("queued", "running")))
                .values(status="completed", outcome="succeeded", completed_at=utcnow())
            )
            s.execute(
                update(ReviewPack)
                .where(ReviewPack.status.in_(("queued", "generating")))
                .values(status="failed", error="bench")
            )
            s.commit()

    def make_run(*, age_s: float, status: str = "running", **fields: Any) -> int:
        now = utcnow()
        values: dict[str, Any] = {
            "workspace_id": world.workspace_id,
            "tenant_id": world.tenant_ids[0],
            "type": "inventory_sync",
            "status": status,
            "summary_counts": {"total": 100, "processed": 40, "succeeded": 40} if status != "queued" else {},
            "context": {},
            "initiator_user_id": world.users["manager"],
            "created_at": now - timedelta(seconds=age_s),
        }
        if status != "queued":
            values["started_at"] = values["created_at"]
            values["heartbeat_at"] = now
        if status == "completed":
            values.update(
                outcome="succeeded", completed_at=now, summary_counts={"total": 100, "processed": 100, "succeeded": 100}
            )
        values.update(fields)
        with db.session() as s:
            r = OperationRun(**values)
            s.add(r)
            s.commit()
            return r.id

    def measure(
        name: str,
        expected: str,
        base: str,
        path: str,
        ready_css: str,
        seconds,
        *,
        the_log: RequestLog = log,
        before=None,
        settle: float = 2.0,
    ) -> None:
        t_open = time.monotonic()
        driver.get(base + path)
        wait_for(driver, ready_css)
        time.sleep(settle)
        if before is not None:
            before()
            time.sleep(0.5)
        t0 = time.monotonic()
        time.sleep(seconds() if callable(seconds) else seconds)
        t1 = time.monotonic()
        counts = the_log.between(t0, t1)
        load_counts = the_log.between(t_open, t0)
        total = sum(counts.values())
        results.append(
            {
                "scenario": name,
                "expected": expected,
                "window_s": round(t1 - t0, 1),
                "requests": total,
                "per_minute": total / (t1 - t0) * 60,
                "by_surface": dict(counts),
                "page_load_requests": sum(load_counts.values()),
                "load": load_average(),
            }
        )

    try:
        # log in once through the real form (the session cookie then serves every page)
        driver.get(served.url + "/login?next=/")
        wait_for(driver, "input[name=email]")
        driver.find_element("css selector", "input[name=email]").send_keys("manager@test.example")
        driver.find_element("css selector", "input[name=password]").send_keys(PASSWORD)
        driver.find_element("css selector", "#login-submit").click()
        wait_for(driver, "#_pages_content")

        quiet_everything()
        young = make_run(age_s=0)
        # the run stays < 10 s old only until t=10 s: count from the settled page up to then

        def until_ten_seconds_old() -> float:
            # the run is < 10 s old only until t = 10 s: count from the settled page up to then
            with db.session() as s:
                created = s.get(OperationRun, young).created_at
            return max(2.0, 9.7 - (utcnow() - created).total_seconds())

        measure(
            "active run, age < 10 s",
            "run-poll 60 + shell 60",
            served.url,
            f"/admin/operations/{young}",
            "#run-status",
            until_ten_seconds_old,
            settle=1.0,
        )

        quiet_everything()
        mid = make_run(age_s=12)
        measure(
            "active run, age 10–60 s",
            "run-poll 12 + shell 12",
            served.url,
            f"/admin/operations/{mid}",
            "#run-status",
            window,
        )

        quiet_everything()
        old = make_run(age_s=120)
        measure(
            "active run, age ≥ 60 s",
            "run-poll 6 + shell 6",
            served.url,
            f"/admin/operations/{old}",
            "#run-status",
            max(window, 30),
        )

        quiet_everything()
        done = make_run(age_s=300, status="completed")
        measure("terminal run", "0", served.url, f"/admin/operations/{done}", "#run-status", quiet_window)

        quiet_everything()
        hidden = make_run(age_s=0)
        measure(
            "hidden tab (active run, < 10 s)",
            "0",
            served.url,
            f"/admin/operations/{hidden}",
            "#run-status",
            quiet_window,
            before=lambda: driver.execute_script(SET_HIDDEN_JS, True),
            settle=0.5,
        )
        driver.execute_script(SET_HIDDEN_JS, False)

        quiet_everything()
        modal = make_run(age_s=0)

        def open_modal() -> None:
            driver.find_element("css selector", "#notifications-bell").click()
            wait_for(driver, "#notifications-modal .modal-body")

        measure(
            "open modal (active run, < 10 s)",
            "0",
            served.url,
            f"/admin/operations/{modal}",
            "#run-status",
            quiet_window,
            before=open_modal,
            settle=0.5,
        )

        quiet_everything()
        pack_run = make_run(age_s=120, status="queued", type="review_pack_generate")
        with db.session() as s:
            s.add(
                ReviewPack(
                    tenant_id=world.tenant_ids[0],
                    operation_run_id=pack_run,
                    status="queued",
                    options={},
                    created_at=utcnow() - timedelta(seconds=120),
                )
            )
            s.commit()
        measure(
            "tenant dashboard, pack generating (run ≥ 60 s)",
            "pack 6 + table 6 + shell 6",
            served.url,
            f"/admin/tenants/{world.tenant_ids[0]}",
            "#review-pack-status",
            max(window, 30),
        )

        quiet_everything()
        measure(
            "**baseline** naive 1 s Interval, terminal run",
            "60",
            served_naive.url,
            "/",
            "#naive-status",
            quiet_window,
            the_log=naive_log,
        )
        measure(
            "**baseline** naive 1 s Interval, hidden tab",
            "60",
            served_naive.url,
            "/",
            "#naive-status",
            quiet_window,
            the_log=naive_log,
            before=lambda: driver.execute_script(SET_HIDDEN_JS, True),
            settle=0.5,
        )
    finally:
        driver.quit()
        served.stop()
        served_naive.stop()
        db.dispose()
        naive_db.dispose()

    naive_rate = next(r["per_minute"] for r in results if "naive" in r["scenario"])
    section = Section("2. Requests per page-minute (headless Chromium)")
    rows = []
    for r in results:
        surfaces = ", ".join(f"{k} {v / r['window_s'] * 60:.0f}" for k, v in sorted(r["by_surface"].items())) or "—"
        vs = (
            "—"
            if "naive" in r["scenario"]
            else (ratio(naive_rate, r["per_minute"]) if r["per_minute"] else "∞ (none sent)")
        )
        rows.append(
            [
                r["scenario"],
                f"{r['per_minute']:.1f}",
                surfaces,
                r["expected"],
                r["requests"],
                r["window_s"],
                vs,
                r["page_load_requests"] if r["page_load_requests"] is not None else "",
                r["load"],
            ]
        )
    section.table(
        "Counted server-side (before_request) after the page settled; scaled to one minute. "
        "Expected = the polling contract's cadence per minute.",
        [
            "scenario",
            "requests/min",
            "by surface (/min)",
            "expected (/min)",
            "requests in window",
            "window s",
            "naive ÷ this",
            "page-load requests",
            "load avg",
        ],
        rows,
    )
    section.notes.append(f"uptime at end: {uptime()}")
    section.raw = {"results": results}
    return [section], {"results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--window", type=float, default=15.0, help="seconds per active-run window (30 s for 10 s cadences)"
    )
    parser.add_argument(
        "--quiet-window", type=float, default=12.0, help="seconds per window expected to see no request"
    )
    args = parser.parse_args(argv)
    sections, _ = run(window=args.window, quiet_window=args.quiet_window)
    for s in sections:
        print(s.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
