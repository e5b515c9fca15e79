"""The operations list (`/admin/operations`).

Server-side everything: the AG Grid uses the infinite row model, so every page, sort and
filter is a query (``console.operations.queries.run_page``, through the run visibility
filter) and the browser never
holds more than a page. Filters are ordinary controls above the grid; changing one purges
the grid's cache (clientside, no extra round trip). Polling follows the contract: 10 s only
while a row of the current page is active (``table_poll_interval``); a poll tick asks the
server whether the page changed and only then refreshes the grid (unchanged -> no_update).

(``run_href`` and the other shared display helpers live in console.components.display.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from console import ids
from console.access import Principal, parse_id, visible_tenants
from console.accounts.queries import workspace_names
from console.components import operations_csv, poll_guard
from console.components.display import (
    FILTER_KEYS,
    OPERATIONS_CSV_HREF,
    format_time,
    iso_utc,
    operations_href,
    operations_query,
    progress_text,
    run_href,
    signature,
)
from console.db import utcnow
from console.errors import BadRequest, NotFound
from console.operations import registry
from console.operations.cadence import table_poll_interval
from console.operations.constants import ACTIVE_STATUSES, OUTCOME_LABELS, OUTCOMES, STATUS_LABELS, STATUSES
from console.operations.progress import progress_for_run
from console.operations.queries import (
    ACTIVE_FILTER,
    COUNT_LIMIT,
    DEFAULT_SORT,
    SORTABLE,
    RowsRequest,
    RunFilters,
    RunRow,
    run_page,
)
from console.operations.registry import type_label
from console.web.context import db_session, principal

# ids of this page (the grid's own id, operations-table, is in console/ids.py)
POLL = "operations-poll"
POLL_POLICY = "operations-poll-policy"
SIGNATURE = "operations-signature"
REFRESH = "operations-refresh"
GRID_SYNC = "operations-grid-sync"
FILTER_TYPE = "ops-filter-type"
FILTER_STATUS = "ops-filter-status"
FILTER_OUTCOME = "ops-filter-outcome"
FILTER_TENANT = "ops-filter-tenant"
#: The created-date range: a fieldset ("Created between") holding two native date inputs. It
#: replaced dcc.DatePickerRange, whose markup fails WCAG (aria-expanded/aria-haspopup on a div
#: without a role, aria-labelledby naming "undefined", a clear link without href or role).
FILTER_DATES = "ops-filter-dates"
FILTER_FROM = "ops-filter-from"
FILTER_TO = "ops-filter-to"
FILTER_CLEAR = "ops-filter-clear"
#: Quick ranges under the date inputs: links ``ops-date-preset-24h`` / ``-7d`` / ``-30d`` / ``-90d``
#: that set ``from`` (today minus N whole UTC days, as the KPI links do) and clear ``to``.
DATE_PRESETS: tuple[tuple[str, str, int], ...] = (
    ("24h", "24 h", 1),
    ("7d", "7 d", 7),
    ("30d", "30 d", 30),
    ("90d", "90 d", 90),
)
DATE_PRESET_PREFIX = "ops-date-preset-"
FILTER_Q = "ops-filter-q"
#: The page's own location: filters are written to its ``search`` (callback-nav: the layout is
#: rebuilt from the URL, so a shared link, a reload and the back button all show the same list).
URL = "operations-url"
SUBTITLE = "operations-subtitle"
FILTER_MESSAGE = "operations-filter-message"
EMPTY = "operations-empty"
CSV_LINK = "operations-csv"
#: The grid's container, a run surface (assets/run_updates.js): its kick store is "operations-run-kick".
RUN_SURFACE = "operations"
GRID_SURFACE = "operations-grid-surface"
MAX_Q = 200

PAGE_SIZE = 25
MAX_BLOCK = 200  # largest block a (forged) request may ask for
MAX_START_ROW = 10_000_000
MAX_SORT_KEYS = 3

# --------------------------------------------------------------------------- filters and requests (pure)

#: The "All" option's value (dbc.Select keeps "" for its hidden placeholder option).
ALL = "all"
_NO_FILTER = (None, "", ALL)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][0-9:.]{0,15})?$")


def _choice(name: str, value: object, allowed: frozenset[str] | Sequence[str]) -> str | None:
    if value in _NO_FILTER:
        return None
    if not isinstance(value, str) or value not in allowed:
        raise BadRequest(f"filter {name} must be one of {', '.join(sorted(allowed))}")
    return value


def _date(name: str, value: object) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        raise BadRequest(f"filter {name} must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise BadRequest(f"filter {name} must be a date YYYY-MM-DD") from exc


def parse_filters(
    *,
    type: object = None,
    status: object = None,
    outcome: object = None,
    tenant: object = None,  # noqa: A002
    date_from: object = None,
    date_to: object = None,
    q: object = None,
) -> RunFilters:
    """Validate the filter controls' values (untrusted: they arrive in a callback payload).

    A malformed choice or date is BadRequest (400); a malformed tenant id NotFound (404)."""
    # Like every id in a payload: anything but a plain positive integer is "not found" (404).
    tenant_id = None if tenant in _NO_FILTER else parse_id(tenant)
    start, end = _date("from", date_from), _date("to", date_to)
    if start and end and start > end:
        raise BadRequest("filter from must not be after to")
    return RunFilters(
        type=_choice("type", type, frozenset(registry.types())),
        status=_choice("status", status, STATUSES | {ACTIVE_FILTER}),
        outcome=_choice("outcome", outcome, OUTCOMES),
        tenant_id=tenant_id,
        date_from=start,
        date_to=end,
        q=_text("q", q),
    )


def _text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"filter {name} must be text")
    text = " ".join(value.split())
    if len(text) > MAX_Q or any(ord(c) < 32 for c in text):
        raise BadRequest(f"filter {name} must be at most {MAX_Q} characters of plain text")
    return text or None


def filters_from_query(query: Mapping[str, object]) -> tuple[dict[str, Any], list[str]]:
    """The controls' values from the URL's query string, and a message per rejected filter.

    Each filter is checked on its own: a bad one is dropped (and said), the others still apply."""
    values: dict[str, Any] = {
        "tenant": ALL,
        "type": ALL,
        "status": ALL,
        "outcome": ALL,
        "q": "",
        "from": None,
        "to": None,
    }
    messages: list[str] = []
    keyword = {"tenant": "tenant", "type": "type", "status": "status", "outcome": "outcome", "q": "q"}
    for key in FILTER_KEYS:
        raw = query.get(key)
        if raw in _NO_FILTER:
            continue
        try:
            if key in keyword:
                parse_filters(**{keyword[key]: raw})
            else:
                _date(key, raw)
        except BadRequest as exc:
            messages.append(f"A filter was ignored: {exc}.")
            continue
        except NotFound:
            messages.append("The tenant filter was ignored: no tenant you can see has that id.")
            continue
        values[key] = raw
    if values["from"] and values["to"] and values["from"] > values["to"]:
        messages.append("The date filter was ignored: from must not be after to.")
        values["from"] = values["to"] = None
    return values, messages


_SORT_WORDS = {
    "created_at": ("oldest first", "newest first"),
    "completed_at": ("earliest completed first", "latest completed first"),
}


def subtitle(*, total: int | None, sort: Sequence[tuple[str, str]], filtered: bool) -> str:
    """What the list shows, in the order it shows it (never "newest first" after a re-sort)."""
    key, direction = sort[0] if sort else DEFAULT_SORT[0]
    if key in _SORT_WORDS:
        order = _SORT_WORDS[key][direction == "desc"]
    else:
        header = next((c["headerName"] for c in COLUMNS if c["field"] == key), key)
        order = f"sorted by {header.lower()} ({'descending' if direction == 'desc' else 'ascending'})"
    runs = f"More than {COUNT_LIMIT:,} runs" if total is None else "1 run" if total == 1 else f"{total} runs"
    scope = "match these filters" if filtered else "you may see"
    return f"{runs} {scope}, {order}. Rows refresh every 10 s while one on this page is active."


def empty_text(filtered: bool) -> str:
    return "No operations you can see match these filters." if filtered else "No operations you can see yet."


def parse_rows_request(request: object) -> RowsRequest:
    """Validate AG Grid's getRowsRequest (startRow/endRow/sortModel); anything odd is a 400."""
    if not isinstance(request, Mapping):
        raise BadRequest("getRowsRequest must be an object")
    start, end = request.get("startRow"), request.get("endRow")
    if isinstance(start, bool) or isinstance(end, bool) or not isinstance(start, int) or not isinstance(end, int):
        raise BadRequest("startRow and endRow must be whole numbers")
    if not (0 <= start <= MAX_START_ROW and start < end <= start + MAX_BLOCK):
        raise BadRequest(f"rows {start}..{end} out of range (at most {MAX_BLOCK} per request)")
    raw_sort = request.get("sortModel") or []
    if not isinstance(raw_sort, list) or len(raw_sort) > MAX_SORT_KEYS:
        raise BadRequest("sortModel must be a short list")
    sort: list[tuple[str, str]] = []
    for item in raw_sort:
        if (
            not isinstance(item, Mapping)
            or item.get("colId") not in SORTABLE
            or item.get("sort") not in ("asc", "desc")
        ):
            raise BadRequest("sortModel entries need a sortable colId and asc/desc")
        sort.append((str(item["colId"]), str(item["sort"])))
    return RowsRequest(start=start, end=end, sort=tuple(sort) or DEFAULT_SORT)


