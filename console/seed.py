"""Demo data: one workspace, three tenants, a user per role, and a 30-day history of runs made
by the real services (console.demo.history) under a demo clock (console.demo.clock)."""

from __future__ import annotations

import random
import sys
from datetime import timedelta

from sqlalchemy import select
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
from console.config import Settings
from console.db import utcnow
from console.demo.clock import DemoClock, demo_clock
from console.demo.history import make_history, plan_history
from console.notifications.models import Notification
from console.notifications.service import mark_read
from console.providers.builtin import seed_tenant_dataset
from console.review_packs.service import expire_packs
from console.review_packs.storage import storage_for

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
#: Runs in the demo history (seeding takes a few seconds: docs/operations-guide.md, "The demo").
DEMO_HISTORY = 72
HISTORY_DAYS = 30
#: Notifications of runs that ended longer ago than this are marked read (the bell shows recent news).
UNREAD_DAYS = 2
#: Each read of the demo clock moves it this much (keeps every timestamp distinct and in write order).
CLOCK_TICK = timedelta(milliseconds=20)


def seed_demo(*, session: Session, settings: Settings, history: int = DEMO_HISTORY) -> bool:
    """Seed when the database is empty; returns False (and changes nothing) otherwise."""
    if not is_empty(session=session):
        return False
    now = utcnow()
    start = now - timedelta(days=HISTORY_DAYS)
    storage = storage_for(settings)
    clock = DemoClock(start - timedelta(days=1), tick=CLOCK_TICK)
    with demo_clock(clock):
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
        grant_capabilities(
            session=session, email="viewer@demo.example", tenant_id=tenants[0].id, capabilities=VIEWER_CAPS
        )
        # Who starts runs: the owner and the manager anywhere, the operator on the tenants granted.
        people = [(users[e].id, users[e].name) for e in ("owner@demo.example", "manager@demo.example")]
        operator = (users["operator@demo.example"].id, users["operator@demo.example"].name)
        initiators = {t.id: people + ([operator] if i < 2 else []) for i, t in enumerate(tenants)}
        planned = plan_history(
            n=history,
            start=start,
            end=now - timedelta(hours=1),
            tenant_ids=[t.id for t in tenants],
            initiators=initiators,
            rng=random.Random(42),
        )
        make_history(
            session=session, workspace_id=ws.id, planned=planned, clock=clock, settings=settings, storage=storage
        )
        _read_old_notifications(session, before=now - timedelta(days=UNREAD_DAYS))
    # Packs older than the TTL: the real expiry pass, on the real clock (their files are removed).
    expire_packs(session=session, now=utcnow(), storage=storage)
    return True


def _read_old_notifications(session: Session, *, before) -> None:  # noqa: ANN001 - datetime
    rows = session.execute(select(Notification.user_id, Notification.id).where(Notification.created_at < before)).all()
    by_user: dict[int, list[int]] = {}
    for user_id, notification_id in rows:
        by_user.setdefault(user_id, []).append(notification_id)
    for user_id, ids in by_user.items():
        mark_read(session=session, user_id=user_id, notification_ids=ids)


def print_logins() -> None:
    print("\nDemo logins (email / password):", file=sys.stderr)
    for email, _name, role, password in DEMO_USERS:
        print(f"  {role or 'no workspace':<12} {email:<26} {password}", file=sys.stderr)
