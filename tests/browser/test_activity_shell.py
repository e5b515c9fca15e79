"""Activity shell and notifications in headless Chromium: starts on a run-enqueued event,
shows the queued toast, stops when the runs finish, shows the terminal toast and the bell."""

from __future__ import annotations

import time

from dash.testing.wait import until

from console.operations.service import complete_run, enqueue_run, fail_run
from tests.support.browser import CallbackLog, attr, browser_login, goto, interval_state, make_run, open_page, text


def _items(dash_duo) -> list[tuple[str, str]]:
    """(data-run-id, data-progress-mode) of the shell's items, read in one go (it re-renders)."""
    rows = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#activity-shell [data-run-id]'))"
        ".map(function (el) { return [el.getAttribute('data-run-id'), el.getAttribute('data-progress-mode')]; });"
    )
    return [tuple(r) for r in rows]


def test_shell_starts_on_run_enqueued_shows_toasts_and_stops_when_runs_finish(dash_duo, console_app) -> None:
    log = CallbackLog().install(console_app)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "operator@test.example")
    world = console_app.world
    dash_duo.wait_for_element("#activity-shell", timeout=4)
    until(lambda: text(dash_duo, "#notifications-count") == "0", timeout=4)
    assert _items(dash_duo) == []
    assert interval_state(dash_duo, "activity-poll")[0] is True  # nothing active: no polling
    time.sleep(0.5)  # the page-load refresh has answered
    t_idle = time.monotonic()
    time.sleep(1.5)
    assert log.polls(t_idle, "activity-poll") == []

    # What a start button does: the run is enqueued, then the page fires the DOM event.
    with console_app.server.extensions["console.db"].session() as s:
        run, _ = enqueue_run(
            session=s,
            type="inventory_sync",
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_ids[0],
            initiator_user_id=world.users["operator"],
        )
        run_id = run.id
    t_event = time.monotonic()
    dash_duo.driver.execute_script(
        "document.dispatchEvent(new CustomEvent('run-enqueued', {detail: {run_id: arguments[0]}}))", run_id
    )
    until(lambda: _items(dash_duo) == [(str(run_id), "activity")], timeout=3)
    assert time.monotonic() - t_event < 2.0  # at once, not at some later tick
    toast = dash_duo.wait_for_element(f"#toast-area [data-toast-kind=queued][data-run-id='{run_id}']", timeout=2)
    assert "Inventory sync started" in toast.text
    assert toast.find_element("css selector", "a").get_attribute("href").endswith(f"/admin/operations/{run_id}")
    item_link = dash_duo.find_element(f"#activity-shell [data-run-id='{run_id}'] a")
    assert item_link.get_attribute("href").endswith(f"/admin/operations/{run_id}")
    until(lambda: interval_state(dash_duo, "activity-poll") == (False, 1000), timeout=2)
    until(lambda: len(log.polls(t_event, "activity-poll")) >= 1, timeout=3)

    # Counted progress reaches the shell on its next tick.
    with console_app.server.extensions["console.db"].session() as s:
        from console.operations.service import mark_running, record_unit, set_total

        mark_running(session=s, run_id=run_id)
        set_total(session=s, run_id=run_id, total=4)
        record_unit(session=s, run_id=run_id, unit_key="p1", outcome="succeeded")
    until(lambda: _items(dash_duo) == [(str(run_id), "counted")], timeout=3)
    assert "1 / 4" in text(dash_duo, f"#activity-shell [data-run-id='{run_id}']")

    with console_app.server.extensions["console.db"].session() as s:
        fail_run(session=s, run_id=run_id, reason="provider unreachable")
    t_done = time.monotonic()
    until(lambda: _items(dash_duo) == [], timeout=3)
    terminal = dash_duo.wait_for_element(f"#toast-area [data-toast-kind=terminal][data-run-id='{run_id}']", timeout=2)
    assert "Inventory sync failed" in terminal.text
    assert text(dash_duo, "#notifications-count") == "1"
    until(lambda: interval_state(dash_duo, "activity-poll")[0] is True, timeout=2)
    time.sleep(0.3)
    t_quiet = time.monotonic()
    time.sleep(2.5)
    assert log.polls(t_quiet, "activity-poll") == []
    assert time.monotonic() - t_done < 10
    assert dash_duo.get_logs() == []