#: The CSV link's sort parameter: ``sort=type,-created_at`` (columns in order, ``-`` descending).
SORT_PARAM = "sort"
_SORT_RULE = (
    f"sort must be up to {MAX_SORT_KEYS} different columns of {', '.join(SORTABLE)}, "
    "separated by commas, each prefixed by - for descending (e.g. type,-created_at)"
)


def sort_param(sort: Sequence[tuple[str, str]]) -> str:
    """The grid's sort as the ``sort`` parameter ("" for the default order: links stay short)."""
    if tuple(sort) == DEFAULT_SORT:
        return ""
    return ",".join(("-" if direction == "desc" else "") + key for key, direction in sort)


def parse_sort_param(value: object) -> tuple[tuple[str, str], ...]:
    """``sort`` from a query string, strictly (whitelisted columns, no repeats); missing or
    empty: the default order. Anything else is BadRequest naming the rule."""
    if value is None or value == "":
        return DEFAULT_SORT
    if not isinstance(value, str):
        raise BadRequest(_SORT_RULE)
    sort: list[tuple[str, str]] = []
    for part in value.split(","):
        key, direction = (part[1:], "desc") if part.startswith("-") else (part, "asc")
        if key not in SORTABLE or any(key == k for k, _ in sort):
            raise BadRequest(_SORT_RULE)
        sort.append((key, direction))
    if len(sort) > MAX_SORT_KEYS:
        raise BadRequest(_SORT_RULE)
    return tuple(sort)


