"""audit_events: an index on (target_type, target_id, id) for a run's timeline

The run viewer's timeline (console.operations.queries.run_timeline) reads one run's audit events
on each changed poll; without an index that is a scan of every audit event ever written.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 22:10:00
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NAME = "ix_audit_events_target"
COLUMNS = ["target_type", "target_id", "id"]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY: every state change writes audit_events while the index builds.
        with op.get_context().autocommit_block():
            op.create_index(NAME, "audit_events", COLUMNS, postgresql_concurrently=True, if_not_exists=True)
    else:
        op.create_index(NAME, "audit_events", COLUMNS)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.drop_index(NAME, table_name="audit_events", postgresql_concurrently=True, if_exists=True)
    else:
        op.drop_index(NAME, table_name="audit_events")
