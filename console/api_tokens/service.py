"""API tokens: create (the token is returned once, only its hash is stored), list, revoke, and
authenticate a bearer token on each API request.

Why a plain sha256 and not a password hash: a token is 32 random bytes from ``secrets``
(256 bits), so no dictionary or brute force can invert its hash; a slow hash (argon2) would
only add ~0.1 s to every API request. A unique index on the hash finds the token in one
lookup, and a stolen database still yields no usable token."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from console.access import Principal, parse_id, principal_of, select_with_access
from console.accounts.models import User
from console.api_tokens.models import ApiToken
from console.audit.service import record_audit
from console.db import utcnow
from console.errors import BadRequest, Conflict, NotFound, Unauthenticated

log = logging.getLogger(__name__)

#: Every token starts with this, so a leaked one is recognizable (secret scanners, logs).
PREFIX = "toc_"
NAME_MAX = 100
#: The longest expiry a token may be given (about ten years); none at all is allowed too.
EXPIRES_DAYS_MAX = 3650
#: ``last_used_at`` is written at most this often per token (a poller would otherwise write on every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    id: int
    token: str  # shown once, never stored


@dataclass(frozen=True)
class TokenAuth:
    """An authenticated API request: the token and its user's access as they are now."""

    token_id: int
    token_name: str
    read_only: bool
    user_id: int
    user_name: str
    principal: Principal


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _clean_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("a token needs a name (a label such as 'nightly export')")
    clean = " ".join(name.split())
    if len(clean) > NAME_MAX or any(ord(c) < 0x20 or ord(c) == 0x7F for c in clean):
        raise BadRequest(f"a token name is at most {NAME_MAX} printable characters")
    return clean


def create_token(
    *, session: Session, user_id: int, name: str, read_only: bool = False, expires_days: int | None = None
) -> NewToken:
    """Make a token for the user; returns it once (only its hash is stored). Commits."""
    clean = _clean_name(name)
    if expires_days is not None and (
        isinstance(expires_days, bool) or not isinstance(expires_days, int) or not 1 <= expires_days <= EXPIRES_DAYS_MAX
    ):
        raise BadRequest(f"expiry must be a whole number of days from 1 to {EXPIRES_DAYS_MAX}")
    token = PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        user_id=user_id,
        name=clean,
        token_hash=hash_token(token),
        read_only=bool(read_only),
        created_at=now,
        expires_at=now + timedelta(days=expires_days) if expires_days else None,
    )
    session.add(row)
    session.flush()
    record_audit(
        session=session,
        action="api_token.created",
        target_type="api_token",
        target_id=row.id,
        user_id=user_id,
        details={"name": clean, "read_only": row.read_only, "expires_at": _iso(row.expires_at)},
    )
    session.commit()
    log.info("event=api_token_created token_id=%s user_id=%s read_only=%s", row.id, user_id, row.read_only)
    return NewToken(id=row.id, token=token)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def token_view(token: ApiToken) -> dict[str, object]:
    """A token as ``console tokens list --json`` prints it (never the hash)."""
    return {
        "id": token.id,
        "name": token.name,
        "read_only": token.read_only,
        "created_at": _iso(token.created_at),
        "last_used_at": _iso(token.last_used_at),
        "expires_at": _iso(token.expires_at),
        "revoked_at": _iso(token.revoked_at),
    }


def list_tokens(*, session: Session, user_id: int) -> list[ApiToken]:
    """The user's tokens, newest first (revoked and expired ones included)."""
    return list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        )
    )


def own_token(*, session: Session, user_id: int, token_id: object) -> ApiToken:
    """One of the user's own tokens (NotFound for an invalid id or anyone else's)."""
    token = session.get(ApiToken, parse_id(token_id))
    if token is None or token.user_id != user_id:
        raise NotFound("token")
    return token


def revoke_token(*, session: Session, user_id: int, token_id: object) -> ApiToken:
    """Revoke one of the user's own tokens (NotFound for anyone else's; Conflict if already revoked). Commits."""
    token = session.get(ApiToken, parse_id(token_id))
    if token is None or token.user_id != user_id:
        raise NotFound("token")
    if token.revoked_at is not None:
        raise Conflict(f"token {token.id} is already revoked")
    token.revoked_at = utcnow()
    record_audit(
        session=session,
        action="api_token.revoked",
        target_type="api_token",
        target_id=token.id,
        user_id=user_id,
        details={"name": token.name},
    )
    session.commit()
    log.info("event=api_token_revoked token_id=%s user_id=%s", token.id, user_id)
    return token


#: Per dialect, built once: the token row, its user and the user's access in ONE statement
#: (every API request runs it; building it costs more CPU than running it). Plain columns: no
#: ORM objects to load.
_AUTH_STATEMENTS: dict[str, Any] = {}


def _auth_statement(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    stmt = _AUTH_STATEMENTS.get(dialect)
    if stmt is None:
        stmt = (
            select_with_access(
                session,
                ApiToken.id,
                ApiToken.name,
                ApiToken.read_only,
                ApiToken.expires_at,
                ApiToken.revoked_at,
                ApiToken.last_used_at,
                User.id.label("user_id"),
                User.name.label("user_name"),
                User.email,
                User.is_active,
            )
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == bindparam("token_hash"))
        )
        _AUTH_STATEMENTS[dialect] = stmt
    return stmt


def authenticate(*, session: Session, token: str, now: datetime | None = None) -> TokenAuth:
    """The token's user and access as they are now (one statement, nothing cached across
    requests); Unauthenticated when the token is unknown, expired, revoked, or its user
    inactive. Writes ``last_used_at`` at most once a minute (commits then)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        raise Unauthenticated("invalid token")
    row = session.execute(_auth_statement(session), {"token_hash": hash_token(token)}).first()
    now = now or utcnow()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("invalid token")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated("token expired")
    if not row.is_active:
        raise Unauthenticated("invalid token")
    auth = TokenAuth(
        token_id=row.id,
        token_name=row.name,
        read_only=row.read_only,
        user_id=row.user_id,
        user_name=row.user_name or row.email,
        principal=principal_of(row.user_id, row),
    )
    if row.last_used_at is None or row.last_used_at <= now - LAST_USED_RESOLUTION:
        # Conditional in SQL: of concurrent requests in the same minute only one writes.
        session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == row.id,
                or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_RESOLUTION),
            )
            .values(last_used_at=now)
        )
        session.commit()
    return auth


def user_by_email(*, session: Session, email: str) -> User:
    """The active user with this email (NotFound otherwise): the CLI's ``--as``."""
    from console.accounts.service import normalize_email

    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None or not user.is_active:
        raise NotFound(f"no active user {email}")
    return user
