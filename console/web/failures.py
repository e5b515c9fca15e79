"""Answers for requests that fail, shared by the console and the download server: the database
unreachable (503 without a stack, one log line) and any unexpected error (a generic 500; the
traceback only in the server log). The console adds the lost poll policy for its polls
(console.components.poll_guard)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import InternalServerError

from console.db import OUTAGE_ERRORS, is_outage
from console.web.problems import internal_error_response, is_api_request

log = logging.getLogger(__name__)

#: Paths whose clients expect JSON (Dash's endpoints, downloads, health): never an HTML page.
JSON_PREFIXES = ("/_dash-", "/review-packs/", "/healthz")
#: The shell's banner while a poll finds the database unreachable (assets/guards.js shows it).
CONNECTION_BANNER = "connection-banner"
RETRY_AFTER_SECONDS = 10
UNAVAILABLE_PAGE = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{RETRY_AFTER_SECONDS}">
<title>Temporarily unavailable · Tenant Operations Console</title>
<meta name="color-scheme" content="light dark"><script src="/assets/theme.js"></script>
<link rel="stylesheet" href="/vendor/bootstrap.min.css"></head>
<body class="bg-body-tertiary"><main class="container py-5">
<h1 class="h4">The console cannot reach its database</h1>
<p id="{CONNECTION_BANNER}" role="status">Connection lost — retrying every {RETRY_AFTER_SECONDS} s.
This page reloads by itself.</p>
</main></body></html>"""
INTERNAL_ERROR = "internal error; it has been logged"
INTERNAL_ERROR_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error · Tenant Operations Console</title>'
    '<meta name="color-scheme" content="light dark"><script src="/assets/theme.js"></script>'
    '<link rel="stylesheet" href="/vendor/bootstrap.min.css"></head>'
    '<body class="bg-body-tertiary"><main class="container mt-5">'
    '<h1 class="h3" id="server-error">Something went wrong</h1><p>The error has been logged. Try again, or go back to '
    '<a href="/">the overview</a>.</p></main></body></html>'
)


def no_special_answer() -> None:
    return None


def register_outage_handler(server: Flask, special: Callable[[], Response | None] = no_special_answer) -> None:
    """Answer requests that find the database unreachable without a 500 or a stack trace:
    ``special()`` first (an answer of its own, or None), else 503 with Retry-After, as JSON or
    the unavailable page."""

    def _outage(err: Exception) -> Response | tuple[Response, int]:
        if not is_outage(err):
            raise err  # a bug, not an outage: Flask's 500 path (logged with its traceback)
        # One structured line: a traceback per poll during an outage helps nobody and floods the log.
        detail = (str(getattr(err, "orig", None) or err).strip().splitlines() or [""])[0][:200]
        log.warning(
            "event=database_unreachable path=%s error=%s detail=%s",
            request.path,
            type(err).__name__,
            json.dumps(detail),
        )
        answer = special()
        if answer is not None:
            return answer
        if not request.path.startswith(JSON_PREFIXES):  # a page load or a form post (login)
            response = Response(UNAVAILABLE_PAGE, mimetype="text/html")
        else:
            response = jsonify(error="the database is unreachable; try again shortly")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response, 503

    for error in OUTAGE_ERRORS:
        server.register_error_handler(error, _outage)


def register_internal_error_handler(server: Flask) -> None:
    """Flask has already logged the exception with its traceback (server log only); the client
    learns nothing about the code, in every environment."""

    def _internal_error(_err: InternalServerError) -> tuple[Response, int] | Response:
        if is_api_request():
            return internal_error_response()
        if request.path.startswith(JSON_PREFIXES) or request.is_json:
            return jsonify(error=INTERNAL_ERROR), 500
        return Response(INTERNAL_ERROR_PAGE, status=500, mimetype="text/html")

    server.register_error_handler(InternalServerError, _internal_error)
