"""Polling guards in a real browser: a hidden tab sends no poll requests and refreshes once
when it becomes visible; an open modal pauses every polling surface."""

from __future__ import annotations

import time

from dash.testing.wait import until

from tests.support.browser import CallbackLog, browser_login, interval_state, make_run, open_page


def set_hidden(dash_duo, hidden: bool) -> None:
    """Headless Chrome never hides a tab: override the Page Visibility API and announce it."""
    dash_duo.driver.execute_script(
        """
        var hidden = arguments[0];
        Object.defineProperty(document, "visibilityState", {
            configurable: true, get: function () { return hidden ? "hidden" : "visible"; }
        });
        Object.defineProperty(document, "hidden", {configurable: true, get: function () { return hidden; }});
        document.dispatchEvent(new Event("visibilitychange"));
        """,
        hidden,
    )


# --------------------------------------------------------------------------- tests


def test_hidden_tab_sends_no_poll_requests_and_refreshes_once_when_visible(dash_duo, console_app) -> None:
    log = CallbackLog().install(console_app)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    run_id = make_run(console_app, status="running", age_s=0)  # young: 1 s polling
    open_page(dash_duo, f"/admin/operations/{run_id}", "#run-status")
    until(lambda: interval_state(dash_duo, "run-poll") == (False, 1000), timeout=4)
    t0 = time.monotonic()
    until(lambda: len(log.polls(t0, "run-poll")) >= 1, timeout=3)  # it really polls while visible

    set_hidden(dash_duo, True)
    until(lambda: interval_state(dash_duo, "run-poll")[0] is True, timeout=2)
    until(lambda: interval_state(dash_duo, "activity-poll")[0] is True, timeout=2)
    t_hidden = time.monotonic()
    time.sleep(3.5)  # three and a half intervals
    assert log.polls(t_hidden, "run-poll") == []
    assert log.polls(t_hidden, "activity-poll") == []

    t_visible = time.monotonic()
    set_hidden(dash_duo, False)
    # One immediate refresh, before the 1 s schedule (restarted when the Interval was
    # re-enabled) could have fired...
    until(lambda: len(log.polls(t_visible, "run-poll")) >= 1, timeout=2)
    first = log.polls(t_visible, "run-poll")[0][0] - t_visible
    assert first < 0.9, f"refresh came {first:.2f} s after the tab became visible"
    assert len(log.polls(t_visible, "run-poll")) == 1
    # ...then the schedule resumes.
    until(lambda: len(log.polls(t_visible, "run-poll")) >= 2, timeout=3)
    assert interval_state(dash_duo, "run-poll") == (False, 1000)
    assert dash_duo.get_logs() == []


def test_an_open_modal_pauses_every_polling_surface(dash_duo, console_app) -> None:
    log = CallbackLog().install(console_app)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    run_id = make_run(console_app, status="queued", age_s=0)
    open_page(dash_duo, f"/admin/operations/{run_id}", "#run-status")
    # Both the run viewer and the activity shell (the run is the manager's, in scope) poll.
    until(lambda: interval_state(dash_duo, "run-poll") == (False, 1000), timeout=4)
    until(lambda: interval_state(dash_duo, "activity-poll") == (False, 1000), timeout=4)

    dash_duo.find_element("#notifications-bell").click()  # a real modal of the app
    dash_duo.wait_for_element("#notifications-modal .modal-body", timeout=4)
    until(lambda: interval_state(dash_duo, "run-poll")[0] and interval_state(dash_duo, "activity-poll")[0], timeout=2)
    t_open = time.monotonic()
    time.sleep(3.2)
    assert log.polls(t_open, "run-poll") == []
    assert log.polls(t_open, "activity-poll") == []

    dash_duo.find_element("#notifications-close").click()
    t_closed = time.monotonic()
    until(
        lambda: len(log.polls(t_closed, "run-poll")) >= 1 and len(log.polls(t_closed, "activity-poll")) >= 1, timeout=3
    )
    assert dash_duo.get_logs() == []
