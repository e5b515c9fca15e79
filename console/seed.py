"""Demo data: one workspace, three tenants, a user per role, ~200 historical runs over 30 days."""

from __future__ import annotations

import random
import sys
from datetime import timedelta

from sqlalchemy.orm import Session

from console.access import VIEW_CAPABILITIES, all_capabilities
from console.accounts.service import (
    create_tenant,
    create_user,
    create_workspace,
    grant_capabilities,
    grant_role,
    is_empty,
)
from console.db import utcnow
from console.operations import registry
from console.operations.models import OperationRun
from console.providers.builtin import seed_tenant_dataset

WORKSPACE = "Contoso Governance"
TENANTS = ("Northwind Traders", "Fabrikam Health", "Tailspin Logistics")
#: Demo logins (demo data, not secrets: never seed a production database).
DEMO_USERS = (
    ("owner@demo.example", "Olivia Owner", "owner", "demo-owner-pass"),
    ("manager@demo.example", "Manuel Manager", "manager", "demo-manager-pass"),
    ("operator@demo.example", "Oscar Operator", "operator", "demo-operator-pass"),
    ("viewer@demo.example", "Vera Viewer", "viewer", "demo-viewer-pass"),
    ("outsider@demo.example", "Otto Outsider", None, "demo-outsider-pass"),
)
VIEWER_CAPS = sorted(VIEW_CAPABILITIES)


def seed_demo(*, session: Session, history: int = 200) -> bool:
    """Seed when the database is empty; returns False (and changes nothing) otherwise."""
    if not is_empty(session=session):
        return False
    ws = create_workspace(session=session, name=WORKSPACE)
    tenants = [create_tenant(session=session, workspace_id=ws.id, name=n) for n in TENANTS]
    for t in tenants:
        seed_tenant_dataset(session=session, tenant_id=t.id)
    users = {}
    for email, name, role, password in DEMO_USERS:
        users[email] = create_user(session=session, email=email, password=password, name=name)
        if role:
            grant_role(session=session, email=email, workspace_id=ws.id, role=role)
    # The operator works on two tenants, the viewer looks at one.
    for t in tenants[:2]:
        grant_capabilities(
            session=session, email="operator@demo.example", tenant_id=t.id, capabilities=list(all_capabilities())
        )
    grant_capabilities(session=session, email="viewer@demo.example", tenant_id=tenants[0].id, capabilities=VIEWER_CAPS)
    _history(session, ws.id, [t.id for t in tenants], [u.id for u in users.values()][:3], history)
    return True


def _history(session: Session, workspace_id: int, tenant_ids: list[int], initiators: list[int], n: int) -> None:
    rng = random.Random(42)
    # Each registered type in registration order, as often as its seed_weight says.
    history_types = [spec.type for spec in registry.specs() for _ in range(spec.seed_weight)]
    now = utcnow()
    for i in range(n):
        rtype = history_types[i % len(history_types)]
        created = now - timedelta(days=30) + timedelta(seconds=rng.randint(0, 30 * 86400 - 3600))
        duration = timedelta(seconds=rng.randint(5, 900))
        roll = rng.random()
        outcome = (
            "succeeded"
            if roll < 0.72
            else "partially_succeeded"
            if roll < 0.86
            else "failed"
            if roll < 0.97
            else "cancelled"
        )
        counts: dict[str, int] = {}
        if registry.is_counted(rtype):
            total = rng.randint(3, 60)
            processed = total if outcome != "failed" else rng.randint(0, total)
            failed = (
                0
                if outcome == "succeeded"
                else processed
                if outcome == "failed"
                else rng.randint(1, max(1, processed // 3))
            )
            counts = {"total": total, "processed": processed, "succeeded": processed - failed, "failed": failed}
        session.add(
            OperationRun(
                workspace_id=workspace_id,
                tenant_id=rng.choice(tenant_ids),
                type=rtype,
                status="completed",
                outcome=outcome,
                summary_counts=counts,
                context={},
                failure_summary="provider returned 503 for 3 consecutive attempts" if outcome == "failed" else None,
                initiator_user_id=rng.choice(initiators),
                created_at=created,
                started_at=created + timedelta(seconds=1),
                heartbeat_at=created + duration,
                completed_at=created + duration,
            )
        )
    session.commit()


def print_logins() -> None:
    print("\nDemo logins (email / password):", file=sys.stderr)
    for email, _name, role, password in DEMO_USERS:
        print(f"  {role or 'no workspace':<12} {email:<26} {password}", file=sys.stderr)