def csv_href(values: Mapping[str, object], sort: Sequence[tuple[str, str]]) -> str:
    """The "Download CSV" link: the list's filters and, after a re-sort, the grid's order."""
    href = OPERATIONS_CSV_HREF + operations_query(values)
    order = sort_param(sort)
    if order:
        href += ("&" if "?" in href else "?") + f"{SORT_PARAM}={quote(order, safe=',-')}"
    return href


def grid_row(run: RunRow, now: datetime, *, may_act: bool = False) -> dict[str, Any]:
    """One grid row: labels for people, the run id for suites, progress per the contract, and
    the row's action (cancel an active run: its viewer with the confirm modal open)."""
    view = progress_for_run(run, now)
    action = ""
    if may_act and run.status in ACTIVE_STATUSES:
        action = f"[Cancel…]({run_href(run.id)}?action=cancel)"
    return {
        "id": f"#{run.id}",
        "href": run_href(run.id),
        "run_id": run.id,
        # run-level status for one truth per page (None: a status this page cannot order)
        "run_status": run.status if run.status in poll_guard.RUN_STATUSES else None,
        "type": type_label(run.type),
        "tenant": run.tenant_name or "—",
        "status": view.status_label,
        "outcome": view.outcome_label or "",
        "progress": progress_text(view, run.type),
        "progress_mode": view.mode,
        # Absolute text (the cell's title) + the instant the browser words relatively ("3 min ago").
        "created_at": format_time(run.created_at),
        "created_at_iso": iso_utc(run.created_at) if run.created_at else None,
        "completed_at": format_time(run.completed_at),
        "completed_at_iso": iso_utc(run.completed_at) if run.completed_at else None,
        "actions": action,
    }


