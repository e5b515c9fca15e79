"""The API's errors as RFC 9457 problem details (``application/problem+json``), all from the one
vocabulary (console.errors.ANSWERS): domain errors as they are, HTTP errors that Flask or
Werkzeug raise (no route, wrong method, body too large, malformed JSON) translated into it."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, json, request
from werkzeug.exceptions import HTTPException

from console.errors import (
    BadRequest,
    ConsoleError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthenticated,
    Unavailable,
    Unprocessable,
    UnsupportedMediaType,
    problem,
)

API_PREFIX = "/api/"
MEDIA_TYPE = "application/problem+json"
#: Told to a client on a 401 (RFC 6750): the API takes bearer tokens only.
WWW_AUTHENTICATE = 'Bearer realm="console"'

_BY_STATUS: dict[int, type[ConsoleError]] = {
    400: BadRequest,
    401: Unauthenticated,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
    429: RateLimited,
    503: Unavailable,
}


#: Dash's catch-all page route: it matches any GET path, so it must not count as "GET is allowed".
_PAGE_CATCH_ALL = "/<path:path>"
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(path: str) -> list[str]:
    """The methods the API routes (not the page catch-all) accept at ``path``, for ``Allow``."""
    adapter = current_app.url_map.bind("localhost")
    allowed = []
    for method in _METHODS:
        try:
            rule, _args = adapter.match(path, method=method, return_rule=True)
        except HTTPException:
            continue
        if rule.rule != _PAGE_CATCH_ALL:
            allowed.append(method)
    if "GET" in allowed:
        allowed.append("HEAD")
    return [*allowed, "OPTIONS"] if allowed else []


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)


def from_http_exception(exc: HTTPException) -> ConsoleError:
    """The vocabulary's error for an HTTP error raised below the views (routing, body parsing)."""
    cls = _BY_STATUS.get(exc.code or 400, BadRequest)
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if messages:  # webargs (flask-smorest): {"json": {"field": ["message"]}}
        return cls(_flatten(messages))
    if cls is MethodNotAllowed:
        return cls(f"{request.method} is not allowed on {request.path}")
    if cls is PayloadTooLarge:
        return cls("the request body is too large")
    return cls(exc.description or "")


def _flatten(messages: Any, prefix: str = "") -> str:
    """webargs' nested messages as one line: ``json.type: Missing data for required field.``"""
    if isinstance(messages, dict):
        parts = [_flatten(v, f"{prefix}.{k}" if prefix else str(k)) for k, v in messages.items()]
        return "; ".join(p for p in parts if p)[:1000]
    if isinstance(messages, (list, tuple)):
        return f"{prefix}: " + " ".join(str(m) for m in messages) if prefix else " ".join(map(str, messages))
    return f"{prefix}: {messages}" if prefix else str(messages)


def problem_response(exc: ConsoleError, headers: dict[str, str] | None = None) -> Response:
    """The problem+json answer for ``exc`` (401 with ``WWW-Authenticate: Bearer``)."""
    body = problem(exc)
    response = Response(json.dumps(body), status=int(body["status"]), mimetype=MEDIA_TYPE)
    if response.status_code == 401:
        response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    for key, value in (headers or {}).items():
        response.headers[key] = value
    response.headers["Cache-Control"] = "no-store"
    return response


def internal_error_response() -> Response:
    """An unexpected error on an API path: a problem with no detail about the code."""
    body = {
        "type": "urn:console:problem:internal-error",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "internal error; it has been logged",
    }
    return Response(json.dumps(body), status=500, mimetype=MEDIA_TYPE)
