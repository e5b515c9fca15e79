"""axe-core (WCAG 2.0/2.1 A and AA, plus best-practice) on every page state of the console:
zero violations. The engine is the npm package `.ci/test` installs (tests/support/axe.py);
a missing engine fails these tests, it never skips them.

Adding a page is one line in PAGE_STATES (or NO_RUN_STATES): a name, who is signed in, the
path, what to wait for, and optionally a control to click first (a modal to open)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dash.testing.wait import until
from selenium.common.exceptions import StaleElementReferenceException

from console.api_tokens.service import create_token
from console.db import utcnow
from tests.support.axe import run_axe, violation_lines
from tests.support.browser import browser_login, make_run, open_page


@dataclass(frozen=True)
class PageState:
    name: str
    path: str  # formatted with the scene: {tenant}, {counted}, {queued}, {phased}, {failed}, {unknown}
    # (the scene with runs also gives the manager an API token, so the tokens page has a Revoke button)
    wait_for: str
    click: str | None = None  # then click this ...
    then_wait_for: str | None = None  # ... and wait for this (a modal's content)


#: A token's Revoke button (a pattern id: Dash writes it as JSON in the DOM id).
REVOKE_BUTTON = "#tokens-table button[id*='token-revoke']"

#: Signed in as a manager, with runs active (every progress mode is on screen somewhere).
PAGE_STATES = [
    PageState("overview", "/", "#overview-tenants"),
    PageState("tenant dashboard", "/admin/tenants/{tenant}", "#tenant-operations tr[data-run-id]"),
    PageState(
        "tenant dashboard, start-operation modal",
        "/admin/tenants/{tenant}",
        "#op-start-inventory_sync",
        click="#op-start-inventory_sync",
        then_wait_for="#op-confirm-modal #op-confirm",
    ),
    PageState(
        "tenant dashboard, review-pack modal",
        "/admin/tenants/{tenant}",
        "#review-pack-generate",
        click="#review-pack-generate",
        then_wait_for="#review-pack-modal #review-pack-confirm",
    ),
    PageState("operations list", "/admin/operations", "#operations-table .ag-row"),
    PageState(
        "operations list, filters set and a rejected one",
        "/admin/operations?status=active&from=2020-01-01&to=2999-01-01&outcome=bogus",
        "#operations-table .ag-row",
    ),
    PageState("run viewer, counted", "/admin/operations/{counted}", "#run-progress[data-progress-mode=counted]"),
    PageState("run viewer, queued", "/admin/operations/{queued}", "#run-progress[data-progress-mode=activity]"),
    PageState("run viewer, phased", "/admin/operations/{phased}", "#run-progress[data-progress-mode=phased]"),
    PageState("run viewer, completed", "/admin/operations/{failed}", "#run-progress[data-progress-mode=none]"),
    PageState("run viewer, unknown status", "/admin/operations/{unknown}", "#run-progress[data-progress-mode=none]"),
    PageState(
        "run viewer, cancel modal",
        "/admin/operations/{counted}",
        "#run-cancel",
        click="#run-cancel",
        then_wait_for="#run-cancel-modal #run-cancel-confirm",
    ),
    PageState(
        "run viewer, retry modal",
        "/admin/operations/{failed}",
        "#run-retry",
        click="#run-retry",
        then_wait_for="#run-retry-modal #run-retry-text",
    ),
    PageState(
        "notifications",
        "/",
        "#notifications-bell",
        click="#notifications-bell",
        then_wait_for="#notifications-modal #notifications-close",
    ),
    PageState("not-found page", "/admin/operations/999999", "#not-found"),
    PageState("API tokens (issue 18)", "/account/tokens", "#tokens-table"),
    PageState(
        "API tokens, a token created (shown once)",
        "/account/tokens",
        "#token-create",
        click="#token-create",
        then_wait_for="#token-message",
    ),
    PageState(  # the scene's token, listed with its Revoke button
        "API tokens, revoke modal",
        "/account/tokens",
        REVOKE_BUTTON,
        click=REVOKE_BUTTON,
        then_wait_for="#token-revoke-modal #token-revoke-confirm",
    ),
]

#: The same surfaces on a fresh instance: nothing active, no runs at all.
NO_RUN_STATES = [
    PageState("overview", "/", "#overview-tenants"),
    PageState("tenant dashboard", "/admin/tenants/{tenant}", "#review-pack-card"),
    PageState("operations list", "/admin/operations", "#operations-empty:not([hidden])"),
    PageState(
        "notifications",
        "/",
        "#notifications-bell",
        click="#notifications-bell",
        then_wait_for="#notifications-modal #notifications-empty",
    ),
    PageState("not-found page", "/no/such/page", "#not-found"),
    PageState("API tokens, none yet", "/account/tokens", "#tokens-table"),
]

#: An operator (granted capabilities on one tenant) sees other controls: each modal, audited.
OPERATOR_STATES = [
    PageState("tenant dashboard (operator)", "/admin/tenants/{tenant}", "#tenant-operations"),
    PageState(
        "tenant dashboard (operator), start-operation modal",
        "/admin/tenants/{tenant}",
        "#op-start-baseline_capture",
        click="#op-start-baseline_capture",
        then_wait_for="#op-confirm-modal #op-confirm",
    ),
    PageState(
        "tenant dashboard (operator), review-pack modal",
        "/admin/tenants/{tenant}",
        "#review-pack-generate",
        click="#review-pack-generate",
        then_wait_for="#review-pack-modal #review-pack-confirm",
    ),
]

_SETTLED_JS = """
var s = window.store && window.store.getState();
if (!s || (s.pendingCallbacks && s.pendingCallbacks.length)) { return false; }
var m = document.querySelector('.modal');
if (m && (!m.classList.contains('show') || getComputedStyle(m).opacity !== '1')) { return false; }
return true;
"""


def scene(app, *, active: bool = True) -> dict[str, int]:
    """A run in each progress mode (and an unknown status) on tenant a1."""
    values = {"tenant": app.world.tenant_ids[0]}
    if active:
        values.update(
            counted=make_run(app, status="running", summary_counts={"total": 31, "processed": 12}),
            queued=make_run(app, status="queued", type="evidence_snapshot_generate"),
            phased=make_run(app, status="running", type="baseline_capture", context={"phase": "collecting"}),
            failed=make_run(
                app,
                age_s=120,
                status="completed",
                outcome="failed",
                summary_counts={"total": 3, "processed": 2, "succeeded": 1, "failed": 1},
                completed_at=utcnow() - timedelta(seconds=60),
            ),
            unknown=make_run(app, status="teleporting"),
        )
        with app.server.extensions["console.db"].session() as s:
            create_token(session=s, user_id=app.world.users["manager"], name="CI export")
    return values


def _click(dash_duo, selector: str) -> bool:
    """Click the control; False (try again) when a re-render replaced it between find and click."""
    try:
        dash_duo.find_element(selector).click()
    except StaleElementReferenceException:
        return False
    return True


def audit_states(dash_duo, states: list[PageState], values: dict[str, int]) -> list[str]:
    """Every state's violations, as lines naming the state (empty: all clean)."""
    failures: list[str] = []
    for state in states:
        open_page(dash_duo, state.path.format(**values), state.wait_for)
        if state.click:  # a poll may re-render the opener between find and click
            until(lambda selector=state.click: _click(dash_duo, selector), timeout=8)
            dash_duo.wait_for_element(state.then_wait_for, timeout=8)
        until(lambda: dash_duo.driver.execute_script(_SETTLED_JS), timeout=8)
        failures += [f"[{state.name}] {line}" for line in violation_lines(run_axe(dash_duo))]
    return failures


