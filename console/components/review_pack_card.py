"""The review pack card on the tenant dashboard.

Shows the tenant's latest pack (status, times, size, download link, failure reason) and, for
users holding ``review_pack.generate``, a Generate button that opens the options modal. The
card polls every 10 s only while the pack is queued/generating: the cadence comes from
``console.operations.cadence.review_pack_poll_interval``; the guards (hidden tab, open
modal) from ``console.components.polling``. A poll whose card did not change returns
no_update for every output."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from console import ids
from console.access import require_operation, require_tenant
from console.components import poll_guard
from console.components.display import (
    PACK_STATUS_LABELS,
    QUEUE_UNREACHABLE,
    append_toast,
    format_time,
    modal_header,
    modal_title_id,
    relative_time_of,
    run_href,
    signature,
)
from console.components.operation_buttons import (
    DASHBOARD_REFRESH,
    error_toast,
    refresh_token,
    started_feedback,
)
from console.db import utcnow
from console.errors import DispatchError
from console.operations import registry
from console.operations.cadence import review_pack_poll_interval
from console.operations.launch import start_operation
from console.review_packs.queries import PackRow, latest_pack
from console.review_packs.service import download_url
from console.web.context import current_dispatcher, db_session, principal

OPERATION = registry.REVIEW_PACK_GENERATE
BODY = "review-pack-body"
POLL_POLICY = "review-pack-poll-policy"
SIGNATURE = "review-pack-signature"
CANCEL = "review-pack-cancel"
ERROR = "review-pack-error"
#: The card's name as a run surface (assets/run_updates.js): its kick store is "review-pack-run-kick".
RUN_SURFACE = "review-pack"

NO_PACK = "No pack yet"
UNKNOWN = "Unknown"
COLORS = {
    "queued": "secondary",
    "generating": "primary",
    "ready": "success",
    "failed": "danger",
    "expired": "warning",
    "none": "light",
    "unknown": "dark",
}


# --------------------------------------------------------------------------- view model (pure)


@dataclass(frozen=True)
class PackCardView:
    state: str  # queued | generating | ready | failed | expired | none | unknown
    label: str  # what review-pack-status says
    pack_id: int | None
    run_id: int | None
    created: str
    ready: str
    expires: str
    size: str
    download_href: str | None  # only while ready and not past expires_at
    error: str | None  # only when failed
    active: bool  # queued/generating: Generate is disabled
    poll_interval: int | None  # ms; None = review-pack-poll disabled


def format_size(size: int | None) -> str:
    """Bytes for people: '812 B', '14.2 KB', '3.1 MB' ('' when unknown)."""
    if size is None or size < 0:
        return ""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # pragma: no cover


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def pack_card_view(pack: PackRow | None, *, now: datetime) -> PackCardView:
    """What the card shows for the tenant's latest pack (None = no pack yet)."""
    if pack is None:
        return PackCardView(
            "none", NO_PACK, None, None, "", "", "", "", None, None, False, review_pack_poll_interval(None)
        )
    status = pack.status if pack.status in PACK_STATUS_LABELS else "unknown"
    expires_at = _aware(pack.expires_at)
    # The expiry job runs every minute; between expires_at and that run the pack is already
    # unusable (the download answers 410), so the card says Expired at once.
    if status == "ready" and expires_at is not None and expires_at <= now:
        status = "expired"
    return PackCardView(
        state=status,
        label=PACK_STATUS_LABELS.get(status, UNKNOWN),
        pack_id=pack.id,
        run_id=pack.operation_run_id,
        created=format_time(pack.created_at),
        ready=format_time(pack.ready_at),
        expires=format_time(pack.expires_at),
        size=format_size(pack.size) if status == "ready" else "",
        download_href=download_url(pack.id) if status == "ready" else None,
        error=(pack.error or "Generation failed.") if status == "failed" else None,
        active=status in ("queued", "generating"),
        poll_interval=review_pack_poll_interval(pack.status),
    )


def view_signature(view: PackCardView, can_generate: bool) -> str:
    return signature([asdict(view), can_generate])


# --------------------------------------------------------------------------- layout


