"""``/account/tokens``: the signed-in user's API tokens — create (shown once, with a copy
button), list with last use and expiry, revoke behind a confirm modal.

Callbacks are thin: they act as the session's user only (``principal().user_id``; the auth gate
answers 401 without a session and CSRF is checked as for every callback) and call
console.api_tokens.service; a token id from the browser is only ever looked up among the
user's own tokens (anyone else's: not found)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, dcc, html, no_update

from console import ids
from console.api_tokens.service import EXPIRES_DAYS_MAX, NAME_MAX, create_token, list_tokens, own_token, revoke_token
from console.components.display import modal_header, modal_title_id
from console.db import utcnow
from console.errors import Conflict, ConsoleError, Forbidden, http_answer

EXPIRY_CHOICES = [
    {"label": "30 days", "value": "30"},
    {"label": "90 days", "value": "90"},
    {"label": "1 year", "value": "365"},
    {"label": "Never", "value": "never"},
]


def _when(value: datetime | None, empty: str = "—") -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else empty


def _state(token: Any, now: datetime) -> tuple[str, str]:
    if token.revoked_at is not None:
        return "Revoked", "secondary"
    if token.expires_at is not None and token.expires_at <= now:
        return "Expired", "secondary"
    return ("Read-only", "info") if token.read_only else ("Read and write", "primary")


def tokens_table(user_id: int) -> html.Div:
    """The user's tokens (newest first) with a Revoke button on each active one."""
    from console.web.context import db_session

    now = utcnow()
    tokens = list_tokens(session=db_session(), user_id=user_id)
    if not tokens:
        return html.Div(html.P("No tokens yet.", className="text-muted"), id=ids.TOKENS_TABLE)
    rows = []
    for token in tokens:
        label, color = _state(token, now)
        active = label not in ("Revoked", "Expired")
        rows.append(
            html.Tr(
                [
                    html.Td(token.name),
                    html.Td(dbc.Badge(label, color=color)),
                    html.Td(_when(token.created_at)),
                    html.Td(_when(token.last_used_at, "never")),
                    html.Td(_when(token.expires_at, "never")),
                    html.Td(
                        dbc.Button(
                            "Revoke",
                            id={"type": ids.TOKEN_REVOKE, "token": token.id},
                            color="outline-danger",
                            size="sm",
                        )
                        if active
                        else None
                    ),
                ],
                **{"data-token-id": str(token.id)},
            )
        )
    header = html.Thead(
        html.Tr([html.Th(h) for h in ("Name", "Access", "Created", "Last used", "Expires", "Actions")]),
    )
    return html.Div(dbc.Table([header, html.Tbody(rows)], size="sm", hover=True), id=ids.TOKENS_TABLE)


def layout(**_query: object) -> html.Div:
    from console.web.context import principal

    user_id = principal().user_id
    form = dbc.Card(
        dbc.CardBody(
            [
                html.H2("New token", className="h6"),
                dbc.Row(
                    [
                        dbc.Col(
                            [
                                dbc.Label("Name", html_for=ids.TOKEN_NAME),
                                dbc.Input(id=ids.TOKEN_NAME, maxLength=NAME_MAX, placeholder="e.g. nightly export"),
                            ],
                            md=5,
                        ),
                        dbc.Col(
                            [
                                dbc.Label("Expires", html_for=ids.TOKEN_EXPIRES_DAYS),
                                dbc.Select(id=ids.TOKEN_EXPIRES_DAYS, options=EXPIRY_CHOICES, value="90"),
                            ],
                            md=3,
                        ),
                        dbc.Col(
                            dbc.Switch(id=ids.TOKEN_READ_ONLY, label="Read-only", value=False),
                            md=2,
                            className="d-flex align-items-end",
                        ),
                        dbc.Col(
                            dbc.Button("Create token", id=ids.TOKEN_CREATE, color="primary"),
                            md=2,
                            className="d-flex align-items-end",
                        ),
                    ],
                    className="g-2",
                ),
                html.Div(id=ids.TOKEN_MESSAGE, className="mt-2"),
                html.Div(id=ids.TOKEN_NEW, className="mt-2"),
            ]
        ),
        className="mb-3",
    )
    modal = dbc.Modal(
        [
            modal_header(ids.TOKEN_REVOKE_MODAL, "Revoke this token?"),
            dbc.ModalBody("Scripts using it get 401 from their next request. This cannot be undone."),
            dbc.ModalFooter(
                [
                    dbc.Button("Keep it", id=ids.TOKEN_REVOKE_CANCEL, color="secondary"),
                    dbc.Button("Revoke", id=ids.TOKEN_REVOKE_CONFIRM, color="danger"),
                ]
            ),
        ],
        id=ids.TOKEN_REVOKE_MODAL,
        labelledby=modal_title_id(ids.TOKEN_REVOKE_MODAL),
        is_open=False,
    )
    return html.Div(
        [
            html.H1("API tokens", className="h4"),
            html.P(
                [
                    "Tokens let scripts use the ",
                    html.A("HTTP API", href="/api/docs"),
                    " with your rights (Authorization: Bearer <token>). A token is shown once.",
                ],
                className="text-muted",
            ),
            form,
            tokens_table(user_id) if user_id else html.Div(id=ids.TOKENS_TABLE),
            dcc.Store(id=ids.TOKEN_REVOKE_PENDING, data=None),
            modal,
        ]
    )


