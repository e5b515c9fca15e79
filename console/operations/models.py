"""OperationRun and its exactly-once unit ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.schema import CreateIndex

from console.db import Base, JSONType, UTCDateTime, utcnow


class OperationRun(Base):
    __tablename__ = "operation_runs"
    __table_args__ = (
        Index("ix_operation_runs_scope_active", "workspace_id", "tenant_id", "type", "status"),
        Index("ix_operation_runs_workspace_created", "workspace_id", "created_at"),
        # A tenant's runs by creation time; status and outcome too, so that the dashboard's runs per
        # day (and its KPIs) are counted from the index alone (migration 0007).
        Index("ix_operation_runs_tenant_created_status", "tenant_id", "created_at", "status", "outcome"),
        Index("ix_operation_runs_status", "status"),
        # The tenant dashboard's finished runs (migration 0005).
        Index("ix_operation_runs_tenant_completed", "tenant_id", "completed_at"),
        Index("ix_operation_runs_tenant_type_completed", "tenant_id", "type", "completed_at"),
        # The list's search by initiator (migration 0007; its trigram index on the failure text is
        # PostgreSQL-only and optional, so it is not declared here: console.migrate.OPTIONAL_INDEXES).
        Index("ix_operation_runs_initiator", "initiator_user_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    parent_run_id: Mapped[int | None] = mapped_column(ForeignKey("operation_runs.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    # Plain strings, no CHECK constraint: a rolling deploy may meet a status it does not know.
    status: Mapped[str] = mapped_column(String(32), default="queued")
    outcome: Mapped[str | None] = mapped_column(String(32))
    summary_counts: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    failure_summary: Mapped[str | None] = mapped_column(Text)
    initiator_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# The operations list's default order (newest first, within the user's workspace): with an index
# in exactly that order PostgreSQL reads the first page from the index instead of sorting every
# visible run (migration 0003, docs/performance.md). Declared here rather than in __table_args__
# because the sort directions need the column objects.
Index(
    "ix_operation_runs_workspace_created_id",
    OperationRun.workspace_id,
    OperationRun.created_at.desc().nulls_last(),
    OperationRun.id.desc(),
)


@compiles(CreateIndex, "sqlite")
def _sqlite_create_index(create: CreateIndex, compiler, **kw) -> str:
    """SQLite refuses NULLS FIRST/LAST in an index (its DESC already sorts NULLs last)."""
    return compiler.visit_create_index(create, **kw).replace(" NULLS LAST", "").replace(" NULLS FIRST", "")


class OperationRunUnit(Base):
    __tablename__ = "operation_run_units"
    __table_args__ = (UniqueConstraint("run_id", "unit_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("operation_runs.id", ondelete="CASCADE"))
    unit_key: Mapped[str] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
