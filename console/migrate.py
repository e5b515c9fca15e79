"""Alembic, driven from code (``console db upgrade``): no alembic.ini to find."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from console.db import make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["database_url"] = database_url
    return cfg


@dataclass(frozen=True)
class UpgradeReport:
    """What ``upgrade_with_report`` did: the revisions applied (oldest first) and where it ended."""

    applied: tuple[str, ...]
    #: The revision id the database is at afterwards (e.g. "0003").
    current: str | None

    def message(self) -> str:
        """One line for operators: what was applied, or that nothing needed to be."""
        if not self.applied:
            return f"database is up to date at {self.current}"
        return f"applied {', '.join(self.applied)}, now at {self.current}"


def current_revision(database_url: str) -> str | None:
    """The revision the database is at (None: an empty database, never migrated)."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(database_url), revision)


def upgrade_with_report(database_url: str, revision: str = "head") -> UpgradeReport:
    """``upgrade`` that says which revisions it applied (their file names, e.g. 0002_user_session_version)."""
    cfg = alembic_config(database_url)
    script = ScriptDirectory.from_config(cfg)
    before = current_revision(database_url)
    command.upgrade(cfg, revision)
    after = current_revision(database_url)
    applied: list[str] = []
    if after is not None and after != before:
        # iterate_revisions walks from ``after`` down to (not including) ``before``: newest first.
        for rev in script.iterate_revisions(after, before):
            applied.append(Path(rev.path).stem if rev.path else rev.revision)
        applied.reverse()
    return UpgradeReport(applied=tuple(applied), current=after)


#: Migration 0007's trigram index on the runs' failure text (PostgreSQL with pg_trgm only), and
#: the statement that makes it — also what an operator runs after installing pg_trgm late
#: (docs/deployment.md) and what bench/dashboard_render.py re-creates after its baseline.
TRIGRAM_INDEX: Final = "ix_operation_runs_failure_trgm"
TRIGRAM_DDL: Final = (
    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {TRIGRAM_INDEX} "
    "ON operation_runs USING gin (lower(failure_summary) gin_trgm_ops)"
)

#: Indexes a migration creates only where the database allows it (0007's trigram index needs
#: PostgreSQL and the pg_trgm extension), so the models do not declare them: a schema comparison
#: (autogenerate) must not call them drift.
OPTIONAL_INDEXES: frozenset[str] = frozenset({TRIGRAM_INDEX})


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's ``include_object`` hook: leave the optional indexes out of schema comparisons."""
    return not (type_ == "index" and reflected and name in OPTIONAL_INDEXES)
