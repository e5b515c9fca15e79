"""The notifications bell (navbar) and its modal: recent persisted notifications, "mark all read".

The unread count is rendered with the page frame and refreshed by the activity shell when a
new notification arrives; opening the modal reads the list. It is a real modal, so while it
is open every polling surface on the page pauses (the modal guard in assets/guards.js)."""

from __future__ import annotations

from typing import Any, Final

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from console import ids
from console.components.display import (
    format_timestamp,
    modal_header,
    modal_title_id,
    notification_header,
    relative_time_of,
    run_href,
)
from console.errors import NotFound
from console.notifications.service import NotificationRow, list_notifications, mark_read, unread_count
from console.review_packs.service import download_url

NOTIFICATIONS_MODAL = "notifications-modal"
NOTIFICATIONS_LIST = "notifications-list"
NOTIFICATIONS_MARK_READ = "notifications-mark-read"
NOTIFICATIONS_CLOSE = "notifications-close"
LISTED: Final = 20


def count_class(unread: int) -> str:
    """The badge's classes: quiet at zero, loud otherwise."""
    tone = "text-bg-danger" if unread else "text-bg-secondary"
    return f"notifications-count badge rounded-pill {tone}"


def bell(unread: int) -> html.Button:
    """The navbar button; ``notifications-count`` always holds the unread count as text."""
    return html.Button(
        [
            html.Span(className="bell-icon", **{"aria-hidden": "true"}),
            html.Span("Notifications", className="visually-hidden"),
            html.Span(str(unread), id=ids.NOTIFICATIONS_COUNT, className=count_class(unread)),
        ],
        id=ids.NOTIFICATIONS_BELL,
        type="button",
        title="Notifications",
        className="btn btn-outline-light btn-sm ms-2 notifications-bell",
        n_clicks=0,
    )


def modal() -> dbc.Modal:
    return dbc.Modal(
        [
            modal_header(NOTIFICATIONS_MODAL, "Notifications"),
            dbc.ModalBody(html.Div(id=NOTIFICATIONS_LIST)),
            dbc.ModalFooter(
                [
                    html.Button(
                        "Mark all read",
                        id=NOTIFICATIONS_MARK_READ,
                        type="button",
                        className="btn btn-outline-secondary btn-sm",
                        n_clicks=0,
                    ),
                    html.Button(
                        "Close", id=NOTIFICATIONS_CLOSE, type="button", className="btn btn-primary btn-sm", n_clicks=0
                    ),
                ]
            ),
        ],
        id=NOTIFICATIONS_MODAL,
        labelledby=modal_title_id(NOTIFICATIONS_MODAL),
        is_open=False,
        scrollable=True,
    )


def render_list(rows: list[NotificationRow]) -> list:
    """Newest first; unread ones marked, each linking to its run."""
    if not rows:
        return [html.P("No notifications yet.", className="text-muted mb-0", id="notifications-empty")]
    items: list[Any] = []
    for n in rows:
        unread = n.read_at is None
        head: list[Any] = [html.Strong(notification_header(n.title, getattr(n, "tenant_name", None)))]
        if unread:
            head.append(html.Span("new", className="badge text-bg-primary ms-2"))
        children: list[Any] = [
            html.Div(head),
            html.Div(relative_time_of(format_timestamp(n.created_at)), className="text-muted small"),
        ]
        if n.body:
            children.append(html.Div(n.body, className="small"))
        links: list[Any] = []
        if n.run_id is not None:
            links.append(dcc.Link(f"View run #{n.run_id}", href=run_href(n.run_id), className="small me-3"))
        pack_id = getattr(n, "ready_pack_id", None)
        if pack_id is not None:
            # A plain link: a download is not a page (dcc.Link would route it inside the app).
            links.append(
                html.A(
                    "Download review pack",
                    href=download_url(pack_id),
                    className="small notification-pack-link",
                    download="",
                )
            )
        if links:
            children.append(html.Div(links))
        items.append(
            html.Li(
                children,
                className="list-group-item" + (" notification-unread" if unread else " notification-read"),
                **{"data-notification-id": str(n.id), "data-unread": "true" if unread else "false"},
            )
        )
    return [html.Ul(items, className="list-group list-group-flush")]


def register_callbacks(app: dash.Dash) -> None:
    @app.callback(
        Output(NOTIFICATIONS_MODAL, "is_open"),
        Output(NOTIFICATIONS_LIST, "children"),
        Output(ids.NOTIFICATIONS_COUNT, "children", allow_duplicate=True),
        Output(ids.NOTIFICATIONS_COUNT, "className", allow_duplicate=True),
        Input(ids.NOTIFICATIONS_BELL, "n_clicks"),
        Input(NOTIFICATIONS_MARK_READ, "n_clicks"),
        Input(NOTIFICATIONS_CLOSE, "n_clicks"),
        prevent_initial_call=True,
    )
    def _notifications(_bell, _mark, _close):
        from console.web.context import db_session, principal

        triggered = dash.ctx.triggered_id
        if triggered == NOTIFICATIONS_CLOSE:
            return False, dash.no_update, dash.no_update, dash.no_update
        user_id = principal().user_id
        if not user_id:
            raise NotFound("user")
        session = db_session()
        if triggered == NOTIFICATIONS_MARK_READ:
            mark_read(session=session, user_id=user_id, notification_ids=None)
        rows = list_notifications(session=session, user_id=user_id, limit=LISTED)
        unread = unread_count(session=session, user_id=user_id)
        return True, render_list(rows), str(unread), count_class(unread)