def query_runs(
    *, session: Any, who: Principal, filters: RunFilters, request: RowsRequest, now: datetime
) -> tuple[list[dict[str, Any]], int | None, list[str]]:
    """(rows of the requested block, total matching — None when more than COUNT_LIMIT match —,
    the block's statuses) for the user."""
    page = run_page(session=session, principal=who, filters=filters, request=request)
    rows = [grid_row(run, now, may_act=run.may_act(who)) for run in page.rows]
    return rows, page.total if page.exact else None, [run.status for run in page.rows]


def row_count(total: int | None, request: RowsRequest, returned: int) -> int | None:
    """The grid's ``rowCount``: the total when known; past COUNT_LIMIT unknown (None: the grid
    keeps asking for blocks) until a short block shows where the list ends."""
    if total is not None:
        return total
    return request.start + returned if returned < request.end - request.start else None


# --------------------------------------------------------------------------- layout


def _column(field: str, header: str, **options: Any) -> dict[str, Any]:
    """A grid column whose full value shows on hover (the browser's tooltip: the cell's
    ``title``), since a narrow window truncates tenant names, type labels and progress words."""
    return {"field": field, "headerName": header, "tooltipField": field, **options}


#: Short values get a fixed width (``flex`` 0: the run id, status, outcome, times, action); the
#: long ones (type, tenant, progress) share the rest, with their full value on hover.
COLUMNS = [
    {"field": "id", "headerName": "Run", "cellRenderer": "RunLink", "width": 80, "flex": 0},
    _column("type", "Type", minWidth=195),
    _column("tenant", "Tenant", minWidth=150),
    _column("status", "Status", width=105, flex=0),
    _column("outcome", "Outcome", width=160, flex=0),
    _column("progress", "Progress", sortable=False, minWidth=200, flex=2),
    # Relative words ("3 min ago"), the absolute UTC time on hover; sorted on the server by the
    # real timestamp.
    _column("created_at", "Created", sort="desc", width=115, flex=0, cellRenderer="RelativeTime"),
    _column("completed_at", "Completed", width=115, flex=0, cellRenderer="RelativeTime"),
    {
        "field": "actions",
        "headerName": "Actions",
        "cellRenderer": "markdown",
        "sortable": False,
        "width": 90,
        "flex": 0,
    },
]


def _select(id_: str, label: str, options: list[dict[str, str]], value: str = ALL) -> dbc.Col:
    allowed = {o["value"] for o in options}
    return dbc.Col(
        [
            dbc.Label(label, html_for=id_, className="small mb-0"),
            dbc.Select(
                id=id_,
                options=[{"label": "All", "value": ALL}, *options],
                value=value if value in allowed else ALL,
                size="sm",
            ),
        ],
        md=2,
    )


def _date_input(id_: str, label: str, value: object) -> html.Div:
    return html.Div(
        [
            dbc.Label(label, html_for=id_, className="small mb-0"),
            # A native date input: labelled, keyboard-operable, the browser's own accessible picker.
            # debounce: applied on Enter or when leaving the field (like the search box), not
            # on each typed digit of the year (each change rebuilds the page from its URL).
            dcc.Input(
                id=id_,
                type="date",
                value=value,
                debounce=True,
                min="2000-01-01",
                max="2999-12-31",
                className="form-control form-control-sm",
            ),
        ],
        className="flex-fill",
    )


def _date_range(start: object, end: object, presets: Sequence[DatePreset] = ()) -> html.Fieldset:
    """ "Created between" From / To (either may be empty): a fieldset names the pair."""
    return html.Fieldset(
        [
            html.Legend("Created between", className="small mb-0 float-none w-auto fs-6 fw-normal"),
            html.Div(
                [_date_input(FILTER_FROM, "From", start), _date_input(FILTER_TO, "To", end)],
                className="d-flex gap-1",
            ),
            _preset_links(presets),
        ],
        id=FILTER_DATES,
        className="mb-0",
    )


@dataclass(frozen=True)
class DatePreset:
    key: str
    label: str
    href: str
    active: bool


