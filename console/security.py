"""The web layer's defences against hostile requests, in request order: no page shell under
reserved prefixes, same-origin POSTs only, CSRF (forms and Dash callbacks), callback payloads
shaped as dash-renderer sends them; then security headers and CSP on every response, and one
mapping of errors to HTTP (domain errors -> 404/403/400, anything unexpected -> a generic 500)."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

import dash
from dash._utils import split_callback_id
from dash.exceptions import DependencyException
from flask import Flask, Response, jsonify, request
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf
from werkzeug.exceptions import InternalServerError

from console.errors import BadRequest, Forbidden, NotFound

log = logging.getLogger(__name__)
csrf = CSRFProtect()

#: dash-renderer reads this cookie and sends its value in the X-CSRFToken header.
CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "X-CSRFToken"
CALLBACK_PATH = "/_dash-update-component"
#: Paths whose clients expect JSON (Dash's endpoints, downloads).
API_PREFIXES = ("/_dash-", "/review-packs/", "/healthz")
INTERNAL_ERROR = "internal error; it has been logged"
INTERNAL_ERROR_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error · Tenant Operations Console</title>'
    '<link rel="stylesheet" href="/vendor/bootstrap.min.css"></head><body class="bg-light"><main class="container mt-5">'
    '<h1 class="h3" id="server-error">Something went wrong</h1><p>The error has been logged. Try again, or go back to '
    '<a href="/">the overview</a>.</p></main></body></html>'
)


def _is_callback() -> bool:
    return request.path == CALLBACK_PATH


#: Dash's pattern-matching wildcards as they appear in a callback_map id (``{"op":["ALL"],...}``).
_WILDCARDS = (["ALL"], ["MATCH"], ["ALLSMALLER"])
#: A forged ALL list longer than any page renders is refused (each item costs work in Dash).
MAX_PATTERN_ITEMS = 500


def _declared_id(raw: str) -> str | dict:
    return json.loads(raw) if raw.startswith("{") else raw


def _concrete_id_ok(sent: object, declared: str | dict) -> bool:
    if isinstance(declared, str):
        return sent == declared
    if not isinstance(sent, dict) or set(sent) != set(declared):
        return False
    for key, want in declared.items():
        got = sent[key]
        if want in _WILDCARDS:
            if isinstance(got, bool) or not isinstance(got, (str, int, float)):
                return False
        elif got != want:
            return False
    return True


def _item_ok(item: object, declared: dict) -> bool:
    """One concrete dependency as dash-renderer sends it: {"id", "property"[, "value"]} (an
    undefined prop has no "value": Dash reads None)."""
    if not isinstance(item, dict) or not isinstance(item.get("property"), str):
        return False
    if set(item) - {"id", "property", "value"}:
        return False
    # Outputs registered with allow_duplicate carry "@<hash>" in the map; the renderer may send either.
    if item["property"].split("@")[0] != declared["property"].split("@")[0]:
        return False
    return _concrete_id_ok(item.get("id"), _declared_id(declared["id"]))


def _deps_ok(sent: object, declared: list[dict]) -> bool:
    """``sent`` matches the callback's declared dependencies one for one (ALL/ALLSMALLER: a list)."""
    if not isinstance(sent, list) or len(sent) != len(declared):
        return False
    for item, dep in zip(sent, declared):
        did = _declared_id(dep["id"])
        multi = isinstance(did, dict) and any(v in (["ALL"], ["ALLSMALLER"]) for v in did.values())
        if multi:
            if not isinstance(item, list) or len(item) > MAX_PATTERN_ITEMS:
                return False
            if not all(_item_ok(i, dep) for i in item):
                return False
        elif not _item_ok(item, dep):
            return False
    return True


def _outputs_ok(sent: object, key: str) -> bool:
    declared = split_callback_id(key)
    if isinstance(declared, dict):  # one output: the renderer sends one object
        return _item_ok(sent, declared)
    return _deps_ok(sent, declared)


#: Dash's own page router (registered on the first request); it is not our code, so its
#: inputs are typed here: a pathname that is not a string under the app's prefix makes it raise (500).
PAGES_ROUTER = ".._pages_content.children..._pages_store.data.."


