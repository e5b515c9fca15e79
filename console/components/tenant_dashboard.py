"""The tenant dashboard (`/admin/tenants/<tenant_id>`): health KPIs, the review pack card,
Needs attention, the operation buttons, recent operations and two charts.

Reads are console.operations.queries and console.review_packs.queries (session in, plain
dataclasses out; "stale?" is console.operations.staleness's rule, the reaper's); the pure
builders turn that data into what the page shows and are unit-tested without a browser. The page polls (10 s)
only while one of the recent operations it shows is active (``table_poll_interval``), and
re-renders only what changed (an unchanged tick returns no_update everywhere). Every
callback re-reads the tenant id from the page's store and re-checks access with
``console.access`` — the store's value is just a claim from the browser."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update

from console import ids
from console.access import Principal, require_tenant, startable_operations
from console.accounts.models import Tenant
from console.accounts.queries import workspace_names
from console.components import charts, operation_buttons, poll_guard, review_pack_card
from console.components.display import (
    OVERVIEW_HREF,
    breadcrumbs,
    finished_text,
    format_age,
    format_time,
    not_found_page,
    operations_href,
    progress_indicator,
    progress_name,
    relative_time_of,
    run_href,
    signature,
)
from console.db import utcnow
from console.errors import NotFound
from console.operations import queries, registry
from console.operations.cadence import table_poll_interval
from console.operations.progress import progress_for_run
from console.operations.queries import ACTIVE_FILTER, RunBrief, RunRow, TenantHealth
from console.operations.registry import type_label
from console.operations.staleness import was_reaped
from console.review_packs.queries import PackBrief, expiring_packs, latest_pack
from console.web.context import db_session, principal, settings

# ids of this page (the contract ids are in console/ids.py)
DASHBOARD = "tenant-dashboard"
KPIS = "tenant-kpis"
ALL_OPERATIONS = "tenant-all-operations"
ATTENTION_BODY = "needs-attention-body"
RECENT = "tenant-operations"
#: The dashboard's name as a run surface (assets/run_updates.js): its kick store is "dashboard-run-kick".
RUN_SURFACE = "dashboard"
POLL = "dashboard-poll"
POLL_POLICY = "dashboard-poll-policy"
SIGNATURE = "dashboard-signature"

CHART_DAYS = queries.HEALTH_DAYS  # the KPIs are summed from the chart's days
FAILED_WINDOW = timedelta(days=7)
EXPIRY_WINDOW = timedelta(days=3)
RECENT_LIMIT = 10
ATTENTION_LIMIT = 20
DURATION_SAMPLE = 5000
SILENT_SAMPLE = 200


# --------------------------------------------------------------------------- pure view models


@dataclass(frozen=True)
class Kpi:
    id: str
    label: str
    value: str
    hint: str
    href: str | None = None  # the operations list filtered to what the number counts


def success_rate(health: TenantHealth) -> int | None:
    """Percent of the last 30 days' completed runs that succeeded outright (None: none completed)."""
    if health.completed_30d <= 0:
        return None
    return (100 * health.succeeded_30d) // health.completed_30d


def kpis(health: TenantHealth | None, *, tenant_id: int | None = None, today: date | None = None) -> list[Kpi]:
    """The header's four numbers ('—' where the user may not see operations or nothing exists);
    with ``tenant_id`` the run counts link to the operations list filtered to what they count."""
    if health is None:
        return [
            Kpi(k, label, "—", "")
            for k, label in (
                ("kpi-runs-30d", "Runs (30 d)"),
                ("kpi-success-rate", "Success rate (30 d)"),
                ("kpi-active-runs", "Active runs"),
                ("kpi-last-inventory-sync", "Last inventory sync"),
            )
        ]
    rate = success_rate(health)
    return [
        Kpi(
            "kpi-runs-30d",
            "Runs (30 d)",
            str(health.runs_30d),
            "runs created in the last 30 days",
            operations_href(**{"tenant": tenant_id, "from": (today - timedelta(days=30)).isoformat()})
            if tenant_id is not None and today is not None
            else None,
        ),
        Kpi(
            "kpi-success-rate",
            "Success rate (30 d)",
            "—" if rate is None else f"{rate}%",
            f"{health.succeeded_30d} of {health.completed_30d} completed runs succeeded",
        ),
        Kpi(
            "kpi-active-runs",
            "Active runs",
            str(health.active),
            "queued or running now",
            operations_href(tenant=tenant_id, status=ACTIVE_FILTER) if tenant_id is not None else None,
        ),
        Kpi(
            "kpi-last-inventory-sync",
            "Last inventory sync",
            format_time(health.last_inventory_sync) or "Never",
            "latest inventory sync that completed (fully or partly) successfully",
        ),
    ]