def date_presets(values: Mapping[str, Any], *, today: date) -> list[DatePreset]:
    """The quick ranges as links: the list's other filters kept, ``from`` = today − N days, no ``to``.

    A preset is active when the URL's range is exactly what it writes (the page shows which
    range is on); a range typed by hand that happens to match lights it up too."""
    kept = {k: values.get(k) for k in FILTER_KEYS if k not in ("from", "to")}
    presets = []
    for key, label, days in DATE_PRESETS:
        start = (today - timedelta(days=days)).isoformat()
        presets.append(
            DatePreset(
                key=key,
                label=label,
                href=operations_href(**kept, **{"from": start}),
                active=values.get("from") == start and not values.get("to"),
            )
        )
    return presets


def _preset_links(presets: Sequence[DatePreset]) -> html.Div:
    return html.Div(
        [
            html.Span("Last", className="small text-body-secondary me-1", id="ops-date-presets-label"),
            html.Div(
                [
                    # Plain links (a page load, like a shared URL): keyboard-operable, in the history.
                    html.A(
                        p.label,
                        href=p.href,
                        id=DATE_PRESET_PREFIX + p.key,
                        className="btn btn-outline-secondary py-0" + (" active" if p.active else ""),
                        **({"aria-current": "true"} if p.active else {}),
                        **{"data-active": "true" if p.active else "false"},
                    )
                    for p in presets
                ],
                className="btn-group btn-group-sm",
                role="group",
                **{"aria-labelledby": "ops-date-presets-label"},
            ),
        ],
        className="d-flex align-items-center mt-1",
        id="ops-date-presets",
    )


def _tenant_options(session: Any, who: Principal) -> list[dict[str, str]]:
    tenants = [
        t for t in visible_tenants(session=session, principal=who) if "operations.view" in who.capabilities_for(t)
    ]
    names = workspace_names(session=session, workspace_ids={t.workspace_id for t in tenants})
    several = len(names) > 1
    return [
        {"label": f"{names.get(t.workspace_id, '')} / {t.name}" if several else t.name, "value": str(t.id)}
        for t in tenants
    ]


def layout(**query: object) -> html.Div:
    """The list as the URL's query string says (``tenant``, ``type``, ``status``, ``outcome``,
    ``q``, ``from``, ``to``): a shared link, a reload and the back button show the same list."""
    session, who = db_session(), principal()
    values, messages = filters_from_query(query)
    tenant_options = _tenant_options(session, who)
    if values["tenant"] != ALL and values["tenant"] not in {o["value"] for o in tenant_options}:
        messages.append("The tenant filter was ignored: no tenant you can see has that id.")
        values["tenant"] = ALL
    filtered = any(values[k] not in (ALL, "", None) for k in FILTER_KEYS)
    filters = dbc.Row(
        [
            _select(
                FILTER_TYPE,
                "Type",
                [{"label": spec.label, "value": spec.type} for spec in registry.specs()],
                values["type"],
            ),
            _select(
                FILTER_STATUS,
                "Status",
                [
                    {"label": "Active (queued or running)", "value": ACTIVE_FILTER},
                    *({"label": STATUS_LABELS[s], "value": s} for s in ("queued", "running", "completed")),
                ],
                values["status"],
            ),
            _select(
                FILTER_OUTCOME,
                "Outcome",
                [{"label": label, "value": key} for key, label in OUTCOME_LABELS.items()],
                values["outcome"],
            ),
            _select(FILTER_TENANT, "Tenant", tenant_options, values["tenant"]),
            dbc.Col(_date_range(values["from"], values["to"], date_presets(values, today=utcnow().date())), md=3),
            dbc.Col(dbc.Button("Clear filters", id=FILTER_CLEAR, color="link", size="sm", className="mt-3 px-0"), md=1),
            dbc.Col(
                [
                    dbc.Label("Search", html_for=FILTER_Q, className="small mb-0"),
                    dbc.Input(
                        id=FILTER_Q,
                        type="search",
                        value=values["q"],
                        debounce=True,  # Enter or leaving the field: one URL change, not one per key
                        maxLength=MAX_Q,
                        placeholder="Run id, type, who started it, failure text",
                        size="sm",
                    ),
                ],
                md=4,
            ),
        ],
        className="g-2 mb-2 align-items-end",
        id="operations-filters",
    )
    grid = dag.AgGrid(
        id=ids.OPERATIONS_TABLE,
        rowModelType="infinite",
        columnDefs=COLUMNS,
        defaultColDef={"resizable": True, "sortable": True, "flex": 1},
        dashGridOptions={
            "pagination": True,
            "paginationPageSize": PAGE_SIZE,
            "paginationPageSizeSelector": False,
            "cacheBlockSize": PAGE_SIZE,
            "maxBlocksInCache": 4,
            "infiniteInitialRowCount": 1,
            "enableBrowserTooltips": True,  # a tooltip is the cell's title: no popup, no extra module
            "maxConcurrentDatasourceRequests": 1,
        },
        style={"height": "720px"},
    )
    return html.Div(
        [
            dcc.Location(id=URL, refresh="callback-nav"),
            html.Div(
                [
                    html.H1("Operations", className="h2 me-auto"),
                    html.A(
                        "Download CSV",
                        id=CSV_LINK,
                        href=csv_href(values, DEFAULT_SORT),
                        className="btn btn-outline-secondary btn-sm",
                        download="operations.csv",
                    ),
                ],
                className="d-flex align-items-center",
            ),
            html.P(
                "Rows refresh every 10 s while one on this page is active.",
                id=SUBTITLE,
                className="text-muted small",
            ),
            html.Div(
                [html.Div(m) for m in messages],
                id=FILTER_MESSAGE,
                className="alert alert-warning py-1 small",
                role="status",
                hidden=not messages,
            ),
            filters,
            html.P(
                empty_text(filtered),
                id=EMPTY,
                className="text-muted",
                hidden=True,
                **{"data-filtered": "true" if filtered else "false"},
            ),
            # One truth per page: each visible row's run link carries data-run-id/-status
            # (assets/dashAgGridComponentFunctions.js); a run-updated event writes the kick store.
            html.Div(grid, id=GRID_SURFACE, **poll_guard.run_surface(RUN_SURFACE)),
            poll_guard.run_kick_store(RUN_SURFACE),
            *poll_guard.poll_components(POLL, POLL_POLICY, None),
            dcc.Store(id=SIGNATURE, data=None),
            dcc.Store(id=REFRESH, data=None),
            dcc.Store(id=GRID_SYNC, data=None),
        ]
    )


