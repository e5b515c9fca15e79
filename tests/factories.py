"""Test data builders (plain service calls, no fixtures magic)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from console.accounts.service import create_tenant, create_user, create_workspace, grant_capabilities, grant_role

PASSWORD = "correct-horse-battery"


@dataclass
class World:
    workspace_id: int
    other_workspace_id: int
    tenant_ids: list[int]
    other_tenant_id: int
    users: dict[str, int] = field(default_factory=dict)


def build_world(session: Session) -> World:
    """Workspace A (tenants a1 granted, a2 ungranted) and workspace B; a user per role plus an outsider."""
    ws = create_workspace(session=session, name="A")
    other = create_workspace(session=session, name="B")
    a1 = create_tenant(session=session, workspace_id=ws.id, name="a1")
    a2 = create_tenant(session=session, workspace_id=ws.id, name="a2")
    b1 = create_tenant(session=session, workspace_id=other.id, name="b1")
    world = World(ws.id, other.id, [a1.id, a2.id], b1.id)
    for role in ("owner", "manager", "operator", "viewer", "outsider", "stranger"):
        user = create_user(session=session, email=f"{role}@test.example", password=PASSWORD, name=role.title())
        world.users[role] = user.id
        if role in ("owner", "manager", "operator", "viewer"):
            grant_role(session=session, email=user.email, workspace_id=ws.id, role=role)
    # "outsider" is a member of the other workspace only; "stranger" of none.
    grant_role(session=session, email="outsider@test.example", workspace_id=other.id, role="owner")
    grant_capabilities(
        session=session,
        email="operator@test.example",
        tenant_id=a1.id,
        capabilities=[
            "operations.view",
            "review_pack.view",
            "review_pack.generate",
            "inventory.sync",
            "evidence.generate",
            "backup.manage",
            "baseline.manage",
        ],
    )
    grant_capabilities(
        session=session,
        email="viewer@test.example",
        tenant_id=a1.id,
        capabilities=["operations.view", "review_pack.view"],
    )
    return world
