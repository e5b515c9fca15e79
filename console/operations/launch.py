"""Starting an operation: the one use case behind every button and `console runs start`.

Access is checked here (NotFound / Forbidden), options are validated (BadRequest), the run
is enqueued with dedupe, and the task is sent through the dispatcher. A broker that does not
take the message leaves no run queued forever: the run is completed as failed with reason
``dispatch_failed`` (and its review pack marked failed), then DispatchError is re-raised."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.access import Principal, require_operation
from console.backups.models import BackupSet
from console.errors import BadRequest
from console.operations.service import enqueue_run, fail_run

log = logging.getLogger(__name__)

#: The Celery task that performs each operation type (tasks/ implements these names).
TASK_NAMES = {
    "inventory_sync": "tasks.inventory.run_inventory_sync",
    "review_pack_generate": "tasks.review_packs.generate_review_pack",
    "evidence_snapshot_generate": "tasks.evidence.generate_evidence_snapshot",
    "backup_set_add_policies": "tasks.backups.add_policies_to_backup_set",
    "backup_set_restore": "tasks.backups.restore_backup_set",
    "baseline_capture": "tasks.baselines.capture_baseline",
    "baseline_compare": "tasks.baselines.compare_baseline",
}
DISPATCH_FAILED = "dispatch_failed: the task queue did not accept the job; nothing was started"


@dataclass(frozen=True)
class Launch:
    run_id: int
    created: bool
    pack_id: int | None = None


def _bool(name: str, value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
        return False
    raise BadRequest(f"option {name} must be true or false")


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"option {name} must be a positive whole number")
    if isinstance(value, int) and value > 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and 0 < int(value) < 2**63:
        return int(value)
    raise BadRequest(f"option {name} must be a positive whole number")


def validate_options(
    *, session: Session, tenant_id: int, operation_type: str, options: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The options an operation accepts, typed; unknown keys or bad values are BadRequest."""
    options = dict(options or {})
    allowed: dict[str, tuple[str, ...]] = {
        "review_pack_generate": ("include_operations", "include_pii"),
        "backup_set_add_policies": ("backup_set_id", "policy_ids"),
        "backup_set_restore": ("backup_set_id",),
    }
    unknown = sorted(set(options) - set(allowed.get(operation_type, ())))
    if unknown:
        raise BadRequest(f"unknown option(s) for {operation_type}: {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    if operation_type == "review_pack_generate":
        clean["include_operations"] = _bool("include_operations", options.get("include_operations"), True)
        clean["include_pii"] = _bool("include_pii", options.get("include_pii"), False)
    if options.get("backup_set_id") is not None:
        set_id = _positive_int("backup_set_id", options["backup_set_id"])
        owner = session.scalar(select(BackupSet.tenant_id).where(BackupSet.id == set_id))
        if owner != tenant_id:
            raise BadRequest(f"backup set {set_id} does not exist for this tenant")
        clean["backup_set_id"] = set_id
    if options.get("policy_ids") is not None:
        raw = options["policy_ids"]
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, (list, tuple)) or not items:
            raise BadRequest("option policy_ids must be a comma-separated list of ids")
        clean["policy_ids"] = sorted({_positive_int("policy_ids", str(i).strip()) for i in items})
    return clean


def start_operation(
    *,
    session: Session,
    principal: Principal,
    tenant_id: object,
    operation_type: str,
    options: Mapping[str, Any] | None,
    dispatcher: Any,
) -> Launch:
    """Check access, enqueue (deduplicated) and dispatch; returns the run to show."""
    from console.dispatch import DispatchError  # the protocol's error; no Celery import here

    tenant = require_operation(session=session, principal=principal, tenant_id=tenant_id, operation_type=operation_type)
    clean = validate_options(session=session, tenant_id=tenant.id, operation_type=operation_type, options=options)
    run, created = enqueue_run(
        session=session,
        type=operation_type,
        workspace_id=tenant.workspace_id,
        tenant_id=tenant.id,
        initiator_user_id=principal.user_id,
        context={"options": clean},
    )
    pack_id = None
    if operation_type == "review_pack_generate":
        from console.review_packs.service import ensure_pack_for_run

        pack_id = ensure_pack_for_run(
            session=session, run_id=run.id, tenant_id=tenant.id, options=run.context.get("options", clean)
        ).id
    if created:
        try:
            dispatcher.send(TASK_NAMES[operation_type], run.id)
        except DispatchError:
            fail_run(session=session, run_id=run.id, reason=DISPATCH_FAILED)
            if pack_id is not None:
                from console.review_packs.models import ReviewPack

                pack = session.get(ReviewPack, pack_id)
                if pack is not None and pack.status == "queued":
                    pack.status, pack.error = (
                        "failed",
                        "The task queue was unreachable; nothing was generated. Try again.",
                    )
                    session.commit()
            raise
    log.info(
        "event=operation_started run_id=%s type=%s tenant_id=%s created=%s", run.id, operation_type, tenant.id, created
    )
    return Launch(run_id=run.id, created=created, pack_id=pack_id)