def _router_values_ok(inputs: list, prefix: str) -> bool:
    for item in inputs:
        value = item.get("value")
        if item["property"] == "pathname" and not (
            isinstance(value, str) and value.startswith(prefix.rstrip("/") or "/")
        ):
            return False
        if item["property"] == "search" and not isinstance(value, (str, type(None))):
            return False
    return True


def _validate_callback_body(dash_app: dash.Dash) -> Response | None:
    """Refuse (400) a callback request that is not what dash-renderer would send for a
    server-side callback of this app, before Dash parses it (Dash answers oddities with 500).

    Checked: JSON object; ``output`` names a registered *server-side* callback; ``outputs``,
    ``inputs`` and ``state`` match its declared dependencies one for one (ids, properties,
    pattern-matching lists); ``changedPropIds`` is a list of strings. The *values* are left to
    the callbacks, which treat them as untrusted (console.access.parse_id and friends)."""
    if not _is_callback() or request.method != "POST":
        return None
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # absurdly nested JSON: the parser gives up with RecursionError, not ValueError
        body = None
    if not (
        isinstance(body, dict)
        and isinstance(body.get("output"), str)
        and isinstance(body.get("inputs"), list)
        and isinstance(body.get("state", []), list)
        and isinstance(body.get("changedPropIds", []), list)
        and all(isinstance(p, str) for p in body.get("changedPropIds", []))
    ):
        return jsonify(error="malformed callback request"), 400
    spec = dash_app.callback_map.get(body["output"])
    # Clientside callbacks have no server function: Dash would answer their output with a 500.
    if spec is None or spec.get("callback") is None:
        return jsonify(error="unknown callback"), 400
    if not (
        _outputs_ok(body.get("outputs"), body["output"])
        and _deps_ok(body["inputs"], spec["inputs"])
        and _deps_ok(body.get("state", []), spec["state"])
    ):
        return jsonify(error="callback request does not match the callback"), 400
    if body["output"] == PAGES_ROUTER and not _router_values_ok(
        body["inputs"], dash_app.config.requests_pathname_prefix
    ):
        return jsonify(error="pathname must be a path under the app, search a string"), 400
    return None


STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _same_origin_only() -> tuple[Response, int] | None:
    """Refuse a state-changing request that a browser says came from another origin.

    The CSRF token alone is not enough against a page on another *port* of the same host:
    most browsers do not scope cookies by port, so such a page can read ``_csrf_token``. Browsers
    send ``Origin`` on every cross-origin POST (forms and fetch); it must name this host (the
    ``Host`` header, or ``X-Forwarded-Host`` behind a proxy — a victim's browser cannot set
    that header on a cross-site request). No ``Origin`` (curl, scripts, old browsers): the
    token still decides."""
    if request.method not in STATE_CHANGING:
        return None
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
)
_DASH_CATCH_ALL = "/<path:path>"


def _no_shell_for_reserved_paths() -> tuple[Response, int] | None:
    rule = request.url_rule
    if rule is not None and rule.rule == _DASH_CATCH_ALL and request.path.startswith(RESERVED_PREFIXES):
        return jsonify(error="not found"), 404
    return None


def init_app(server: Flask, dash_app: dash.Dash) -> None:
    server.before_request(_no_shell_for_reserved_paths)
    server.before_request(_same_origin_only)  # after the auth gate (401 first), before CSRF
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

    @server.errorhandler(DependencyException)
    def _unknown_dependency(_err: DependencyException) -> tuple[Response, int]:
        # /_dash-component-suites/<package>/<path> for a package or file Dash does not serve
        # (e.g. "../../etc/passwd"): Dash raises, which would be a 500 for anyone, signed in or not.
        return jsonify(error="not found"), 404

    @server.errorhandler(InternalServerError)
    def _internal_error(_err: InternalServerError) -> tuple[Response, int] | Response:
        # Flask has already logged the exception with its traceback (server log only); the
        # client learns nothing about the code, in every environment.
        if request.path.startswith(API_PREFIXES) or request.is_json:
            return jsonify(error=INTERNAL_ERROR), 500
        return Response(INTERNAL_ERROR_PAGE, status=500, mimetype="text/html")