def _fact(label: str, value: Any, id_: str) -> list[Any]:
    return [
        html.Dt(label, className="col-5 fw-normal text-muted"),
        html.Dd(value or "—", className="col-7 mb-1", id=id_),
    ]


def card_body(view: PackCardView, *, can_generate: bool) -> list[Any]:
    """The card's changing part (re-rendered on every real change)."""
    children: list[Any] = [
        html.Div(
            [
                html.Span("Latest pack", className="text-muted me-2"),
                html.Span(
                    view.label,
                    id=ids.REVIEW_PACK_STATUS,
                    className=f"badge text-bg-{COLORS[view.state]}",
                    **{"data-status": view.state},
                    **poll_guard.run_marks(view.run_id, poll_guard.PACK_RUN_STATUS.get(view.state)),
                ),
            ],
            className="mb-2",
        ),
    ]
    if view.pack_id is not None:
        children.append(
            html.Dl(
                _fact("Created", relative_time_of(view.created), "review-pack-created")
                + _fact("Ready", relative_time_of(view.ready), "review-pack-ready")
                + _fact("Expires", relative_time_of(view.expires), "review-pack-expires")
                + _fact("Size", view.size, "review-pack-size"),
                className="row small mb-2",
            )
        )
    if view.error:
        children.append(dbc.Alert(view.error, color="danger", className="small py-2", id=ERROR))
    if view.active and view.run_id is not None:
        children.append(
            html.P(
                ["Generation in progress — ", dcc.Link("view run", href=run_href(view.run_id))],
                className="small text-muted",
            )
        )
    buttons: list[Any] = []
    if view.download_href:
        buttons.append(
            html.A(
                "Download",
                href=view.download_href,
                id=ids.REVIEW_PACK_DOWNLOAD,
                className="btn btn-success btn-sm me-2",
            )
        )
    if can_generate:
        buttons.append(
            dbc.Button(
                "Generate review pack",
                id=ids.REVIEW_PACK_GENERATE,
                color="primary",
                size="sm",
                disabled=view.active,
                title="A pack is being generated" if view.active else "Generate a new review pack",
            )
        )
    if buttons:
        children.append(html.Div(buttons))
    return children


def options_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            modal_header(ids.REVIEW_PACK_MODAL, "Generate review pack"),
            dbc.ModalBody(
                [
                    dbc.Switch(id=ids.REVIEW_PACK_INCLUDE_OPERATIONS, label="Include recent operations", value=True),
                    dbc.Switch(
                        id=ids.REVIEW_PACK_INCLUDE_PII,
                        label="Include personal data (names, email addresses)",
                        value=False,
                    ),
                    html.P("Without personal data, people appear as [redacted].", className="text-muted small mb-0"),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=CANCEL, color="secondary", outline=True),
                    dbc.Button("Generate", id=ids.REVIEW_PACK_CONFIRM, color="primary"),
                ]
            ),
        ],
        id=ids.REVIEW_PACK_MODAL,
        labelledby=modal_title_id(ids.REVIEW_PACK_MODAL),
        is_open=False,
        centered=True,
    )


def card(view: PackCardView, *, can_generate: bool) -> html.Div:
    """The card, its poll (enabled at 10 s only while active) and, for generators, the modal."""
    return html.Div(
        [
            dbc.Card(
                [
                    dbc.CardHeader(html.H2("Review pack", className="h5 mb-0")),
                    dbc.CardBody(card_body(view, can_generate=can_generate), id=BODY),
                ],
                id=ids.REVIEW_PACK_CARD,
                className="h-100",
            ),
            *poll_guard.poll_components(ids.REVIEW_PACK_POLL, POLL_POLICY, poll_guard.policy(view.poll_interval)),
            dcc.Store(id=SIGNATURE, data=view_signature(view, can_generate)),
            poll_guard.run_kick_store(RUN_SURFACE),
            options_modal() if can_generate else None,
        ],
        className="h-100",
        **poll_guard.run_surface(RUN_SURFACE),
    )


# --------------------------------------------------------------------------- callbacks


def current_view(tenant_id: int) -> PackCardView:
    return pack_card_view(latest_pack(session=db_session(), tenant_id=tenant_id), now=utcnow())


