"""Evidence snapshots: a point-in-time record of the tenant's active policies, one item per policy.

Units: the payload item set of the snapshot, one per active (not archived) provider policy,
unit key ``item:<policy_type>:<external_id>`` (= the item's ``item_key``). ``total`` is the
size of that set, written once after the set is planned; ``processed`` +1 as each item is
created. A policy the provider no longer finds is ``skipped``; a provider failure is ``failed``
(no item is stored for either). Zero policies: an empty snapshot, completed as succeeded."""

from __future__ import annotations

import hashlib
import json
import logging
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.db import utcnow
from console.errors import BadRequest
from console.evidence.models import EvidenceSnapshot, EvidenceSnapshotItem
from console.inventory.service import policy_names
from console.operations.models import OperationRun
from console.operations.runner import finish_counted_run, lock_run, recorded_units, retry_filter, run_unit
from console.operations.service import mark_running, set_total
from console.providers.base import PolicyRecord, Provider

log = logging.getLogger(__name__)

COLLECTING, COMPLETE, PARTIAL, FAILED = "collecting", "complete", "partial", "failed"


def item_key(policy: PolicyRecord) -> str:
    return f"item:{policy.policy_type}:{policy.external_id}"


def _evidence(policy: PolicyRecord) -> dict[str, object]:
    """What the snapshot records for one policy: its settings, a digest and simple posture checks."""
    settings = dict(policy.settings)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
    return {
        "external_id": policy.external_id,
        "name": policy.name,
        "policy_type": policy.policy_type,
        "settings": settings,
        "settings_sha256": digest,
        "checks": {
            "enabled": bool(settings.get("enabled", False)),
            "assigned": int(settings.get("assignments", 0) or 0) > 0,
        },
        "collected_at": utcnow().isoformat(),
    }


def _snapshot_for_run(*, session: Session, run: OperationRun) -> EvidenceSnapshot:
    """The run's snapshot, created once even when the task is delivered twice."""
    lock_run(session=session, run_id=run.id)
    snapshot = session.scalar(select(EvidenceSnapshot).where(EvidenceSnapshot.operation_run_id == run.id))
    if snapshot is None:
        assert run.tenant_id is not None
        snapshot = EvidenceSnapshot(
            tenant_id=run.tenant_id, operation_run_id=run.id, status=COLLECTING, created_at=utcnow()
        )
        session.add(snapshot)
    session.commit()
    return snapshot


def _store_item(session: Session, snapshot_id: int, key: str, policy: PolicyRecord) -> None:
    """Add the snapshot's item for one policy, unless an earlier delivery stored it before dying."""
    stored = session.scalar(
        select(EvidenceSnapshotItem.id).where(
            EvidenceSnapshotItem.snapshot_id == snapshot_id, EvidenceSnapshotItem.item_key == key
        )
    )
    if stored is None:
        session.add(EvidenceSnapshotItem(snapshot_id=snapshot_id, item_key=key, payload=_evidence(policy)))


def generate_evidence_snapshot(*, session: Session, run_id: int, provider: Provider) -> OperationRun:
    """Collect one evidence item per active policy into a new snapshot."""
    run = mark_running(session=session, run_id=run_id)
    if run.tenant_id is None:
        raise BadRequest("an evidence snapshot needs a tenant")
    tenant_id = run.tenant_id
    snapshot = _snapshot_for_run(session=session, run=run)
    snapshot_id = snapshot.id
    planned = retry_filter(
        session=session,
        run_id=run_id,
        planned=[p for p in provider.list_policies(tenant_id=tenant_id) if not p.is_archived],
        key=item_key,
    )
    set_total(session=session, run_id=run_id, total=len(planned))
    done = recorded_units(session=session, run_id=run_id)
    for listed in planned:
        key = item_key(listed)
        if key not in done:
            run_unit(
                session=session,
                run_id=run_id,
                key=key,
                provider=provider,
                fetch=partial(provider.get_policy, tenant_id=tenant_id, external_id=listed.external_id),
                store=partial(_store_item, session, snapshot_id, key),
            )

    items = len(
        set(
            session.scalars(
                select(EvidenceSnapshotItem.item_key).where(EvidenceSnapshotItem.snapshot_id == snapshot_id)
            )
        )
    )

    def stage(outcome: str) -> None:
        snapshot = session.get(EvidenceSnapshot, snapshot_id)
        assert snapshot is not None
        snapshot.status = {"succeeded": COMPLETE, "partially_succeeded": PARTIAL}.get(outcome, FAILED)

    return finish_counted_run(session=session, run_id=run_id, summary={"items": items, "created": items}, stage=stage)


def latest_snapshot(*, session: Session, tenant_id: int) -> EvidenceSnapshot | None:
    """The tenant's newest completed (or partial) snapshot, for review packs and pages."""
    return session.scalar(
        select(EvidenceSnapshot)
        .where(EvidenceSnapshot.tenant_id == tenant_id, EvidenceSnapshot.status.in_((COMPLETE, PARTIAL)))
        .order_by(EvidenceSnapshot.created_at.desc(), EvidenceSnapshot.id.desc())
        .limit(1)
    )


def snapshot_items(*, session: Session, snapshot_id: int) -> list[EvidenceSnapshotItem]:
    return list(
        session.scalars(
            select(EvidenceSnapshotItem)
            .where(EvidenceSnapshotItem.snapshot_id == snapshot_id)
            .order_by(EvidenceSnapshotItem.item_key)
        )
    )


def fail_snapshot_for_run(*, session: Session, run_id: int, reason: str = "") -> bool:
    """A snapshot left ``collecting`` by a failed run becomes ``failed`` (never shown as evidence).

    The registry's ``on_fail`` hook of evidence snapshots; ``reason`` is not stored. The caller commits."""
    snapshot = session.scalar(
        select(EvidenceSnapshot).where(
            EvidenceSnapshot.operation_run_id == run_id, EvidenceSnapshot.status == COLLECTING
        )
    )
    if snapshot is None:
        return False
    snapshot.status = FAILED
    session.flush()
    return True


def unit_labels(*, session: Session, tenant_id: int | None, keys: list[str]) -> dict[str, str]:
    """``item:<policy type>:<external id>`` -> "Policy 'name'" (the registry's ``unit_labels`` hook)."""
    wanted = {key: key.split(":", 2)[2] for key in keys if key.startswith("item:") and key.count(":") >= 2}
    _, by_external = policy_names(session=session, tenant_id=tenant_id, external_ids=list(wanted.values()))
    return {key: f"Policy '{by_external[ext]}'" for key, ext in wanted.items() if ext in by_external}
