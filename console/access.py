"""The one place that answers "may user U see X" (no -> NotFound) and "may U do A on X" (no -> Forbidden).

Roles: owner and manager see every tenant of their workspace with every capability;
operator and viewer see only tenants granted to them (a grant must hold ``tenant.view``),
with the granted capabilities; a viewer may hold only ``*.view`` capabilities.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session

from console.accounts.models import Tenant, TenantGrant, User, WorkspaceMembership
from console.db import MAX_ID
from console.errors import Forbidden, NotFound
from console.operations import registry
from console.operations.models import OperationRun
from console.review_packs.models import ReviewPack

ROLES = ("owner", "manager", "operator", "viewer")
FULL_ACCESS_ROLES = frozenset({"owner", "manager"})
#: What a tenant grant can hold besides the capabilities that start operation types (registry).
_VIEWS = ("tenant.view", "operations.view", "review_pack.view")
VIEW_CAPABILITIES = frozenset(_VIEWS)


def all_capabilities() -> tuple[str, ...]:
    """Every capability: the view capabilities, then each one an operation type needs (registry order)."""
    starts = dict.fromkeys(spec.capability for spec in registry.specs())
    return _VIEWS + tuple(c for c in starts if c not in VIEW_CAPABILITIES)


@dataclass(frozen=True)
class Principal:
    """What one user may do, loaded once per request."""

    user_id: int
    roles: dict[int, str] = field(default_factory=dict)  # workspace_id -> role
    grants: dict[int, frozenset[str]] = field(default_factory=dict)  # tenant_id -> capabilities

    def role_in(self, workspace_id: int) -> str | None:
        return self.roles.get(workspace_id)

    def capabilities_for(self, tenant: Tenant) -> frozenset[str]:
        return self.capabilities_in(workspace_id=tenant.workspace_id, tenant_id=tenant.id)

    def capabilities_in(self, *, workspace_id: int, tenant_id: int) -> frozenset[str]:
        """What the user may do on the tenant ``tenant_id`` of workspace ``workspace_id``."""
        role = self.roles.get(workspace_id)
        if role is None:
            return frozenset()
        if role in FULL_ACCESS_ROLES:
            return frozenset(all_capabilities())
        caps = self.grants.get(tenant_id, frozenset())
        if "tenant.view" not in caps:
            return frozenset()
        if role == "viewer":
            caps = caps & VIEW_CAPABILITIES
        return caps


def _access_columns(session: Session, user_id: Any) -> tuple[Any, Any]:
    """Two scalar subqueries: the user's memberships as ``[[workspace_id, role], ...]`` and grants
    as ``[[tenant_id, capabilities], ...]`` (JSON arrays, aggregated in the database).

    ``user_id`` is a value or a column (``User.id``: then they are correlated subqueries)."""
    if session.get_bind().dialect.name == "postgresql":
        agg, pair, as_json = func.json_agg, func.json_build_array, lambda col: col
    else:  # SQLite: capabilities is JSON text; json() embeds it as JSON, not as a string
        agg, pair, as_json = func.json_group_array, func.json_array, func.json
    roles = (
        select(agg(pair(WorkspaceMembership.workspace_id, WorkspaceMembership.role)))
        .where(WorkspaceMembership.user_id == user_id)
        .scalar_subquery()
    )
    grants = (
        select(agg(pair(TenantGrant.tenant_id, as_json(TenantGrant.capabilities))))
        .where(TenantGrant.user_id == user_id)
        .scalar_subquery()
    )
    return roles, grants


def _pairs(value: object) -> list:
    """A JSON aggregate as a list (psycopg decodes json itself; SQLite returns text; no rows -> NULL)."""
    if isinstance(value, (str, bytes)):
        value = json.loads(value)
    return value if isinstance(value, list) else []


def _principal_from(user_id: int, roles: object, grants: object) -> Principal:
    return Principal(
        user_id=user_id,
        roles={int(ws): str(role) for ws, role in _pairs(roles)},
        grants={int(tid): frozenset(caps or ()) for tid, caps in _pairs(grants)},
    )


#: The two access statements per dialect, built once (they run on every request).
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(session: Session, kind: str) -> Any:
    key = (session.get_bind().dialect.name, kind)
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        if kind == "user":
            stmt = select_with_access(session, User).where(User.id == bindparam("user_id"))
        else:
            stmt = select(*_access_columns(session, bindparam("user_id")))
        _STATEMENTS[key] = stmt
    return stmt


def select_with_access(session: Session, *entities: Any) -> Select:
    """``SELECT entities..., memberships, grants`` of the user ``User.id`` (the caller adds the
    joins that bring ``users`` in and the WHERE): another row and the user's access in one
    statement — API tokens read their token row this way (console.api_tokens.service)."""
    return select(*entities, *_access_columns(session, User.id))


def principal_of(user_id: int, row: Any) -> Principal:
    """The Principal from a ``select_with_access`` row (its last two columns)."""
    return _principal_from(user_id, row[-2], row[-1])


def load_principal(*, session: Session, user_id: int) -> Principal:
    """Read the user's memberships and grants (one statement)."""
    row = session.execute(_statement(session, "principal"), {"user_id": user_id}).one()
    return _principal_from(user_id, row[0], row[1])


def load_user_access(*, session: Session, user_id: int) -> tuple[User, Principal] | None:
    """The user row and the user's access in **one** statement (None: no such user).

    The request's login step (flask-login's user_loader) calls this once per request, so the
    access checks of that request cost no further query; nothing is cached across requests,
    so a revoked membership or grant takes effect on the user's next request."""
    row = session.execute(_statement(session, "user"), {"user_id": user_id}).first()
    if row is None:
        return None
    return row[0], principal_of(user_id, row)


