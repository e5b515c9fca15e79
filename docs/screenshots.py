"""Take the README's screenshots from the real console in headless Chromium.

    .venv/bin/python docs/screenshots.py            # writes docs/img/*.png

What it does: migrates a throw-away SQLite database, seeds the demo data (``console.seed``:
a workspace, three tenants, a user per role, 90 historical runs made by the real services), poses a few live runs
through the operations service (a counted inventory sync at 12 / 30, a queued evidence
snapshot, a phased baseline comparison, a queued review pack and a failed restore), serves the console on
127.0.0.1 with a dispatcher that sends nothing (so the posed runs stay as they are), logs in
as the demo manager with Selenium — the same Chromium options as tests/browser/conftest.py —
and saves:

    docs/img/run-viewer-counted.png    the run viewer on the counted run
    docs/img/run-viewer-activity.png   the run viewer on the queued run (indeterminate)
    docs/img/tenant-dashboard.png      the tenant dashboard (full page)
    docs/img/activity-shell.png        the navbar's activity shell with the active runs
    docs/img/operations-list.png       the operations list (filters, date presets, grid)

and each again in the dark theme as ``<name>-dark.png`` (the theme toggle's stored choice).

Needs chromium and chromedriver on PATH (see docs/testing.md). Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from console.accounts.models import Tenant  # noqa: E402
from console.app import create_app  # noqa: E402
from console.migrate import upgrade  # noqa: E402
from console.operations.service import enqueue_run, fail_run, mark_running, record_unit, set_phase, set_total  # noqa: E402
from console.review_packs.service import ensure_pack_for_run  # noqa: E402
from console.seed import DEMO_USERS, seed_demo  # noqa: E402
from tests.browser.conftest import pytest_setup_options  # noqa: E402  (one set of Chromium options)

OUT = REPO / "docs" / "img"
DASH_TESTING_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage")
WIDTH = 1280


class QuietDispatcher:
    """Takes every task and sends nothing: the posed runs keep the state the script gave them."""

    def send(self, task_name: str, *args: Any) -> None:  # noqa: D102
        return None

    def ping(self) -> bool:  # noqa: D102
        return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pose(app) -> dict[str, int]:
    """Seed the demo and pose live runs on the first tenant; returns the ids the shots need."""
    db = app.server.extensions["console.db"]
    with db.session() as s:
        seed_demo(session=s, settings=app.server.extensions["console.settings"])
        tenant = s.scalars(select(Tenant).order_by(Tenant.id)).first()
        manager_id = 2  # seed order: owner, manager, ...

        def start(type_: str) -> int:
            run, _ = enqueue_run(
                session=s,
                type=type_,
                workspace_id=tenant.workspace_id,
                tenant_id=tenant.id,
                initiator_user_id=manager_id,
                context={"options": {}},
            )
            return run.id

        counted = start("inventory_sync")
        mark_running(session=s, run_id=counted)
        set_total(session=s, run_id=counted, total=30)
        for i in range(12):
            record_unit(
                session=s,
                run_id=counted,
                unit_key=f"type:policy-{i}",
                outcome="failed" if i == 7 else "succeeded",
                error="provider returned 404" if i == 7 else None,
            )
        phased = start("baseline_compare")
        mark_running(session=s, run_id=phased)
        set_phase(session=s, run_id=phased, phase="Comparing settings with the baseline")
        pack_run = start("review_pack_generate")
        ensure_pack_for_run(
            session=s, run_id=pack_run, tenant_id=tenant.id, options={"include_operations": True, "include_pii": False}
        )
        queued = start("evidence_snapshot_generate")
        failed = start("backup_set_restore")  # shows up under Needs attention
        mark_running(session=s, run_id=failed)
        fail_run(session=s, run_id=failed, reason="provider returned 503 for 3 consecutive attempts")
        return {"tenant": tenant.id, "counted": counted, "queued": queued, "phased": phased}


def wait(driver, condition: Callable[[], Any], timeout: float = 20, what: str = "page") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - the page is still rendering
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what} at {driver.current_url}")


def present(driver, css: str) -> bool:
    return bool(driver.find_elements(By.CSS_SELECTOR, css))


def shoot(driver, path: Path, *, full_page: bool = False, element: str | None = None) -> None:
    time.sleep(0.6)  # let animations (toasts, bars) settle
    if element:
        driver.find_element(By.CSS_SELECTOR, element).screenshot(str(path))
    else:
        if full_page:
            # Measure in a tall window (the charts re-layout on resize), then fit the window to the page.
            driver.set_window_size(WIDTH, 3000)
            time.sleep(0.8)
            height = driver.execute_script(
                "return document.getElementById('_pages_content').getBoundingClientRect().bottom + window.scrollY;"
            )
            driver.set_window_size(WIDTH, min(int(height) + 160, 4000))
            time.sleep(0.8)
        driver.save_screenshot(str(path))
        driver.set_window_size(WIDTH, 900)
    print(f"wrote {path.relative_to(REPO) if path.is_relative_to(REPO) else path}", file=sys.stderr)


THEMES = ("light", "dark")


def take_all(driver, base: str, ids: dict[str, int], out: Path, *, suffix: str) -> None:
    """The four shots in the current theme (``suffix`` "" for light, "-dark" for dark)."""
    driver.get(f"{base}/admin/operations/{ids['counted']}")
    wait(driver, lambda: present(driver, "#run-progress[data-progress-mode='counted']"), what="counted run viewer")
    shoot(driver, out / f"run-viewer-counted{suffix}.png")

    driver.get(f"{base}/admin/operations/{ids['queued']}")
    wait(driver, lambda: present(driver, "#run-progress[data-progress-mode='activity']"), what="activity run viewer")
    shoot(driver, out / f"run-viewer-activity{suffix}.png")

    driver.get(f"{base}/admin/tenants/{ids['tenant']}")
    wait(
        driver,
        lambda: present(driver, "#chart-runs-per-day .main-svg") and present(driver, "#chart-durations .main-svg"),
        what="dashboard charts",
    )
    wait(driver, lambda: present(driver, f"#activity-shell [data-run-id='{ids['counted']}']"), what="activity shell")
    shoot(driver, out / f"tenant-dashboard{suffix}.png", full_page=True)
    shoot(driver, out / f"activity-shell{suffix}.png", element=".navbar")

    driver.get(f"{base}/admin/operations")
    wait(driver, lambda: present(driver, "#operations-table .ag-row"), what="operations list")
    shoot(driver, out / f"operations-list{suffix}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="console-shots-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'console.db'}"
        upgrade(url)
        app = create_app(
            {
                "instance_dir": Path(tmp) / "instance",
                "database_url": url,
                "secret_key": "screenshots",
                "dispatcher": QuietDispatcher(),
            }
        )
        ids = pose(app)
        port = _free_port()
        server = make_server("127.0.0.1", port, app.server, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{port}"
        options = pytest_setup_options()
        for arg in DASH_TESTING_ARGS:  # what dash's pytest plugin adds to the conftest's options
            options.add_argument(arg)
        driver = webdriver.Chrome(options=options)
        try:
            driver.set_window_size(WIDTH, 900)
            email, password = next((e, p) for e, _n, role, p in DEMO_USERS if role == "manager")
            driver.get(f"{base}/login?next=/admin/operations/{ids['counted']}")
            driver.find_element(By.NAME, "email").send_keys(email)
            driver.find_element(By.NAME, "password").send_keys(password)
            driver.find_element(By.ID, "login-submit").click()

            wait(driver, lambda: present(driver, "#run-progress[data-progress-mode='counted']"), what="login")
            for theme in THEMES:
                # The toggle's stored choice (assets/theme.js): every page load below is in this theme.
                driver.execute_script("localStorage.setItem('console-theme', arguments[0]);", theme)
                take_all(driver, base, ids, args.out, suffix="" if theme == "light" else f"-{theme}")
        finally:
            driver.quit()
            server.shutdown()
            app.server.extensions["console.db"].dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
