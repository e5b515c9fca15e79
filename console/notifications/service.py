"""Persisted notifications: written when a run a user started reaches a terminal state."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from console.accounts.models import Tenant
from console.db import UTCDateTime, utcnow
from console.notifications.models import Notification
from console.operations.constants import CANCELLED, FAILED, PARTIALLY_SUCCEEDED, SUCCEEDED
from console.operations.models import OperationRun
from console.operations.registry import type_label
from console.operations.summary import normalize_counts
from console.review_packs.models import ReviewPack

PACK_READY = "ready"

RUN_COMPLETED = "run_completed"
RUN_FAILED = "run_failed"

_VERBS = {
    SUCCEEDED: "succeeded",
    PARTIALLY_SUCCEEDED: "partially succeeded",
    FAILED: "failed",
    CANCELLED: "cancelled",
}


def _body(run: OperationRun) -> str | None:
    counts = normalize_counts(run.summary_counts)
    parts: list[str] = []
    if counts.get("total") and "processed" in counts:
        parts.append(f"{counts['processed']} of {counts['total']} processed.")
    if counts.get("failed"):
        parts.append(f"{counts['failed']} failed.")
    if run.failure_summary:
        parts.append(run.failure_summary)
    return " ".join(parts) or None


def notify_run_terminal(*, session: Session, run: OperationRun) -> Notification | None:
    """Add the initiator's notification for a completed run (no initiator: none); the caller commits."""
    if run.initiator_user_id is None:
        return None
    outcome = run.outcome or FAILED
    verb = _VERBS.get(outcome, "finished")
    notification = Notification(
        user_id=run.initiator_user_id,
        workspace_id=run.workspace_id,
        run_id=run.id,
        kind=RUN_FAILED if outcome == FAILED else RUN_COMPLETED,
        title=f"{type_label(run.type)} {verb}"[:255],
        body=_body(run),
    )
    session.add(notification)
    return notification


# --------------------------------------------------------------------------- reads


@dataclass(frozen=True)
class NotificationRow:
    """One notification as plain values (what the bell's list and the terminal toasts show)."""

    id: int
    kind: str
    title: str
    body: str | None
    run_id: int | None
    created_at: datetime
    read_at: datetime | None
    #: The run's tenant (None: a workspace-level run), read with the row: a notification names it.
    tenant_name: str | None = None
    #: The run's review pack when it is ready now (an expired or failed pack gets no link).
    ready_pack_id: int | None = None


# Correlated subqueries, so the list (and the shell's toasts) stay one statement each.
_TENANT_NAME = (
    select(Tenant.name)
    .join(OperationRun, OperationRun.tenant_id == Tenant.id)
    .where(OperationRun.id == Notification.run_id)
    .correlate(Notification)
    .scalar_subquery()
)
#: The current time, bound at each execution (the statements are built once).
_NOW = bindparam("pack_now", callable_=utcnow, type_=UTCDateTime())
_READY_PACK = (
    select(ReviewPack.id)
    .where(
        ReviewPack.operation_run_id == Notification.run_id,
        ReviewPack.status == PACK_READY,
        # Ready but past expires_at (the expiry pass runs every minute): no link, as on the card.
        ReviewPack.expires_at.is_(None)
        | (ReviewPack.expires_at > bindparam("pack_now", callable_=utcnow, type_=UTCDateTime())),
    )
    .correlate(Notification)
    .order_by(ReviewPack.id.desc())
    .limit(1)
    .scalar_subquery()
)
_ROW_COLUMNS = (
    Notification.id,
    Notification.kind,
    Notification.title,
    Notification.body,
    Notification.run_id,
    Notification.created_at,
    Notification.read_at,
    _TENANT_NAME.label("tenant_name"),
    _READY_PACK.label("ready_pack_id"),
)


def list_notifications(*, session: Session, user_id: int, limit: int = 20) -> list[NotificationRow]:
    """The user's newest notifications first."""
    stmt = (
        select(*_ROW_COLUMNS)
        .where(Notification.user_id == user_id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(max(0, limit))
    )
    return [NotificationRow(*row) for row in session.execute(stmt)]


def notifications_after(*, session: Session, user_id: int, after_id: int, limit: int) -> list[NotificationRow]:
    """The user's notifications newer than ``after_id``, oldest first (the newest ``limit`` of them)."""
    rows = session.execute(
        select(*_ROW_COLUMNS)
        .where(Notification.user_id == user_id, Notification.id > after_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()
    return [NotificationRow(*row) for row in reversed(rows)]


def notification_marks(*, session: Session, user_id: int) -> tuple[int, int]:
    """(unread count, newest notification id or 0) in one statement."""
    unread = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .scalar_subquery()
    )
    newest = (
        select(func.coalesce(func.max(Notification.id), 0)).where(Notification.user_id == user_id).scalar_subquery()
    )
    count, top = session.execute(select(unread, newest)).one()
    return int(count or 0), int(top or 0)


def unread_count(*, session: Session, user_id: int) -> int:
    """How many of the user's notifications are unread."""
    stmt = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
    )
    return int(session.scalar(stmt) or 0)


# --------------------------------------------------------------------------- marking read


def mark_read(*, session: Session, user_id: int, notification_ids: Collection[int] | None) -> int:
    """Mark the user's own notifications read (None = all of them); returns how many changed."""
    stmt = (
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if notification_ids is not None:
        ids = [int(i) for i in notification_ids]
        if not ids:
            session.commit()
            return 0
        stmt = stmt.where(Notification.id.in_(ids))
    changed = session.execute(stmt).rowcount
    session.commit()
    return int(changed or 0)
