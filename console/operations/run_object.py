"""The run object: one JSON shape of a run for every machine surface — ``console runs show
--json`` prints it, ``runs list --json`` an array of it, and the HTTP API answers it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.operations.models import OperationRun
from console.operations.progress import progress_for_run
from console.operations.registry import REVIEW_PACK_GENERATE
from console.operations.service import counts_of
from console.review_packs.models import ReviewPack


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def pack_view(pack: ReviewPack | None) -> dict[str, Any] | None:
    """A review pack as a run object carries it: the download path only once the pack is ready."""
    if pack is None:
        return None
    url = f"/review-packs/{pack.id}/download" if pack.status == "ready" else None
    return {"id": pack.id, "status": pack.status, "download_url": url}


def packs_by_run(session: Session, runs: list[OperationRun]) -> dict[int, ReviewPack]:
    """The review pack of each review_pack_generate run among ``runs`` (one query for a whole list)."""
    ids = [run.id for run in runs if run.type == REVIEW_PACK_GENERATE]
    if not ids:
        return {}
    rows = session.scalars(select(ReviewPack).where(ReviewPack.operation_run_id.in_(ids)).order_by(ReviewPack.id))
    return {pack.operation_run_id: pack for pack in rows if pack.operation_run_id is not None}


def run_view(run: OperationRun, packs: dict[int, ReviewPack] | None = None) -> dict[str, Any]:
    """The object ``runs show --json`` prints (and ``runs list --json`` an array of). ``packs``:
    ``packs_by_run`` for these runs; a review_pack_generate run gets ``review_pack`` (null when
    its pack row is gone)."""
    progress = progress_for_run(run)
    view: dict[str, Any] = {
        "id": run.id,
        "type": run.type,
        "status": run.status,
        "outcome": run.outcome,
        "workspace_id": run.workspace_id,
        "tenant_id": run.tenant_id,
        "summary_counts": counts_of(run),
        "progress": {
            "mode": progress.mode,
            "processed": progress.processed,
            "total": progress.total,
            "percent": progress.percent if progress.mode == "counted" else None,
        },
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "heartbeat_at": _iso(run.heartbeat_at),
        "completed_at": _iso(run.completed_at),
    }
    if run.type == REVIEW_PACK_GENERATE:
        view["review_pack"] = pack_view((packs or {}).get(run.id))
    return view


def pack_object(pack: ReviewPack) -> dict[str, Any]:
    """A review pack as the API answers it (never its storage path or error text)."""
    return {
        "id": pack.id,
        "tenant_id": pack.tenant_id,
        "operation_run_id": pack.operation_run_id,
        "status": pack.status,
        "size": pack.size,
        "sha256": pack.sha256,
        "ready_at": _iso(pack.ready_at),
        "expires_at": _iso(pack.expires_at),
    }
