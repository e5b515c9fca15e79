"""Tenant dashboard actions: one `op-start-<type>` button per operation the user may start,
one confirm modal (`op-confirm-modal` / `op-confirm`), and the toasts every start shows.

The button ids are plain strings (a public contract), but only the buttons a user may use
are rendered, and a Dash callback cannot list inputs that may be absent. So each button
sits in a thin wrapper with a pattern-matching id; clicks bubble to the wrapper, whose
``n_clicks`` the open callback listens to with ALL (zero to six wrappers, never an error).
Confirming calls ``console.operations.launch.start_operation`` — the one use case behind
every button — which re-checks access, deduplicates and dispatches."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from console import ids
from console.access import require_operation
from console.components import poll_guard
from console.components.display import QUEUE_UNREACHABLE, append_toast, modal_header, modal_title_id, run_href
from console.db import utcnow
from console.errors import BadRequest, DispatchError
from console.operations import registry
from console.operations.launch import start_operation
from console.operations.registry import type_label
from console.web.context import current_dispatcher, db_session, principal

WRAPPER = "op-start-wrap"
OP_CANCEL = "op-cancel"
OP_PENDING = "op-pending"
OP_CONFIRM_TEXT = "op-confirm-text"
OP_ACTIONS = "op-actions"
#: Bumped after any start on the dashboard so its tables refresh at once (not at the next tick).
DASHBOARD_REFRESH = "dashboard-refresh"

TOAST_MS = 15_000


def button_types(startable: Iterable[str]) -> list[str]:
    """The buttons to offer, given ``access.startable_operations`` (registry order; the review pack has its card)."""
    allowed = set(startable)
    return [spec.type for spec in registry.specs() if spec.button and spec.type in allowed]


def pending_type(value: object) -> str:
    """The operation type held by the modal (untrusted: it comes back in the payload)."""
    spec = registry.find(value)
    if spec is None or not spec.button:
        raise BadRequest("no operation selected")
    return spec.type


# --------------------------------------------------------------------------- toasts


def deduplicated_toast(*, run_id: int, operation_type: str) -> html.Div:
    """'<Type> is already running — view run #N': an active run of this type existed before the click."""
    return html.Div(
        dbc.Toast(
            [
                f"{type_label(operation_type)} is already running — ",
                dcc.Link(f"view run #{run_id}", href=run_href(run_id), className="toast-run-link"),
            ],
            header="Already running",
            icon="info",
            dismissable=True,
            duration=TOAST_MS,
        ),
        className="console-toast",
        **{"data-toast-kind": "deduplicated", "data-run-id": str(run_id)},
    )


def started_feedback(run_id: int, operation_type: str, *, created: bool) -> tuple[Any, Any]:
    """(toast-area output, run-enqueued output) after a start.

    A new run fires run-enqueued: the activity shell starts polling at once and shows the
    started toast ("<Type> started", "View run #N") — one toast, not two. Only a start that
    found an active run (``created`` false: it existed before the click) says "already
    running"; the shell never does, however fast the worker picked the new run up."""
    if created:
        return no_update, {"run_id": run_id}
    return append_toast(deduplicated_toast(run_id=run_id, operation_type=operation_type)), no_update


def error_toast(message: str, *, header: str = "Could not start the operation") -> html.Div:
    return html.Div(
        dbc.Toast(message, header=header, icon="danger", dismissable=True),
        className="console-toast",
        **{"data-toast-kind": "error"},
    )


def refresh_token(run_id: int | None) -> dict[str, Any]:
    """A DASHBOARD_REFRESH value that always differs from the previous one."""
    return {"run_id": run_id, "at": utcnow().isoformat()}


# --------------------------------------------------------------------------- layout


