"""The security headers and CSP on every response, and the CSRF cookie dash-renderer reads: one
code for the Dash console (console.web.security, with the hashes of Dash's inline scripts) and
the download server (console.download_server, which serves no Dash page: no hashes)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request
from flask_wtf.csrf import generate_csrf

from console.web.problems import allowed_methods, is_api_request

#: dash-renderer reads this cookie and sends its value in the X-CSRFToken header.
CSRF_COOKIE = "_csrf_token"


def no_script_hashes() -> list[str]:
    return []


def init_headers(server: Flask, script_hashes: Callable[[], list[str]] = no_script_hashes) -> None:
    """Add the headers to every response of ``server``; ``script_hashes()`` are the quoted CSP
    hashes of the inline scripts its pages carry."""

    @server.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        if request.method == "OPTIONS" and is_api_request() and "Allow" in h:
            h["Allow"] = ", ".join(allowed_methods(request.path))  # Flask's counts the page route's GET
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
