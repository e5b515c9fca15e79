"""Append-only audit trail; helpers add rows, the calling use case commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from console.audit.models import AuditEvent


def record_audit(
    *,
    session: Session,
    action: str,
    target_type: str,
    target_id: int | None,
    workspace_id: int | None = None,
    tenant_id: int | None = None,
    user_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add one audit event to the session (the caller's use case commits it)."""
    session.add(
        AuditEvent(
            action=action,
            target_type=target_type,
            target_id=target_id,
            workspace_id=workspace_id,
            tenant_id=tenant_id,
            user_id=user_id,
            details=dict(details or {}),
        )
    )
