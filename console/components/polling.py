"""Guarded polling, shared by every surface.

A surface puts ``poll_components(interval_id, policy_id)`` in its layout. Its server
callback writes the *policy* (``{"interval": ms}`` from console.operations.polling, or None
when nothing is active) into the policy store; one clientside callback then sets the
Interval's ``disabled`` and ``interval`` from policy + tab visibility + modal state, without a
server round trip. When the tab becomes visible again with an active policy it bumps
``n_intervals`` once: one immediate refresh, then the schedule resumes."""
from __future__ import annotations

import dash
from dash import Input, Output, State, dcc

from console import ids

MODAL_OPEN = "modal-open"
ACTIVITY_KICK = "activity-kick"
RUN_ENQUEUED = "run-enqueued"

_GUARD_JS = """
function(policy, visibility, modalOpen, nIntervals) {
    var nu = window.dash_clientside.no_update;
    var active = !!(policy && policy.interval);
    var hidden = visibility === "hidden";
    var disabled = !active || hidden || !!modalOpen;
    var interval = active ? policy.interval : nu;
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


def register_guard(app: dash.Dash, *, interval_id: str, policy_id: str) -> None:
    """Tie the Interval to its policy and the page guards (visibility, open modal)."""
    app.clientside_callback(
        _GUARD_JS % {"visibility": ids.PAGE_VISIBILITY},
        Output(interval_id, "disabled"),
        Output(interval_id, "interval"),
        Output(interval_id, "n_intervals"),
        Input(policy_id, "data"),
        Input(ids.PAGE_VISIBILITY, "data"),
        Input(MODAL_OPEN, "data"),
        State(interval_id, "n_intervals"),
    )


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
