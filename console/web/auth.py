"""Login, logout and the gate that every request passes (pages redirect, callbacks get 401)."""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, current_app, jsonify, redirect, render_template, request, session
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from sqlalchemy import update

from console.access import load_user_access
from console.accounts.models import User
from console.accounts.service import authenticate
from console.web.context import db_session

log = logging.getLogger(__name__)

LOGIN_FAILED = "Invalid email or password."
LOGIN_THROTTLED = "Too many sign-in attempts. Wait a minute, then try again."
#: Production cookies are Secure: over plain HTTP the browser never sends them back, so a
#: sign-in can only fail (as a bare CSRF error). Say why instead.
NEEDS_HTTPS = (
    "This console needs HTTPS: it was reached over plain HTTP, where the browser drops its "
    "secure session cookie and sign-in cannot work. Open it at its https:// address; behind a "
    "TLS proxy, have the proxy send X-Forwarded-Proto: https and set CONSOLE_TRUSTED_PROXIES "
    "(see docs/deployment.md, TLS)."
)

#: Paths anyone may fetch: the login form, health, static files of Dash and the vendor CSS.
PUBLIC_PREFIXES = ("/login", "/healthz", "/_dash-component-suites/", "/assets/", "/vendor/", "/_favicon.ico")
#: The HTTP API authenticates each request itself (bearer tokens), never by the session.
API_OWN_AUTH = "/api/"
#: Dash's JSON endpoints: without a session they answer 401 instead of a redirect.
API_PREFIXES = ("/_dash-", "/review-packs/")
#: The account's ``session_version`` at login, kept in the (signed, stateless) session cookie.
SESSION_VERSION = "_sv"


class SessionUser(UserMixin):
    """What flask-login keeps: the id, plus the name for the navbar."""

    def __init__(self, user: User) -> None:
        self.id = str(user.id)
        self.email = user.email
        self.name = user.name


login_manager = LoginManager()


@login_manager.user_loader
def _load_user(user_id: str) -> SessionUser | None:
    if not user_id.isdigit():
        return None
    # The user row and the user's access (memberships, grants) in one statement, once per request.
    user, access = load_user_access(session=db_session(), user_id=int(user_id)) or (None, None)
    if user is None or not user.is_active:
        return None
    # The cookie is stateless; this column is the state: a session issued before the account's
    # last sign-out (a copied or stolen cookie included) no longer authenticates.
    if session.get(SESSION_VERSION, 0) != user.session_version:
        return None
    loaded = SessionUser(user)
    loaded.principal = access  # reused by console.web.context.principal() for this request only
    return loaded


def safe_next(target: str | None) -> str:
    """Only same-site absolute paths are followed after login; anything else goes to '/'."""
    if not target:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"  # browsers drop tabs/newlines ("/\t/evil.example" is "//evil.example"); CR/LF break headers
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_email() -> str:
    """The submitted email, or "" when it holds control characters (no account does; PostgreSQL
    refuses NUL in text, so it must not reach the query)."""
    email = request.form.get("email", "")
    return "" if any(ord(c) < 0x20 or ord(c) == 0x7F for c in email) else email


def _gate() -> Response | None:
    path = request.path
    if path.startswith(API_OWN_AUTH):
        return None  # bearer tokens, checked by console.web.api (a session cookie counts for nothing there)
    if path.startswith(PUBLIC_PREFIXES) or current_user.is_authenticated:
        return None
    if path.startswith(API_PREFIXES) or request.method != "GET":
        return jsonify(error="authentication required"), 401
    nxt = request.full_path.rstrip("?") if request.query_string else path
    return redirect("/login?" + urlencode({"next": nxt}))


def plain_http_in_production() -> bool:
    """A production console reached without TLS (nor a trusted proxy reporting https)."""
    return current_app.extensions["console.settings"].production and not request.is_secure


def login_page(error: str | None, status: int = 200) -> tuple[str, int]:
    """The sign-in form with ``error`` in ``login-error`` (the submitted email kept)."""
    email = _login_email() if request.method == "POST" else ""
    return render_template("login.html", error=error, next=safe_next(request.values.get("next")), email=email), status


