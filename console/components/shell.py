"""The page frame: navbar (navigation, sign-out), guards' stores, toast area, page container."""
from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from console import ids


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


def layout() -> html.Div:
    name = getattr(current_user, "name", "") if current_user.is_authenticated else ""
    navbar = dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Tenant Operations Console", href="/"),
                dbc.Nav(
                    [
                        dbc.NavItem(dbc.NavLink("Overview", href="/", id="nav-overview")),
                        dbc.NavItem(dbc.NavLink("Operations", href="/admin/operations", id="nav-operations")),
                    ],
                    className="me-auto",
                ),
                html.Span(name, id="nav-user", className="navbar-text text-light small"),
                _logout_form() if name else None,
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3",
    )
    return html.Div(
        [
            navbar,
            dcc.Store(id=ids.PAGE_VISIBILITY, data="visible"),
            html.Div(id=ids.TOAST_AREA, className="toast-area"),
            dbc.Container(dash.page_container, fluid=True, className="pb-5"),
        ]
    )


def register_callbacks(app: dash.Dash) -> None:
    """The frame has no server callbacks yet (the activity shell adds its own)."""
