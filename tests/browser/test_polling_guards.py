"""Polling guards in a real browser: a hidden tab sends no poll requests and refreshes once
when it becomes visible; an open modal pauses every polling surface.

Also holds the small helpers the run viewer and activity shell browser tests share:
a server-side log of callback requests and a reader for component props (dcc.Interval
renders no DOM, so its ``disabled``/``interval`` are read from dash-renderer's store)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from dash.testing.wait import until
from flask import request

from console.db import utcnow
from console.operations.models import OperationRun
from tests.browser.conftest import browser_login

CALLBACK_PATH = "/_dash-update-component"


class CallbackLog:
    """Every callback request the server receives, with the time and the triggering props."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[tuple[float, str, tuple[str, ...], str]] = []

    def install(self, app) -> CallbackLog:
        def _record() -> None:
            if request.path == CALLBACK_PATH and request.method == "POST":
                body = request.get_json(silent=True) or {}
                changed = tuple(str(p) for p in body.get("changedPropIds") or ())
                with self._lock:
                    self.entries.append(
                        (time.monotonic(), str(body.get("output", "")), changed, request.referrer or "")
                    )

        # First in line: counts requests even when a later hook refuses them.
        app.server.before_request_funcs.setdefault(None, []).insert(0, _record)
        return self

    def since(self, t0: float, prop_prefix: str | None = None, referrer_contains: str | None = None) -> list[tuple]:
        with self._lock:
            entries = list(self.entries)
        return [
            e
            for e in entries
            if e[0] >= t0
            and (prop_prefix is None or any(p.startswith(prop_prefix) for p in e[2]))
            and (referrer_contains is None or referrer_contains in e[3])
        ]

    def polls(self, t0: float, interval_id: str) -> list[tuple]:
        return self.since(t0, f"{interval_id}.n_intervals")


_PROPS_JS = """
var state = window.store && window.store.getState();
if (!state) { return null; }
var path = state.paths.strs[arguments[0]];
if (!path) { return null; }
var node = state.layout;
for (var i = 0; i < path.length; i++) { if (node == null) { return null; } node = node[path[i]]; }
if (!node || !node.props) { return null; }
var out = {};
for (var j = 1; j < arguments.length; j++) { out[arguments[j]] = node.props[arguments[j]]; }
return out;
"""


def props(dash_duo, component_id: str, *names: str) -> dict[str, Any] | None:
    """Current props of a rendered component, from dash-renderer's store."""
    return dash_duo.driver.execute_script(_PROPS_JS, component_id, *names)


def interval_state(dash_duo, interval_id: str) -> tuple[bool, int] | None:
    p = props(dash_duo, interval_id, "disabled", "interval")
    return (bool(p["disabled"]), int(p["interval"])) if p else None


def make_run(app, *, tenant: int | None = None, user: str = "manager", age_s: float = 0, **fields: Any) -> int:
    """Insert a run directly (the UI is under test, not the service); created ``age_s`` ago."""
    world = app.world
    values: dict[str, Any] = {
        "workspace_id": world.workspace_id,
        "tenant_id": world.tenant_ids[0] if tenant is None else tenant,
        "type": "inventory_sync",
        "status": "queued",
        "summary_counts": {},
        "context": {},
        "initiator_user_id": world.users[user],
        "created_at": utcnow() - timedelta(seconds=age_s),
    }
    values.update(fields)
    if values["status"] != "queued" and "started_at" not in fields:
        values["started_at"] = values["created_at"]
    with app.server.extensions["console.db"].session() as s:
        run = OperationRun(**values)
        s.add(run)
        s.commit()
        return run.id


def open_page(dash_duo, path: str, wait_for: str) -> None:
    """A full page load (the server's HTTP status gate and the page-load callbacks run)."""
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + path)
    dash_duo.wait_for_element(wait_for, timeout=8)


def goto(dash_duo, path: str, wait_for: str) -> None:
    """Client-side navigation, as a dcc.Link click does (no reload: much faster than open_page)."""
    dash_duo.driver.execute_script(
        "window.history.pushState({}, '', arguments[0]); window.dispatchEvent(new PopStateEvent('popstate'));", path
    )
    dash_duo.wait_for_element(wait_for, timeout=8)


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