@dataclass(frozen=True)
class AttentionItem:
    kind: str  # failed | stale | stale? | expiring
    badge: str
    text: str
    href: str | None


def needs_attention(
    *,
    failed: Sequence[RunBrief],
    silent: Sequence[RunBrief],
    expiring: Sequence[PackBrief],
    now: datetime,
    stale_after_seconds: int,
) -> list[AttentionItem]:
    """What an operator should look at, most actionable first.

    ``silent``: running runs whose last heartbeat is older than the stale limit — shown as
    "stale?" because the reaper has not confirmed it yet. ``failed``: runs that failed in the
    last 7 days; those the reaper failed ("stale: …") are labelled "stale"."""
    items: list[AttentionItem] = []
    for run in sorted(silent, key=lambda r: r.at):
        silence, limit = format_age((now - run.at).total_seconds()), format_age(stale_after_seconds)
        items.append(
            AttentionItem(
                "stale?",
                "stale?",
                f"{type_label(run.type)} #{run.id} has sent no heartbeat for {silence} (limit {limit})",
                run_href(run.id),
            )
        )
    for run in sorted(failed, key=lambda r: r.at, reverse=True):
        reaped = was_reaped(run.failure_summary)
        reason = f": {run.failure_summary}" if run.failure_summary else ""
        items.append(
            AttentionItem(
                "stale" if reaped else "failed",
                "Stale" if reaped else "Failed",
                f"{type_label(run.type)} #{run.id} failed {format_time(run.at)}{reason}",
                run_href(run.id),
            )
        )
    for pack in sorted(expiring, key=lambda p: p.expires_at):
        left = format_age((pack.expires_at - now).total_seconds())
        items.append(
            AttentionItem(
                "expiring",
                "Expires soon",
                f"Review pack #{pack.id} expires {format_time(pack.expires_at)} (in {left})",
                None,
            )
        )
    return items


def recent_row(run: RunRow, now: datetime) -> dict[str, Any]:
    """One recent-operations row as plain data (also what the change signature is built from)."""
    view = progress_for_run(run, now)
    return {
        "id": run.id,
        "type": type_label(run.type),
        "status": run.status,
        "status_label": view.status_label,
        "outcome": view.outcome_label or "",
        "mode": view.mode,
        # a finished run without "N of M processed" says why (never "No counts yet")
        "text": view.text or finished_text(view, run.type),
        "percent": view.percent,
        # the bar's accessible name: "Run #12 Inventory sync — 3 of 8 processed"
        "progress_name": progress_name(view, f"Run #{run.id} {type_label(run.type)}"),
        "created": format_time(run.created_at),
    }


# --------------------------------------------------------------------------- the page's data


@dataclass(frozen=True)
class DashboardData:
    health: TenantHealth | None
    attention: list[AttentionItem] | None  # None: the user may see neither runs nor packs
    recent: list[dict[str, Any]] | None  # None: no operations.view
    per_day: list[tuple[date, str, int]]
    durations: list[tuple[str, float]]
    statuses: list[str]
    today: date

    def signature(self) -> str:
        return signature(
            [
                asdict(self.health) if self.health else None,
                [asdict(i) for i in self.attention or []],
                self.recent,
                sorted(self.per_day),
                sorted(self.durations),
            ]
        )


