"""Guarded polling, shared by every surface.

A surface puts ``poll_components(interval_id, policy_id)`` in its layout. Its server
callback writes the *policy* (``{"interval": ms}`` from console.operations.cadence, or None
when nothing is active) into the policy store; one clientside callback then sets the
Interval's ``disabled`` and ``interval`` from policy + tab visibility + modal state, without a
server round trip. When the tab becomes visible again with an active policy it bumps
``n_intervals`` once: one immediate refresh, then the schedule resumes.

Database outages (``register_outage_handler``): a poll whose request meets an unreachable
database — in the callback, or already in the login check before it — answers 200 with the
*lost* policy ``{"lost": true, "at": ms}`` instead of a 500. The guard then keeps polling with
back-off (the Interval's interval doubled, 2 s to 30 s) and shows the shell's
"Connection lost — retrying" banner (assets/guards.js); the first poll that succeeds writes the
surface's real policy again (it differs from the lost one), which hides the banner and restores
the cadence. Only surfaces that send their current policy as State can notice that, so only
they get the lost policy; other requests get a 503 without a stack."""

from __future__ import annotations

import logging
import time
from typing import Any

import dash
from dash import Input, Output, State, dcc
from dash.exceptions import PreventUpdate
from flask import Flask, Response, jsonify, request

from console import ids
from console.web import failures
from console.web.failures import CONNECTION_BANNER  # noqa: F401 - the shell and tests name it here

log = logging.getLogger(__name__)

MODAL_OPEN = "modal-open"
ACTIVITY_KICK = "activity-kick"
RUN_ENQUEUED = "run-enqueued"
CONNECTION_LOST_TEXT = "Connection lost — retrying…"
#: Back-off while the database is unreachable: the interval doubles, within these bounds (ms).
BACKOFF_MIN_MS = 2_000
BACKOFF_MAX_MS = 30_000
#: app.server.extensions key: the policy store ids of every guarded surface.
_SURFACES = "console.poll_surfaces"
#: app.server.extensions key: Interval id -> surface name (the ``surface`` label of the poll metric).
_POLL_INTERVALS = "console.poll_intervals"
_CALLBACK_PATH = "/_dash-update-component"

_GUARD_JS = """
function(policy, visibility, modalOpen, nIntervals, currentInterval) {
    var nu = window.dash_clientside.no_update;
    var lost = !!(policy && policy.lost);
    var active = lost || !!(policy && policy.interval);
    var hidden = visibility === "hidden";
    var disabled = !active || hidden || !!modalOpen;
    var interval = nu;
    if (lost) {
        // The database was unreachable: back off (double, within bounds), keep trying.
        interval = Math.min(%(max)d, Math.max(%(min)d, 2 * (currentInterval || %(min)d)));
    } else if (active) {
        interval = policy.interval;
    }
    var guards = window.consoleGuards;
    if (guards && guards.connection) {
        guards.connection("%(surface)s", lost);
    }
    var ctx = window.dash_clientside.callback_context;
    var trig = (ctx && ctx.triggered && ctx.triggered.length) ? ctx.triggered[0].prop_id : "";
    var kick = nu;
    if (!disabled && trig.indexOf("%(visibility)s") === 0) {
        kick = (nIntervals || 0) + 1;
    }
    return [disabled, interval, kick];
}
"""


def poll_components(interval_id: str, policy_id: str, policy: dict | None) -> list:
    """The Interval (disabled unless the initial policy is active) and its policy store."""
    interval = (policy or {}).get("interval") or 10_000
    return [
        dcc.Interval(id=interval_id, interval=interval, disabled=not policy, n_intervals=0),
        dcc.Store(id=policy_id, data=policy),
    ]


def policy(interval_ms: int | None) -> dict | None:
    """The store value for a polling decision (None = do not poll)."""
    return {"interval": interval_ms} if interval_ms else None


def lost_policy(now_ms: int | None = None) -> dict[str, Any]:
    """The store value after a poll found the database unreachable: keep polling, backing off.

    ``at`` makes every such answer a new value, so the guard runs (and backs off) each time."""
    return {"lost": True, "at": int(time.time() * 1000) if now_ms is None else now_ms}


def unless_all_unchanged(outputs: tuple) -> tuple:
    """Outputs as they are, or PreventUpdate when every one is no_update.

    Dash 4 answers an all-``no_update`` multi-output callback with 200 and an empty
    ``response`` object; PreventUpdate makes the unchanged poll an empty HTTP 204."""
    if all(value is dash.no_update for value in outputs):
        raise PreventUpdate
    return outputs


def changed_policy(new: dict | None, known: object) -> Any:
    """The policy to send, or no_update when the page already has it (after an outage the
    page holds a *lost* policy, so the real one is sent again and the banner goes)."""
    return dash.no_update if new == known else new


def register_guard(app: dash.Dash, *, interval_id: str, policy_id: str) -> None:
    """Tie the Interval to its policy and the page guards (visibility, open modal, outage back-off)."""
    app.server.extensions.setdefault(_SURFACES, set()).add(policy_id)
    app.server.extensions.setdefault(_POLL_INTERVALS, {})[interval_id] = surface_name(policy_id)
    app.clientside_callback(
        _GUARD_JS
        % {"visibility": ids.PAGE_VISIBILITY, "surface": policy_id, "min": BACKOFF_MIN_MS, "max": BACKOFF_MAX_MS},
        Output(interval_id, "disabled"),
        Output(interval_id, "interval"),
        Output(interval_id, "n_intervals"),
        Input(policy_id, "data"),
        Input(ids.PAGE_VISIBILITY, "data"),
        Input(MODAL_OPEN, "data"),
        State(interval_id, "n_intervals"),
        State(interval_id, "interval"),
    )


