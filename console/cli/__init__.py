"""``console`` command line. Creates print only the new id on stdout; messages go to stderr;
errors exit non-zero with a one-line message."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import click

from console.config import ConfigError, Settings, load_settings
from console.db import Database
from console.demo.pacing import (
    PACED_RANGE_SECONDS,
    PACING_DELAY_SECONDS,
    PACING_FAULTS,
    PACING_PHASE_SECONDS,
    demo_worker_env,
)
from console.errors import ConsoleError, cli_message
from console.providers.base import FAULTS_ENV


def _db() -> Database:
    return Database(load_settings().database_url)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


class ConsoleGroup(click.Group):
    """Turns domain and configuration errors into one-line messages with exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConsoleError as exc:
            _fail(cli_message(exc))
        except (ConfigError, ValueError) as exc:
            _fail(str(exc) or type(exc).__name__)


@click.group(cls=ConsoleGroup)
def main() -> None:
    """Tenant Operations Console."""
    logging.basicConfig(
        level=os.environ.get("CONSOLE_LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


# ---------------------------------------------------------------- database
@main.group(cls=ConsoleGroup)
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every Alembic migration (SQLite or PostgreSQL); says which were applied."""
    from console.migrate import upgrade_with_report

    click.echo(upgrade_with_report(load_settings().database_url).message(), err=True)


# ---------------------------------------------------------------- accounts
@main.group(cls=ConsoleGroup)
def users() -> None:
    """Users."""


def _read_password(password: str | None, from_stdin: bool) -> str:
    """The new user's password: one line of stdin, a hidden prompt typed twice, or ``--password``."""
    if password is not None and from_stdin:
        _fail("give --password or --password-stdin, not both")
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password[:-1] if password.endswith("\r") else password
        if not password:
            _fail("--password-stdin: standard input held no password (one line expected)")
        return password
    if password is not None:
        return password
    if not sys.stdin.isatty():
        _fail("no password given: pipe it in with --password-stdin (--password P shows it in the process list)")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)


@users.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--password-stdin", "password_stdin", is_flag=True, help="Read the password from standard input (one line)."
)
@click.option("--password", default=None, help="Only for throw-away scripts: argv is visible to every local user.")
def users_create(email: str, name: str, password_stdin: bool, password: str | None) -> None:
    """Create a user; prints the new id. Without a password option, prompts for it (hidden, twice)."""
    from console.accounts.service import create_user

    secret = _read_password(password, password_stdin)
    with _db().session() as s:
        click.echo(create_user(session=s, email=email, password=secret, name=name).id)


@main.group(cls=ConsoleGroup)
def workspaces() -> None:
    """Workspaces."""


@workspaces.command("create")
@click.option("--name", required=True)
def workspaces_create(name: str) -> None:
    """Create a workspace; prints the new id."""
    from console.accounts.service import create_workspace

    with _db().session() as s:
        click.echo(create_workspace(session=s, name=name).id)


@main.group(cls=ConsoleGroup)
def tenants() -> None:
    """Tenants."""


@tenants.command("create")
@click.option("--workspace", "workspace_id", required=True, type=int)
@click.option("--name", required=True)
def tenants_create(workspace_id: int, name: str) -> None:
    """Create a tenant with its provider dataset; prints the new id."""
    from console.accounts.service import create_tenant
    from console.providers.builtin import seed_tenant_dataset

    with _db().session() as s:
        tenant = create_tenant(session=s, workspace_id=workspace_id, name=name)
        seed_tenant_dataset(session=s, tenant_id=tenant.id)
        click.echo(tenant.id)


