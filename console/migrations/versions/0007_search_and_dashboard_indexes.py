"""operation_runs: indexes for the operations list's free-text search and the tenant dashboard at scale

The search (``console.operations.search.search_clause``) is an ``OR`` of the failure text
(``lower(failure_summary) LIKE '%…%'``), the initiator (``initiator_user_id = ANY(<users whose
name matches>)``), the type (``type IN <labels that match>``) and a run id. Without an index for
each arm PostgreSQL reads every visible run whenever fewer than a page of runs match (1.4 s at
1,000,000 runs). With them the ``OR`` becomes a BitmapOr of index scans. See docs/performance.md.

* ``ix_operation_runs_initiator`` (both backends): also spares a scan of every run when a user is
  deleted (the foreign key is ``ON DELETE SET NULL``).
* ``ix_operation_runs_failure_trgm`` (PostgreSQL only): a GIN trigram index on
  ``lower(failure_summary)``. It needs the ``pg_trgm`` extension. ``CREATE EXTENSION pg_trgm``
  needs the database's CREATE privilege (pg_trgm is a trusted extension since PostgreSQL 13)
  or a superuser. When the extension is neither installed nor creatable by this user, the
  migration logs one line and skips the index: the console works the same, its search is just a
  scan. Installing the extension later does not re-run this migration: docs/deployment.md gives
  the two statements to run by hand (``console.migrate.TRIGRAM_DDL``).

The tenant dashboard's runs-per-day chart and KPIs count a tenant's runs of the last 30 days by
day, status and outcome (``queries.runs_per_day``: ~17,000 rows at 50,000 runs per tenant).
Through ``(tenant_id, created_at)`` PostgreSQL read each of those rows from the table (a bitmap
heap scan over ~7,700 pages, 40-60 ms under load); ``ix_operation_runs_tenant_created_status``
``(tenant_id, created_at, status, outcome)`` holds every column the count needs, so it is an
index-only scan (~11 ms). It replaces ``ix_operation_runs_tenant_created``: same leading columns,
so every query that used that one uses this one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:30:00
"""

import logging

import sqlalchemy as sa
from alembic import op

from console.migrate import TRIGRAM_DDL
from console.migrate import TRIGRAM_INDEX as TRIGRAM

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("console.migrations")

INITIATOR = "ix_operation_runs_initiator"
COVERING = "ix_operation_runs_tenant_created_status"
COVERING_COLUMNS = ["tenant_id", "created_at", "status", "outcome"]
REPLACED = "ix_operation_runs_tenant_created"


def trigram_available(conn: sa.Connection) -> tuple[bool, str]:
    """Can this database user have pg_trgm: (yes/no, why not)."""
    row = conn.execute(
        sa.text(
            "SELECT e.extname IS NOT NULL AS installed, v.name IS NOT NULL AS available, "
            "COALESCE(v.trusted, false) AS trusted, "
            "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser, "
            "has_database_privilege(current_database(), 'CREATE') AS may_create "
            "FROM (SELECT 1) one "
            "LEFT JOIN pg_extension e ON e.extname = 'pg_trgm' "
            "LEFT JOIN pg_available_extension_versions v "
            "  ON v.name = 'pg_trgm' AND v.version = ("
            "    SELECT default_version FROM pg_available_extensions WHERE name = 'pg_trgm')"
        )
    ).one()
    if row.installed:
        return True, ""
    if not row.available:
        return False, "the pg_trgm extension is not installed on this PostgreSQL server (package postgresql-contrib)"
    if row.superuser or (row.trusted and row.may_create):
        return True, ""
    return False, "this database user may not CREATE EXTENSION pg_trgm (needs CREATE on the database or a superuser)"


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        op.create_index(INITIATOR, "operation_runs", ["initiator_user_id"])
        op.create_index(COVERING, "operation_runs", COVERING_COLUMNS)
        op.drop_index(REPLACED, table_name="operation_runs")
        return
    ok, why = trigram_available(conn)
    # CONCURRENTLY: workers keep writing operation_runs while the indexes build.
    with op.get_context().autocommit_block():
        op.create_index(
            INITIATOR, "operation_runs", ["initiator_user_id"], postgresql_concurrently=True, if_not_exists=True
        )
        op.create_index(COVERING, "operation_runs", COVERING_COLUMNS, postgresql_concurrently=True, if_not_exists=True)
        op.drop_index(REPLACED, table_name="operation_runs", postgresql_concurrently=True, if_exists=True)
        if ok:
            op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            op.execute(TRIGRAM_DDL)
            # The planner's statistics of lower(failure_summary) come with the index, at the next
            # ANALYZE; until then it guesses how many runs a term matches (wrongly by 600x at
            # 1,000,000 runs: a sort of 60,000 rows for one page). A sample: seconds, not a scan.
            op.execute("ANALYZE operation_runs")
    if not ok:
        log.warning(
            "migration=0007 index=%s state=skipped reason=%r: free-text search of the operations list "
            "works but scans every run; see docs/deployment.md (pg_trgm)",
            TRIGRAM,
            why,
        )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        op.create_index(REPLACED, "operation_runs", ["tenant_id", "created_at"])
        op.drop_index(COVERING, table_name="operation_runs")
        op.drop_index(INITIATOR, table_name="operation_runs")
        return
    # The extension stays: other schemas or an operator may use it.
    with op.get_context().autocommit_block():
        op.create_index(
            REPLACED, "operation_runs", ["tenant_id", "created_at"], postgresql_concurrently=True, if_not_exists=True
        )
        op.drop_index(COVERING, table_name="operation_runs", postgresql_concurrently=True, if_exists=True)
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {TRIGRAM}")
        op.drop_index(INITIATOR, table_name="operation_runs", postgresql_concurrently=True, if_exists=True)
