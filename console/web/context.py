"""Per-request access to settings, the database session and the current principal."""

from __future__ import annotations

from flask import current_app, g
from flask_login import current_user
from sqlalchemy.orm import Session

from console.access import Principal, load_principal
from console.config import Settings
from console.db import Database


def settings() -> Settings:
    return current_app.extensions["console.settings"]


def database() -> Database:
    return current_app.extensions["console.db"]


def db_session() -> Session:
    """One session per request, closed (rolled back unless committed) at teardown."""
    if "db_session" not in g:
        g.db_session = database().sessionmaker()
    return g.db_session


def close_db_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def principal() -> Principal:
    """The logged-in user's access, loaded once per request; an anonymous user sees nothing.

    The user loader (console.web.auth) reads it together with the user row, in one statement, and
    hangs it on this request's user object; only a user logged in during this very request
    (the login view) has none and gets it read here. Never cached across requests."""
    if "principal" not in g:
        if not current_user.is_authenticated:
            g.principal = Principal(user_id=0)
        else:
            user_id = int(current_user.get_id())
            loaded = getattr(current_user, "principal", None)
            if isinstance(loaded, Principal) and loaded.user_id == user_id:
                g.principal = loaded
            else:
                g.principal = load_principal(session=db_session(), user_id=user_id)
    return g.principal


def current_user_name() -> str:
    """Who is acting, for audit lines and notifications ("cancelled by <name>")."""
    if not current_user.is_authenticated:
        return "anonymous"
    return getattr(current_user, "name", None) or getattr(current_user, "email", None) or "a user"


def current_dispatcher():
    """The app's Dispatcher (Celery in production, a fake in some tests)."""
    return current_app.extensions["console.dispatcher"]
