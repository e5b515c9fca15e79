"""The console without a mouse: the skip link, modals that trap focus both ways (focus on
open, back to the opener on close), starting an operation with the keyboard alone, a focus
indicator of at least 3:1, and focus that survives a re-render."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from dash.testing.wait import until
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from sqlalchemy import select

from console.api_tokens.service import create_token
from console.operations.models import OperationRun
from tests.support.browser import TENANT_PAGE, browser_login, count, make_run, open_page, text

_ACTIVE_JS = """
var a = document.activeElement;
if (!a || a === document.body) { return {id: null, tag: 'BODY', inModal: false}; }
return {id: a.id || null, tag: a.tagName, cls: a.className || '', inModal: !!(a.closest && a.closest('.modal'))};
"""


def active(dash_duo) -> dict:
    return dash_duo.driver.execute_script(_ACTIVE_JS)


def name(now: dict) -> str:
    """An element for the assertions: its id, or its class (the close button has no id)."""
    return now["id"] or ("btn-close" if "btn-close" in str(now.get("cls")) else str(now.get("cls") or now["tag"]))


def press(dash_duo, key: str, *, shift: bool = False) -> None:
    chain = ActionChains(dash_duo.driver)
    if shift:
        chain = chain.key_down(Keys.SHIFT).send_keys(key).key_up(Keys.SHIFT)
    else:
        chain = chain.send_keys(key)
    chain.perform()


def tab_to(dash_duo, element_id: str, limit: int = 60) -> None:
    """Tab forward until ``element_id`` has focus (the way a keyboard user gets there)."""
    for _ in range(limit):
        if active(dash_duo)["id"] == element_id:
            return
        press(dash_duo, Keys.TAB)
    raise AssertionError(f"#{element_id} was not reached with {limit} Tab presses (last: {active(dash_duo)})")


def open_dashboard(dash_duo, app, email: str = "manager@test.example") -> int:
    tenant = app.world.tenant_ids[0]
    dash_duo.start_server(app, navigate=False)
    browser_login(dash_duo, email, path=TENANT_PAGE.format(tenant))
    dash_duo.wait_for_element("#tenant-dashboard")
    return tenant


def open_review_pack_modal(dash_duo) -> None:
    dash_duo.find_element("#review-pack-generate").click()
    dash_duo.wait_for_element("#review-pack-modal #review-pack-confirm")
    # Focus lands on the dialog's first control (its first switch), not on the container.
    until(lambda: active(dash_duo)["id"] == "review-pack-include-operations", timeout=5)


def test_review_pack_modal_traps_tab_forwards_and_backwards(dash_duo, console_app) -> None:
    open_dashboard(dash_duo, console_app)
    open_review_pack_modal(dash_duo)

    forwards = []
    for _ in range(12):  # more than two full cycles of the dialog's five controls
        press(dash_duo, Keys.TAB)
        now = active(dash_duo)
        assert now["inModal"], f"Tab left the dialog: {now}"
        forwards.append(name(now))
    assert {"review-pack-include-pii", "review-pack-cancel", "review-pack-confirm"} <= set(forwards)
    # Tab on the last control (Generate) wraps to the first (the header's close button).
    i = forwards.index("review-pack-confirm")
    assert forwards[i + 1] == "btn-close", forwards

    backwards = []
    for _ in range(12):
        press(dash_duo, Keys.TAB, shift=True)
        now = active(dash_duo)
        assert now["inModal"], f"Shift+Tab left the dialog: {now}"
        assert now["tag"] != "DIV", f"Shift+Tab stuck on the dialog container: {now}"
        backwards.append(name(now))
    # Backwards reaches Generate and Cancel (they were never reached before the fix): Shift+Tab
    # on the first control wraps to the last.
    assert {"review-pack-confirm", "review-pack-cancel", "review-pack-include-operations"} <= set(backwards)
    j = backwards.index("btn-close")
    assert backwards[j + 1] == "review-pack-confirm", backwards
    assert dash_duo.get_logs() == []


def test_escape_closes_a_modal_and_focus_returns_to_the_opener(dash_duo, console_app) -> None:
    open_dashboard(dash_duo, console_app)
    dash_duo.find_element("#review-pack-generate").send_keys(Keys.ENTER)  # the keyboard opens it
    dash_duo.wait_for_element("#review-pack-modal #review-pack-confirm")
    until(lambda: active(dash_duo)["id"] == "review-pack-include-operations", timeout=5)
    press(dash_duo, Keys.ESCAPE)
    until(lambda: count(dash_duo, "#review-pack-modal") == 0, timeout=5)
    until(lambda: active(dash_duo)["id"] == "review-pack-generate", timeout=5)
    assert dash_duo.get_logs() == []


def test_an_operation_is_started_with_the_keyboard_alone(dash_duo, console_app) -> None:
    app = console_app
    open_dashboard(dash_duo, app, "operator@test.example")
    # From the top of the page: the skip link comes first and jumps over the navbar.
    dash_duo.driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
    press(dash_duo, Keys.TAB)
    assert active(dash_duo)["id"] == "skip-to-content"
    press(dash_duo, Keys.ENTER)
    until(lambda: active(dash_duo)["id"] == "main-content", timeout=5)
    assert count(dash_duo, "#tenant-dashboard") == 1  # the fragment link did not re-route the page

    tab_to(dash_duo, "op-start-inventory_sync")
    press(dash_duo, Keys.ENTER)
    dash_duo.wait_for_contains_text("#op-confirm-modal", "Inventory sync")
    # A confirm dialog focuses its first footer button: Cancel (a stray Enter starts nothing).
    until(lambda: active(dash_duo)["id"] == "op-cancel", timeout=5)
    press(dash_duo, Keys.TAB)
    assert active(dash_duo)["id"] == "op-confirm"
    press(dash_duo, Keys.ENTER)
    until(lambda: count(dash_duo, "#op-confirm-modal") == 0, timeout=5)

    with app.server.extensions["console.db"].session() as s:
        runs = list(s.scalars(select(OperationRun.id).where(OperationRun.type == "inventory_sync")))
    assert len(runs) == 1
    assert app.server.extensions["console.dispatcher"].sent == [("tasks.inventory.run_inventory_sync", (runs[0],))]
    # Focus is back on the button that opened the dialog.
    until(lambda: active(dash_duo)["id"] == "op-start-inventory_sync", timeout=5)
    assert dash_duo.get_logs() == []


def _channels(css_colour: str) -> tuple[float, float, float]:
    values = [float(v) for v in re.findall(r"[\d.]+", css_colour)[:3]]
    return values[0], values[1], values[2]


def _luminance(rgb: tuple[float, float, float]) -> float:
    def lin(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(_channels(a)), _luminance(_channels(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


_FOCUS_STYLE_JS = """
var el = document.activeElement;
// A visually hidden radio (Bootstrap's .btn-check) shows its focus on the label drawn as a button.
if (el.classList.contains('btn-check')) { el = el.nextElementSibling; }
var cs = getComputedStyle(el);
var node = el.parentElement, bg = 'rgb(255, 255, 255)';
while (node) {
    var c = getComputedStyle(node).backgroundColor;
    if (c && c !== 'rgba(0, 0, 0, 0)' && c !== 'transparent') { bg = c; break; }
    node = node.parentElement;
}
return {id: el.id, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth), colour: cs.outlineColor, bg: bg};
"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_keyboard_focus_is_visible_with_at_least_3_to_1_contrast(dash_duo, console_app, theme) -> None:
    make_run(console_app, status="completed", outcome="succeeded", age_s=86400)  # the chart and its range
    open_dashboard(dash_duo, console_app)
    dash_duo.driver.execute_script(f"localStorage.setItem('console-theme', '{theme}'); location.reload();")
    dash_duo.wait_for_element("#chart-runs-range")
    for element_id in (
        "nav-operations",
        "op-start-inventory_sync",
        "review-pack-generate",
        "tenant-all-operations",
        "_dbcprivate_radioitems_chart-runs-range_input_30",  # the range's checked radio
    ):
        tab_to(dash_duo, element_id)
        style = dash_duo.driver.execute_script(_FOCUS_STYLE_JS)
        assert style["style"] == "solid" and style["width"] >= 2, style
        assert contrast(style["colour"], style["bg"]) >= 3, style
    assert dash_duo.get_logs() == []