def test_shell_shows_five_newest_runs_in_scope_and_a_count_of_the_rest(dash_duo, console_app) -> None:
    world = console_app.world
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    runs = [make_run(console_app, status="queued", age_s=100 - i) for i in range(7)]  # the last is the newest
    make_run(console_app, status="completed", outcome="succeeded")  # not active
    make_run(
        console_app, status="running", tenant=world.other_tenant_id, workspace_id=world.other_workspace_id
    )  # not the manager's
    phased = make_run(
        console_app,
        status="running",
        type="baseline_capture",
        context={"phase": "Reading policies"},
        tenant=world.tenant_ids[1],
        age_s=0,
    )
    open_page(dash_duo, "/", "#overview-tenants")
    expected = [str(phased)] + [str(r) for r in reversed(runs)][:4]
    until(lambda: [rid for rid, _ in _items(dash_duo)] == expected, timeout=4)
    assert _items(dash_duo)[0] == (str(phased), "phased")
    assert "Reading policies" in text(dash_duo, f"#activity-shell [data-run-id='{phased}']")
    assert text(dash_duo, "#activity-shell .activity-more") == "and 3 more"
    assert attr(dash_duo, "#activity-shell [data-active-count]", "data-active-count") == "8"
    until(lambda: interval_state(dash_duo, "activity-poll") == (False, 1000), timeout=2)  # youngest run's cadence

    # A start callback writes {"run_id": n} into the run-enqueued store; that fires the DOM event.
    dash_duo.driver.execute_script(
        "window.dash_clientside.set_props('run-enqueued', {data: {run_id: arguments[0]}})", phased
    )
    toast = dash_duo.wait_for_element(f"#toast-area [data-toast-kind=queued][data-run-id='{phased}']", timeout=3)
    assert "Baseline capture started" in toast.text

    # On a tenant dashboard the shell narrows to that tenant's runs.
    goto(dash_duo, f"/admin/tenants/{world.tenant_ids[1]}", "#activity-shell")
    until(lambda: [rid for rid, _ in _items(dash_duo)] == [str(phased)], timeout=4)
    assert dash_duo.get_logs() == []


def test_bell_lists_notifications_and_marks_them_all_read(dash_duo, console_app) -> None:
    world = console_app.world
    with console_app.server.extensions["console.db"].session() as s:
        for run_type in ("inventory_sync", "evidence_snapshot_generate"):
            run, _ = enqueue_run(
                session=s,
                type=run_type,
                workspace_id=world.workspace_id,
                tenant_id=world.tenant_ids[0],
                initiator_user_id=world.users["manager"],
            )
            complete_run(session=s, run_id=run.id, outcome="succeeded")
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    until(lambda: text(dash_duo, "#notifications-count") == "2", timeout=4)
    assert dash_duo.find_elements("#toast-area [data-toast-kind]") == []  # old news are not toasts

    dash_duo.find_element("#notifications-bell").click()
    dash_duo.wait_for_element("#notifications-list [data-notification-id]", timeout=4)
    items = dash_duo.find_elements("#notifications-list [data-notification-id]")
    assert [i.get_attribute("data-unread") for i in items] == ["true", "true"]
    assert "Evidence snapshot succeeded" in items[0].text  # newest first
    dash_duo.find_element("#notifications-mark-read").click()
    until(lambda: text(dash_duo, "#notifications-count") == "0", timeout=3)
    until(
        lambda: (
            [
                i.get_attribute("data-unread")
                for i in dash_duo.find_elements("#notifications-list [data-notification-id]")
            ]
            == ["false", "false"]
        ),
        timeout=3,
    )
    dash_duo.find_element("#notifications-close").click()
    until(lambda: dash_duo.find_elements("#notifications-modal.show") == [], timeout=3)

    # Read state is persisted: a fresh page load shows zero.
    open_page(dash_duo, "/", "#notifications-count")
    until(lambda: text(dash_duo, "#notifications-count") == "0", timeout=3)
    assert dash_duo.get_logs() == []
