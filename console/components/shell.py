"""The page frame: navbar (navigation, activity shell, notifications bell, sign-out), the
polling guards' stores, the toast area and the page container."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from console import ids
from console.components import activity_shell, notifications, poll_guard

#: A rendered element next to the guards' stores: assets/guards.js waits for it before it
#: writes to the stores (a dcc.Store renders no DOM node of its own).
GUARDS_READY = "polling-guards"
#: The page's <main> landmark and the skip link that jumps to it.
MAIN = "main-content"
SKIP_LINK = "skip-to-content"
#: The colour-theme button (assets/theme.js cycles auto -> light -> dark and stores the choice).
THEME_TOGGLE = "theme-toggle"
THEME_CHOICES = (("auto", "Auto"), ("light", "Light"), ("dark", "Dark"))


def theme_toggle() -> html.Button:
    """The navbar's theme button: its name is "Theme: Auto" / "Theme: Light" / "Theme: Dark".

    All three words are rendered and CSS shows the one ``<html data-theme-choice>`` names, so the
    script never rewrites what React rendered (it only sets ``title`` and the data attribute)."""
    return html.Button(
        [
            html.Span("Theme: ", className="visually-hidden"),
            html.Span(className="theme-icon", **{"aria-hidden": "true"}),
            *(html.Span(word, className=f"theme-label theme-label-{key}") for key, word in THEME_CHOICES),
        ],
        id=THEME_TOGGLE,
        type="button",
        className="btn btn-outline-light btn-sm ms-3 theme-toggle",
    )


def _logout_form() -> html.Form:
    return html.Form(
        [
            dcc.Input(type="hidden", name="csrf_token", value=generate_csrf()),
            html.Button("Sign out", id="logout-button", type="submit", className="btn btn-outline-light btn-sm"),
        ],
        action="/logout",
        method="POST",
        className="d-flex ms-3",
    )


def _account_menu() -> dbc.DropdownMenu:
    """The user menu: the account's API tokens and the API reference."""
    return dbc.DropdownMenu(
        [
            dbc.DropdownMenuItem("API tokens", href=ids.ACCOUNT_TOKENS_HREF, id=ids.NAV_API_TOKENS),
            dbc.DropdownMenuItem("API reference", href="/api/docs", external_link=True, id=ids.NAV_API_DOCS),
        ],
        label="Account",
        id=ids.NAV_ACCOUNT,
        nav=True,
        in_navbar=True,
        align_end=True,
        className="ms-2",
        toggleClassName="text-light small",
    )


def _unread_count() -> int:
    from console.notifications.service import unread_count
    from console.web.context import db_session, principal

    user_id = principal().user_id
    return unread_count(session=db_session(), user_id=user_id) if user_id else 0


def layout() -> html.Div:
    signed_in = current_user.is_authenticated
    name = getattr(current_user, "name", "") if signed_in else ""
    navbar = dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Tenant Operations Console", href="/"),
                dbc.Nav(
                    [
                        dbc.NavItem(dbc.NavLink("Overview", href="/", id="nav-overview")),
                        dbc.NavItem(dbc.NavLink("Operations", href="/admin/operations", id="nav-operations")),
                    ],
                    className="me-3",
                ),
                activity_shell.layout() if signed_in else html.Div(className="flex-grow-1"),
                notifications.bell(_unread_count()) if signed_in else None,
                theme_toggle(),
                html.Span(name, id="nav-user", className="navbar-text text-light small ms-3"),
                _account_menu() if name else None,
                _logout_form() if name else None,
            ],
            fluid=True,
            className="flex-nowrap",
        ),
        color="dark",
        dark=True,
        className="mb-3",
    )
    return html.Div(
        [
            # First in the tab order: keyboard users jump over the navbar (visible when focused).
            html.A("Skip to content", href=f"#{MAIN}", id=SKIP_LINK, className="skip-link visually-hidden-focusable"),
            html.Header(navbar),
            html.Div(
                [
                    dcc.Store(id=ids.PAGE_VISIBILITY, data="visible"),
                    dcc.Store(id=poll_guard.MODAL_OPEN, data=False),
                    dcc.Store(id=poll_guard.ACTIVITY_KICK, data=None),
                    dcc.Store(id=poll_guard.RUN_ENQUEUED, data=None),
                ],
                id=GUARDS_READY,
                hidden=True,
            ),
            notifications.modal() if signed_in else None,
            # Shown by assets/guards.js while a poll finds the database unreachable.
            html.Div(
                poll_guard.CONNECTION_LOST_TEXT,
                id=poll_guard.CONNECTION_BANNER,
                hidden=True,
                className="alert alert-warning connection-banner py-1 px-3 small shadow-sm",
                role="status",
                style={
                    "position": "fixed",
                    "top": "0.5rem",
                    "left": "50%",
                    "transform": "translateX(-50%)",
                    "zIndex": 2000,
                },
            ),
            # A labelled section is a landmark: toasts are not "content outside landmarks".
            html.Section(
                [], id=ids.TOAST_AREA, className="toast-area", **{"aria-live": "polite", "aria-label": "Messages"}
            ),
            # The page itself: the one <main> (the skip link's target; tabIndex -1 so it takes focus).
            html.Main(dbc.Container(dash.page_container, fluid=True, className="pb-5"), id=MAIN, tabIndex="-1"),
        ]
    )


def register_callbacks(app: dash.Dash) -> None:
    """The frame's own wiring: the run-enqueued DOM event, and the answer to polls (and pages)
    that find the database unreachable (the banner above, instead of a 500)."""
    poll_guard.register_run_enqueued_event(app)
    poll_guard.register_outage_handler(app)