def test_focus_survives_a_poll_that_re_renders_the_run_viewer(dash_duo, console_app) -> None:
    app = console_app
    run_id = make_run(app, status="running", summary_counts={"total": 10, "processed": 1})
    dash_duo.start_server(app, navigate=False)
    browser_login(dash_duo, "manager@test.example", path=f"/admin/operations/{run_id}")
    open_page(dash_duo, f"/admin/operations/{run_id}", "#run-cancel")
    dash_duo.driver.execute_script("document.getElementById('run-cancel').focus();")
    with app.server.extensions["console.db"].session() as s:
        s.get(OperationRun, run_id).summary_counts = {"total": 10, "processed": 5}
        s.commit()
    until(lambda: text(dash_duo, "#run-progress .progress-text") == "5 / 10", timeout=10)
    until(lambda: active(dash_duo)["id"] == "run-cancel", timeout=5)
    assert dash_duo.get_logs() == []


def test_a_run_is_opened_from_the_operations_list_with_the_keyboard(dash_duo, console_app) -> None:
    app = console_app
    run_id = make_run(app, status="running", summary_counts={"total": 10, "processed": 1})
    dash_duo.start_server(app, navigate=False)
    browser_login(dash_duo, "manager@test.example", path="/admin/operations")
    open_page(dash_duo, "/admin/operations", "#operations-table .ag-row")
    tab_to(dash_duo, "ops-filter-q")
    press(dash_duo, Keys.TAB)  # into the grid: its first header cell
    press(dash_duo, Keys.DOWN)  # the first row's "Run" cell (AG Grid: arrows move between cells)
    until(lambda: "ag-cell" in str(active(dash_duo).get("cls")), timeout=5)
    press(dash_duo, Keys.ENTER)  # the cell's one link: "#<id>"
    dash_duo.wait_for_element(f"#run-viewer[data-run-id='{run_id}']", timeout=8)
    assert dash_duo.get_logs() == []


