"""``console runs``: start, show and list operation runs from scripts and cron.

``start`` applies the same access rules and dedupe as the dashboard buttons, acting as the
user given with ``--as``, and prints only the run id (the existing run's id when deduplicated).
A refused start exits non-zero with one line on stderr and nothing on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from console.config import ConfigError, load_settings
from console.db import Database
from console.errors import ConsoleError, Forbidden, NotFound, cli_message
from console.operations import registry
from console.operations.constants import ACTIVE_STATUSES, STATUS_LABELS, UNKNOWN_LABEL
from console.operations.models import OperationRun
from console.operations.run_object import pack_view, packs_by_run, run_view

LIST_LIMIT_DEFAULT = 50
__all__ = ["pack_view", "packs_by_run", "run_view", "runs"]


def _fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {' '.join(str(message).split())}", err=True)
    sys.exit(code)


def _text(view: dict[str, Any]) -> str:
    progress = view["progress"]
    if progress["mode"] == "counted":
        shown = f"{progress['processed']} / {progress['total']} ({progress['percent']}%)"
    elif progress["total"] and progress["processed"] is not None:
        shown = f"{progress['processed']} of {progress['total']} processed"
    else:
        shown = progress["mode"]
    label = STATUS_LABELS.get(view["status"], UNKNOWN_LABEL)
    counts = " ".join(f"{k}={v}" for k, v in view["summary_counts"].items())
    return f"{view['id']}\t{view['type']}\t{label}\t{view['outcome'] or '-'}\t{shown}\t{counts}".rstrip()


def _parse_options(pairs: tuple[str, ...]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            _fail(f"--option must look like key=value, got {pair!r}")
        options[key.strip()] = value.strip()
    return options


class RunsGroup(click.Group):
    """Database and configuration errors become one line on stderr (exit 2), never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            _fail(
                f"database error ({type(exc).__name__}); is CONSOLE_DATABASE_URL right "
                "and the schema upgraded (console db upgrade)?"
            )
        except ConsoleError as exc:
            _fail(cli_message(exc))
        except (ConfigError, ValueError) as exc:
            _fail(str(exc) or type(exc).__name__)


@click.group("runs", cls=RunsGroup)
def runs() -> None:
    """Operation runs."""


@runs.command("start")
@click.argument("operation_type")
@click.option("--tenant", "tenant_id", required=True, help="Tenant id.")
@click.option("--as", "email", required=True, help="Act as this user (their access applies).")
@click.option("--option", "options", multiple=True, help="key=value, repeatable (e.g. include_pii=false).")
def runs_start(operation_type: str, tenant_id: str, email: str, options: tuple[str, ...]) -> None:
    """Start an operation; prints the run id."""
    from console.dispatch import CeleryDispatcher
    from console.operations.launch import start_operation

    if registry.find(operation_type) is None:
        _fail(f"unknown operation type {operation_type!r} (one of: {', '.join(sorted(registry.types()))})")
    parsed = _parse_options(options)
    _act_as(
        email,
        lambda *, session, principal, user, settings: (
            start_operation(
                session=session,
                principal=principal,
                tenant_id=tenant_id,
                operation_type=operation_type,
                options=parsed,
                dispatcher=CeleryDispatcher(settings),
            ).run_id
        ),
    )


@runs.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def runs_show(run_id: str, as_json: bool) -> None:
    """Status, outcome, normalized counts and progress mode of one run."""
    from console.access import parse_id

    try:
        rid = parse_id(run_id)
        db = Database(load_settings().database_url)
        try:
            with db.session() as session:
                run = session.get(OperationRun, rid)
                if run is None:
                    raise NotFound("run")
                view = run_view(run, packs_by_run(session, [run]))
        finally:
            db.dispose()
    except NotFound:
        _fail(f"run {run_id} not found")
    except (ConsoleError, ConfigError) as exc:
        _fail(str(exc) or type(exc).__name__)
    click.echo(json.dumps(view) if as_json else _text(view))


@runs.command("list")
@click.option("--active", is_flag=True, help="Only queued and running runs.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--limit", default=LIST_LIMIT_DEFAULT, show_default=True, type=click.IntRange(1, 10000))
def runs_list(active: bool, as_json: bool, limit: int) -> None:
    """Newest runs first (every workspace: this is an operator tool with database access)."""
    try:
        db = Database(load_settings().database_url)
        try:
            with db.session() as session:
                stmt = select(OperationRun)
                if active:
                    stmt = stmt.where(OperationRun.status.in_(ACTIVE_STATUSES))
                rows = list(
                    session.scalars(stmt.order_by(OperationRun.created_at.desc(), OperationRun.id.desc()).limit(limit))
                )
                packs = packs_by_run(session, rows)
                views = [run_view(run, packs) for run in rows]
        finally:
            db.dispose()
    except (ConsoleError, ConfigError) as exc:
        _fail(str(exc) or type(exc).__name__)
    if as_json:
        click.echo(json.dumps(views))
    else:
        for view in views:
            click.echo(_text(view))


def _act_as(email: str, action: Callable[..., int]) -> None:
    """Run ``action(session=, principal=, user=, settings=)`` as the active user ``email``;
    prints the run id it returns, or one line on stderr (exit 2) when refused."""
    from console.access import load_principal
    from console.accounts.models import User
    from console.accounts.service import normalize_email
    from console.errors import DispatchError

    try:
        settings = load_settings()
        db = Database(settings.database_url)
        try:
            with db.session() as session:
                user = session.scalar(select(User).where(User.email == normalize_email(email)))
                if user is None or not user.is_active:
                    _fail(f"no active user {email}")
                principal = load_principal(session=session, user_id=user.id)
                run_id = action(session=session, principal=principal, user=user, settings=settings)
        finally:
            db.dispose()
    except NotFound as exc:
        _fail(f"not found: {exc} (it does not exist, or {email} may not see it)")
    except Forbidden as exc:
        _fail(f"not allowed: {email} lacks the capability {exc}")
    except DispatchError as exc:
        _fail(f"not started: {exc}")
    except ConsoleError as exc:
        _fail(cli_message(exc))
    except (ConfigError, ValueError) as exc:
        _fail(str(exc) or type(exc).__name__)
    click.echo(run_id)


@runs.command("cancel")
@click.argument("run_id")
@click.option("--as", "email", required=True, help="Act as this user (their access applies).")
def runs_cancel(run_id: str, email: str) -> None:
    """Cancel a queued or running run; prints its id."""
    from console.operations.launch import cancel_operation

    _act_as(
        email,
        lambda *, session, principal, user, settings: cancel_operation(
            session=session, principal=principal, run_id=run_id, user_name=user.name or user.email
        ),
    )


@runs.command("retry")
@click.argument("run_id")
@click.option("--as", "email", required=True, help="Act as this user (their access applies).")
def runs_retry(run_id: str, email: str) -> None:
    """Retry a failed, partially succeeded or cancelled run; prints the new run's id."""
    from console.dispatch import CeleryDispatcher
    from console.operations.launch import retry_operation

    _act_as(
        email,
        lambda *, session, principal, user, settings: (
            retry_operation(
                session=session, principal=principal, run_id=run_id, dispatcher=CeleryDispatcher(settings)
            ).run_id
        ),
    )
