"""The operations list: every run the user may see, newest first, linking to the run viewer."""
from __future__ import annotations

import dash
import dash_ag_grid as dag
from dash import html
from sqlalchemy import select

from console import ids
from console.access import run_visibility_filter
from console.accounts.models import Tenant
from console.operations.models import OperationRun
from console.web.context import db_session, principal

PAGE_SIZE = 500

COLUMNS = [
    {"field": "run", "headerName": "Run", "cellRenderer": "markdown", "width": 100},
    {"field": "type", "headerName": "Type", "filter": True},
    {"field": "tenant", "headerName": "Tenant", "filter": True},
    {"field": "status", "headerName": "Status", "filter": True, "width": 120},
    {"field": "outcome", "headerName": "Outcome", "filter": True, "width": 170},
    {"field": "created_at", "headerName": "Created (UTC)", "sort": "desc"},
]


def rows() -> list[dict]:
    session, who = db_session(), principal()
    query = (
        select(OperationRun, Tenant.name)
        .outerjoin(Tenant, Tenant.id == OperationRun.tenant_id)
        .where(run_visibility_filter(session=session, principal=who))
        .order_by(OperationRun.created_at.desc(), OperationRun.id.desc())
        .limit(PAGE_SIZE)
    )
    return [
        {
            "run": f"[#{run.id}](/admin/operations/{run.id})",
            "type": run.type,
            "tenant": tenant_name or "—",
            "status": run.status,
            "outcome": run.outcome or "",
            "created_at": run.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        }
        for run, tenant_name in session.execute(query)
    ]


def layout() -> html.Div:
    return html.Div(
        [
            html.H2("Operations"),
            dag.AgGrid(
                id=ids.OPERATIONS_TABLE,
                columnDefs=COLUMNS,
                rowData=rows(),
                defaultColDef={"resizable": True, "sortable": True},
                dashGridOptions={"pagination": True, "paginationPageSize": 25},
                style={"height": "640px"},
            ),
        ]
    )


def register_callbacks(app: dash.Dash) -> None:
    """Server-side paging and live refresh arrive with the UI issue; the grid is static per load."""
