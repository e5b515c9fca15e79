"""Read models of workspaces and tenants for the UI (names only; access lives in console.access)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.accounts.models import Workspace


def workspace_names(*, session: Session, workspace_ids: Iterable[int]) -> dict[int, str]:
    """Workspace id -> name for the given ids (one statement; none for no ids)."""
    ids_ = sorted(set(workspace_ids))
    if not ids_:
        return {}
    return {
        wid: name for wid, name in session.execute(select(Workspace.id, Workspace.name).where(Workspace.id.in_(ids_)))
    }
