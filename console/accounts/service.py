"""Users, workspaces, tenants and grants (used by the CLI, the seed and tests)."""

from __future__ import annotations

import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.access import ROLES, VIEW_CAPABILITIES, all_capabilities
from console.accounts.models import Tenant, TenantGrant, User, Workspace, WorkspaceMembership
from console.errors import BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
# Verifying against this keeps the time of "unknown email" equal to "wrong password".
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise BadRequest(f"not an email address: {email!r}")
    return email


def create_user(*, session: Session, email: str, password: str, name: str) -> User:
    """Create a user with an argon2id password hash."""
    email = normalize_email(email)
    if len(password) < 8:
        raise BadRequest("password must have at least 8 characters")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} exists")
    user = User(email=email, name=name.strip() or email, password_hash=hash_password(password))
    session.add(user)
    session.commit()
    return user


def authenticate(*, session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None (same work for every failure)."""
    try:
        email = normalize_email(email)
    except BadRequest:
        email = ""
    user = session.scalar(select(User).where(User.email == email)) if email else None
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        session.commit()
    return user


def create_workspace(*, session: Session, name: str) -> Workspace:
    """Create a workspace."""
    if not name.strip():
        raise BadRequest("workspace name is empty")
    ws = Workspace(name=name.strip())
    session.add(ws)
    session.commit()
    return ws


def create_tenant(*, session: Session, workspace_id: int, name: str) -> Tenant:
    """Create a tenant in a workspace."""
    if session.get(Workspace, workspace_id) is None:
        raise NotFound(f"workspace {workspace_id}")
    if not name.strip():
        raise BadRequest("tenant name is empty")
    tenant = Tenant(workspace_id=workspace_id, name=name.strip())
    session.add(tenant)
    session.commit()
    return tenant


def _user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == normalize_email(email)))
    if user is None:
        raise NotFound(f"user {email}")
    return user


def grant_role(*, session: Session, email: str, workspace_id: int, role: str) -> WorkspaceMembership:
    """Make the user a member of the workspace with ``role`` (replacing an earlier role)."""
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}")
    user = _user_by_email(session, email)
    if session.get(Workspace, workspace_id) is None:
        raise NotFound(f"workspace {workspace_id}")
    membership = session.scalar(
        select(WorkspaceMembership).where(
            WorkspaceMembership.workspace_id == workspace_id, WorkspaceMembership.user_id == user.id
        )
    )
    if membership is None:
        membership = WorkspaceMembership(workspace_id=workspace_id, user_id=user.id, role=role)
        session.add(membership)
    else:
        membership.role = role
    session.commit()
    return membership


def grant_capabilities(*, session: Session, email: str, tenant_id: int, capabilities: list[str]) -> TenantGrant:
    """Grant capabilities on a tenant; ``tenant.view`` is implied by any grant."""
    unknown = sorted(set(capabilities) - set(all_capabilities()))
    if unknown or not capabilities:
        raise BadRequest(f"unknown capabilities {unknown}; choose from {', '.join(all_capabilities())}")
    user = _user_by_email(session, email)
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {tenant_id}")
    membership = session.scalar(
        select(WorkspaceMembership).where(
            WorkspaceMembership.workspace_id == tenant.workspace_id, WorkspaceMembership.user_id == user.id
        )
    )
    if membership is None:
        raise BadRequest("the user is not a member of the tenant's workspace: grant a role first")
    caps = set(capabilities) | {"tenant.view"}
    if membership.role == "viewer" and not caps <= VIEW_CAPABILITIES:
        raise BadRequest("a viewer can hold only *.view capabilities")
    grant = session.scalar(
        select(TenantGrant).where(TenantGrant.user_id == user.id, TenantGrant.tenant_id == tenant_id)
    )
    if grant is None:
        grant = TenantGrant(user_id=user.id, tenant_id=tenant_id, capabilities=sorted(caps))
        session.add(grant)
    else:
        grant.capabilities = sorted(set(grant.capabilities or ()) | caps)
    session.commit()
    return grant


def is_empty(*, session: Session) -> bool:
    """True when no workspace exists yet (a fresh install)."""
    return (session.scalar(select(func.count()).select_from(Workspace)) or 0) == 0
