"""The one factory: Flask server -> extensions (database, login, CSRF) -> Dash (use_pages)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dash
import flask_bootstrap
from flask import g, jsonify, request, send_from_directory
from sqlalchemy import text

from console.config import Settings, load_settings
from console.dispatch import CeleryDispatcher
from console.web import api, auth, context, downloads, metrics, routing, security
from console.web.server import PACKAGE_DIR, flask_server

log = logging.getLogger(__name__)
#: Shipped inside the package (package-data): a wheel install serves the same JS and CSS.
ASSETS_DIR = PACKAGE_DIR / "assets"
BOOTSTRAP_DIR = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5" / "css"


def create_app(overrides: Mapping[str, Any] | None = None) -> dash.Dash:
    """Build the console. ``overrides`` may set any Settings field, plus ``dispatcher``."""
    overrides = dict(overrides or {})
    dispatcher = overrides.pop("dispatcher", None)
    settings = load_settings(overrides)
    warn_about_settings(settings)

    server = flask_server(settings)
    server.extensions["console.dispatcher"] = dispatcher or CeleryDispatcher(settings)

    metrics.init_app(server)  # /metrics has its own bearer token: answered before the session gate
    auth.init_app(server)  # the gate runs before CSRF: no session -> 401, not 400
    downloads.init_app(server)
    server.before_request(_page_gate)
    server.after_request(_page_status)
    server.add_url_rule("/healthz", "healthz", _healthz)
    server.add_url_rule(
        "/vendor/bootstrap.min.css", "bootstrap_css", lambda: send_from_directory(BOOTSTRAP_DIR, "bootstrap.min.css")
    )

    app = dash.Dash(
        "console",
        server=server,
        use_pages=True,
        pages_folder=str(PACKAGE_DIR / "pages"),
        assets_folder=str(ASSETS_DIR),
        external_stylesheets=["/vendor/bootstrap.min.css"],
        suppress_callback_exceptions=True,
        title="Tenant Operations Console",
        update_title=None,
        serve_locally=True,
        # theme.js runs in the page head (with_theme), before the stylesheets paint: not again
        # at the end of the body.
        assets_ignore=THEME_SCRIPT_IGNORE,
    )
    app.index_string = with_theme(with_lang(app.index_string))
    from console.components import shell

    app.layout = shell.layout
    shell.register_callbacks(app)
    _register_component_callbacks(app)
    security.init_app(server, app)
    api.init_app(server, server.extensions["console.limiter"], csrf=security.csrf, rate_limit=settings.api_rate_limit)
    return app


def with_lang(index_string: str, lang: str = "en") -> str:
    """Dash's page template with ``<html lang>`` (screen readers pick their voice and rules by it)."""
    if "<html>" not in index_string:
        raise ValueError("Dash's index_string no longer has a bare <html> tag: set lang another way")
    return index_string.replace("<html>", f'<html lang="{lang}">', 1)


#: The colour-theme script (assets/theme.js): in every page's head, Dash's and Flask's templates.
THEME_SCRIPT = '<meta name="color-scheme" content="light dark"><script src="/assets/theme.js"></script>'
THEME_SCRIPT_IGNORE = r"^theme\.js$"


def with_theme(index_string: str) -> str:
    """Dash's page template with the theme script before the stylesheets (no light flash on a dark page)."""
    if "{%css%}" not in index_string:
        raise ValueError("Dash's index_string no longer has {%css%}: place the theme script another way")
    return index_string.replace("{%css%}", THEME_SCRIPT + "\n        {%css%}", 1)


def warn_about_settings(settings: Settings) -> None:
    """Warnings at start for production settings that work but weaken a defence."""
    if settings.production and settings.ratelimit_storage_url.startswith("memory://"):
        log.warning(
            "event=setting_warning setting=CONSOLE_RATELIMIT_STORAGE_URL value=memory:// "
            "detail=sign-in throttling counts per process: with several gunicorn workers or hosts "
            "each one allows the full budget; set CONSOLE_RATELIMIT_STORAGE_URL=redis://... "
            "(docs/deployment.md)"
        )


def _register_component_callbacks(app: dash.Dash) -> None:
    from console.components import registry

    registry.register_all(app)


def _page_gate() -> None:
    if request.method == "GET" and routing.is_page_path(request.path) and request.path != "/":
        g.page_http_status = routing.page_status(request.path)


def _page_status(response):
    status = g.pop("page_http_status", 200)
    if status != 200 and response.status_code == 200:
        response.status_code = status
    return response


def _healthz():
    db_ok = True
    try:
        with context.database().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        db_ok = False
    broker_ok = context.current_dispatcher().ping()
    body = {
        "status": "ok" if db_ok and broker_ok else "degraded",
        "database": "ok" if db_ok else "error",
        "broker": "ok" if broker_ok else "error",
    }
    return jsonify(body), 200 if body["status"] == "ok" else 503
