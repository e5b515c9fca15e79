"""The download server: a small Flask app without Dash that serves only
``GET /review-packs/<pack_id>/download`` (console.web.downloads, the console's own route) and
``/healthz``. Optional: run it (``gunicorn console.download_wsgi:server``) behind the same
nginx as the console, which sends it the download URLs only (deploy/nginx/console.conf); without
it the console serves downloads itself.

Why: a large pack streamed to a slow client holds a worker thread for minutes; here it holds none
of the Dash workers' threads (which answer the pages' polls), and the process that streams does
not carry Dash, Plotly nor Celery (~35 MiB less: docs/performance.md, "Pack storage").

It is built from the same pieces as the console (console.web.server.flask_server,
auth.init_session, downloads.init_app, headers.init_headers), so it reads the console's signed
session cookie (same CONSOLE_SECRET_KEY and cookie settings), loads the user with the same
session-version check (a signed-out or revoked session is refused at once), has the same gate
(no session -> 401), ProxyFix, security headers, per-request database session and failure
answers (console.web.failures: database unreachable -> 503, anything unexpected -> a generic
500). It needs the console's settings (the same environment file): database, secret key, pack
storage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, jsonify
from sqlalchemy import text

from console.config import load_settings
from console.web import auth, context, downloads, failures
from console.web.headers import init_headers
from console.web.server import flask_server


def create_download_server(overrides: Mapping[str, Any] | None = None) -> Flask:
    """The download server; ``overrides`` may set any Settings field (as for create_app)."""
    server = flask_server(load_settings(dict(overrides or {})))
    auth.init_session(server)  # the console's cookie -> user (session version checked); no session -> 401
    downloads.init_app(server)
    server.add_url_rule("/healthz", "healthz", healthz)
    init_headers(server)  # no Dash page here: no inline script hashes in the CSP
    failures.register_outage_handler(server)  # database unreachable: 503 + Retry-After, no stack
    failures.register_internal_error_handler(server)  # anything unexpected: a generic 500
    return server


def healthz():
    """200 while the database answers (all a download needs besides the pack storage, which is
    only asked per download: an S3 round trip per probe would cost more than it tells)."""
    try:
        with context.database().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        return jsonify(status="degraded", database="error", server="downloads"), 503
    return jsonify(status="ok", database="ok", server="downloads"), 200
