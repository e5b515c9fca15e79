"""The run object: one JSON shape of a run for every machine surface — ``console runs show
--json`` prints it, ``runs list --json`` an array of it, and the HTTP API answers it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.access import Principal
from console.operations.models import OperationRun
from console.operations.progress import progress_for_run
from console.operations.queries import visible_run_row
from console.operations.registry import REVIEW_PACK_GENERATE
from console.operations.summary import normalize_counts
from console.review_packs.models import ReviewPack


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _pack_fields(pack_id: int, status: str) -> dict[str, Any]:
    url = f"/review-packs/{pack_id}/download" if status == "ready" else None
    return {"id": pack_id, "status": status, "download_url": url}


def pack_view(pack: ReviewPack | None) -> dict[str, Any] | None:
    """A review pack as a run object carries it: the download path only once the pack is ready."""
    return None if pack is None else _pack_fields(pack.id, pack.status)


def packs_by_run(session: Session, runs: list[OperationRun]) -> dict[int, ReviewPack]:
    """The review pack of each review_pack_generate run among ``runs`` (one query for a whole list)."""
    ids = [run.id for run in runs if run.type == REVIEW_PACK_GENERATE]
    if not ids:
        return {}
    rows = session.scalars(select(ReviewPack).where(ReviewPack.operation_run_id.in_(ids)).order_by(ReviewPack.id))
    return {pack.operation_run_id: pack for pack in rows if pack.operation_run_id is not None}


def _view(run: Any, review_pack: dict[str, Any] | None) -> dict[str, Any]:
    progress = progress_for_run(run)
    view: dict[str, Any] = {
        "id": run.id,
        "type": run.type,
        "status": run.status,
        "outcome": run.outcome,
        "workspace_id": run.workspace_id,
        "tenant_id": run.tenant_id,
        "summary_counts": normalize_counts(run.summary_counts),
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
        view["review_pack"] = review_pack
    return view


def run_view(run: OperationRun, packs: dict[int, ReviewPack] | None = None) -> dict[str, Any]:
    """The object ``runs show --json`` prints (and ``runs list --json`` an array of). ``packs``:
    ``packs_by_run`` for these runs; a review_pack_generate run gets ``review_pack`` (null when
    its pack row is gone)."""
    return _view(run, pack_view((packs or {}).get(run.id)))


def visible_run_view(*, session: Session, principal: Principal, run_id: object) -> dict[str, Any]:
    """``run_view`` of one run the principal may see (NotFound otherwise) in ONE statement: the
    run with its tenant and review pack as columns (queries.visible_run_row) — the API's poll."""
    row = visible_run_row(session=session, principal=principal, run_id=run_id)
    return _view(row, _pack_fields(row.pack_id, row.pack_status) if row.pack_id is not None else None)


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