# --------------------------------------------------------------------------- callbacks

_FILTER_STATES = [
    State(FILTER_TYPE, "value"),
    State(FILTER_STATUS, "value"),
    State(FILTER_OUTCOME, "value"),
    State(FILTER_TENANT, "value"),
    State(FILTER_FROM, "value"),
    State(FILTER_TO, "value"),
    State(FILTER_Q, "value"),
]

# A poll found a change -> refresh the cached blocks in place (no flicker). (A filter change
# rebuilds the page from its new URL, grid included: nothing to purge.)
_GRID_SYNC_JS = """
function(refresh) {
    var api = null;
    try { api = window.dash_ag_grid.getApi("__GRID__"); } catch (e) { api = null; }
    if (api) { api.refreshInfiniteCache(); }
    return window.dash_clientside.no_update;
}
""".replace("__GRID__", ids.OPERATIONS_TABLE)

# Filters -> the page's URL (the same order and encoding as display.operations_query). Either
# date bound may be set alone (the KPI links use ``from`` alone).
_URL_JS = """
function(type_, status, outcome, tenant, start, end, q) {
    var values = {tenant: tenant, type: type_, status: status, outcome: outcome, q: q,
                  from: start ? String(start).slice(0, 10) : null, to: end ? String(end).slice(0, 10) : null};
    var parts = [];
    __KEYS__.forEach(function (key) {
        var v = values[key];
        if (v === null || v === undefined || v === "" || v === "__ALL__") { return; }
        parts.push(key + "=" + encodeURIComponent(String(v).trim().split(/\\s+/).join(" ")));
    });
    var search = parts.length ? "?" + parts.join("&") : "";
    if (search === window.location.search) { return window.dash_clientside.no_update; }
    return search;
}
""".replace("__KEYS__", json.dumps(list(FILTER_KEYS))).replace("__ALL__", ALL)


def _filters_from(values: Sequence[object]) -> RunFilters:
    type_, status, outcome, tenant, start, end, q = values
    return parse_filters(type=type_, status=status, outcome=outcome, tenant=tenant, date_from=start, date_to=end, q=q)