def assert_clean(failures: list[str]) -> None:
    assert not failures, "axe-core violations:\n  " + "\n  ".join(failures)


def unexpected_logs(dash_duo) -> list[dict]:
    """The browser log, minus the not-found page's own HTTP 404 (the contract: a 404 status)."""
    return [e for e in dash_duo.get_logs() if "status of 404 (NOT FOUND)" not in e["message"]]


def test_login_page_has_no_axe_violations_before_and_after_a_refused_sign_in(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    open_page(dash_duo, "/login", "#login-submit")
    failures = [f"[login] {line}" for line in violation_lines(run_axe(dash_duo))]
    dash_duo.find_element("input[name=email]").send_keys("manager@test.example")
    dash_duo.find_element("input[name=password]").send_keys("not the password")
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#login-error")
    failures += [f"[login, refused] {line}" for line in violation_lines(run_axe(dash_duo))]
    assert_clean(failures)


def test_every_page_state_with_runs_active_has_no_axe_violations(dash_duo, console_app) -> None:
    values = scene(console_app)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    assert_clean(audit_states(dash_duo, PAGE_STATES, values))
    assert unexpected_logs(dash_duo) == []


def test_every_page_state_without_runs_has_no_axe_violations(dash_duo, console_app) -> None:
    values = scene(console_app, active=False)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    assert_clean(audit_states(dash_duo, NO_RUN_STATES, values))
    assert unexpected_logs(dash_duo) == []


def test_operator_dashboard_and_its_modals_have_no_axe_violations(dash_duo, console_app) -> None:
    values = scene(console_app)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "operator@test.example")
    assert_clean(audit_states(dash_duo, OPERATOR_STATES, values))
    assert dash_duo.get_logs() == []