def surface_name(policy_id: str) -> str:
    """A guarded surface's short name: its policy store id without "-poll-policy" / "-policy"."""
    for suffix in ("-poll-policy", "-policy"):
        if policy_id.endswith(suffix):
            return policy_id.removesuffix(suffix)
    return policy_id


def surfaces(server: Flask) -> tuple[str, ...]:
    """The names of every guarded surface of this app."""
    return tuple(sorted(set(server.extensions.get(_POLL_INTERVALS, {}).values())))


def polled_surface(server: Flask, body: object) -> str | None:
    """The surface whose Interval tick triggered this callback request, None for any other request."""
    if not isinstance(body, dict) or not isinstance(body.get("changedPropIds"), list):
        return None
    intervals = server.extensions.get(_POLL_INTERVALS, {})
    for prop in body["changedPropIds"]:
        if isinstance(prop, str) and prop.endswith(".n_intervals"):
            surface = intervals.get(prop.removesuffix(".n_intervals"))
            if surface is not None:
                return surface
    return None


def _lost_aware_surface(app: dash.Dash, body: object) -> str | None:
    """The policy store a callback request writes *and* sends as State (so a later success can
    tell that it recovered), when the request is such a surface's poll."""
    if not isinstance(body, dict):
        return None
    surfaces = app.server.extensions.get(_SURFACES, set())
    outputs = body.get("outputs")
    outputs = outputs if isinstance(outputs, list) else [outputs]
    state = body.get("state") if isinstance(body.get("state"), list) else []

    def data_ids(items: list) -> set[str]:  # pattern-matching ids are dicts: never a policy store
        return {
            i["id"]
            for i in items
            if isinstance(i, dict)
            and isinstance(i.get("id"), str)
            and isinstance(i.get("property"), str)
            and i["property"].split("@")[0] == "data"
        }

    written, sent = data_ids(outputs), data_ids(state)
    aware = sorted(surfaces & written & sent)
    return aware[0] if aware else None


def register_outage_handler(app: dash.Dash) -> None:
    """Answer requests that find the database unreachable without a 500 or a stack trace
    (console.web.failures); a poll of a surface that can notice its recovery gets the lost policy."""

    def _lost_policy_for_a_poll() -> Response | None:
        if request.path == _CALLBACK_PATH:
            surface = _lost_aware_surface(app, request.get_json(silent=True))
            if surface is not None:
                return jsonify(multi=True, response={surface: {"data": lost_policy()}})
        return None

    failures.register_outage_handler(app.server, _lost_policy_for_a_poll)


def register_run_enqueued_event(app: dash.Dash) -> None:
    """Any callback that starts an operation writes {"run_id": n} to the run-enqueued store;
    this fires the DOM event the activity shell (and external scripts) listen to."""
    app.clientside_callback(
        """
        function(data) {
            if (data && data.run_id) {
                document.dispatchEvent(new CustomEvent("run-enqueued", {detail: {run_id: data.run_id}}));
            }
            return window.dash_clientside.no_update;
        }
        """,
        Output(RUN_ENQUEUED, "clear_data"),
        Input(RUN_ENQUEUED, "data"),
        prevent_initial_call=True,
    )


# --------------------------------------------------------------------------- one truth per page

#: The DOM event a page dispatches when a surface sees a run change status (assets/run_updates.js).
RUN_UPDATED = "run-updated"
#: The run-level statuses surfaces report, in the only order a run moves through them.
RUN_STATUSES = ("queued", "running", "completed")
#: A review pack's status as its run's: the card's "Generating" is the run's "running".
PACK_RUN_STATUS = {
    "queued": "queued",
    "generating": "running",
    "ready": "completed",
    "failed": "completed",
    "expired": "completed",
}
_STATUS_BY_LABEL = {"Queued": "queued", "Running": "running", "Completed": "completed"}


def run_kick_id(surface: str) -> str:
    """The store assets/run_updates.js writes to refresh ``surface`` at once (an Input of its refresh)."""
    return f"{surface}-run-kick"


def run_kick_store(surface: str) -> dcc.Store:
    return dcc.Store(id=run_kick_id(surface), data=None)


def run_surface(surface: str) -> dict[str, str]:
    """Attributes of a surface's container: its name and its kick store."""
    return {"data-run-surface": surface, "data-run-kick": run_kick_id(surface)}


def run_marks(run_id: int | None, status: str | None) -> dict[str, str]:
    """Attributes of the element showing a run: its id and run-level status ({} when either is
    unknown: a status this page cannot order is nobody's news)."""
    if run_id is None or status not in RUN_STATUSES:
        return {}
    return {"data-run-id": str(run_id), "data-run-status": status}


def status_of_label(status_label: str) -> str | None:
    """Queued / Running / Completed -> the run-level status (None for Unknown)."""
    return _STATUS_BY_LABEL.get(status_label)
