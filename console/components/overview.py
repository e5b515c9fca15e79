"""Workspace overview (`/`): the tenants the user may see, with health at a glance.

Health per tenant: active runs, runs that failed in the last 7 days, and the latest review
pack's status — each only where the user holds the matching ``*.view`` capability."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from console.access import Principal, visible_tenants
from console.accounts.models import Tenant
from console.accounts.queries import workspace_names
from console.components.display import PACK_STATUS_LABELS, operations_href, tenant_href
from console.db import utcnow
from console.operations.queries import ACTIVE_FILTER, tenant_run_counts
from console.review_packs.queries import latest_pack_statuses
from console.web.context import db_session, principal

EMPTY = "overview-empty"
TABLE = "overview-tenants"
NO_WORKSPACE = "You are not a member of any workspace yet. Ask a workspace owner to add you."
NO_TENANTS = "No tenants are shared with you in this workspace yet."
FAILED_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class TenantRow:
    tenant_id: int
    name: str
    workspace: str
    active: int | None  # None: the user may not see this tenant's operations
    failed_7d: int | None
    pack: str | None  # label; None: no review_pack.view

    @property
    def health(self) -> str:
        """'attention' when something failed lately, 'busy' while runs are active, else 'ok'."""
        if self.failed_7d:
            return "attention"
        if self.active:
            return "busy"
        return "ok"


def tenant_rows(
    *,
    tenants: Sequence[Tenant],
    who: Principal,
    workspaces: dict[int, str],
    active: dict[int, int],
    failed: dict[int, int],
    last_pack: dict[int, str],
) -> list[TenantRow]:
    """One row per tenant, hiding what the user's capabilities do not cover (pure)."""
    rows = []
    for t in tenants:
        caps = who.capabilities_for(t)
        runs_ok, packs_ok = "operations.view" in caps, "review_pack.view" in caps
        rows.append(
            TenantRow(
                tenant_id=t.id,
                name=t.name,
                workspace=workspaces.get(t.workspace_id, ""),
                active=active.get(t.id, 0) if runs_ok else None,
                failed_7d=failed.get(t.id, 0) if runs_ok else None,
                pack=(PACK_STATUS_LABELS.get(last_pack[t.id], "Unknown") if t.id in last_pack else "No pack yet")
                if packs_ok
                else None,
            )
        )
    return rows


def read_rows(*, session: Any, who: Principal, now: datetime) -> list[TenantRow]:
    tenants = visible_tenants(session=session, principal=who)
    ids_ = [t.id for t in tenants]
    counts = tenant_run_counts(session=session, tenant_ids=ids_, failed_since=now - FAILED_WINDOW)
    last_pack = latest_pack_statuses(session=session, tenant_ids=ids_)
    workspaces = workspace_names(session=session, workspace_ids=who.roles)
    return tenant_rows(
        tenants=tenants,
        who=who,
        workspaces=workspaces,
        active=counts.active,
        failed=counts.failed,
        last_pack=last_pack,
    )


_HEALTH = {"attention": ("Needs attention", "danger"), "busy": ("Busy", "primary"), "ok": ("OK", "success")}


def _num(value: int | None) -> str:
    return "—" if value is None else str(value)


def _count_link(value: int | None, href: str, kind: str) -> Any:
    """A count that opens the operations list filtered to exactly the runs it counts."""
    if value is None:
        return "—"
    return html.Span(dcc.Link(str(value), href=href, className="overview-count-link"), **{"data-count-kind": kind})


def table(rows: list[TenantRow], *, today: date) -> dbc.Table:
    """The tenants; their counts link to the operations list filtered to that tenant and count
    (the failed window is whole days in the list's date filter: since ``today`` - 7 days)."""
    since = (today - timedelta(days=FAILED_WINDOW.days)).isoformat()
    body = []
    for r in rows:
        label, colour = _HEALTH[r.health]
        body.append(
            html.Tr(
                [
                    html.Td(dcc.Link(r.name, href=tenant_href(r.tenant_id))),
                    html.Td(r.workspace),
                    html.Td(html.Span(label, className=f"badge text-bg-{colour}")),
                    html.Td(
                        _count_link(r.active, operations_href(tenant=r.tenant_id, status=ACTIVE_FILTER), "active"),
                        className="text-end",
                    ),
                    html.Td(
                        _count_link(
                            r.failed_7d,
                            operations_href(**{"tenant": r.tenant_id, "outcome": "failed", "from": since}),
                            "failed",
                        ),
                        className="text-end",
                    ),
                    html.Td(r.pack or "—"),
                ],
                **{"data-tenant-id": str(r.tenant_id), "data-health": r.health},
            )
        )
    head = html.Thead(
        html.Tr(
            [
                html.Th("Tenant"),
                html.Th("Workspace"),
                html.Th("Health"),
                html.Th("Active runs", className="text-end"),
                html.Th("Failed (7 d)", className="text-end"),
                html.Th("Last review pack"),
            ]
        )
    )
    return dbc.Table([head, html.Tbody(body)], id=TABLE, hover=True, size="sm")


def layout(**_query: object) -> html.Div:
    session, who = db_session(), principal()
    if not who.roles:
        return html.Div([html.H1("Overview", className="h2"), dbc.Alert(NO_WORKSPACE, color="info", id=EMPTY)])
    now = utcnow()
    rows = read_rows(session=session, who=who, now=now)
    body = table(rows, today=now.date()) if rows else dbc.Alert(NO_TENANTS, color="info", id=EMPTY)
    return html.Div(
        [
            html.H1("Overview", className="h2"),
            html.P("The tenants you may see. Open one for its dashboard.", className="text-muted small"),
            body,
        ]
    )
