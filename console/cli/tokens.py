"""``console tokens``: create, list and revoke a user's API tokens.

``create`` prints only the token (one line, shown once: only its hash is stored); errors are
one line on stderr with exit code 2, nothing on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from console.api_tokens.service import (
    EXPIRES_DAYS_MAX,
    create_token,
    list_tokens,
    revoke_token,
    token_view,
    user_by_email,
)
from console.config import ConfigError, load_settings
from console.db import Database
from console.errors import ConsoleError, cli_message


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


def _as_user(email: str, action: Callable[[Session, int], Any]) -> Any:
    """``action(session, user_id)`` for the active user ``email``; refusals become one line (exit 2)."""
    try:
        db = Database(load_settings().database_url)
        try:
            with db.session() as session:
                user = user_by_email(session=session, email=email)
                return action(session, user.id)
        finally:
            db.dispose()
    except SQLAlchemyError as exc:
        _fail(
            f"database error ({type(exc).__name__}); is CONSOLE_DATABASE_URL right "
            "and the schema upgraded (console db upgrade)?"
        )
    except ConsoleError as exc:
        _fail(cli_message(exc))
    except ConfigError as exc:
        _fail(str(exc))


@click.group("tokens")
def tokens() -> None:
    """API tokens (Authorization: Bearer) of a user."""


@tokens.command("create")
@click.option("--as", "email", required=True, help="The user the token acts as (their rights at each request).")
@click.option("--name", required=True, help="A label, e.g. 'nightly export'.")
@click.option("--expires-days", type=int, default=None, help=f"Expire after N days (1-{EXPIRES_DAYS_MAX}).")
@click.option("--read-only", is_flag=True, help="The token may only read (GET).")
def tokens_create(email: str, name: str, expires_days: int | None, read_only: bool) -> None:
    """Create a token; prints only the token (shown once)."""
    new = _as_user(
        email,
        lambda session, user_id: create_token(
            session=session, user_id=user_id, name=name, read_only=read_only, expires_days=expires_days
        ),
    )
    click.echo(f"token {new.id} created for {email}; it is shown once, store it now", err=True)
    click.echo(new.token)


@tokens.command("list")
@click.option("--as", "email", required=True, help="Whose tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def tokens_list(email: str, as_json: bool) -> None:
    """The user's tokens, newest first (never the token itself)."""
    views = _as_user(
        email, lambda session, user_id: [token_view(t) for t in list_tokens(session=session, user_id=user_id)]
    )
    if as_json:
        click.echo(json.dumps(views))
        return
    for v in views:
        state = "revoked" if v["revoked_at"] else ("read-only" if v["read_only"] else "read-write")
        click.echo(
            f"{v['id']}\t{v['name']}\t{state}\tcreated={v['created_at']}\t"
            f"last_used={v['last_used_at'] or '-'}\texpires={v['expires_at'] or '-'}"
        )


@tokens.command("revoke")
@click.argument("token_id")
@click.option("--as", "email", required=True, help="The token's owner.")
def tokens_revoke(token_id: str, email: str) -> None:
    """Revoke one of the user's tokens; prints its id."""
    revoked_id = _as_user(
        email, lambda session, user_id: revoke_token(session=session, user_id=user_id, token_id=token_id).id
    )
    click.echo(revoked_id)