def test_the_api_reference_has_no_axe_violations(dash_duo, console_app) -> None:
    """/api/docs, the reference rendered from the OpenAPI document (Swagger UI at /api/docs/try
    is not audited: its own markup fails axe — docs/accessibility.md, known limits)."""
    dash_duo.start_server(console_app, navigate=False)
    open_page(dash_duo, "/api/docs", "#api-reference .api-operation")
    assert_clean([f"[API reference] {line}" for line in violation_lines(run_axe(dash_duo))])


def test_the_download_error_page_has_no_axe_violations_in_either_theme(dash_duo, console_app) -> None:
    """What a browser gets for a pack it may not download (templates/download_error.html)."""
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    failures = []
    for theme in ("light", "dark"):
        dash_duo.driver.execute_script(f"localStorage.setItem('console-theme', '{theme}');")
        open_page(dash_duo, "/review-packs/999999/download", "#download-error[data-status='404']")
        assert _theme(dash_duo) == theme
        failures += [f"[download error, {theme}] {line}" for line in violation_lines(run_axe(dash_duo))]
    assert_clean(failures)


# --------------------------------------------------------------------------- dark mode (#14 item 9)


def _theme(dash_duo) -> str:
    return dash_duo.driver.execute_script("return document.documentElement.getAttribute('data-bs-theme');")


def test_login_page_in_dark_mode_from_the_system_preference_has_no_axe_violations(dash_duo, console_app) -> None:
    """No stored choice ("auto"): the system's dark preference alone turns the page dark."""
    dash_duo.start_server(console_app, navigate=False)
    dash_duo.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    )
    open_page(dash_duo, "/login", "#login-submit")
    assert _theme(dash_duo) == "dark"
    assert_clean([f"[login, dark] {line}" for line in violation_lines(run_axe(dash_duo))])


def test_every_page_state_in_dark_mode_has_no_axe_violations(dash_duo, console_app) -> None:
    """The same states as the light audit, with the toggle's stored choice "dark"."""
    values = scene(console_app)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    dash_duo.driver.execute_script("localStorage.setItem('console-theme', 'dark');")
    failures = audit_states(dash_duo, PAGE_STATES, values)
    assert _theme(dash_duo) == "dark"
    assert_clean([f"(dark) {line}" for line in failures])
    assert unexpected_logs(dash_duo) == []


def test_the_other_page_states_in_dark_mode_have_no_axe_violations(dash_duo, console_app) -> None:
    """Issue 19's "with a run active and without, in light and dark themes": the fresh-instance
    states (manager) and the operator's dashboard and modals, dark; and the API reference."""
    values = scene(console_app, active=False)
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    dash_duo.driver.execute_script("localStorage.setItem('console-theme', 'dark');")
    failures = audit_states(dash_duo, NO_RUN_STATES, values)
    assert _theme(dash_duo) == "dark"
    open_page(dash_duo, "/api/docs", "#api-reference .api-operation")
    assert _theme(dash_duo) == "dark"
    failures += [f"[API reference] {line}" for line in violation_lines(run_axe(dash_duo))]
    dash_duo.driver.delete_all_cookies()
    browser_login(dash_duo, "operator@test.example")
    failures += audit_states(dash_duo, OPERATOR_STATES, scene(console_app))
    assert _theme(dash_duo) == "dark"
    assert_clean([f"(dark) {line}" for line in failures])