def _https_first() -> tuple[str, int] | None:
    """Runs before CSRF: over plain HTTP in production a sign-in is refused with the reason."""
    if request.path == "/login" and request.method == "POST" and plain_http_in_production():
        log.warning("event=login_refused reason=plain_http remote=%s", request.remote_addr)
        return login_page(NEEDS_HTTPS, 400)
    return None


def login_view() -> Response | str | tuple[str, int]:
    nxt = safe_next(request.values.get("next"))
    if plain_http_in_production():
        return login_page(NEEDS_HTTPS)
    if request.method == "POST":
        user = authenticate(session=db_session(), email=_login_email(), password=request.form.get("password", ""))
        if user is None:
            return render_template("login.html", error=LOGIN_FAILED, next=nxt, email=request.form.get("email", "")), 401
        # A fresh session on login: nothing an attacker planted before survives.
        session.clear()
        login_user(SessionUser(user))
        session[SESSION_VERSION] = user.session_version
        return redirect(nxt)
    if current_user.is_authenticated:
        return redirect(nxt)
    return render_template("login.html", error=None, next=nxt, email="")


def logout_view() -> Response:
    if current_user.is_authenticated:
        # Signing out ends every session of the account (all browsers): the cookie itself
        # cannot be revoked, so the version it carries is made stale.
        db = db_session()
        user_id = int(current_user.get_id())
        db.execute(update(User).where(User.id == user_id).values(session_version=User.session_version + 1))
        db.commit()
        log.info("event=logout user_id=%s sessions_ended=all", user_id)
    logout_user()
    session.clear()
    return redirect("/login")


#: Failed sign-ins allowed per email (from any address) before it is throttled.
LOGIN_EMAIL_RATE_LIMIT = "30 per hour"


def _failed(response: Response) -> bool:
    """A failed sign-in (wrong email or password): the only answer that counts against a budget."""
    return response.status_code == 401


def _email_key() -> str:
    return "login-email:" + (request.form.get("email") or "").strip().lower()[:320]


def _throttled(_err: RateLimitExceeded) -> tuple[str, int]:
    return render_template(
        "login.html", error=LOGIN_THROTTLED, next=safe_next(request.values.get("next")), email=""
    ), 429


def init_session(server: Flask) -> None:
    """The login manager (the signed session cookie -> the user, session version checked) and the
    gate; alone, it is what the download server (console.download_server) needs."""
    login_manager.init_app(server)
    server.before_request(_gate)


def init_app(server: Flask) -> None:
    """Register the login manager, the gate (before CSRF, so 401 wins), throttling and the routes."""
    settings = server.extensions["console.settings"]
    init_session(server)
    server.before_request(_https_first)  # before CSRF (security.init_app registers it later)
    # One Limiter per app: its storage (memory in development, Redis in production) is
    # shared by every worker process only when it is Redis.
    # A Redis that stops answering (by default the broker's) must not turn sign-ins and API
    # requests into 500s: they are counted in this process's memory until it answers again.
    limiter = Limiter(
        get_remote_address,
        app=server,
        storage_uri=settings.ratelimit_storage_url,
        default_limits=[],
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    server.extensions["console.limiter"] = limiter  # the API's per-token limits share it
    # Only failed sign-ins (401) use up a budget: the limit is tested before the view and
    # deducted after it only when the answer was a failure, so any number of successful
    # sign-ins from one address (a browser suite, an office behind one NAT) never throttles.
    view = limiter.limit(settings.login_rate_limit, methods=["POST"], deduct_when=_failed)(login_view)
    view = limiter.limit(LOGIN_EMAIL_RATE_LIMIT, methods=["POST"], key_func=_email_key, deduct_when=_failed)(view)
    server.register_error_handler(RateLimitExceeded, _throttled)
    server.add_url_rule("/login", "login", view, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout_view, methods=["POST"])