def register_callbacks(app: dash.Dash) -> None:
    poll_guard.register_guard(app, interval_id=ids.REVIEW_PACK_POLL, policy_id=POLL_POLICY)

    @app.callback(
        Output(BODY, "children"),
        Output(POLL_POLICY, "data"),
        Output(SIGNATURE, "data"),
        Input(ids.REVIEW_PACK_POLL, "n_intervals"),
        Input(poll_guard.run_kick_id(RUN_SURFACE), "data"),
        State(ids.TENANT_ID_STORE, "data"),
        State(SIGNATURE, "data"),
        State(POLL_POLICY, "data"),
        prevent_initial_call=True,
    )
    def _refresh(_n, _run_kick, tenant_id, shown, known_policy):
        who = principal()
        tenant = require_tenant(session=db_session(), principal=who, tenant_id=tenant_id, capability="review_pack.view")
        can_generate = "review_pack.generate" in who.capabilities_for(tenant)
        view = current_view(tenant.id)
        current = view_signature(view, can_generate)
        policy = poll_guard.changed_policy(poll_guard.policy(view.poll_interval), known_policy)
        if current == shown:
            return poll_guard.unless_all_unchanged((no_update, policy, no_update))
        return card_body(view, can_generate=can_generate), policy, current

    @app.callback(
        Output(ids.REVIEW_PACK_MODAL, "is_open"),
        Input(ids.REVIEW_PACK_GENERATE, "n_clicks"),
        Input(CANCEL, "n_clicks"),
        State(ids.TENANT_ID_STORE, "data"),
        prevent_initial_call=True,
    )
    def _toggle(generate_clicks, _cancel, tenant_id):
        require_operation(session=db_session(), principal=principal(), tenant_id=tenant_id, operation_type=OPERATION)
        if ctx.triggered_id == ids.REVIEW_PACK_GENERATE:
            if not generate_clicks:
                raise PreventUpdate  # the button was re-rendered, nobody clicked
            return True
        return False

    @app.callback(
        Output(ids.REVIEW_PACK_MODAL, "is_open", allow_duplicate=True),
        Output(BODY, "children", allow_duplicate=True),
        Output(POLL_POLICY, "data", allow_duplicate=True),
        Output(SIGNATURE, "data", allow_duplicate=True),
        Output(ids.TOAST_AREA, "children", allow_duplicate=True),
        Output(poll_guard.RUN_ENQUEUED, "data", allow_duplicate=True),
        Output(DASHBOARD_REFRESH, "data", allow_duplicate=True),
        Input(ids.REVIEW_PACK_CONFIRM, "n_clicks"),
        State(ids.REVIEW_PACK_INCLUDE_OPERATIONS, "value"),
        State(ids.REVIEW_PACK_INCLUDE_PII, "value"),
        State(ids.TENANT_ID_STORE, "data"),
        prevent_initial_call=True,
    )
    def _confirm(n_clicks, include_operations, include_pii, tenant_id):
        if not n_clicks:
            raise PreventUpdate
        session, who = db_session(), principal()
        # NotFound / Forbidden / BadRequest propagate (404 / 403 / 400) before anything is created.
        tenant = require_operation(session=session, principal=who, tenant_id=tenant_id, operation_type=OPERATION)
        options = {"include_operations": include_operations, "include_pii": include_pii}
        try:
            launch = start_operation(
                session=session,
                principal=who,
                tenant_id=tenant.id,
                operation_type=OPERATION,
                options=options,
                dispatcher=current_dispatcher(),
            )
        except DispatchError:
            # launch.py already failed the run (dispatch_failed) and the pack: the card shows Failed.
            toast, enqueued, token = append_toast(error_toast(QUEUE_UNREACHABLE)), no_update, refresh_token(None)
        else:
            toast, enqueued = started_feedback(launch.run_id, OPERATION, created=launch.created)
            token = refresh_token(launch.run_id)
        view = current_view(tenant.id)
        return (
            False,
            card_body(view, can_generate=True),
            poll_guard.policy(view.poll_interval),
            view_signature(view, True),
            toast,
            enqueued,
            token,
        )
