"""``GET /admin/operations.csv``: the operations list as CSV — the same filters (the query string
the list's URL carries) and the same access rules (``queries.run_page``, through the run
visibility filter), so a CSV never holds a run the list would not show.

No session: the auth gate redirects to the login page (302), like a page. A malformed filter
or sort (``sort=type,-created_at``: the grid's order, sortable columns only) is 400, a tenant
the user may not see 404, one without ``operations.view`` 403 — the list's answers. Cells a
spreadsheet would read as a formula (``= + - @``, tab, CR) are prefixed with a quote (OWASP
"CSV injection"): tenant names and failure texts are user-controlled."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from flask import Flask, Response, request

from console.access import Principal
from console.components.display import OPERATIONS_CSV_HREF, progress_text
from console.errors import BadRequest, Forbidden, NotFound
from console.operations.progress import progress_for_run
from console.operations.queries import DEFAULT_SORT, RowsRequest, RunFilters, RunRow, run_page
from console.operations.registry import type_label

HEADER: Final = ("run_id", "type", "tenant", "status", "outcome", "progress", "created_at", "completed_at")
BATCH: Final = 500
#: A bound on one export (the list pages; an export of everything is a job for the CLI).
MAX_ROWS: Final = 50_000
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell as text, quoted when a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def csv_row(run: RunRow, now: datetime) -> list[str]:
    view = progress_for_run(run, now)
    return [
        safe_cell(v)
        for v in (
            run.id,
            type_label(run.type),
            run.tenant_name or "",
            view.status_label,
            view.outcome_label or "",
            progress_text(view, run.type),
            _iso(run.created_at),
            _iso(run.completed_at),
        )
    ]


def export_rows(
    *,
    session: Any,
    who: Principal,
    filters: RunFilters,
    now: datetime,
    sort: tuple[tuple[str, str], ...] = DEFAULT_SORT,
) -> Iterator[list[str]]:
    """Every run the user may see that matches, in the list's order (``sort``, by default newest
    first), in batches (bounded by MAX_ROWS)."""
    start = 0
    while start < MAX_ROWS:
        page = run_page(
            session=session,
            principal=who,
            filters=filters,
            request=RowsRequest(start=start, end=start + BATCH, sort=sort),
        )
        for run in page.rows:
            yield csv_row(run, now)
        if len(page.rows) < BATCH:
            return
        start += BATCH


def render_csv(rows: Iterable[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


def filters_from_args(args: Mapping[str, str]) -> RunFilters:
    """The list's query-string filters, strictly: a bad one is 400 (a link the list would have
    shown with a message; a file cannot carry one)."""
    from console.components.operations_table import parse_filters

    return parse_filters(
        type=args.get("type"),
        status=args.get("status"),
        outcome=args.get("outcome"),
        tenant=args.get("tenant"),
        date_from=args.get("from"),
        date_to=args.get("to"),
        q=args.get("q"),
    )


def _text(message: str, status: int) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


def operations_csv() -> Response:
    from console.components.operations_table import SORT_PARAM, parse_sort_param
    from console.db import utcnow
    from console.web.context import db_session, principal

    try:
        filters = filters_from_args(request.args)
        sort = parse_sort_param(request.args.get(SORT_PARAM))
        # Materialised before answering: an access error must be an HTTP status, not a cut file.
        body = render_csv(export_rows(session=db_session(), who=principal(), filters=filters, now=utcnow(), sort=sort))
    except BadRequest as exc:
        return _text(str(exc), 400)
    except NotFound:
        return _text("not found", 404)
    except Forbidden:
        return _text("you may not see this tenant's operations", 403)
    response = Response(body, mimetype="text/csv")
    response.headers.set("Content-Disposition", "attachment", filename="operations.csv")
    # Tenant data: a shared cache must never keep it.
    response.headers["Cache-Control"] = "private, no-store"
    return response


def init_app(server: Flask) -> None:
    """Register the route (behind the auth gate: no session -> the login page)."""
    if "operations_csv" not in server.view_functions:
        server.add_url_rule(OPERATIONS_CSV_HREF, "operations_csv", operations_csv, methods=["GET"])