def _query_values(values: Sequence[object]) -> dict[str, object]:
    """The controls' values (already validated by ``_filters_from``) by their query-string keys."""
    type_, status, outcome, tenant, start, end, q = values
    return {"tenant": tenant, "type": type_, "status": status, "outcome": outcome, "q": q, "from": start, "to": end}


def _is_filtered(filters: RunFilters) -> bool:
    return filters != RunFilters()


def register_callbacks(app: dash.Dash) -> None:
    poll_guard.register_guard(app, interval_id=POLL, policy_id=POLL_POLICY)
    operations_csv.init_app(app.server)  # the same list as CSV, next to the list it exports

    @app.callback(
        Output(ids.OPERATIONS_TABLE, "getRowsResponse"),
        Output(POLL_POLICY, "data"),
        Output(SIGNATURE, "data"),
        Output(SUBTITLE, "children"),
        Output(EMPTY, "hidden"),
        Output(CSV_LINK, "href"),
        Input(ids.OPERATIONS_TABLE, "getRowsRequest"),
        *_FILTER_STATES,
        prevent_initial_call=True,
    )
    def _rows(request, *filter_values):
        if request is None:
            raise PreventUpdate
        rows_request = parse_rows_request(request)
        filters = _filters_from(filter_values)
        rows, total, statuses = query_runs(
            session=db_session(), who=principal(), filters=filters, request=rows_request, now=utcnow()
        )
        return (
            {"rowData": rows, "rowCount": row_count(total, rows_request, len(rows))},
            poll_guard.policy(table_poll_interval(statuses)),
            signature([rows, total]),
            subtitle(total=total, sort=rows_request.sort, filtered=_is_filtered(filters)),
            total is None or total > 0,
            csv_href(_query_values(filter_values), rows_request.sort),
        )

    @app.callback(
        Output(REFRESH, "data"),
        Output(POLL_POLICY, "data", allow_duplicate=True),
        Input(POLL, "n_intervals"),
        Input(poll_guard.run_kick_id(RUN_SURFACE), "data"),
        State(ids.OPERATIONS_TABLE, "getRowsRequest"),
        *_FILTER_STATES,
        State(SIGNATURE, "data"),
        State(POLL_POLICY, "data"),
        prevent_initial_call=True,
    )
    def _poll(_n, _run_kick, request, *rest):
        # A run-updated kick is one ordinary poll: the rows refresh in place (same page, sort,
        # filters and scroll) when the page changed, else nothing is sent.
        *filter_values, shown, known_policy = rest
        if request is None:
            raise PreventUpdate
        rows, total, statuses = query_runs(
            session=db_session(),
            who=principal(),
            filters=_filters_from(filter_values),
            request=parse_rows_request(request),
            now=utcnow(),
        )
        current = signature([rows, total])
        policy = poll_guard.changed_policy(poll_guard.policy(table_poll_interval(statuses)), known_policy)
        # Unchanged page: nothing to send (HTTP 204), the grid keeps what it shows.
        return poll_guard.unless_all_unchanged((no_update if current == shown else current, policy))

    app.clientside_callback(
        _GRID_SYNC_JS,
        Output(GRID_SYNC, "data"),
        Input(REFRESH, "data"),
        prevent_initial_call=True,
    )

    app.clientside_callback(
        _URL_JS,
        Output(URL, "search"),
        Input(FILTER_TYPE, "value"),
        Input(FILTER_STATUS, "value"),
        Input(FILTER_OUTCOME, "value"),
        Input(FILTER_TENANT, "value"),
        Input(FILTER_FROM, "value"),
        Input(FILTER_TO, "value"),
        Input(FILTER_Q, "value"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(FILTER_TYPE, "value"),
        Output(FILTER_STATUS, "value"),
        Output(FILTER_OUTCOME, "value"),
        Output(FILTER_TENANT, "value"),
        Output(FILTER_FROM, "value"),
        Output(FILTER_TO, "value"),
        Output(FILTER_Q, "value"),
        Input(FILTER_CLEAR, "n_clicks"),
        prevent_initial_call=True,
    )
    def _clear(_n):
        return ALL, ALL, ALL, ALL, "", "", ""
