"""``console doctor``: what an operator checks before (and after) a deploy, one line per check.

Each check says what it found and, when something is wrong, the fix. A ``warn`` is a
deployment that works but should not stay that way; only a ``FAIL`` makes the command exit
non-zero. Secrets never appear: URLs are printed with their passwords masked."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from console.config import ConfigError, Settings, load_settings

#: Worker heartbeats and the database clock may differ from this host's clock by this much.
CLOCK_TOLERANCE_SECONDS = 5.0
DEPLOYMENT_GUIDE = "docs/deployment.md"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok" | "warn" | "FAIL"
    detail: str
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "FAIL"

    def line(self) -> str:
        fix = f" -- fix: {self.fix}" if self.fix and self.status != "ok" else ""
        return f"{self.status:<4}  {self.name:<10}  {self.detail}{fix}"


def masked(url: str) -> str:
    """A URL with its password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not an SQLAlchemy URL (redis://, memory://): mask by hand
        scheme, sep, rest = url.partition("://")
        userinfo, at, host = rest.rpartition("@")
        if sep and at and ":" in userinfo:
            return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"
        return url


def _first_line(exc: BaseException) -> str:
    text_ = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text_[0][:200]}" if text_ else type(exc).__name__


def check_settings(env: Mapping[str, str]) -> tuple[Check, Settings | None]:
    try:
        settings = load_settings(environ=env)
    except ConfigError as exc:
        return Check("settings", "FAIL", str(exc), f"set it in the environment file ({DEPLOYMENT_GUIDE})"), None
    if not settings.production:
        return (
            Check(
                "settings",
                "warn",
                f"CONSOLE_ENV={settings.env}: cookies are not Secure, a secret is generated per instance folder",
                "set CONSOLE_ENV=production and CONSOLE_SECRET_KEY on a server",
            ),
            settings,
        )
    if settings.database_url.startswith("sqlite") or settings.broker_is_embedded:
        return (
            Check(
                "settings",
                "warn",
                "production on SQLite or the embedded broker: one host only, one web process",
                "set CONSOLE_DATABASE_URL to PostgreSQL and CONSOLE_BROKER_URL to Redis",
            ),
            settings,
        )
    return Check("settings", "ok", "CONSOLE_ENV=production, secret key set"), settings


def check_database(settings: Settings) -> Check:
    from console.db import make_engine
    from console.migrate import current_revision

    url = masked(settings.database_url)
    try:
        engine = make_engine(settings.database_url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        current = current_revision(settings.database_url)
    except Exception as exc:
        reason = f"{url} unreachable ({_first_line(exc)})"
        return Check("database", "FAIL", reason, "start the database or correct CONSOLE_DATABASE_URL")
    head = _head_revision()
    if current != head:
        return Check(
            "database",
            "FAIL",
            f"{url} at revision {current or 'none (empty database)'}, code expects {head}",
            "run `console db upgrade`",
        )
    return Check("database", "ok", f"{url} at revision {current} (head)")


def _head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from console.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def check_broker(settings: Settings) -> Check:
    from console.dispatch import CeleryDispatcher

    url = masked(settings.broker_url)
    dispatcher = CeleryDispatcher(settings)
    try:
        up = dispatcher.ping()
    finally:
        dispatcher.client.close()
    if not up:
        return Check("broker", "FAIL", f"{url} unreachable", "start Redis or correct CONSOLE_BROKER_URL")
    return Check("broker", "ok", f"{url} answers")


def check_storage(settings: Settings) -> Check:
    """The review-pack storage's own start-up check (writable folder, reachable bucket)."""
    from console.review_packs.storage import check_storage as probe

    try:
        probe(settings)
    except Exception as exc:
        fix = (
            "correct CONSOLE_STORAGE_URL (CONSOLE_S3_ENDPOINT_URL, AWS_* credentials) or the store's permissions"
            if settings.storage_url
            else "chown the instance folder to the console's user, or set CONSOLE_INSTANCE_DIR or CONSOLE_STORAGE_URL"
        )
        return Check("storage", "FAIL", _first_line(exc), fix)
    where = settings.storage_url or f"{settings.instance_dir}/review_packs"
    return Check("storage", "ok", f"review-pack storage {where} writable")


def check_clock(settings: Settings, now: Callable[[], datetime] | None = None) -> Check:
    """Worker heartbeats are written with each worker's clock and judged with the reaper's: a
    worker whose clock runs ahead hides a dead run, one that runs behind gets live runs reaped."""
    from console.db import Database, utcnow
    from console.operations.models import OperationRun

    clock = now or utcnow
    db = Database(settings.database_url)
    try:
        with db.session() as s:
            newest = s.scalar(select(func.max(OperationRun.heartbeat_at)))
            db_now = None
            if db.engine.dialect.name == "postgresql":
                db_now = s.scalar(text("SELECT now()"))
    except Exception as exc:
        return Check("clock", "FAIL", f"cannot read heartbeats ({_first_line(exc)})", "see the database check")
    finally:
        db.dispose()
    here = clock()
    if db_now is not None:
        skew = (db_now - here).total_seconds()
        if abs(skew) > CLOCK_TOLERANCE_SECONDS:
            return Check(
                "clock",
                "FAIL",
                f"the database clock is {skew:+.1f} s from this host's",
                "run NTP (chrony or systemd-timesyncd) on every host",
            )
    if newest is None:
        return Check("clock", "ok", "no worker heartbeat recorded yet (nothing to compare)")
    ahead = (newest - here).total_seconds()
    if ahead > CLOCK_TOLERANCE_SECONDS:
        return Check(
            "clock",
            "FAIL",
            f"the newest worker heartbeat is {ahead:.1f} s in this host's future: a clock is wrong",
            "run NTP (chrony or systemd-timesyncd) on every host",
        )
    return Check("clock", "ok", f"newest worker heartbeat {max(-ahead, 0.0):.0f} s ago, not in the future")


def check_ratelimit(settings: Settings) -> Check:
    url = settings.ratelimit_storage_url
    if url.startswith("memory://"):
        if settings.production:
            return Check(
                "ratelimit",
                "warn",
                "memory:// counts sign-in attempts per process: N gunicorn workers give a guesser N times the budget",
                "set CONSOLE_RATELIMIT_STORAGE_URL=redis://127.0.0.1:6379/1",
            )
        return Check("ratelimit", "ok", "memory:// (per process; fine for one development process)")
    reason = ""
    try:
        from limits.storage import storage_from_string

        reachable = bool(storage_from_string(url).check())
    except Exception as exc:
        reachable, reason = False, f" ({_first_line(exc)})"
    if not reachable:
        return Check(
            "ratelimit",
            "FAIL",
            f"{masked(url)} unreachable{reason}",
            "start it or correct CONSOLE_RATELIMIT_STORAGE_URL (unset, it is the broker's Redis)",
        )
    return Check("ratelimit", "ok", f"{masked(url)} answers")


def run_checks(env: Mapping[str, str] | None = None) -> Iterator[Check]:
    """Every check in order; without valid settings only the settings check runs."""
    first, settings = check_settings(os.environ if env is None else env)
    yield first
    if settings is None:
        return
    database = check_database(settings)
    yield database
    yield check_broker(settings)
    yield check_storage(settings)
    if database.ok:
        yield check_clock(settings)
    else:
        yield Check("clock", "FAIL", "skipped: the database is not usable", "see the database check")
    yield check_ratelimit(settings)
