"""Workspace overview: the tenants the user may see, with health at a glance."""
from __future__ import annotations

from collections import defaultdict

import dash_bootstrap_components as dbc
from dash import dcc, html
from sqlalchemy import func, select

from console.access import visible_tenants
from console.accounts.models import Workspace
from console.operations.models import OperationRun
from console.review_packs.models import ReviewPack
from console.web.context import db_session, principal


def layout() -> html.Div:
    session, who = db_session(), principal()
    tenants = visible_tenants(session=session, principal=who)
    if not who.roles:
        return html.Div(
            [html.H2("Overview"), dbc.Alert("You are not a member of any workspace yet. Ask a workspace owner to add you.", color="info", id="overview-empty")]
        )
    ids_ = [t.id for t in tenants]
    active: dict[int, int] = defaultdict(int)
    last_pack: dict[int, str] = {}
    if ids_:
        for tid, n in session.execute(
            select(OperationRun.tenant_id, func.count())
            .where(OperationRun.tenant_id.in_(ids_), OperationRun.status.in_(("queued", "running")))
            .group_by(OperationRun.tenant_id)
        ):
            active[tid] = n
        latest = (
            select(ReviewPack.tenant_id, func.max(ReviewPack.id).label("pid")).where(ReviewPack.tenant_id.in_(ids_)).group_by(ReviewPack.tenant_id).subquery()
        )
        for tid, status in session.execute(select(ReviewPack.tenant_id, ReviewPack.status).join(latest, ReviewPack.id == latest.c.pid)):
            last_pack[tid] = status
    workspaces = {w.id: w.name for w in session.scalars(select(Workspace).where(Workspace.id.in_(list(who.roles))))}
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(t.name, href=f"/admin/tenants/{t.id}")),
                html.Td(workspaces.get(t.workspace_id, "")),
                html.Td(str(active[t.id]), className="text-end"),
                html.Td(last_pack.get(t.id, "no pack yet").capitalize()),
            ],
            **{"data-tenant-id": str(t.id)},
        )
        for t in tenants
    ]
    body = (
        dbc.Table(
            [html.Thead(html.Tr([html.Th("Tenant"), html.Th("Workspace"), html.Th("Active runs", className="text-end"), html.Th("Last review pack")])), html.Tbody(rows)],
            id="overview-tenants",
            hover=True,
            size="sm",
        )
        if tenants
        else dbc.Alert("No tenants are shared with you in this workspace yet.", color="info", id="overview-empty")
    )
    return html.Div([html.H2("Overview"), body])
