"""CSRF for forms and Dash callbacks, security headers, CSP, and one mapping of domain errors."""
from __future__ import annotations

import logging

import dash
from flask import Flask, Response, jsonify, request
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf

from console.errors import BadRequest, Forbidden, NotFound

log = logging.getLogger(__name__)
csrf = CSRFProtect()

#: dash-renderer reads this cookie and sends its value in the X-CSRFToken header.
CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "X-CSRFToken"
CALLBACK_PATH = "/_dash-update-component"


def _is_callback() -> bool:
    return request.path == CALLBACK_PATH


def _validate_callback_body(dash_app: dash.Dash) -> Response | None:
    """Reject malformed callback payloads with 400 before Dash parses them (it would 500)."""
    if not _is_callback() or request.method != "POST":
        return None
    body = request.get_json(silent=True)
    ok = (
        isinstance(body, dict)
        and isinstance(body.get("output"), str)
        and isinstance(body.get("inputs"), list)
        and all(isinstance(i, (dict, list)) for i in body["inputs"])
        and isinstance(body.get("state", []), list)
        and isinstance(body.get("changedPropIds", []), list)
    )
    if not ok:
        return jsonify(error="malformed callback request"), 400
    if body["output"] not in dash_app.callback_map:
        return jsonify(error="unknown callback"), 400
    return None


def init_app(server: Flask, dash_app: dash.Dash) -> None:
    server.config.setdefault("WTF_CSRF_HEADERS", [CSRF_HEADER])
    # The token lives as long as the session; an hour-long limit would break open tabs.
    server.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(server)
    server.before_request(lambda: _validate_callback_body(dash_app))

    # Dash adds inline scripts (clientside callbacks) until its first page request, which
    # may come after our first response: recompute when their number changes.
    hash_cache: dict[int, list[str]] = {}

    def script_hashes() -> list[str]:
        key = len(dash_app._inline_scripts)  # noqa: SLF001
        if key not in hash_cache:
            hash_cache.clear()
            hash_cache[key] = dash_app.csp_hashes()
        return hash_cache[key]

    @server.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("X-Frame-Options", "DENY")
        script_src = " ".join(["'self'", *script_hashes()])  # csp_hashes() come quoted
        h.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src {script_src}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
        )
        if request.method == "GET" and response.mimetype == "text/html":
            # Readable by dash-renderer (not HttpOnly); useless to another site (SameSite, and
            # the value must come back in a header that a cross-site form cannot set).
            response.set_cookie(
                CSRF_COOKIE,
                generate_csrf(),
                samesite="Lax",
                secure=server.config.get("SESSION_COOKIE_SECURE", False),
                httponly=False,
            )
        return response

    @server.errorhandler(CSRFError)
    def _csrf_error(err: CSRFError) -> tuple[Response, int]:
        log.warning("event=csrf_rejected path=%s reason=%s", request.path, err.description)
        return jsonify(error="CSRF token missing or invalid"), 400

    @server.errorhandler(NotFound)
    def _not_found(_err: NotFound) -> tuple[Response, int]:
        return jsonify(error="not found"), 404

    @server.errorhandler(Forbidden)
    def _forbidden(_err: Forbidden) -> tuple[Response, int]:
        return jsonify(error="not allowed"), 403

    @server.errorhandler(BadRequest)
    def _bad_request(err: BadRequest) -> tuple[Response, int]:
        return jsonify(error=str(err) or "bad request"), 400
