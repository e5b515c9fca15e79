"""The Flask server every web process of the console starts from: the Dash console
(console.app.create_app) and the download server (console.download_server). One place for the
session cookie settings, the proxy headers, the settings and database extensions and the
per-request database session's teardown, so both read the same signed cookie the same way."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from console.config import Settings
from console.db import Database
from console.web import context

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def flask_server(settings: Settings) -> Flask:
    """A Flask server with the console's cookie settings, ProxyFix (when trusted proxies are set),
    ``console.settings`` / ``console.db`` and the database session closed at teardown."""
    server = Flask("console", root_path=str(PACKAGE_DIR), instance_path=str(settings.instance_dir), static_folder=None)
    server.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SECURE=settings.production,
        PROPAGATE_EXCEPTIONS=False,
        MAX_CONTENT_LENGTH=1 * 1024 * 1024,
    )
    if settings.trusted_proxies:
        # Behind N trusted proxies: the client's address (login limits, logs), scheme and host
        # come from their X-Forwarded-* headers; with 0 the headers are ignored (spoofable).
        server.wsgi_app = ProxyFix(
            server.wsgi_app,
            x_for=settings.trusted_proxies,
            x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )
    server.extensions["console.settings"] = settings
    server.extensions["console.db"] = Database(settings.database_url)
    server.teardown_appcontext(context.close_db_session)
    return server