_CHART_RANGE_JS = """
var plot = document.querySelector('#chart-runs-per-day .js-plotly-plot');
return {shown: plot._fullLayout.xaxis.range.slice(), ranges: plot.layout.meta.ranges};
"""


def test_the_runs_charts_range_is_chosen_with_the_keyboard(dash_duo, console_app) -> None:
    """Plotly's own range selector is SVG that Tab never reaches: the choice is a radio group."""
    make_run(console_app, status="completed", outcome="succeeded", age_s=3 * 86400)
    open_dashboard(dash_duo, console_app)
    dash_duo.wait_for_element("#chart-runs-per-day .js-plotly-plot .xtick")
    tab_to(dash_duo, active_radio_id(dash_duo))  # Tab enters the group at its checked radio: "30 d"
    chart = dash_duo.driver.execute_script(_CHART_RANGE_JS)
    assert chart["shown"] == chart["ranges"]["30"]
    press(dash_duo, Keys.LEFT)  # arrows choose within the group: 14 d
    until(lambda: dash_duo.driver.execute_script(_CHART_RANGE_JS)["shown"] == chart["ranges"]["14"], timeout=3)
    press(dash_duo, Keys.LEFT)  # 7 d
    until(lambda: dash_duo.driver.execute_script(_CHART_RANGE_JS)["shown"] == chart["ranges"]["7"], timeout=3)
    assert dash_duo.get_logs() == []


def active_radio_id(dash_duo) -> str:
    return dash_duo.driver.execute_script("return document.querySelector('#chart-runs-range input:checked').id;")