def load(*, session: Any, who: Principal, tenant: Tenant, now: datetime, stale_after_seconds: int) -> DashboardData:
    """Everything the live part of the dashboard shows, for what the user may see on the tenant."""
    caps = who.capabilities_for(tenant)
    runs_ok = "operations.view" in caps
    packs_ok = "review_pack.view" in caps
    since = now - timedelta(days=CHART_DAYS)
    # One scan of the tenant's last 30 days feeds both the KPIs and the runs-per-day chart.
    days = queries.runs_per_day(session=session, tenant_id=tenant.id, since=since) if runs_ok else []
    health = (
        queries.tenant_health(
            session=session, tenant_id=tenant.id, now=now, sync_type=registry.INVENTORY_SYNC, days=days
        )
        if runs_ok
        else None
    )
    attention = None
    if runs_ok or packs_ok:
        failed: list[RunBrief] = []
        silent: list[RunBrief] = []
        expiring: list[PackBrief] = []
        if runs_ok:
            failed = queries.failed_runs(
                session=session, tenant_id=tenant.id, since=now - FAILED_WINDOW, limit=ATTENTION_LIMIT
            )
            silent = queries.silent_runs(
                session=session,
                tenant_id=tenant.id,
                now=now,
                stale_after_seconds=stale_after_seconds,
                limit=SILENT_SAMPLE,
            )
        if packs_ok:
            expiring = expiring_packs(
                session=session, tenant_id=tenant.id, now=now, window=EXPIRY_WINDOW, limit=ATTENTION_LIMIT
            )
        attention = needs_attention(
            failed=failed, silent=silent, expiring=expiring, now=now, stale_after_seconds=stale_after_seconds
        )
    recent: list[dict[str, Any]] | None = None
    statuses: list[str] = []
    per_day: list[tuple[date, str, int]] = []
    durations: list[tuple[str, float]] = []
    if runs_ok:
        runs = queries.recent_runs(
            session=session,
            principal=who,
            workspace_id=tenant.workspace_id,
            tenant_id=tenant.id,
            limit=RECENT_LIMIT,
        )
        recent = [recent_row(r, now) for r in runs]
        statuses = [r.status for r in runs]
        per_day = [(c.day, charts.bucket_of(c.status, c.outcome), c.count) for c in days]
        durations = [
            (d.type, d.seconds)
            for d in queries.run_durations(session=session, tenant_id=tenant.id, since=since, limit=DURATION_SAMPLE)
        ]
    return DashboardData(health, attention, recent, per_day, durations, statuses, now.date())


# --------------------------------------------------------------------------- rendering


def kpi_cards(health: TenantHealth | None, *, tenant_id: int | None = None, today: date | None = None) -> list[Any]:
    return [
        dbc.Col(
            dbc.Card(
                dbc.CardBody(
                    [
                        html.Div(k.label, className="text-muted small"),
                        html.Div(
                            dcc.Link(k.value, href=k.href, className="kpi-link") if k.href else k.value,
                            id=k.id,
                            className="fs-4 fw-semibold",
                            title=k.hint,
                        ),
                    ]
                ),
                className="h-100",
            ),
            md=3,
            sm=6,
            className="mb-3",
        )
        for k in kpis(health, tenant_id=tenant_id, today=today)
    ]


_BADGE_COLORS = {"failed": "danger", "stale": "danger", "stale?": "warning", "expiring": "warning"}


def attention_list(items: list[AttentionItem] | None) -> Any:
    if items is None:
        return html.P(
            "You do not have access to this tenant's operations or review packs.", className="text-muted small mb-0"
        )
    if not items:
        return html.P("Nothing needs attention.", className="text-muted mb-0", id="needs-attention-empty")
    return html.Ul(
        [
            html.Li(
                [
                    html.Span(item.badge, className=f"badge text-bg-{_BADGE_COLORS[item.kind]} me-2"),
                    dcc.Link(item.text, href=item.href) if item.href else html.Span(item.text),
                ],
                className="list-group-item needs-attention-item",
                **{"data-kind": item.kind},
            )
            for item in items
        ],
        className="list-group list-group-flush",
    )