@main.command("grant")
@click.option("--email", required=True)
@click.option("--workspace", "workspace_id", type=int)
@click.option("--role")
@click.option("--tenant", "tenant_id", type=int)
@click.option("--capability", "capabilities", multiple=True)
def grant(
    email: str, workspace_id: int | None, role: str | None, tenant_id: int | None, capabilities: tuple[str, ...]
) -> None:
    """--workspace W --role R, or --tenant T --capability C [--capability C ...]."""
    from console.accounts.service import grant_capabilities, grant_role

    with _db().session() as s:
        if workspace_id is not None and role and tenant_id is None and not capabilities:
            grant_role(session=s, email=email, workspace_id=workspace_id, role=role)
        elif tenant_id is not None and capabilities and workspace_id is None and not role:
            grant_capabilities(session=s, email=email, tenant_id=tenant_id, capabilities=list(capabilities))
        else:
            _fail("use --workspace W --role R, or --tenant T --capability C")
    click.echo("granted", err=True)


# ---------------------------------------------------------------- processes
@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, type=int, show_default=True)
def serve(host: str, port: int) -> None:
    """Run the web console (threaded development server; use gunicorn console.wsgi:server in production)."""
    from console.app import create_app

    _check_storage()
    app = create_app()
    click.echo(f"console: http://{host}:{port}/", err=True)
    app.run(host=host, port=port, debug=False)


def _check_storage() -> Settings:
    """Bad pack storage settings stop the process here, with one line naming the setting (exit 2)."""
    from console.review_packs.storage import check_storage

    settings = load_settings()
    check_storage(settings)
    return settings


def _celery_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "tasks", *args]


#: The console's worker defaults: (long option, short option, value). Each applies unless given.
WORKER_DEFAULTS: tuple[tuple[str, str, str], ...] = (
    ("--pool", "-P", "threads"),
    ("--concurrency", "-c", "4"),
    ("--loglevel", "-l", "INFO"),
)


def _gives_option(args: list[str], long: str, short: str) -> bool:
    """Whether celery arguments set an option in any of its spellings (--x v, --x=v, -X v, -Xv)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == long or arg.startswith(long + "=") or arg.startswith(short):
            return True
    return False


def worker_args(given: list[str]) -> list[str]:
    """Celery worker arguments: what was given, plus each console default not given."""
    defaults: list[str] = []
    for long, short, value in WORKER_DEFAULTS:
        if not _gives_option(given, long, short):
            defaults += [long, value]
    return [*defaults, *given]


@main.command("worker", context_settings={"ignore_unknown_options": True})
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
def worker(celery_args: tuple[str, ...]) -> None:
    """Run a Celery worker: threads pool, 4 threads, log level INFO, unless the celery options given say otherwise."""
    _check_storage()
    os.execv(sys.executable, _celery_argv("worker", *worker_args(list(celery_args))))


@main.command("beat")
def beat() -> None:
    """Run Celery beat (stale-run reaper, review-pack expiry)."""
    settings = _check_storage()
    os.execv(
        sys.executable,
        _celery_argv("beat", "--loglevel", "INFO", "--schedule", str(settings.instance_dir / "celerybeat-schedule")),
    )


@main.command("seed-demo")
def seed_demo_cmd() -> None:
    """Seed demo data when the database is empty."""
    from console.seed import print_logins

    _seed(_check_storage())
    print_logins()


def _seed(settings: Settings) -> None:
    """Seed the demo when the database is empty; says which and how long it took."""
    from console.seed import seed_demo

    # The history is ~90 real runs: their lifecycle lines would bury the URL and the logins.
    console_log = logging.getLogger("console")
    level = console_log.level
    console_log.setLevel(logging.ERROR)
    started = time.monotonic()
    try:
        with Database(settings.database_url).session() as s:
            created = seed_demo(session=s, settings=settings)
    finally:
        console_log.setLevel(level)
    if created:
        click.echo(f"demo data seeded in {time.monotonic() - started:.1f} s", err=True)
    else:
        click.echo("database not empty: demo data left as it is", err=True)


@main.command("demo")
@click.option("--port", default=8050, type=int, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--no-pacing",
    "no_pacing",
    is_flag=True,
    help="Let the worker run at full speed (by default the built-in provider waits "
    f"{PACING_DELAY_SECONDS:g} s per unit and {PACING_PHASE_SECONDS:g} s per phase so progress can be "
    "watched; CONSOLE_PROVIDER_FAULTS, when set, wins).",
)
def demo(port: int, host: str, no_pacing: bool) -> None:
    """Migrate, seed when empty, then run web + worker + beat until Ctrl-C."""
    from console.migrate import upgrade
    from console.seed import print_logins

    settings = _check_storage()
    upgrade(settings.database_url)
    _seed(settings)
    env = dict(os.environ, CONSOLE_INSTANCE_DIR=str(settings.instance_dir))
    worker_env = demo_worker_env(env, pacing=not no_pacing)
    procs = [
        subprocess.Popen(
            _celery_argv("worker", "--pool", "threads", "--concurrency", "4", "--loglevel", "WARNING"), env=worker_env
        ),
        subprocess.Popen(
            _celery_argv(
                "beat", "--loglevel", "WARNING", "--schedule", str(settings.instance_dir / "celerybeat-schedule")
            ),
            env=env,
        ),
        subprocess.Popen([sys.executable, "-m", "console", "serve", "--host", host, "--port", str(port)], env=env),
    ]
    click.echo(f"\nTenant Operations Console: http://{host}:{port}/", err=True)
    click.echo(_pacing_line(worker_env), err=True)
    print_logins()
    click.echo("Ctrl-C stops the web server, the worker and beat.", err=True)

    stopping = False

    def _stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        while not stopping and all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
    failed = [p.args for p in procs if p.returncode not in (0, -signal.SIGTERM, -signal.SIGINT, None)]
    click.echo("stopped", err=True)
    if failed and not stopping:
        sys.exit(1)


def _pacing_line(worker_env: dict[str, str]) -> str:
    """What ``console demo`` says about its worker's pace."""
    faults = worker_env.get(FAULTS_ENV)
    if faults == PACING_FAULTS:
        low, high = PACED_RANGE_SECONDS
        return (
            f"Paced: the worker's provider waits {PACING_DELAY_SECONDS:g} s per unit and "
            f"{PACING_PHASE_SECONDS:g} s per phase, so a run takes {low:g}-{high:g} s "
            "(console demo --no-pacing: full speed)."
        )
    if faults:
        return f"{FAULTS_ENV} is set: the worker uses it as given ({faults})."
    return "Not paced: runs go at full speed."