def _user_id() -> int:
    """The session's user (the gate has answered 401 without a session; this is the second check)."""
    from console.web.context import principal

    user_id = principal().user_id
    if not user_id:
        raise Forbidden("sign in first")
    return user_id


def _expires(value: object) -> int | None:
    if value in (None, "", "never"):
        return None
    if not isinstance(value, str) or not value.isdigit() or not 1 <= int(value) <= EXPIRES_DAYS_MAX:
        from console.errors import BadRequest

        raise BadRequest("choose an expiry from the list")
    return int(value)


def new_token_alert(token: str) -> dbc.Alert:
    return dbc.Alert(
        [
            html.Div("Copy this token now: it is not shown again.", className="fw-semibold mb-1"),
            html.Div(
                [
                    html.Code(token, id=ids.TOKEN_NEW_VALUE, className="user-select-all me-2"),
                    dcc.Clipboard(target_id=ids.TOKEN_NEW_VALUE, id=ids.TOKEN_COPY, title="Copy"),
                ],
                className="d-flex align-items-center",
            ),
        ],
        color="success",
    )


def register_callbacks(app: dash.Dash) -> None:
    @app.callback(
        Output(ids.TOKEN_NEW, "children"),
        Output(ids.TOKEN_MESSAGE, "children"),
        Output(ids.TOKENS_TABLE, "children", allow_duplicate=True),
        Output(ids.TOKEN_NAME, "value"),
        Input(ids.TOKEN_CREATE, "n_clicks"),
        State(ids.TOKEN_NAME, "value"),
        State(ids.TOKEN_EXPIRES_DAYS, "value"),
        State(ids.TOKEN_READ_ONLY, "value"),
        prevent_initial_call=True,
    )
    def _create(_n, name, expires, read_only):
        from console.web.context import db_session

        user_id = _user_id()
        try:
            new = create_token(
                session=db_session(),
                user_id=user_id,
                name=name if isinstance(name, str) else "",
                read_only=read_only is True,
                expires_days=_expires(expires),
            )
        except ConsoleError as exc:
            message, _status = http_answer(exc)
            return no_update, dbc.Alert(message, color="danger", className="py-1 mb-0"), no_update, no_update
        return new_token_alert(new.token), None, tokens_table(user_id).children, ""

    @app.callback(
        Output(ids.TOKEN_REVOKE_MODAL, "is_open"),
        Output(ids.TOKEN_REVOKE_PENDING, "data"),
        Input({"type": ids.TOKEN_REVOKE, "token": ALL}, "n_clicks"),
        Input(ids.TOKEN_REVOKE_CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )
    def _ask(clicks, _cancel):
        trigger = ctx.triggered_id
        if trigger == ids.TOKEN_REVOKE_CANCEL:
            return False, None
        if not isinstance(trigger, dict) or not any(clicks or []):
            return no_update, no_update  # the table was re-rendered: no click happened
        from console.web.context import db_session

        # The id comes from the browser: only one of the user's own tokens opens the modal.
        token = own_token(session=db_session(), user_id=_user_id(), token_id=trigger.get("token"))
        return True, token.id

    @app.callback(
        Output(ids.TOKENS_TABLE, "children", allow_duplicate=True),
        Output(ids.TOKEN_REVOKE_MODAL, "is_open", allow_duplicate=True),
        Output(ids.TOKEN_MESSAGE, "children", allow_duplicate=True),
        Input(ids.TOKEN_REVOKE_CONFIRM, "n_clicks"),
        State(ids.TOKEN_REVOKE_PENDING, "data"),
        prevent_initial_call=True,
    )
    def _revoke(_n, token_id):
        from console.web.context import db_session

        user_id = _user_id()
        # Only the user's own tokens: any other id (forged in the payload) is "not found".
        try:
            revoke_token(session=db_session(), user_id=user_id, token_id=token_id)
            said = "Token revoked."
        except Conflict:  # a double click, or another tab was first
            said = "That token was already revoked."
        return tokens_table(user_id).children, False, dbc.Alert(said, color="secondary", className="py-1")
