"""Read models of review packs for the UI: the card's latest pack, the overview's latest status
per tenant, the dashboard's packs about to expire — plain frozen dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.review_packs.models import ReviewPack


@dataclass(frozen=True)
class PackRow:
    """One pack as the review pack card shows it."""

    id: int
    tenant_id: int
    operation_run_id: int | None
    status: str
    created_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None
    size: int | None
    error: str | None


@dataclass(frozen=True)
class PackBrief:
    id: int
    expires_at: datetime


def latest_pack(*, session: Session, tenant_id: int) -> PackRow | None:
    """The tenant's newest pack (what the card shows), or None (one statement)."""
    row = session.execute(
        select(
            ReviewPack.id,
            ReviewPack.tenant_id,
            ReviewPack.operation_run_id,
            ReviewPack.status,
            ReviewPack.created_at,
            ReviewPack.ready_at,
            ReviewPack.expires_at,
            ReviewPack.size,
            ReviewPack.error,
        )
        .where(ReviewPack.tenant_id == tenant_id)
        .order_by(ReviewPack.id.desc())
        .limit(1)
    ).first()
    return PackRow(*row) if row is not None else None


def latest_pack_statuses(*, session: Session, tenant_ids: Sequence[int]) -> dict[int, str]:
    """Tenant id -> its newest pack's status (tenants without packs are absent; one statement)."""
    if not tenant_ids:
        return {}
    latest = (
        select(ReviewPack.tenant_id, func.max(ReviewPack.id).label("pid"))
        .where(ReviewPack.tenant_id.in_(list(tenant_ids)))
        .group_by(ReviewPack.tenant_id)
        .subquery()
    )
    return {
        tid: status
        for tid, status in session.execute(
            select(ReviewPack.tenant_id, ReviewPack.status).join(latest, ReviewPack.id == latest.c.pid)
        )
    }


def expiring_packs(
    *, session: Session, tenant_id: int, now: datetime, window: timedelta, limit: int
) -> list[PackBrief]:
    """The tenant's ready packs that expire within ``window`` from ``now``, soonest first."""
    return [
        PackBrief(pack_id, expires_at)
        for pack_id, expires_at in session.execute(
            select(ReviewPack.id, ReviewPack.expires_at)
            .where(
                ReviewPack.tenant_id == tenant_id,
                ReviewPack.status == "ready",
                ReviewPack.expires_at > now,
                ReviewPack.expires_at <= now + window,
            )
            .order_by(ReviewPack.expires_at)
            .limit(limit)
        )
    ]
