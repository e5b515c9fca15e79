"""Baselines: capture the tenant's policy configuration, and compare the tenant against it.

Both are phased families: they report the current phase in ``context.phase`` (capture:
collecting -> normalizing -> storing; compare: collecting -> normalizing -> diffing) and never
write ``total``/``processed``. Terminal counts are outcome badges only: ``items`` (policies
in the snapshot) and, for compare, ``created``/``deleted``/``updated`` (added, removed and
changed policies since the capture)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.baselines.models import Baseline, BaselineSnapshot
from console.db import utcnow
from console.errors import BadRequest
from console.operations.constants import SUCCEEDED
from console.operations.models import OperationRun
from console.operations.runner import lock_run
from console.operations.service import complete_run, fail_run, mark_running, set_phase
from console.providers.base import Provider

log = logging.getLogger(__name__)

DEFAULT_BASELINE_NAME = "Tenant baseline"
CAPTURE_PHASES = ("collecting", "normalizing", "storing")
COMPARE_PHASES = ("collecting", "normalizing", "diffing")
NO_CAPTURE = "No baseline has been captured for this tenant yet; run a baseline capture first."


def _phase(session: Session, provider: Provider, run_id: int, phase: str) -> None:
    set_phase(session=session, run_id=run_id, phase=phase)
    provider.begin_unit(f"phase:{phase}")


def _normalized(provider: Provider, tenant_id: int) -> dict[str, dict[str, Any]]:
    """The active policies keyed ``<type>:<external id>``, each with a settings digest."""
    out: dict[str, dict[str, Any]] = {}
    for policy in provider.list_policies(tenant_id=tenant_id):
        if policy.is_archived:
            continue
        settings = dict(policy.settings)
        out[f"{policy.policy_type}:{policy.external_id}"] = {
            "name": policy.name,
            "policy_type": policy.policy_type,
            "settings": settings,
            "sha256": hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest(),
        }
    return dict(sorted(out.items()))


def _baseline(session: Session, tenant_id: int) -> Baseline:
    baseline = session.scalar(select(Baseline).where(Baseline.tenant_id == tenant_id).order_by(Baseline.id).limit(1))
    if baseline is None:
        baseline = Baseline(tenant_id=tenant_id, name=DEFAULT_BASELINE_NAME, created_at=utcnow())
        session.add(baseline)
        session.flush()
    return baseline


def latest_capture(*, session: Session, tenant_id: int) -> BaselineSnapshot | None:
    return session.scalar(
        select(BaselineSnapshot)
        .join(Baseline, Baseline.id == BaselineSnapshot.baseline_id)
        .where(Baseline.tenant_id == tenant_id, BaselineSnapshot.kind == "capture")
        .order_by(BaselineSnapshot.created_at.desc(), BaselineSnapshot.id.desc())
        .limit(1)
    )


def _store(session: Session, run_id: int, tenant_id: int, kind: str, payload: dict[str, Any]) -> BaselineSnapshot:
    """One snapshot per run, even when the task is delivered twice (row lock on the run)."""
    lock_run(session=session, run_id=run_id)
    snapshot = session.scalar(select(BaselineSnapshot).where(BaselineSnapshot.operation_run_id == run_id))
    if snapshot is None:
        baseline = _baseline(session, tenant_id)
        snapshot = BaselineSnapshot(
            baseline_id=baseline.id, operation_run_id=run_id, kind=kind, payload=payload, created_at=utcnow()
        )
        session.add(snapshot)
    session.flush()
    return snapshot


def capture_baseline(*, session: Session, run_id: int, provider: Provider) -> OperationRun:
    """Collect, normalize and store the tenant's active policies as the baseline."""
    run = mark_running(session=session, run_id=run_id)
    if run.tenant_id is None:
        raise BadRequest("a baseline capture needs a tenant")
    tenant_id = run.tenant_id
    _phase(session, provider, run_id, "collecting")
    provider.list_policies(tenant_id=tenant_id)  # reachability first: a failing provider fails before any write
    _phase(session, provider, run_id, "normalizing")
    policies = _normalized(provider, tenant_id)
    _phase(session, provider, run_id, "storing")
    _store(session, run_id, tenant_id, "capture", {"captured_at": utcnow().isoformat(), "policies": policies})
    # The snapshot commits together with the run's completion.
    return complete_run(session=session, run_id=run_id, outcome=SUCCEEDED, summary={"items": len(policies)})


def diff(baseline: dict[str, dict[str, Any]], current: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Keys added, removed and changed (settings digest differs) since the baseline."""
    return {
        "added": sorted(current.keys() - baseline.keys()),
        "removed": sorted(baseline.keys() - current.keys()),
        "changed": sorted(
            k for k in baseline.keys() & current.keys() if baseline[k].get("sha256") != current[k].get("sha256")
        ),
    }


def compare_baseline(*, session: Session, run_id: int, provider: Provider) -> OperationRun | None:
    """Diff the tenant's current policies against the latest capture (failed when none exists)."""
    run = mark_running(session=session, run_id=run_id)
    if run.tenant_id is None:
        raise BadRequest("a baseline compare needs a tenant")
    tenant_id = run.tenant_id
    _phase(session, provider, run_id, "collecting")
    capture = latest_capture(session=session, tenant_id=tenant_id)
    if capture is None:
        session.commit()
        return fail_run(session=session, run_id=run_id, reason=NO_CAPTURE)
    reference = dict((capture.payload or {}).get("policies") or {})
    _phase(session, provider, run_id, "normalizing")
    current = _normalized(provider, tenant_id)
    _phase(session, provider, run_id, "diffing")
    changes = diff(reference, current)
    _store(
        session,
        run_id,
        tenant_id,
        "compare",
        {"compared_at": utcnow().isoformat(), "capture_id": capture.id, **changes},
    )
    summary = {
        "items": len(current),
        "created": len(changes["added"]),
        "deleted": len(changes["removed"]),
        "updated": len(changes["changed"]),
    }
    return complete_run(session=session, run_id=run_id, outcome=SUCCEEDED, summary=summary)
