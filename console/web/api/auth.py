"""Who is calling the API: a bearer token, checked on every request (never the session cookie,
so the API has no CSRF surface). The token's user's rights are read afresh each time: a grant
removed a moment ago no longer applies; a read-only token may only read."""

from __future__ import annotations

from flask import g, request

from console.api_tokens.service import TokenAuth, authenticate
from console.errors import ConsoleError, Forbidden, Unauthenticated
from console.web.context import db_session

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NO_TOKEN = "send an API token: Authorization: Bearer <token> (console tokens create, or /account/tokens)"


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(NO_TOKEN)
    return token.strip()


def current_auth() -> TokenAuth:
    """The request's token (authenticated once per request; Unauthenticated otherwise)."""
    if "api_auth" not in g:
        try:
            g.api_auth = authenticate(session=db_session(), token=_bearer())
        except ConsoleError as exc:
            g.api_auth = exc
    if isinstance(g.api_auth, ConsoleError):
        raise g.api_auth
    return g.api_auth


def authenticated_or_none() -> TokenAuth | None:
    try:
        return current_auth()
    except Unauthenticated:
        return None


def require_token() -> None:
    """The API blueprint's first check: a valid token (401), then read-only tokens only read (403).
    The token's principal becomes the request's (console.web.context.principal)."""
    auth = current_auth()
    if auth.read_only and request.method not in READ_METHODS:
        raise Forbidden("this token is read-only")
    g.principal = auth.principal


def rate_limit_key() -> str:
    """Flask-Limiter's key: one budget per token (exempt_when has made sure there is one)."""
    return f"api-token:{current_auth().token_id}"
