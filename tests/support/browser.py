"""dash_duo helpers shared by the browser tests: log in through the real form, read the page in
one step (text, attributes, counts, a component's props from dash-renderer's store), navigate,
hide the tab, log the callback requests the server receives, and insert runs directly."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from flask import request

from console.db import utcnow
from console.operations.models import OperationRun
from tests.factories import PASSWORD

CALLBACK_PATH = "/_dash-update-component"
TENANT_PAGE = "/admin/tenants/{}"


# --------------------------------------------------------------------------- logging in, reading the page


def browser_login(dash_duo, email: str, password: str = PASSWORD, path: str = "/") -> None:
    """Drive the real login form, then wait for the Dash page to render."""
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/login?next=" + path)
    dash_duo.wait_for_element("input[name=email]").send_keys(email)
    dash_duo.find_element("input[name=password]").send_keys(password)
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#_pages_content")


def text(dash_duo, selector: str) -> str | None:
    """The element's text read in one step (a re-render between find and read cannot go stale)."""
    return dash_duo.driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null;", selector
    )


def attr(dash_duo, selector: str, name: str) -> str | None:
    """An attribute read in one step, like ``text``."""
    return dash_duo.driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;", selector, name
    )


def count(dash_duo, selector: str) -> int:
    """How many elements match, now (find_elements would wait for the implicit timeout first)."""
    return dash_duo.driver.execute_script("return document.querySelectorAll(arguments[0]).length;", selector)


# dcc.Interval renders no DOM: its props are read from dash-renderer's store.
_PROPS_JS = """
var state = window.store && window.store.getState();
if (!state || !state.paths || !state.paths.strs) { return null; }
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
    """Current props ``names`` of a rendered component, from dash-renderer's store (None: not rendered)."""
    return dash_duo.driver.execute_script(_PROPS_JS, component_id, *names)


def interval_state(dash_duo, interval_id: str) -> tuple[bool, int] | None:
    """(disabled, interval in ms) of a dcc.Interval; None while it is not rendered."""
    p = props(dash_duo, interval_id, "disabled", "interval")
    return (bool(p["disabled"]), int(p["interval"])) if p else None


# --------------------------------------------------------------------------- navigating, hiding the tab


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


# Chrome keeps the document visible in headless mode; this is how a test hides the tab.
_VISIBILITY_JS = """
Object.defineProperty(document, 'visibilityState', {value: arguments[0], configurable: true});
Object.defineProperty(document, 'hidden', {value: arguments[0] === 'hidden', configurable: true});
document.dispatchEvent(new Event('visibilitychange'));
"""


def set_visibility(dash_duo, state: str) -> None:
    """``state`` is "hidden" or "visible"; the page receives a visibilitychange event."""
    dash_duo.driver.execute_script(_VISIBILITY_JS, state)


# --------------------------------------------------------------------------- the server side


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