# --------------------------------------------------------------------------- every dialog, every control


@dataclass(frozen=True)
class Dialog:
    name: str
    user: str
    path: str  # formatted with {tenant}, {running}, {failed}
    opener: str  # a CSS selector
    modal: str
    controls: frozenset[str]  # the dialog's own controls (ids), besides the header's close button


DIALOGS = [
    Dialog(
        "start operation",
        "operator",
        "/admin/tenants/{tenant}",
        "#op-start-inventory_sync",
        "op-confirm-modal",
        frozenset({"op-cancel", "op-confirm"}),
    ),
    Dialog(
        "cancel a run",
        "manager",
        "/admin/operations/{running}",
        "#run-cancel",
        "run-cancel-modal",
        frozenset({"run-cancel-dismiss", "run-cancel-confirm"}),
    ),
    Dialog(
        "retry a run",
        "manager",
        "/admin/operations/{failed}",
        "#run-retry",
        "run-retry-modal",
        frozenset({"run-retry-dismiss", "run-retry-confirm"}),
    ),
    Dialog(
        "notifications",
        "manager",
        "/",
        "#notifications-bell",
        "notifications-modal",
        frozenset({"notifications-mark-read", "notifications-close"}),
    ),
    Dialog(
        "revoke a token",
        "manager",
        "/account/tokens",
        "#tokens-table button[id*='token-revoke']",
        "token-revoke-modal",
        frozenset({"token-revoke-cancel", "token-revoke-confirm"}),
    ),
]

_SHOWN_JS = "var m = document.getElementById(arguments[0]); return !!(m && m.closest('.modal.show'));"
_IN_DIALOG_JS = "var m = document.getElementById(arguments[0]); return !!(m && m.contains(document.activeElement));"


@pytest.mark.parametrize("dialog", DIALOGS, ids=lambda d: d.name)
def test_every_dialog_is_driven_by_the_keyboard_and_traps_focus_both_ways(dash_duo, console_app, dialog) -> None:
    """Opened with Enter, focus inside; Tab and Shift+Tab cycle through every control without
    leaving it; Escape closes it and focus is back on the control that opened it."""
    app = console_app
    values = {
        "tenant": app.world.tenant_ids[0],
        "running": make_run(app, status="running", summary_counts={"total": 10, "processed": 1}),
        "failed": make_run(app, status="completed", outcome="failed", summary_counts={"total": 2, "processed": 2}),
    }
    with app.server.extensions["console.db"].session() as s:
        create_token(session=s, user_id=app.world.users["manager"], name="CI export")
    dash_duo.start_server(app, navigate=False)
    path = dialog.path.format(**values)
    browser_login(dash_duo, f"{dialog.user}@test.example", path=path)
    open_page(dash_duo, path, dialog.opener)
    opener_id = dash_duo.driver.execute_script(
        "var el = document.querySelector(arguments[0]); el.focus(); return el.id;", dialog.opener
    )
    press(dash_duo, Keys.ENTER)
    until(lambda: dash_duo.driver.execute_script(_SHOWN_JS, dialog.modal), timeout=5)
    until(lambda: dash_duo.driver.execute_script(_IN_DIALOG_JS, dialog.modal), timeout=5)

    stops = len(dialog.controls) + 1  # and the header's close button
    for shift in (False, True):
        seen = []
        for _ in range(2 * stops + 1):
            press(dash_duo, Keys.TAB, shift=shift)
            assert dash_duo.driver.execute_script(_IN_DIALOG_JS, dialog.modal), (
                f"focus left the dialog: {active(dash_duo)}"
            )
            now = active(dash_duo)
            assert now["tag"] != "DIV", f"focus stuck on the dialog container: {now}"
            seen.append(name(now))
        assert dialog.controls | {"btn-close"} <= set(seen), (shift, seen)

    press(dash_duo, Keys.ESCAPE)
    until(lambda: not dash_duo.driver.execute_script(_SHOWN_JS, dialog.modal), timeout=5)
    until(lambda: active(dash_duo)["id"] == opener_id, timeout=5)
    assert dash_duo.get_logs() == []


