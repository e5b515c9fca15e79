"""Run viewer in headless Chromium: polling by age, going quiet on completion, terminal and
unknown runs never poll, progress only as the contract allows, access."""

from __future__ import annotations

import time

from dash.testing.wait import until

from console.operations.service import complete_run
from tests.support.browser import CallbackLog, attr, browser_login, goto, interval_state, make_run, open_page, text

#: The issue's no-churn window: a terminal page sends nothing for this long.
QUIET_WINDOW_S = 30


def test_active_runs_poll_at_1_5_10_seconds_by_age(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    cases = [
        (make_run(console_app, status="queued", age_s=2), "Queued", 1000),
        (make_run(console_app, status="running", type="evidence_snapshot_generate", age_s=30), "Running", 5000),
        (make_run(console_app, status="running", type="baseline_capture", age_s=120), "Running", 10000),
    ]
    for run_id, status, interval in cases:
        goto(dash_duo, f"/admin/operations/{run_id}", f"#run-viewer[data-run-id='{run_id}'] #run-status")
        assert text(dash_duo, "#run-status") == status
        until(lambda interval=interval: interval_state(dash_duo, "run-poll") == (False, interval), timeout=4)
    assert dash_duo.get_logs() == []


def test_completing_a_run_shows_the_outcome_within_one_interval_and_stops_polling(dash_duo, console_app) -> None:
    log = CallbackLog().install(console_app)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    run_id = make_run(
        console_app, status="running", age_s=0, summary_counts={"total": 4, "processed": 1, "succeeded": 1}
    )
    open_page(dash_duo, f"/admin/operations/{run_id}", "#run-status")
    assert attr(dash_duo, "#run-progress", "data-progress-mode") == "counted"
    until(lambda: interval_state(dash_duo, "run-poll") == (False, 1000), timeout=4)

    with console_app.server.extensions["console.db"].session() as s:
        complete_run(session=s, run_id=run_id, outcome="succeeded", summary={"created": 2})
    t_done = time.monotonic()
    until(lambda: text(dash_duo, "#run-outcome") == "Succeeded", timeout=4)
    shown_after = time.monotonic() - t_done
    # The contract is the 1 s cadence of a young run: the outcome comes with the first poll after
    # completion. The poll's own round trip (browser, server, database) is not promised, so on a
    # shared machine it may take up to one more interval: two intervals in all (was 1.8 s).
    assert shown_after < 2 * 1.0, f"outcome appeared {shown_after:.2f} s after completion (interval 1 s)"
    assert text(dash_duo, "#run-status") == "Completed"
    assert attr(dash_duo, "#run-progress", "data-progress-mode") == "none"
    assert dash_duo.find_elements("#run-progress .progress") == []  # no stale bar
    assert "1 of 4 processed" in text(dash_duo, "#run-progress")
    until(lambda: interval_state(dash_duo, "run-poll")[0] is True, timeout=2)

    t_quiet = time.monotonic()
    time.sleep(2.5)
    assert log.polls(t_quiet, "run-poll") == []
    assert dash_duo.get_logs() == []


def test_terminal_and_unknown_status_runs_render_without_polling_and_send_nothing(dash_duo, console_app) -> None:
    """Both pages stay open side by side for the issue's 30 s window: zero callback requests."""
    log = CallbackLog().install(console_app)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    done = make_run(
        console_app,
        status="completed",
        outcome="succeeded",
        age_s=5,
        summary_counts={"total": 3, "processed": 3, "succeeded": 3},
    )
    unknown = make_run(
        console_app,
        status="paused_by_future_version",
        age_s=5,
        type="review_pack_generate",
        summary_counts={"total": 9, "processed": 4},
    )

    open_page(dash_duo, f"/admin/operations/{done}", "#run-status")
    assert text(dash_duo, "#run-status") == "Completed"
    assert text(dash_duo, "#run-outcome") == "Succeeded"
    assert interval_state(dash_duo, "run-poll") == (True, 10000)
    first_window = dash_duo.driver.current_window_handle
    dash_duo.driver.switch_to.new_window("tab")
    open_page(dash_duo, f"/admin/operations/{unknown}", "#run-status")
    assert text(dash_duo, "#run-status") == "Unknown"
    assert attr(dash_duo, "#run-progress", "data-progress-mode") == "none"
    assert dash_duo.find_elements("#run-progress .progress") == []
    assert interval_state(dash_duo, "run-poll") == (True, 10000)
    assert interval_state(dash_duo, "activity-poll")[0] is True

    time.sleep(1.0)  # let the page-load callbacks (router, shell) finish
    t0 = time.monotonic()
    time.sleep(QUIET_WINDOW_S)
    assert log.since(t0) == [], log.since(t0)
    assert dash_duo.get_logs() == []
    dash_duo.driver.switch_to.window(first_window)
    assert text(dash_duo, "#run-status") == "Completed"  # still rendered, still quiet
    assert dash_duo.get_logs() == []


def test_progress_is_shown_only_as_the_contract_allows(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")

    counted = make_run(
        console_app, status="running", summary_counts={"total": 10, "processed": 3, "succeeded": 2, "failed": 1}
    )
    goto(dash_duo, f"/admin/operations/{counted}", f"#run-viewer[data-run-id='{counted}'] #run-progress")
    progress = dash_duo.find_element("#run-progress")
    assert progress.get_attribute("data-progress-mode") == "counted"
    assert attr(dash_duo, "#run-progress .progress-bar", "aria-valuenow") == "30"
    assert "3 / 10" in progress.text and "30%" in progress.text
    assert text(dash_duo, "#run-eta")  # counted runs have an ETA line
    counts = dash_duo.find_element("#run-counts")
    assert {b.get_attribute("data-count-key") for b in counts.find_elements("css selector", "[data-count-key]")} == {
        "succeeded",
        "failed",
    }
    assert (
        counts.find_elements("css selector", ".progress, [role=progressbar]") == []
    )  # outcome counters are never a bar

    failed = make_run(
        console_app,
        status="completed",
        outcome="failed",
        type="inventory_sync",
        summary_counts={"total": 10, "processed": 4, "succeeded": 3, "failed": 1},
        failure_summary="provider timed out",
    )
    goto(dash_duo, f"/admin/operations/{failed}", f"#run-viewer[data-run-id='{failed}'] #run-progress")
    assert attr(dash_duo, "#run-progress", "data-progress-mode") == "none"
    assert (
        dash_duo.find_elements("#run-view .progress, #run-view [role=progressbar]") == []
    )  # no bar anywhere on a failed run
    assert "%" not in text(dash_duo, "#run-view")
    assert "4 of 10 processed" in text(dash_duo, "#run-progress")
    assert text(dash_duo, "#run-outcome") == "Failed"
    assert "provider timed out" in text(dash_duo, "#run-failure")
    assert dash_duo.find_elements("#run-eta") == []

    phased = make_run(
        console_app,
        status="running",
        type="baseline_compare",
        context={"phase": "Comparing policies"},
        summary_counts={"total": 5, "processed": 2},
    )
    goto(dash_duo, f"/admin/operations/{phased}", f"#run-viewer[data-run-id='{phased}'] #run-progress")
    assert attr(dash_duo, "#run-progress", "data-progress-mode") == "phased"
    assert "Comparing policies" in text(dash_duo, "#run-progress")
    assert dash_duo.find_elements("#run-progress .progress") == []
    assert "%" not in text(dash_duo, "#run-progress") and "2 / 5" not in text(dash_duo, "#run-progress")

    queued = make_run(console_app, status="queued", type="review_pack_generate", tenant=console_app.world.tenant_ids[1])
    goto(dash_duo, f"/admin/operations/{queued}", f"#run-viewer[data-run-id='{queued}'] #run-progress")
    assert attr(dash_duo, "#run-progress", "data-progress-mode") == "activity"
    assert dash_duo.find_elements("#run-progress .indeterminate") != []
    assert not any(ch.isdigit() for ch in text(dash_duo, "#run-progress"))  # no number
    assert dash_duo.get_logs() == []


def test_fan_out_run_lists_unit_outcomes_and_a_ready_pack_links_to_its_download(dash_duo, console_app) -> None:
    from console.operations.models import OperationRunUnit
    from console.review_packs.models import ReviewPack

    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "operator@test.example")
    restore = make_run(
        console_app,
        user="operator",
        status="running",
        type="backup_set_restore",
        summary_counts={"total": 3, "processed": 2, "succeeded": 1, "failed": 1},
    )
    pack_run = make_run(
        console_app,
        user="operator",
        status="completed",
        outcome="succeeded",
        type="review_pack_generate",
        summary_counts={"total": 2, "processed": 2},
    )
    with console_app.server.extensions["console.db"].session() as s:
        s.add_all(
            [
                OperationRunUnit(run_id=restore, unit_key="policy-a", outcome="succeeded"),
                OperationRunUnit(
                    run_id=restore, unit_key="policy-b", outcome="failed", error="conflict: policy locked"
                ),
            ]
        )
        pack = ReviewPack(
            tenant_id=console_app.world.tenant_ids[0], operation_run_id=pack_run, status="ready", options={}
        )
        s.add(pack)
        s.commit()
        pack_id = pack.id

    goto(dash_duo, f"/admin/operations/{restore}", "#run-units")
    rows = dash_duo.find_elements("#run-units tbody tr")
    assert [r.get_attribute("data-unit-key") for r in rows] == ["policy-b", "policy-a"]  # failures first
    assert "conflict: policy locked" in rows[0].text
    assert rows[0].get_attribute("data-unit-outcome") == "failed"

    goto(dash_duo, f"/admin/operations/{pack_run}", "#run-pack")
    link = dash_duo.find_element("#run-pack-download")
    assert link.get_attribute("href").endswith(f"/review-packs/{pack_id}/download")
    assert dash_duo.find_elements("#run-units")  # every counted family lists its units (issue #14 item 10)
    assert dash_duo.get_logs() == []


def test_outsider_gets_the_not_found_page_for_another_workspaces_run(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "outsider@test.example")
    foreign = make_run(console_app, status="running", summary_counts={"total": 10, "processed": 5})
    open_page(dash_duo, f"/admin/operations/{foreign}", "#not-found")
    assert dash_duo.find_elements("#run-status") == [] and dash_duo.find_elements("#run-progress") == []
    # The document itself answered HTTP 404; Chrome reports exactly that, and nothing else.
    logs = dash_duo.get_logs()
    assert all("404" in entry["message"] and f"/admin/operations/{foreign}" in entry["message"] for entry in logs), logs
    open_page(dash_duo, "/admin/operations/not-a-number", "#not-found")
    assert all("404" in entry["message"] for entry in dash_duo.get_logs())
    open_page(dash_duo, "/", "#nav-user")
    assert dash_duo.get_logs() == []


def test_cancel_and_retry_through_their_modals(dash_duo, console_app) -> None:
    """The operator's path: Cancel run… opens the modal (the poll pauses while it is open),
    confirming shows Cancelled with its counts and no bar; Retry… says what will run, and
    confirming opens the new run's viewer, which links back."""
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    run_id = make_run(
        console_app, status="running", age_s=0, summary_counts={"total": 8, "processed": 3, "succeeded": 3}
    )
    open_page(dash_duo, f"/admin/operations/{run_id}", "#run-cancel")
    until(lambda: interval_state(dash_duo, "run-poll") == (False, 1000), timeout=4)
    dash_duo.find_element("#run-cancel").click()
    dash_duo.wait_for_element("#run-cancel-modal #run-cancel-confirm", timeout=4)
    until(lambda: interval_state(dash_duo, "run-poll")[0] is True, timeout=4)  # the modal guard
    dash_duo.find_element("#run-cancel-confirm").click()
    until(lambda: text(dash_duo, "#run-outcome") == "Cancelled", timeout=4)
    assert attr(dash_duo, "#run-progress", "data-progress-mode") == "none"
    assert "3 of 8 processed" in text(dash_duo, "#run-progress")
    assert dash_duo.find_elements("#run-progress .progress") == []
    assert dash_duo.find_elements("#run-cancel") == []

    dash_duo.find_element("#run-retry").click()
    until(lambda: text(dash_duo, "#run-retry-text") == "Retry the 5 units that did not succeed on a1.", timeout=4)
    dash_duo.find_element("#run-retry-confirm").click()
    until(lambda: dash_duo.driver.current_url.rstrip("/").split("/")[-1] != str(run_id), timeout=6)
    new_id = int(dash_duo.driver.current_url.rstrip("/").split("/")[-1])
    dash_duo.wait_for_element(f"#run-viewer[data-run-id='{new_id}'] #run-actions", timeout=6)
    # The new run is queued: it may be cancelled in turn, and it links back to the run it retries.
    assert text(dash_duo, "#run-actions") == f"Cancel run…Retry of #{run_id}"
    assert dash_duo.get_logs() == []
