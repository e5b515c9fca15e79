"""Progress as assistive technology reads it, on every surface (run viewer, navbar activity
shell, tenant dashboard table): counted -> a named progressbar whose aria-valuenow is the
percent shown; activity and phased -> a progressbar with no aria-valuenow (aria-valuetext
says "In progress", "Waiting for a worker" or the phase); terminal -> no progressbar at all.
And the polite live regions speak once per status change, never on a poll that changed
counts only."""

from __future__ import annotations

from datetime import timedelta

from dash.testing.wait import until

from console.db import utcnow
from console.operations.models import OperationRun
from tests.support.browser import TENANT_PAGE, browser_login, make_run, open_page, text

_BARS_JS = """
return Array.prototype.map.call(document.querySelectorAll(arguments[0] + ' [role=progressbar]'), function (e) {
    var out = {};
    ['aria-valuenow', 'aria-valuemin', 'aria-valuemax', 'aria-valuetext', 'aria-label'].forEach(function (n) {
        out[n] = e.getAttribute(n);
    });
    return out;
});
"""


def bars(dash_duo, scope: str) -> list[dict]:
    return dash_duo.driver.execute_script(_BARS_JS, scope)


def runs(app) -> dict[str, int]:
    return {
        "counted": make_run(app, status="running", summary_counts={"total": 31, "processed": 12}),
        "queued": make_run(app, status="queued", type="evidence_snapshot_generate"),
        "phased": make_run(app, status="running", type="baseline_capture", context={"phase": "collecting"}),
        "done": make_run(
            app,
            status="completed",
            outcome="succeeded",
            summary_counts={"total": 3, "processed": 3, "succeeded": 3},
            completed_at=utcnow() - timedelta(seconds=5),
        ),
    }


def test_each_progress_mode_carries_its_aria_on_every_surface(dash_duo, console_app) -> None:
    app = console_app
    ids_ = runs(app)
    dash_duo.start_server(app, navigate=False)
    browser_login(dash_duo, "manager@test.example")

    counted = {
        "aria-valuenow": "38",  # floor(100 * 12 / 31), the percent the page shows
        "aria-valuemin": "0",
        "aria-valuemax": "100",
        "aria-valuetext": None,
        "aria-label": "Inventory sync — 12 of 31 processed",
    }
    open_page(dash_duo, f"/admin/operations/{ids_['counted']}", "#run-progress[data-progress-mode=counted]")
    assert bars(dash_duo, "#run-progress") == [counted]
    assert text(dash_duo, "#run-progress .progress-percent") == "38%"

    open_page(dash_duo, f"/admin/operations/{ids_['queued']}", "#run-progress[data-progress-mode=activity]")
    assert bars(dash_duo, "#run-progress") == [
        {
            "aria-valuenow": None,
            "aria-valuemin": None,
            "aria-valuemax": None,
            "aria-valuetext": "Waiting for a worker",
            "aria-label": "Evidence snapshot — Waiting for a worker",
        }
    ]

    open_page(dash_duo, f"/admin/operations/{ids_['phased']}", "#run-progress[data-progress-mode=phased]")
    (phased,) = bars(dash_duo, "#run-progress")
    assert phased["aria-valuenow"] is None and phased["aria-valuetext"] == "Collecting policies"
    assert phased["aria-label"] == "Baseline capture — Collecting policies"

    open_page(dash_duo, f"/admin/operations/{ids_['done']}", "#run-progress[data-progress-mode=none]")
    assert bars(dash_duo, "#run-progress") == []  # terminal: no progressbar, live or stale
    assert text(dash_duo, "#run-progress") == "3 of 3 processed"

    # The navbar's activity shell: three active runs, each named after its run and tenant.
    until(lambda: len(bars(dash_duo, "#activity-shell")) == 3, timeout=10)
    shell = {b["aria-label"]: b for b in bars(dash_duo, "#activity-shell")}
    assert shell["Inventory sync on a1 — 12 of 31 processed"]["aria-valuenow"] == "38"
    assert shell["Evidence snapshot on a1 — Waiting for a worker"]["aria-valuenow"] is None
    assert shell["Baseline capture on a1 — Collecting policies"]["aria-valuenow"] is None

    # The tenant dashboard's table: the striped bar no longer claims "100".
    open_page(dash_duo, TENANT_PAGE.format(app.world.tenant_ids[0]), "#tenant-operations tr[data-run-id]")
    table = {b["aria-label"]: b for b in bars(dash_duo, "#tenant-operations")}
    assert table[f"Run #{ids_['counted']} Inventory sync — 12 of 31 processed"]["aria-valuenow"] == "38"
    for key, words in (("queued", "Waiting for a worker"), ("phased", "Collecting policies")):
        row = next(b for label, b in table.items() if label.startswith(f"Run #{ids_[key]} "))
        assert row["aria-valuenow"] is None and row["aria-valuetext"] == words, row
        assert row["aria-label"].endswith(f" — {words}"), row
    assert bars(dash_duo, f"#tenant-operations tr[data-run-id='{ids_['done']}']") == []
    assert dash_duo.get_logs() == []


