"""The tenant dashboard in headless Chromium: what each role is offered, the operation
buttons and their one confirm modal (dedupe: two confirmations, one run), the live parts
(KPIs, Needs attention, recent operations, charts) and the outsider's 404 page."""

from __future__ import annotations

from datetime import timedelta

from dash.testing.wait import until
from sqlalchemy import func, select

from console.db import utcnow
from console.operations.models import OperationRun
from console.operations.service import complete_run
from console.review_packs.models import ReviewPack
from tests.support.browser import TENANT_PAGE, attr, browser_login, count, interval_state, text


def open_dashboard(dash_duo, app, email: str, tenant_id: int) -> None:
    dash_duo.start_server(app, navigate=False)
    browser_login(dash_duo, email, path=TENANT_PAGE.format(tenant_id))
    dash_duo.wait_for_element("#tenant-dashboard")


def runs_of(app, type_: str) -> list[int]:
    """Ids of the runs of one type (the database is the truth, not the page)."""
    with app.server.extensions["console.db"].session() as s:
        return list(s.scalars(select(OperationRun.id).where(OperationRun.type == type_)))


def test_op_start_opens_one_confirm_modal_and_confirming_twice_creates_one_run(dash_duo, console_app) -> None:
    a1 = console_app.world.tenant_ids[0]
    open_dashboard(dash_duo, console_app, "operator@test.example", a1)
    for op in (
        "inventory_sync",
        "evidence_snapshot_generate",
        "backup_set_add_policies",
        "backup_set_restore",
        "baseline_capture",
        "baseline_compare",
    ):
        assert dash_duo.find_element(f"#op-start-{op}").is_displayed()
    assert count(dash_duo, "#op-start-review_pack_generate") == 0

    # Cancel closes the modal and starts nothing.
    dash_duo.find_element("#op-start-baseline_capture").click()
    dash_duo.wait_for_contains_text("#op-confirm-modal", "Baseline capture")
    dash_duo.find_element("#op-cancel").click()
    until(lambda: count(dash_duo, "#op-confirm-modal") == 0, timeout=5)
    assert runs_of(console_app, "baseline_capture") == []

    for press in range(2):
        dash_duo.find_element("#op-start-inventory_sync").click()
        dash_duo.wait_for_contains_text("#op-confirm-modal", "Inventory sync")
        dash_duo.find_element("#op-confirm").click()
        until(lambda: count(dash_duo, "#op-confirm-modal") == 0, timeout=5)
        if press == 0:
            (run_id,) = runs_of(console_app, "inventory_sync")
            # The page fired run-enqueued: the activity shell shows the queued toast with the run link.
            dash_duo.wait_for_element(
                f"#toast-area .console-toast[data-run-id='{run_id}'] a[href='/admin/operations/{run_id}']"
            )
            # ... and the recent operations table shows the run at once (no reload, no 10 s wait).
            dash_duo.wait_for_element(f"#tenant-operations tr[data-run-id='{run_id}'][data-status='queued']")
            until(lambda: interval_state(dash_duo, "dashboard-poll") == (False, 10_000), timeout=5)
    dash_duo.wait_for_contains_text(
        "#toast-area [data-toast-kind='deduplicated']", "Inventory sync is already running — view run #"
    )
    assert len(runs_of(console_app, "inventory_sync")) == 1
    assert console_app.server.extensions["console.dispatcher"].sent == [
        ("tasks.inventory.run_inventory_sync", (run_id,))
    ]
    assert dash_duo.get_logs() == []


def test_viewer_sees_the_dashboard_without_any_action(dash_duo, console_app) -> None:
    a1 = console_app.world.tenant_ids[0]
    open_dashboard(dash_duo, console_app, "viewer@test.example", a1)
    dash_duo.wait_for_text_to_equal("#review-pack-status", "No pack yet")
    assert count(dash_duo, "#review-pack-generate") == 0 and count(dash_duo, "#review-pack-modal") == 0
    assert count(dash_duo, "[id^='op-start-']") == 0
    assert "You cannot start operations on this tenant." in text(dash_duo, "#op-actions")
    assert dash_duo.get_logs() == []