# --------------------------------------------------------------------------- every control, by Tab

#: Every visible control outside dialogs and the grid's cells (the grid is one Tab stop with arrow
#: keys inside: tested above), keyed by id or by tag, href and text. An unchecked radio is left
#: out: a radio group is one Tab stop and arrows choose (tested with the chart's range).
_CONTROLS_JS = """
var sel = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), ' +
          'textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';
return Array.from(document.querySelectorAll(sel)).filter(function (el) {
    var shown = (el.offsetWidth || el.offsetHeight || el.getClientRects().length) &&
                getComputedStyle(el).visibility !== 'hidden';
    return shown && !el.closest('.modal') && !el.closest('.ag-root') && !el.classList.contains('ag-tab-guard') &&
           !(el.type === 'radio' && !el.checked);
}).map(window.__controlKey);
"""
_KEY_JS = """
window.__controlKey = function (el) {
    if (!el || el === document.body) { return null; }
    return el.id || [el.tagName, el.getAttribute('href') || '', (el.textContent || '').trim().slice(0, 40)].join('|');
};
"""
_ACTIVE_KEY_JS = "return window.__controlKey(document.activeElement);"

#: (user, path, what to wait for): the pages a keyboard user works on.
TAB_WALKS = [
    ("manager", "/", "#overview-tenants"),
    ("operator", "/admin/tenants/{tenant}", "#op-start-inventory_sync"),
    ("manager", "/admin/operations/{running}", "#run-cancel"),
    ("manager", "/admin/operations", "#operations-table .ag-row"),
    ("manager", "/account/tokens", "#tokens-table button"),
]


@pytest.mark.parametrize(("user", "path", "wait_for"), TAB_WALKS, ids=[p for _, p, _ in TAB_WALKS])
def test_tab_reaches_every_control_on_the_page(dash_duo, console_app, user, path, wait_for) -> None:
    app = console_app
    make_run(app, status="completed", outcome="succeeded", age_s=86400)
    values = {
        "tenant": app.world.tenant_ids[0],
        "running": make_run(app, status="running", summary_counts={"total": 10, "processed": 1}),
    }
    with app.server.extensions["console.db"].session() as s:
        create_token(session=s, user_id=app.world.users["manager"], name="CI export")
    dash_duo.start_server(app, navigate=False)
    path = path.format(**values)
    browser_login(dash_duo, f"{user}@test.example", path=path)
    open_page(dash_duo, path, wait_for)
    dash_duo.driver.execute_script(_KEY_JS)
    expected = set(dash_duo.driver.execute_script(_CONTROLS_JS))
    assert len(expected) >= 5, expected  # the page has its navbar and its own controls
    dash_duo.driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
    reached: set[str] = set()
    for _ in range(2 * len(expected) + 20):
        press(dash_duo, Keys.TAB)
        reached.add(dash_duo.driver.execute_script(_ACTIVE_KEY_JS))
        if expected <= reached:
            break
    assert expected - reached == set(), f"not reached with Tab: {sorted(expected - reached)}"
    assert dash_duo.get_logs() == []


def test_the_account_menu_opens_and_follows_an_item_with_the_keyboard(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    open_page(dash_duo, "/", "#overview-tenants")
    dash_duo.driver.execute_script("document.querySelector('#nav-account .dropdown-toggle').focus();")
    press(dash_duo, Keys.ENTER)  # opens the menu
    dash_duo.wait_for_element("#nav-account .dropdown-menu.show")
    press(dash_duo, Keys.DOWN)  # arrows move through its items
    until(lambda: active(dash_duo)["id"] == "nav-api-tokens", timeout=5)
    press(dash_duo, Keys.ENTER)
    dash_duo.wait_for_element("#tokens-table", timeout=8)
    assert dash_duo.driver.current_url.endswith("/account/tokens")
    assert dash_duo.get_logs() == []