def parse_id(raw: object) -> int:
    """A positive database id, or NotFound (an invalid id reveals nothing either)."""
    if isinstance(raw, bool):
        raise NotFound("invalid id")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 18:
        value = int(raw)
    else:
        raise NotFound("invalid id")
    if not 0 < value <= MAX_ID:
        raise NotFound("invalid id")
    return value


def visible_tenants(*, session: Session, principal: Principal, workspace_id: int | None = None) -> list[Tenant]:
    """Tenants the principal may see, optionally in one workspace, by name."""
    ws_ids = [workspace_id] if workspace_id is not None else list(principal.roles)
    ws_ids = [w for w in ws_ids if w in principal.roles]
    if not ws_ids:
        return []
    tenants = session.scalars(
        select(Tenant).where(Tenant.workspace_id.in_(ws_ids)).order_by(Tenant.name, Tenant.id)
    ).all()
    return [t for t in tenants if "tenant.view" in principal.capabilities_for(t)]


def require_tenant(
    *, session: Session, principal: Principal, tenant_id: object, capability: str = "tenant.view"
) -> Tenant:
    """The tenant if visible (else NotFound) and ``capability`` is held (else Forbidden)."""
    tenant = session.get(Tenant, parse_id(tenant_id))
    if tenant is None:
        raise NotFound("tenant")
    caps = principal.capabilities_for(tenant)
    if "tenant.view" not in caps:
        raise NotFound("tenant")
    if capability not in caps:
        raise Forbidden(capability)
    return tenant


def require_run(*, session: Session, principal: Principal, run_id: object) -> OperationRun:
    """The run if the principal may see it, else NotFound.

    A tenant run needs ``operations.view`` on its tenant. A tenantless run is visible to
    owners and managers of its workspace, and to the user who started it.
    """
    run = session.get(OperationRun, parse_id(run_id))
    if run is None:
        raise NotFound("run")
    tenant = session.get(Tenant, run.tenant_id) if run.tenant_id is not None else None
    if not run_visible(
        principal,
        workspace_id=run.workspace_id,
        tenant_id=run.tenant_id,
        tenant_workspace_id=tenant.workspace_id if tenant is not None else None,
        initiator_user_id=run.initiator_user_id,
    ):
        raise NotFound("run")
    return run


def run_visible(
    principal: Principal,
    *,
    workspace_id: int,
    tenant_id: int | None,
    tenant_workspace_id: int | None,
    initiator_user_id: int | None,
) -> bool:
    """``require_run``'s rule on plain values (the run viewer's poll reads them in one row)."""
    role = principal.role_in(workspace_id)
    if role is None:
        return False
    if tenant_id is None:
        return role in FULL_ACCESS_ROLES or initiator_user_id == principal.user_id
    if tenant_workspace_id is None:  # the tenant row is gone
        return False
    return "operations.view" in principal.capabilities_in(workspace_id=tenant_workspace_id, tenant_id=tenant_id)


def require_pack(*, session: Session, principal: Principal, pack_id: object) -> ReviewPack:
    """The review pack if its tenant is visible with ``review_pack.view``, else NotFound."""
    pack = session.get(ReviewPack, parse_id(pack_id))
    if pack is None:
        raise NotFound("review pack")
    tenant = session.get(Tenant, pack.tenant_id)
    if tenant is None or "review_pack.view" not in principal.capabilities_for(tenant):
        raise NotFound("review pack")
    return pack


def require_operation(*, session: Session, principal: Principal, tenant_id: object, operation_type: str) -> Tenant:
    """May the principal start ``operation_type`` on the tenant? NotFound / Forbidden otherwise."""
    spec = registry.find(operation_type)
    if spec is None:
        raise NotFound("operation type")
    return require_tenant(session=session, principal=principal, tenant_id=tenant_id, capability=spec.capability)


def startable_operations(principal: Principal, tenant: Tenant) -> list[str]:
    """Operation types the principal may start on the tenant (the buttons offered)."""
    caps = principal.capabilities_for(tenant)
    return [spec.type for spec in registry.specs() if spec.capability in caps]


def visible_run_scope(*, session: Session, principal: Principal, workspace_id: int) -> tuple[bool, list[int]]:
    """(sees_tenantless_runs_of_all, tenant ids with operations.view) in a workspace."""
    role = principal.role_in(workspace_id)
    if role is None:
        return False, []
    tenants = visible_tenants(session=session, principal=principal, workspace_id=workspace_id)
    return role in FULL_ACCESS_ROLES, [t.id for t in tenants if "operations.view" in principal.capabilities_for(t)]


def run_visibility_filter(*, session: Session, principal: Principal):
    """A WHERE clause selecting exactly the runs ``require_run`` would let the principal see."""
    from sqlalchemy import and_, false, or_

    clauses = []
    for workspace_id, role in principal.roles.items():
        if role in FULL_ACCESS_ROLES:
            clauses.append(OperationRun.workspace_id == workspace_id)
            continue
        _, tenant_ids = visible_run_scope(session=session, principal=principal, workspace_id=workspace_id)
        clauses.append(
            and_(
                OperationRun.workspace_id == workspace_id,
                or_(
                    OperationRun.tenant_id.in_(tenant_ids),
                    and_(OperationRun.tenant_id.is_(None), OperationRun.initiator_user_id == principal.user_id),
                ),
            )
        )
    return or_(*clauses) if clauses else false()
