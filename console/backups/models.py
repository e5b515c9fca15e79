from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from console.db import Base, JSONType, UTCDateTime, utcnow


class BackupSet(Base):
    __tablename__ = "backup_sets"
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BackupSetItem(Base):
    __tablename__ = "backup_set_items"
    __table_args__ = (UniqueConstraint("backup_set_id", "policy_external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    backup_set_id: Mapped[int] = mapped_column(ForeignKey("backup_sets.id", ondelete="CASCADE"))
    policy_external_id: Mapped[str] = mapped_column(String(128))
    policy_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
