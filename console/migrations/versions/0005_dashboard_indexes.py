"""operation_runs: indexes for the tenant dashboard at scale (finished runs by tenant)

The tenant dashboard reads a tenant's finished runs by ``completed_at`` (durations chart, recent
failures) and the last successful run of a type (``Last inventory sync``). With only
``(tenant_id, created_at)`` PostgreSQL scanned the whole table for those (16,000 of 100,000
rows read and sorted; 1.4 s of reads per page at 1,000,000 runs). See docs/performance.md.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 22:45:00
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_operation_runs_tenant_completed": ["tenant_id", "completed_at"],
    "ix_operation_runs_tenant_type_completed": ["tenant_id", "type", "completed_at"],
}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, columns in INDEXES.items():
        if postgres:
            # CONCURRENTLY: workers keep writing operation_runs while the index builds.
            with op.get_context().autocommit_block():
                op.create_index(name, "operation_runs", columns, postgresql_concurrently=True, if_not_exists=True)
        else:
            op.create_index(name, "operation_runs", columns)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in INDEXES:
        if postgres:
            with op.get_context().autocommit_block():
                op.drop_index(name, table_name="operation_runs", postgresql_concurrently=True, if_exists=True)
        else:
            op.drop_index(name, table_name="operation_runs")