def recent_table(rows: list[dict[str, Any]] | None) -> Any:
    if rows is None:
        return html.P("You do not have access to this tenant's operations.", className="text-muted small mb-0")
    if not rows:
        return html.P("No operations yet.", className="text-muted mb-0")

    def cell(row: dict[str, Any]) -> Any:
        return progress_indicator(
            mode=row["mode"],
            text=row["text"],
            percent=row["percent"],
            queued=row["status"] == "queued",
            name=row["progress_name"],
        )

    return dbc.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th("Run"),
                        html.Th("Type"),
                        html.Th("Status"),
                        html.Th("Outcome"),
                        html.Th("Progress", style={"width": "22%"}),
                        html.Th("Created"),
                    ]
                )
            ),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(dcc.Link(f"#{row['id']}", href=run_href(row["id"]))),
                            html.Td(row["type"]),
                            html.Td(row["status_label"]),
                            html.Td(row["outcome"]),
                            html.Td(cell(row)),
                            html.Td(relative_time_of(row["created"]), className="text-nowrap"),
                        ],
                        **{
                            "data-run-id": str(row["id"]),
                            "data-status": row["status"],
                            **poll_guard.run_marks(row["id"], row["status"]),
                        },
                    )
                    for row in rows
                ]
            ),
        ],
        size="sm",
        hover=True,
        className="mb-0",
    )


def figures(data: DashboardData, *, shown_days: object = None) -> tuple[Any, Any]:
    days = charts.day_range(data.today, CHART_DAYS)
    return (
        charts.runs_per_day_figure(data.per_day, days=days, shown_days=shown_days),
        charts.duration_figure(data.durations),
    )


def _section(
    title: str, body: Any, *, id_: str | None = None, body_id: str | None = None, class_name: str = "mb-3"
) -> dbc.Card:
    kwargs = {"id": id_} if id_ else {}
    body_kwargs = {"id": body_id} if body_id else {}
    return dbc.Card(
        [dbc.CardHeader(html.H2(title, className="h5 mb-0")), dbc.CardBody(body, **body_kwargs)],
        className=class_name,
        **kwargs,
    )


def layout(tenant_id: str | None = None, **_query: object) -> html.Div:
    session, who = db_session(), principal()
    try:
        tenant = require_tenant(session=session, principal=who, tenant_id=tenant_id)
    except NotFound:
        return not_found_page()
    return render(
        session=session, who=who, tenant=tenant, now=utcnow(), stale_after_seconds=settings().stale_after_seconds
    )


