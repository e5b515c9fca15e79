"""operation_runs: an index in the operations list's default order (newest first)

The list (console/components/operations_table.py) orders by
``created_at DESC NULLS LAST, id DESC`` within the user's workspace. Without an index in
exactly that order PostgreSQL reads every visible run and sorts them for each page (a
parallel seq scan + top-N sort over 100,000 runs: ~40-60 ms); with it the first page is
read straight from the index (< 1 ms). See docs/performance.md.

SQLite cannot put NULLS LAST in an index; there DESC already sorts NULLs last.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NAME = "ix_operation_runs_workspace_created_id"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY: workers keep writing operation_runs while the index builds.
        with op.get_context().autocommit_block():
            op.create_index(
                NAME,
                "operation_runs",
                ["workspace_id", sa.text("created_at DESC NULLS LAST"), sa.text("id DESC")],
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        op.create_index(NAME, "operation_runs", ["workspace_id", sa.text("created_at DESC"), sa.text("id DESC")])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name="operation_runs", postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index(NAME, table_name="operation_runs")
