"""One visual language (#14 item 9) in a real browser: the colour theme (toggle, persistence,
the system's preference followed live, charts and grid included), relative times with the
absolute time on hover, the operations list's date presets, the runs chart's range selector,
durations in words, and no layout shift when the navbar's activity strip fills."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dash.testing.wait import until

from console.db import utcnow
from tests.support.browser import attr, browser_login, count, make_run, open_page, text

THEME_JS = (
    "var h = document.documentElement; return [h.getAttribute('data-bs-theme'), h.getAttribute('data-theme-choice')];"
)


def theme(dash_duo) -> list[str]:
    return dash_duo.driver.execute_script(THEME_JS)


def toggle_word(dash_duo) -> str:
    """The word the toggle shows (innerText skips the two hidden labels; "Theme:" is visually hidden)."""
    return text(dash_duo, "#theme-toggle").split()[-1]


def emulate_colour_scheme(dash_duo, value: str) -> None:
    dash_duo.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": value}]}
    )


def test_theme_toggle_cycles_persists_across_reload_and_follows_the_system(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    emulate_colour_scheme(dash_duo, "light")
    browser_login(dash_duo, "manager@test.example")
    dash_duo.wait_for_element("#overview-tenants")
    assert theme(dash_duo) == ["light", "auto"]
    assert text(dash_duo, "#theme-toggle") == "Theme:\nAuto"  # its accessible name: "Theme: Auto"

    dash_duo.find_element("#theme-toggle").click()
    assert theme(dash_duo) == ["light", "light"] and toggle_word(dash_duo) == "Light"
    dash_duo.find_element("#theme-toggle").click()
    assert theme(dash_duo) == ["dark", "dark"] and toggle_word(dash_duo) == "Dark"
    assert "Click for auto" in attr(dash_duo, "#theme-toggle", "title")
    # Bootstrap's dark colours apply (body background), and AG Grid gets the same mode.
    assert dash_duo.driver.execute_script("return getComputedStyle(document.body).backgroundColor") == "rgb(33, 37, 41)"
    assert dash_duo.driver.execute_script("return document.documentElement.dataset.agThemeMode") == "dark"

    open_page(dash_duo, "/admin/operations", "#operations-table")  # a full reload: still dark, no flash
    assert theme(dash_duo) == ["dark", "dark"]
    dash_duo.driver.delete_all_cookies()  # signed out: the Flask login page is dark too
    open_page(dash_duo, "/login", "#login-submit")
    assert theme(dash_duo) == ["dark", "dark"]
    browser_login(dash_duo, "manager@test.example")
    dash_duo.wait_for_element("#overview-tenants")

    dash_duo.find_element("#theme-toggle").click()  # back to auto: the system says light
    assert theme(dash_duo) == ["light", "auto"]
    emulate_colour_scheme(dash_duo, "dark")  # the system switches: followed live, no reload
    until(lambda: theme(dash_duo) == ["dark", "auto"], timeout=3)
    emulate_colour_scheme(dash_duo, "light")
    until(lambda: theme(dash_duo) == ["light", "auto"], timeout=3)
    assert dash_duo.get_logs() == []


def test_charts_and_grid_follow_the_dark_theme(dash_duo, console_app) -> None:
    for age_h, seconds in ((30, 674), (50, 65)):
        created = utcnow() - timedelta(hours=age_h)
        make_run(
            console_app,
            status="completed",
            outcome="succeeded",
            created_at=created,
            started_at=created,
            completed_at=created + timedelta(seconds=seconds),
        )
    tenant = console_app.world.tenant_ids[0]
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    dash_duo.driver.execute_script("localStorage.setItem('console-theme', 'dark')")
    open_page(dash_duo, f"/admin/tenants/{tenant}", "#chart-durations .xtick text")
    fill = "return getComputedStyle(document.querySelector(arguments[0])).fill;"
    assert dash_duo.driver.execute_script(fill, "#chart-runs-per-day .gtitle") == "rgb(222, 226, 230)"
    assert dash_duo.driver.execute_script(fill, "#chart-durations .xtick text") == "rgb(222, 226, 230)"
    paper = "return getComputedStyle(document.querySelector('#chart-runs-per-day .main-svg')).backgroundColor;"
    assert dash_duo.driver.execute_script(paper) == "rgba(0, 0, 0, 0)"
    open_page(dash_duo, "/admin/operations", "#operations-table .ag-row")
    grid_bg = dash_duo.driver.execute_script(
        "return getComputedStyle(document.querySelector('#operations-table .ag-root-wrapper')).backgroundColor;"
    )
    r, g, b = (int(v) for v in grid_bg[grid_bg.index("(") + 1 : grid_bg.index(")")].split(",")[:3])
    assert max(r, g, b) < 80, f"the grid stayed light in dark mode: {grid_bg}"
    assert dash_duo.get_logs() == []


def test_times_read_relative_with_the_absolute_utc_time_on_hover(dash_duo, console_app) -> None:
    created = utcnow() - timedelta(hours=3, minutes=5)
    run = make_run(
        console_app,
        status="completed",
        outcome="succeeded",
        created_at=created,
        started_at=created + timedelta(seconds=4),
        completed_at=created + timedelta(minutes=11, seconds=18),
    )
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example", path=f"/admin/operations/{run}")
    dash_duo.wait_for_element("#run-created-at time.relative-time")
    until(lambda: text(dash_duo, "#run-created-at") == "3 h ago", timeout=3)
    assert text(dash_duo, "#run-completed-at") == "2 h ago"
    absolute = created.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert attr(dash_duo, "#run-created-at time", "title") == absolute
    assert attr(dash_duo, "#run-created-at time", "data-absolute") == absolute
    assert attr(dash_duo, "#run-created-at time", "datetime") == created.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert text(dash_duo, "#run-duration").endswith(" 11 min 14 s")  # started 4 s after creation
    # The tenant dashboard's recent runs: the same element.
    open_page(dash_duo, f"/admin/tenants/{console_app.world.tenant_ids[0]}", "#tenant-operations time.relative-time")
    until(lambda: text(dash_duo, f"#tenant-operations tr[data-run-id='{run}'] time") == "3 h ago", timeout=3)
    # An element added later (a poll's re-render) is drawn at once; a changed datetime redrawn.
    dash_duo.driver.execute_script(
        "var t = document.createElement('time'); t.id = 'probe-time'; t.className = 'relative-time';"
        "t.setAttribute('datetime', new Date(Date.now() - 5 * 86400000).toISOString());"
        "t.title = 'five days ago UTC'; t.textContent = 'five days ago UTC';"
        "document.getElementById('main-content').appendChild(t);"
    )
    until(lambda: text(dash_duo, "#probe-time") == "5 days ago", timeout=3)
    dash_duo.driver.execute_script(
        "var t = document.getElementById('probe-time'); t.title = 'soon UTC';"
        "t.setAttribute('datetime', new Date(Date.now() + 90 * 60000).toISOString());"
    )
    until(lambda: text(dash_duo, "#probe-time") == "in 1 h", timeout=3)
    assert attr(dash_duo, "#probe-time", "data-absolute") == "soon UTC"
    # A future time (a pack's expiry) reads "in …".
    phrase = "return window.consoleRelativeTime.phrase(arguments[0]);"
    assert dash_duo.driver.execute_script(phrase, 2 * 86400 + 60) == "in 2 days"
    assert dash_duo.driver.execute_script(phrase, -20) == "just now"
    assert dash_duo.get_logs() == []


def test_date_presets_set_the_url_and_the_inputs_and_show_which_is_on(dash_duo, console_app) -> None:
    make_run(console_app, status="completed", outcome="succeeded", age_s=3 * 86400)
    make_run(console_app, status="completed", outcome="failed", age_s=20 * 86400)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example", path="/admin/operations?status=completed&to=2999-01-01")
    dash_duo.wait_for_element("#ops-date-preset-7d")
    assert [text(dash_duo, f"#ops-date-preset-{k}") for k in ("24h", "7d", "30d", "90d")] == [
        "24 h",
        "7 d",
        "30 d",
        "90 d",
    ]
    assert count(dash_duo, "#ops-filter-dates [aria-current]") == 0
    week_ago = (utcnow().date() - timedelta(days=7)).isoformat()

    # By keyboard: focus the link, press Enter.
    link = dash_duo.find_element("#ops-date-preset-7d")
    dash_duo.driver.execute_script("arguments[0].focus();", link)
    link.send_keys("\n")
    until(
        lambda: dash_duo.driver.execute_script("return window.location.search") == f"?status=completed&from={week_ago}",
        5,
    )
    until(lambda: attr(dash_duo, "#ops-filter-from", "value") == week_ago, timeout=5)
    assert attr(dash_duo, "#ops-filter-to", "value") == ""
    until(lambda: attr(dash_duo, "#ops-date-preset-7d", "aria-current") == "true", timeout=5)
    assert "active" in attr(dash_duo, "#ops-date-preset-7d", "class")
    assert attr(dash_duo, "#ops-date-preset-30d", "aria-current") is None
    until(lambda: count(dash_duo, "#operations-table .ag-row") == 1, timeout=5)  # the 20-day-old run is out

    dash_duo.find_element("#ops-date-preset-30d").click()
    until(lambda: count(dash_duo, "#operations-table .ag-row") == 2, timeout=5)
    assert attr(dash_duo, "#ops-date-preset-30d", "aria-current") == "true"
    assert "status=completed" in dash_duo.driver.execute_script("return window.location.search")
    dash_duo.driver.back()  # the history has the 7-day list
    until(lambda: attr(dash_duo, "#ops-filter-from", "value") == week_ago, timeout=5)
    assert dash_duo.get_logs() == []


_SHOWN_RANGE_JS = (
    "return document.querySelector('#chart-runs-per-day .js-plotly-plot')._fullLayout.xaxis.range.slice();"
)
_RANGES_JS = "return document.querySelector('#chart-runs-per-day .js-plotly-plot').layout.meta.ranges;"


def test_runs_chart_has_a_range_choice_and_durations_read_in_words(dash_duo, console_app) -> None:
    created = utcnow() - timedelta(days=2)
    make_run(
        console_app,
        status="completed",
        outcome="succeeded",
        created_at=created,
        started_at=created,
        completed_at=created + timedelta(minutes=11, seconds=14),
    )
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example", path=f"/admin/tenants/{console_app.world.tenant_ids[0]}")
    dash_duo.wait_for_element("#chart-runs-per-day .js-plotly-plot .xtick")
    labels = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#chart-runs-range label'))"
        ".map(function (l) { return l.textContent; });"
    )
    assert labels == ["7 d", "14 d", "30 d"]
    ticks = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#chart-durations .xtick text'))"
        ".map(function (t) { return t.textContent; });"
    )
    assert "5 min" in ticks and "10 min" in ticks and all(not t.isdigit() for t in ticks)
    ranges = dash_duo.driver.execute_script(_RANGES_JS)
    assert dash_duo.driver.execute_script(_SHOWN_RANGE_JS) == ranges["30"]
    week = dash_duo.find_elements("#chart-runs-range label")[0]  # "7 d"
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", week)
    week.click()
    until(lambda: dash_duo.driver.execute_script(_SHOWN_RANGE_JS) == ranges["7"], timeout=3)
    assert dash_duo.get_logs() == []


MAIN_TOP = "return document.getElementById('main-content').getBoundingClientRect().top;"


@pytest.mark.parametrize("size", [(1440, 900), (1280, 800), (1700, 900)])
def test_no_layout_shift_when_the_activity_strip_fills(dash_duo, console_app, size) -> None:
    dash_duo.start_server(console_app, navigate=False)
    dash_duo.driver.set_window_size(*size)
    browser_login(dash_duo, "manager@test.example")
    dash_duo.wait_for_element("#overview-tenants")
    assert count(dash_duo, "#activity-shell .activity-item") == 0
    top = dash_duo.driver.execute_script(MAIN_TOP)
    run = make_run(console_app, status="running", summary_counts={"total": 10, "processed": 3})
    dash_duo.driver.execute_script(
        "document.dispatchEvent(new CustomEvent('run-enqueued', {detail: {run_id: arguments[0]}}));", run
    )
    dash_duo.wait_for_element(f"#activity-shell .activity-item[data-run-id='{run}']", timeout=6)
    assert dash_duo.driver.execute_script(MAIN_TOP) == top
    for i in range(4):  # a full strip (five items and "and N more") is no taller
        make_run(console_app, status="queued", type="evidence_snapshot_generate", age_s=i)
    more = make_run(console_app, status="running", type="baseline_capture", context={"phase": "collecting"})
    dash_duo.driver.execute_script(
        "document.dispatchEvent(new CustomEvent('run-enqueued', {detail: {run_id: arguments[0]}}));", more
    )
    until(lambda: count(dash_duo, "#activity-shell .activity-item") == 5, timeout=6)
    assert dash_duo.driver.execute_script(MAIN_TOP) == top


ONE_LINE = (
    "var el = document.querySelector(arguments[0]);"
    "var line = parseFloat(getComputedStyle(el).lineHeight);"
    "return [el.getBoundingClientRect().height, line, el.innerText];"
)


@pytest.mark.parametrize("size", [(1440, 900), (1280, 800)])
def test_the_last_inventory_sync_tile_does_not_wrap(dash_duo, console_app, size) -> None:
    """Issue 14 item 9: the KPI's absolute UTC time ("2026-12-05 02:28 UTC") stays on one line
    at the sizes the console is checked at (it wrapped "UTC" onto a second line at both)."""
    a1 = console_app.world.tenant_ids[0]
    make_run(console_app, tenant=a1, status="completed", outcome="succeeded", age_s=3600, completed_at=utcnow())
    dash_duo.start_server(console_app, navigate=False)
    dash_duo.driver.set_window_size(*size)
    browser_login(dash_duo, "manager@test.example", path=f"/admin/tenants/{a1}")
    until(lambda: (text(dash_duo, "#kpi-last-inventory-sync") or "").endswith("UTC"), timeout=5)
    height, line, shown = dash_duo.driver.execute_script(ONE_LINE, "#kpi-last-inventory-sync")
    assert height < 1.5 * line, (height, line, shown)
    assert dash_duo.get_logs() == []