def test_a_status_change_is_announced_once_and_a_count_change_not_at_all(dash_duo, console_app) -> None:
    app = console_app
    run_id = make_run(app, status="running", summary_counts={"total": 10, "processed": 1})
    dash_duo.start_server(app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    open_page(dash_duo, f"/admin/operations/{run_id}", "#run-progress[data-progress-mode=counted]")
    live = "#run-live"
    assert dash_duo.find_element(live).get_attribute("aria-live") == "polite"
    assert text(dash_duo, live) == ""  # the page's first state is content, not news

    def update(**fields) -> None:
        with app.server.extensions["console.db"].session() as s:
            run = s.get(OperationRun, run_id)
            for key, value in fields.items():
                setattr(run, key, value)
            s.commit()

    update(summary_counts={"total": 10, "processed": 4})
    until(lambda: text(dash_duo, "#run-progress .progress-text") == "4 / 10", timeout=10)
    assert text(dash_duo, live) == ""  # counts moved, the status did not: silence

    # Changes seen by the live region's text, in order (a MutationObserver counts every write).
    dash_duo.driver.execute_script(
        "window.__announced = []; new MutationObserver(function () {"
        " window.__announced.push(document.getElementById('run-live').textContent); })"
        ".observe(document.getElementById('run-live'), {childList: true, characterData: true, subtree: true});"
    )
    update(
        status="completed",
        outcome="succeeded",
        summary_counts={"total": 10, "processed": 10, "succeeded": 10},
        completed_at=utcnow(),
    )
    until(lambda: text(dash_duo, live) == "Status: Completed. Outcome: Succeeded.", timeout=10)
    assert dash_duo.driver.execute_script("return window.__announced;") == ["Status: Completed. Outcome: Succeeded."]
    assert dash_duo.get_logs() == []


def test_the_navbar_announces_a_change_in_active_runs_not_the_first_render(dash_duo, console_app) -> None:
    app = console_app
    make_run(app, status="running", summary_counts={"total": 10, "processed": 1})
    dash_duo.start_server(app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    dash_duo.wait_for_element("#activity-shell .activity-item")
    assert text(dash_duo, "#activity-live") == ""
    # A run enqueued from elsewhere: the page learns of it through the run-enqueued event.
    second = make_run(app, status="queued", type="evidence_snapshot_generate")
    dash_duo.driver.execute_script(
        "document.dispatchEvent(new CustomEvent('run-enqueued', {detail: {run_id: arguments[0]}}));", second
    )
    until(lambda: text(dash_duo, "#activity-live") == "2 operations active.", timeout=10)
    assert dash_duo.get_logs() == []


_ANIMATION_JS = "var e = document.querySelector(arguments[0]); return e ? getComputedStyle(e).animationName : null;"


def test_indeterminate_bars_stand_still_under_reduced_motion(dash_duo, console_app) -> None:
    app = console_app
    run_id = make_run(app, status="queued")
    dash_duo.start_server(app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    open_page(dash_duo, f"/admin/operations/{run_id}", "#run-progress .indeterminate-bar")
    bar = "#run-progress .indeterminate-bar"
    assert dash_duo.driver.execute_script(_ANIMATION_JS, bar) == "console-indeterminate"
    dash_duo.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-reduced-motion", "value": "reduce"}]}
    )
    until(lambda: dash_duo.driver.execute_script(_ANIMATION_JS, bar) == "none", timeout=5)
    # ... and the navbar's bar for the same run too.
    until(lambda: dash_duo.driver.execute_script(_ANIMATION_JS, "#activity-shell .indeterminate-bar") == "none", 8)
    assert dash_duo.get_logs() == []
