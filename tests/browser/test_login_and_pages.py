"""The stack end to end in headless Chromium: login form, CSRF-protected callbacks, pages."""

from __future__ import annotations

from dash.testing.wait import until

from tests.support.browser import browser_login, text


def test_manager_logs_in_and_sees_the_tenants_then_the_operations_list(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    dash_duo.wait_for_text_to_equal("#nav-user", "Manager")
    dash_duo.wait_for_contains_text("#overview-tenants", "a1")
    assert "b1" not in text(dash_duo, "#overview-tenants")  # another workspace's tenant
    # Client-side navigation runs the page callback: it only passes the server's CSRF check
    # because dash-renderer sent the _csrf_token cookie back as the X-CSRFToken header.
    dash_duo.find_element("#nav-operations").click()
    dash_duo.wait_for_element("#operations-table")
    assert dash_duo.get_logs() == []


def test_a_callback_without_the_csrf_cookie_is_refused(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    dash_duo.wait_for_contains_text("#overview-tenants", "a1")
    dash_duo.driver.delete_cookie("_csrf_token")
    dash_duo.find_element("#nav-operations").click()
    until(lambda: any("400" in entry["message"] for entry in dash_duo.get_logs()), timeout=10)
    assert dash_duo.find_elements("#operations-table") == []  # the page never rendered


def test_wrong_password_shows_the_generic_error(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/login")
    dash_duo.wait_for_element("input[name=email]").send_keys("manager@test.example")
    dash_duo.find_element("input[name=password]").send_keys("wrong-password")
    dash_duo.find_element("#login-submit").click()
    assert dash_duo.wait_for_element("#login-error").text == "Invalid email or password."


def test_member_of_no_workspace_sees_an_empty_overview_that_says_so(dash_duo, console_app) -> None:
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "stranger@test.example")
    dash_duo.wait_for_contains_text("#overview-empty", "not a member of any workspace")
    assert dash_duo.get_logs() == []