def render(*, session: Any, who: Principal, tenant: Tenant, now: datetime, stale_after_seconds: int) -> html.Div:
    caps = who.capabilities_for(tenant)
    data = load(session=session, who=who, tenant=tenant, now=now, stale_after_seconds=stale_after_seconds)
    workspace = workspace_names(session=session, workspace_ids=[tenant.workspace_id]).get(tenant.workspace_id)
    per_day_fig, duration_fig = figures(data)
    can_generate = "review_pack.generate" in caps
    pack_section = (
        review_pack_card.card(
            review_pack_card.pack_card_view(latest_pack(session=session, tenant_id=tenant.id), now=now),
            can_generate=can_generate,
        )
        if "review_pack.view" in caps
        else dbc.Card(
            dbc.CardBody(
                html.P("You do not have access to this tenant's review packs.", className="text-muted small mb-0")
            ),
            className="h-100",
        )
    )
    header = html.Div(
        [
            breadcrumbs([("Overview", OVERVIEW_HREF), (tenant.name, None)]),
            html.H1(tenant.name, className="h2 mb-0"),
            html.Div(
                [
                    html.Span(workspace or "", className="me-3"),
                    dcc.Link("All operations", href=operations_href(tenant=tenant.id), id=ALL_OPERATIONS),
                ],
                className="text-muted small",
            ),
        ],
        className="mb-3",
    )
    return html.Div(
        [
            dcc.Store(id=ids.TENANT_ID_STORE, data=tenant.id),
            header,
            dbc.Row(kpi_cards(data.health, tenant_id=tenant.id, today=now.date()), id=KPIS),
            dbc.Row(
                [
                    dbc.Col(pack_section, lg=5, className="mb-3"),
                    dbc.Col(
                        _section(
                            "Needs attention",
                            attention_list(data.attention),
                            id_=ids.NEEDS_ATTENTION,
                            body_id=ATTENTION_BODY,
                            class_name="h-100",
                        ),
                        lg=7,
                        className="mb-3",
                    ),
                ]
            ),
            _section(
                "Start an operation",
                operation_buttons.actions(operation_buttons.button_types(startable_operations(who, tenant))),
            ),
            _section("Recent operations", recent_table(data.recent), body_id=RECENT),
            dbc.Row(
                [
                    dbc.Col(
                        [charts.range_control(CHART_DAYS), charts.graph(charts.RUNS_PER_DAY, per_day_fig)],
                        lg=6,
                        className="mb-3 position-relative",
                    ),
                    dbc.Col(charts.graph(charts.DURATIONS, duration_fig), lg=6, className="mb-3"),
                ],
                style={} if data.recent is not None else {"display": "none"},
            ),
            *poll_guard.poll_components(POLL, POLL_POLICY, poll_guard.policy(table_poll_interval(data.statuses))),
            dcc.Store(id=SIGNATURE, data=data.signature()),
            dcc.Store(id=operation_buttons.DASHBOARD_REFRESH, data=None),
            poll_guard.run_kick_store(RUN_SURFACE),
        ],
        id=DASHBOARD,
        **{"data-tenant-id": str(tenant.id), **poll_guard.run_surface(RUN_SURFACE)},
    )


# --------------------------------------------------------------------------- callbacks


def register_callbacks(app: dash.Dash) -> None:
    poll_guard.register_guard(app, interval_id=POLL, policy_id=POLL_POLICY)

    @app.callback(
        Output(KPIS, "children"),
        Output(ATTENTION_BODY, "children"),
        Output(RECENT, "children"),
        Output(charts.RUNS_PER_DAY, "figure"),
        Output(charts.DURATIONS, "figure"),
        Output(POLL_POLICY, "data"),
        Output(SIGNATURE, "data"),
        Input(POLL, "n_intervals"),
        Input(operation_buttons.DASHBOARD_REFRESH, "data"),
        Input(poll_guard.run_kick_id(RUN_SURFACE), "data"),
        State(ids.TENANT_ID_STORE, "data"),
        State(SIGNATURE, "data"),
        State(POLL_POLICY, "data"),
        State(charts.RUNS_RANGE, "value"),
        prevent_initial_call=True,
    )
    def _refresh(_n, _bump, _run_kick, tenant_id, shown, known_policy, shown_days):
        session, who = db_session(), principal()
        tenant = require_tenant(session=session, principal=who, tenant_id=tenant_id)
        now = utcnow()
        data = load(
            session=session,
            who=who,
            tenant=tenant,
            now=now,
            stale_after_seconds=settings().stale_after_seconds,
        )
        current = data.signature()
        policy = poll_guard.changed_policy(poll_guard.policy(table_poll_interval(data.statuses)), known_policy)
        if current == shown:
            return poll_guard.unless_all_unchanged((no_update,) * 5 + (policy, no_update))
        per_day_fig, duration_fig = figures(data, shown_days=shown_days)
        return (
            kpi_cards(data.health, tenant_id=tenant.id, today=now.date()),
            attention_list(data.attention),
            recent_table(data.recent),
            per_day_fig,
            duration_fig,
            policy,
            current,
        )

    app.clientside_callback(
        charts.RANGE_JS,
        Output(charts.RUNS_PER_DAY, "figure", allow_duplicate=True),
        Input(charts.RUNS_RANGE, "value"),
        State(charts.RUNS_PER_DAY, "figure"),
        prevent_initial_call=True,
    )
