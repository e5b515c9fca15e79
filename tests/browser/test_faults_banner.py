"""Fault in a real browser: the database goes away under an open run viewer, then returns.

The page shows "Connection lost — retrying", backs its polls off (2 s, 4 s, … up to 30 s)
instead of failing every second, keeps what it showed, and on its own hides the banner and
resumes the run's cadence once the database is back — no reload, no console errors."""

from __future__ import annotations

import time

from dash.testing.wait import until

from console.components import poll_guard
from console.operations.service import record_unit
from tests.support.browser import CallbackLog, browser_login, goto, interval_state, make_run, open_page, text
from tests.support.faults import database_outage

BANNER = f"#{poll_guard.CONNECTION_BANNER}"


def banner_shown(dash_duo) -> bool:
    return dash_duo.find_element(BANNER).is_displayed()


def test_the_banner_appears_while_the_database_is_down_and_goes_once_it_is_back(dash_duo, console_app) -> None:
    log = CallbackLog().install(console_app)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    run_id = make_run(
        console_app, status="running", age_s=0, summary_counts={"total": 8, "processed": 2, "succeeded": 2}
    )
    open_page(dash_duo, f"/admin/operations/{run_id}", "#run-status")
    until(lambda: interval_state(dash_duo, "run-poll") == (False, 1000), timeout=4)
    assert not banner_shown(dash_duo)
    url = console_app.server.extensions["console.db"].url

    with database_outage(url):
        down_at = time.monotonic()
        until(lambda: banner_shown(dash_duo), timeout=4)
        shown_after = time.monotonic() - down_at
        assert text(dash_duo, BANNER) == poll_guard.CONNECTION_LOST_TEXT
        # Back-off: each failed poll doubles the interval; the page keeps showing the run.
        until(lambda: interval_state(dash_duo, "run-poll") == (False, 4000), timeout=8)
        assert text(dash_duo, "#run-status") == "Running"
        assert "2 / 8" in text(dash_duo, "#run-progress")
        t_backoff = time.monotonic()
        time.sleep(3)
        assert len(log.polls(t_backoff, "run-poll")) <= 1  # one poll per 4 s, not three
        outage_s = time.monotonic() - down_at

    back_at = time.monotonic()
    with console_app.server.extensions["console.db"].session() as s:
        assert record_unit(session=s, run_id=run_id, unit_key="u3", outcome="succeeded")
    until(lambda: not banner_shown(dash_duo), timeout=10)
    hidden_after = time.monotonic() - back_at
    until(lambda: "3 / 8" in text(dash_duo, "#run-progress"), timeout=10)
    # The age-based cadence is back (the run is now older than 10 s: 5 s).
    until(lambda: interval_state(dash_duo, "run-poll") in ((False, 1000), (False, 5000)), timeout=10)
    print(
        f"\nFAULT database-down-browser: banner shown {shown_after:.1f} s after the outage began, "
        f"outage {outage_s:.1f} s, banner gone {hidden_after:.1f} s after the database returned"
    )

    # A surface that was lost and then left the page (navigation) cannot report its recovery:
    # the new page having rendered (from the database) clears the banner instead.
    dash_duo.driver.execute_script("window.consoleGuards.connection('a-surface-of-the-old-page', true);")
    until(lambda: banner_shown(dash_duo), timeout=2)
    time.sleep(1.2)
    assert banner_shown(dash_duo)  # nothing on this page clears it...
    goto(dash_duo, "/admin/operations", "#operations-table")  # ...but rendering another page does
    until(lambda: not banner_shown(dash_duo), timeout=4)
    assert dash_duo.get_logs() == []