def actions(types: list[str]) -> html.Div:
    """The 'Start an operation' buttons and their confirm modal (nothing offered -> a note)."""
    if not types:
        return html.Div(
            html.P("You cannot start operations on this tenant.", className="text-muted small mb-0"), id=OP_ACTIONS
        )
    buttons = [
        html.Span(
            dbc.Button(
                type_label(t),
                id=ids.op_start(t),
                color="primary",
                outline=True,
                size="sm",
                title=registry.get(t).description,
            ),
            id={"type": WRAPPER, "op": t},
            n_clicks=0,
            className="d-inline-block me-2 mb-2",
        )
        for t in types
    ]
    modal = dbc.Modal(
        [
            modal_header(ids.OP_CONFIRM_MODAL, "Start operation"),
            dbc.ModalBody(id=OP_CONFIRM_TEXT),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=OP_CANCEL, color="secondary", outline=True),
                    dbc.Button("Start", id=ids.OP_CONFIRM, color="primary"),
                ]
            ),
        ],
        id=ids.OP_CONFIRM_MODAL,
        labelledby=modal_title_id(ids.OP_CONFIRM_MODAL),
        is_open=False,
        centered=True,
    )
    return html.Div([html.Div(buttons), modal, dcc.Store(id=OP_PENDING, data=None)], id=OP_ACTIONS)


def _confirm_text(operation_type: str, tenant_name: str) -> list[Any]:
    return [
        html.P([f"Start {type_label(operation_type)} on ", html.Strong(tenant_name), "?"]),
        html.P(registry.get(operation_type).description, className="text-muted small mb-0"),
    ]


# --------------------------------------------------------------------------- callbacks


def register_callbacks(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.OP_CONFIRM_MODAL, "is_open"),
        Output(OP_PENDING, "data"),
        Output(OP_CONFIRM_TEXT, "children"),
        Input({"type": WRAPPER, "op": ALL}, "n_clicks"),
        Input(OP_CANCEL, "n_clicks"),
        State(ids.TENANT_ID_STORE, "data"),
        prevent_initial_call=True,
    )
    def _open(_clicks, _cancel, tenant_id):
        trigger = ctx.triggered_id
        if trigger == OP_CANCEL:
            return False, None, no_update
        if not isinstance(trigger, Mapping):
            raise PreventUpdate
        if not (ctx.triggered and ctx.triggered[0].get("value")):
            raise PreventUpdate  # a wrapper (re)appeared, nobody clicked
        operation_type = pending_type(trigger.get("op"))
        tenant = require_operation(
            session=db_session(), principal=principal(), tenant_id=tenant_id, operation_type=operation_type
        )
        return True, operation_type, _confirm_text(operation_type, tenant.name)

    @app.callback(
        Output(ids.OP_CONFIRM_MODAL, "is_open", allow_duplicate=True),
        Output(ids.TOAST_AREA, "children", allow_duplicate=True),
        Output(poll_guard.RUN_ENQUEUED, "data", allow_duplicate=True),
        Output(DASHBOARD_REFRESH, "data", allow_duplicate=True),
        Input(ids.OP_CONFIRM, "n_clicks"),
        State(OP_PENDING, "data"),
        State(ids.TENANT_ID_STORE, "data"),
        prevent_initial_call=True,
    )
    def _confirm(n_clicks, pending, tenant_id):
        if not n_clicks:
            raise PreventUpdate
        operation_type = pending_type(pending)
        session, who = db_session(), principal()
        # NotFound / Forbidden / BadRequest propagate: security.py answers 404 / 403 / 400.
        tenant = require_operation(session=session, principal=who, tenant_id=tenant_id, operation_type=operation_type)
        try:
            launch = start_operation(
                session=session,
                principal=who,
                tenant_id=tenant.id,
                operation_type=operation_type,
                options=None,
                dispatcher=current_dispatcher(),
            )
        except DispatchError:
            return False, append_toast(error_toast(QUEUE_UNREACHABLE)), no_update, refresh_token(None)
        toast, enqueued = started_feedback(launch.run_id, operation_type, created=launch.created)
        return False, toast, enqueued, refresh_token(launch.run_id)