def test_live_parts_show_health_attention_and_charts_then_go_quiet(dash_duo, console_app) -> None:
    world = console_app.world
    a1 = world.tenant_ids[0]
    now = utcnow()
    with console_app.server.extensions["console.db"].session() as s:

        def run(**kw) -> OperationRun:
            r = OperationRun(workspace_id=world.workspace_id, tenant_id=a1, context={}, **{"summary_counts": {}, **kw})
            s.add(r)
            return r

        run(
            type="inventory_sync",
            status="completed",
            outcome="succeeded",
            created_at=now - timedelta(days=2),
            started_at=now - timedelta(days=2),
            completed_at=now - timedelta(days=2) + timedelta(seconds=42),
        )
        failed = run(
            type="baseline_compare",
            status="completed",
            outcome="failed",
            failure_summary="provider said no",
            created_at=now - timedelta(days=1),
            started_at=now - timedelta(days=1),
            completed_at=now - timedelta(days=1, seconds=-5),
        )
        reaped = run(
            type="evidence_snapshot_generate",
            status="completed",
            outcome="failed",
            failure_summary="stale: no heartbeat for 1000 s (limit 900 s)",
            created_at=now - timedelta(hours=3),
            started_at=now - timedelta(hours=3),
            completed_at=now - timedelta(hours=2),
        )
        silent = run(
            type="backup_set_restore",
            status="running",
            created_at=now - timedelta(hours=1),
            started_at=now - timedelta(hours=1),
            heartbeat_at=now - timedelta(minutes=20),
            summary_counts={"total": 8, "processed": 3},
        )
        s.add(
            ReviewPack(
                tenant_id=a1,
                status="ready",
                options={},
                size=2048,
                created_at=now - timedelta(days=12),
                ready_at=now - timedelta(days=12),
                expires_at=now + timedelta(days=2),
            )
        )
        s.commit()
        ids_ = (failed.id, reaped.id, silent.id)
    open_dashboard(dash_duo, console_app, "operator@test.example", a1)

    dash_duo.wait_for_text_to_equal("#kpi-runs-30d", "4")
    assert text(dash_duo, "#kpi-success-rate") == "33%"  # 1 of 3 completed succeeded
    assert text(dash_duo, "#kpi-active-runs") == "1"
    assert text(dash_duo, "#kpi-last-inventory-sync").endswith("UTC")
    kinds = [e.get_attribute("data-kind") for e in dash_duo.find_elements("#needs-attention .needs-attention-item")]
    assert kinds == ["stale?", "stale", "failed", "expiring"]  # silent first, then newest failure first
    attention = text(dash_duo, "#needs-attention")
    assert f"#{ids_[2]} has sent no heartbeat for 20 min" in attention and "provider said no" in attention
    # The running run is counted: the table shows the contract's bar, the page polls at 10 s.
    cell = f"#tenant-operations tr[data-run-id='{ids_[2]}'] [data-progress-mode]"
    assert attr(dash_duo, cell, "data-progress-mode") == "counted" and "3 / 8 · 37%" in text(dash_duo, cell)
    assert interval_state(dash_duo, "dashboard-poll") == (False, 10_000)
    # Plotly rendered both charts (bars per outcome, a box per type), without a mode bar.
    dash_duo.wait_for_element("#chart-runs-per-day .main-svg")
    assert count(dash_duo, "#chart-runs-per-day .barlayer .trace") == 3  # succeeded, failed, in progress
    assert count(dash_duo, "#chart-durations .boxlayer .trace") == 3
    assert count(dash_duo, ".modebar") == 0

    # The run completes (as the worker would): the next tick shows it and the page goes quiet.
    with console_app.server.extensions["console.db"].session() as s:
        complete_run(session=s, run_id=ids_[2], outcome="succeeded")
    dash_duo.wait_for_element(f"#tenant-operations tr[data-run-id='{ids_[2]}'][data-status='completed']", timeout=15)
    until(lambda: text(dash_duo, "#kpi-active-runs") == "0", timeout=5)
    until(lambda: interval_state(dash_duo, "dashboard-poll")[0] is True, timeout=5)
    assert dash_duo.get_logs() == []


def test_an_outsider_gets_the_not_found_page_for_another_workspace_tenant(dash_duo, console_app) -> None:
    a1 = console_app.world.tenant_ids[0]
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "outsider@test.example", path=TENANT_PAGE.format(a1))
    dash_duo.wait_for_text_to_equal("#not-found", "Not found")
    assert count(dash_duo, "#review-pack-card") == 0 and "a1" not in text(dash_duo, "#_pages_content")
    # The same page for an id that does not exist at all looks identical (nothing revealed).
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + TENANT_PAGE.format(999999))
    dash_duo.wait_for_text_to_equal("#not-found", "Not found")
    with console_app.server.extensions["console.db"].session() as s:
        assert s.scalar(select(func.count()).select_from(OperationRun)) == 0
    # A failed page load is logged by Chrome as the 404 it is; nothing else may be.
    assert [e for e in dash_duo.get_logs() if "404" not in e["message"]] == []
