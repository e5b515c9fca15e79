"""The web layer's defences against hostile requests, in request order: no page shell under
reserved prefixes, same-origin POSTs only, CSRF (forms and Dash callbacks), callback payloads
shaped as dash-renderer sends them; then security headers and CSP on every response, and one
mapping of errors to HTTP (domain errors -> 404/403/400, anything unexpected -> a generic 500)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import dash
from dash.exceptions import DependencyException
from flask import Flask, Response, jsonify, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, InternalServerError

from console.errors import ConsoleError, NotFound, http_answer
from console.web import auth
from console.web.failures import register_internal_error_handler
from console.web.headers import init_headers
from console.web.payloads import validate_callback_body
from console.web.problems import (
    from_http_exception,
    is_api_request,
    problem_response,
)

log = logging.getLogger(__name__)
csrf = CSRFProtect()

#: dash-renderer sends the CSRF cookie's (headers.CSRF_COOKIE) value in this header.
CSRF_HEADER = "X-CSRFToken"

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

#: Flask-WTF's reasons (``CSRFError.description``) -> what the person at the browser can do about it.
_CSRF_REASONS = {
    "The referrer header is missing.": (
        "the request carried no Referer header. Over HTTPS the console accepts a form or callback "
        "POST only with a Referer naming its own https:// address; a proxy, browser setting or "
        "extension that strips Referer (or Origin) breaks this (see docs/deployment.md, TLS)."
    ),
    "The referrer header is malformed.": "the request's Referer header is not a URL.",
    "The referrer does not match the host.": (
        "the Referer names another address than this console's host. Behind a proxy, pass the public "
        "host in Host (nginx: proxy_set_header Host $http_host) (see docs/deployment.md, TLS)."
    ),
    "The CSRF session token is missing.": (
        "the session carries no CSRF token (cookies blocked, or the session ended). Reload the page."
    ),
    "The CSRF token has expired.": "the page's token has expired. Reload the page.",
}
CSRF_DEFAULT = "the CSRF token is missing or invalid. Reload the page and try again."


def csrf_message(reason: str, *, plain_http: bool) -> str:
    """The message for a POST refused by the CSRF check: the cause, never only "CSRF"."""
    if plain_http:
        return f"CSRF check failed: {auth.NEEDS_HTTPS}"
    return f"CSRF check failed: {_CSRF_REASONS.get(reason, CSRF_DEFAULT)}"


def _same_origin_only() -> tuple[Response, int] | None:
    """Refuse a state-changing request that a browser says came from another origin.

    The CSRF token alone is not enough against a page on another *port* of the same host:
    most browsers do not scope cookies by port, so such a page can read ``_csrf_token``. Browsers
    send ``Origin`` on every cross-origin POST (forms and fetch); it must name this host (the
    ``Host`` header, or ``X-Forwarded-Host`` behind a proxy — a victim's browser cannot set
    that header on a cross-site request). No ``Origin`` (curl, scripts, old browsers): the
    token still decides."""
    if request.method not in STATE_CHANGING or is_api_request():
        return None  # the API takes bearer tokens only: nothing ambient for another origin to ride on
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    hosts = {request.host.lower()}
    forwarded = request.headers.get("X-Forwarded-Host")
    if forwarded:
        hosts.add(forwarded.split(",")[0].strip().lower())
    try:
        netloc = urlsplit(origin).netloc.lower() if origin != "null" else ""
    except ValueError:
        netloc = ""
    if netloc and netloc in hosts:
        return None
    log.warning("event=cross_origin_rejected path=%s origin=%.100s", request.path, origin)
    return jsonify(error="cross-origin request refused"), 400


#: Dash's catch-all route serves the page shell (HTTP 200) for any path; under these prefixes
#: nothing is a page, so an unmatched path there is a 404 (e.g. /review-packs//etc/passwd/download,
#: /_dash-anything, /healthz/x), not a shell.
RESERVED_PREFIXES = (
    "/_dash-",
    "/assets/",
    "/vendor/",
    "/login/",
    "/logout/",
    "/healthz/",
    "/review-packs/",
    "/_favicon",
    "/api/",
)
_DASH_CATCH_ALL = "/<path:path>"


def _no_shell_for_reserved_paths() -> tuple[Response, int] | None:
    rule = request.url_rule
    if rule is not None and rule.rule == _DASH_CATCH_ALL and request.path.startswith(RESERVED_PREFIXES):
        if is_api_request():
            return problem_response(NotFound(f"no API endpoint at {request.path[:200]}")), 404
        return jsonify(error="not found"), 404
    return None


def init_app(server: Flask, dash_app: dash.Dash) -> None:
    server.before_request(_no_shell_for_reserved_paths)
    server.before_request(_same_origin_only)  # after the auth gate (401 first), before CSRF
    server.config.setdefault("WTF_CSRF_HEADERS", [CSRF_HEADER])
    # The token lives as long as the session; an hour-long limit would break open tabs.
    server.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(server)
    server.before_request(lambda: validate_callback_body(dash_app))

    # Dash adds inline scripts (clientside callbacks) until its first page request, which
    # may come after our first response: recompute when their number changes.
    hash_cache: dict[int, list[str]] = {}

    def script_hashes() -> list[str]:
        key = len(dash_app._inline_scripts)  # noqa: SLF001
        if key not in hash_cache:
            hash_cache.clear()
            hash_cache[key] = dash_app.csp_hashes()
        return hash_cache[key]

    init_headers(server, script_hashes)

    @server.errorhandler(CSRFError)
    def _csrf_error(err: CSRFError) -> tuple[Response, int] | tuple[str, int]:
        log.warning("event=csrf_rejected path=%s reason=%s", request.path, err.description)
        message = csrf_message(str(err.description), plain_http=auth.plain_http_in_production())
        if request.path == "/login":
            return auth.login_page(message, 400)
        return jsonify(error=message), 400

    @server.errorhandler(ConsoleError)
    def _console_error(err: ConsoleError) -> Response | tuple[Response, int]:
        # One table (console.errors.ANSWERS): 404 / 403 / 400 / 409 / 503; 404 and 403 say no more.
        if is_api_request():
            return problem_response(err)
        message, status = http_answer(err)
        return jsonify(error=message), status

    @server.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> HTTPException | Response:
        # Under /api/ every answer is problem+json (no route, wrong method, body too large,
        # malformed JSON…); elsewhere Flask's own answer, as before.
        if is_api_request() and not isinstance(err, InternalServerError):
            allowed = getattr(err, "valid_methods", None)  # a 405 names what is allowed (RFC 9110)
            return problem_response(
                from_http_exception(err), headers={"Allow": ", ".join(allowed)} if allowed else None
            )
        return err

    @server.errorhandler(DependencyException)
    def _unknown_dependency(_err: DependencyException) -> tuple[Response, int]:
        # /_dash-component-suites/<package>/<path> for a package or file Dash does not serve
        # (e.g. "../../etc/passwd"): Dash raises, which would be a 500 for anyone, signed in or not.
        return jsonify(error="not found"), 404

    register_internal_error_handler(server)