# ---------------------------------------------------------------- operators
#: What each view capability lets a grant holder see (the operation capabilities describe themselves).
VIEW_CAPABILITY_TEXT = {
    "tenant.view": "see the tenant: its dashboard and charts (every tenant grant includes it)",
    "operations.view": "see the tenant's operation runs: lists, run viewer, activity shell",
    "review_pack.view": "see the tenant's review packs and download them",
}


def capability_lines() -> list[tuple[str, str]]:
    """(capability, one line) for every capability, in ``console.access.all_capabilities()`` order."""
    from console.access import all_capabilities
    from console.operations import registry

    starts: dict[str, list[str]] = {}
    for spec in registry.specs():
        starts.setdefault(spec.capability, []).append(f"{spec.type} ({spec.label})")
    lines = []
    for capability in all_capabilities():
        if capability in starts:
            text = f"starts, cancels and retries: {', '.join(starts[capability])}"
        else:
            text = VIEW_CAPABILITY_TEXT.get(capability, "no description")
        lines.append((capability, text))
    return lines


@main.command("capabilities")
def capabilities_cmd() -> None:
    """List the capability names a tenant grant can hold, one line each."""
    width = max(len(name) for name, _ in capability_lines())
    for name, text in capability_lines():
        click.echo(f"{name.ljust(width)}  {text}")


@main.command("doctor")
def doctor_cmd() -> None:
    """Check settings, database, broker, storage, clock skew and rate-limit storage; one line per check."""
    from console.cli.doctor import run_checks

    failed = False
    for check in run_checks(os.environ):
        failed = failed or not check.ok
        click.echo(check.line())
    if failed:
        click.echo("doctor: at least one check failed", err=True)
        sys.exit(1)


from console.cli.runs import runs  # noqa: E402
from console.cli.tokens import tokens  # noqa: E402

main.add_command(runs)
main.add_command(tokens)


if __name__ == "__main__":
    main()
