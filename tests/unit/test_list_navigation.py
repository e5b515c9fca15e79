"""Navigation that keeps context, as pure functions: the list's query string (written once,
read back by the page), subtitles, breadcrumbs, the links from counts into the filtered list,
and the CSV's formula guard."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, urlsplit

import pytest
from dash import dcc

from console.components import overview
from console.components.display import breadcrumbs, operations_href, operations_query
from console.components.operations_csv import render_csv, safe_cell
from console.components.operations_table import (
    ALL,
    csv_href,
    empty_text,
    filters_from_query,
    grid_row,
    parse_filters,
    parse_sort_param,
    row_count,
    sort_param,
    subtitle,
)
from console.components.tenant_dashboard import kpis
from console.errors import BadRequest
from console.operations.queries import DEFAULT_SORT, RowsRequest, RunRow, TenantHealth

TODAY = date(2026, 3, 10)


def _walk(node):
    yield node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children] if children is not None else []:
        if hasattr(child, "to_plotly_json"):
            yield from _walk(child)


def test_the_query_string_lists_only_set_filters_in_a_fixed_order_and_encodes_text() -> None:
    assert operations_query({}) == "" and operations_query({"type": ALL, "q": "", "tenant": None}) == ""
    assert operations_href(outcome="failed", tenant=3) == "/admin/operations?tenant=3&outcome=failed"
    href = operations_href(q="50% & more #7")
    assert href == "/admin/operations?q=50%25%20%26%20more%20%237"
    assert dict(parse_qsl(urlsplit(href).query)) == {"q": "50% & more #7"}


def test_the_page_reads_back_what_a_link_wrote() -> None:
    href = operations_href(
        **{"tenant": 3, "type": "inventory_sync", "status": "active", "q": "quota", "from": "2026-03-01"}
    )
    values, messages = filters_from_query(dict(parse_qsl(urlsplit(href).query)))
    assert messages == []
    assert values == {
        "tenant": "3",
        "type": "inventory_sync",
        "status": "active",
        "outcome": ALL,
        "q": "quota",
        "from": "2026-03-01",
        "to": None,
    }
    assert parse_filters(status="active").status == "active"


@pytest.mark.parametrize(
    "query, dropped, message",
    [
        ({"type": "drop_tables"}, "type", "filter type must be one of"),
        ({"status": ["queued", "running"]}, "status", "filter status must be one of"),
        ({"tenant": "a1"}, "tenant", "no tenant you can see has that id"),
        ({"from": "yesterday"}, "from", "must be a date"),
        ({"q": "x" * 500}, "q", "at most 200 characters"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from", "from must not be after to"),
    ],
)
def test_a_rejected_filter_is_dropped_and_said_and_the_others_still_apply(query, dropped, message) -> None:
    values, messages = filters_from_query({**query, "outcome": "failed"})
    assert values["outcome"] == "failed"
    assert values[dropped] in (ALL, "", None)
    assert len(messages) == 1 and message in messages[0]


def test_the_subtitle_follows_the_sort_and_the_empty_text_the_filters() -> None:
    assert subtitle(total=31, sort=[("created_at", "desc")], filtered=False).startswith(
        "31 runs you may see, newest first."
    )
    assert "oldest first" in subtitle(total=1, sort=[("created_at", "asc")], filtered=False)
    resorted = subtitle(total=2, sort=[("type", "asc")], filtered=True)
    assert resorted.startswith("2 runs match these filters, sorted by type (ascending)") and "newest" not in resorted
    assert empty_text(True) == "No operations you can see match these filters."
    # Past COUNT_LIMIT the list does not count every run (a full scan per page at 1,000,000 runs).
    assert subtitle(total=None, sort=[("created_at", "desc")], filtered=False).startswith(
        "More than 10,000 runs you may see, newest first."
    )


@pytest.mark.parametrize(
    ("total", "start", "end", "returned", "expected"),
    [
        (31, 0, 100, 31, 31),  # counted: the total, whatever the block
        (None, 0, 100, 100, None),  # past the limit, a full block: the end is not known yet
        (None, 10_000, 10_100, 100, None),
        (None, 12_300, 12_400, 37, 12_337),  # a short block: the list ends here
        (None, 12_400, 12_500, 0, 12_400),
    ],
)
def test_the_grid_row_count_is_unknown_past_the_count_limit_until_a_short_block(
    total, start, end, returned, expected
) -> None:
    request = RowsRequest(start=start, end=end, sort=(("created_at", "desc"),))
    assert row_count(total, request, returned) == expected


def test_breadcrumbs_link_every_step_but_the_page_itself() -> None:
    nav = breadcrumbs([("Overview", "/"), ("Contoso", "/admin/tenants/3"), ("Run #9", None)])
    assert nav.id == "breadcrumbs"
    links = [(c.children, c.href) for c in _walk(nav) if isinstance(c, dcc.Link)]
    assert links == [("Overview", "/"), ("Contoso", "/admin/tenants/3")]
    assert "Run #9" in str(nav.to_plotly_json())


def test_overview_counts_link_to_the_list_filtered_to_what_they_count() -> None:
    rows = [
        overview.TenantRow(tenant_id=3, name="a1", workspace="A", active=2, failed_7d=1, pack=None),
        overview.TenantRow(tenant_id=4, name="a2", workspace="A", active=None, failed_7d=None, pack=None),
    ]
    links = {
        c.children: c.href for c in _walk(overview.table(rows, today=TODAY).children[1]) if isinstance(c, dcc.Link)
    }
    assert links["2"] == "/admin/operations?tenant=3&status=active"
    assert links["1"] == "/admin/operations?tenant=3&outcome=failed&from=2026-03-03"
    assert all("tenant=4" not in h for h in links.values())  # no operations.view: a dash, no link


def test_tenant_kpis_link_to_the_filtered_list() -> None:
    health = TenantHealth(4, 2, 1, 1, datetime(2026, 3, 9, tzinfo=UTC))
    hrefs = {k.id: k.href for k in kpis(health, tenant_id=3, today=TODAY)}
    assert hrefs["kpi-runs-30d"] == "/admin/operations?tenant=3&from=2026-02-08"
    assert hrefs["kpi-active-runs"] == "/admin/operations?tenant=3&status=active"
    assert all(k.href is None for k in kpis(None, tenant_id=3, today=TODAY))


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+1", "'=1+1"),
        ("+33 1", "'+33 1"),
        ("-2 quota", "'-2 quota"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("a=b", "a=b"),
        (None, ""),
        (12, "12"),
    ],
)
def test_csv_cells_never_start_a_formula(value, cell) -> None:
    assert safe_cell(value) == cell


def test_csv_has_a_header_and_crlf_rows() -> None:
    assert render_csv([["1", "x,y"]]) == (
        'run_id,type,tenant,status,outcome,progress,created_at,completed_at\r\n1,"x,y"\r\n'
    )


def test_the_csv_sort_round_trips_and_the_default_order_writes_nothing() -> None:
    for sort in ((("type", "asc"), ("created_at", "desc")), (("id", "desc"),), (("completed_at", "asc"),)):
        assert parse_sort_param(sort_param(sort)) == sort
    assert sort_param(DEFAULT_SORT) == "" and parse_sort_param("") == parse_sort_param(None) == DEFAULT_SORT
    assert csv_href({"outcome": "failed", "tenant": ALL}, DEFAULT_SORT) == "/admin/operations.csv?outcome=failed"
    assert csv_href({}, (("tenant", "desc"),)) == "/admin/operations.csv?sort=-tenant"
    assert csv_href({"q": "a b"}, (("type", "asc"), ("id", "desc"))) == "/admin/operations.csv?q=a%20b&sort=type,-id"


@pytest.mark.parametrize("bad", ["progress", "-", "id,", "id,-id", "+id", "id;type", "type,id,status,outcome", 3])
def test_a_sort_outside_the_sortable_columns_is_refused_with_the_rule(bad) -> None:
    with pytest.raises(BadRequest, match="sort must be up to 3 different columns of id, type"):
        parse_sort_param(bad)


def test_a_grid_row_carries_its_run_status_and_instants_for_the_browser() -> None:
    when = datetime(2026, 12, 5, 2, 28, 9, tzinfo=UTC)
    run = RunRow(
        id=7, type="inventory_sync", status="running", summary_counts={}, context={},
        created_at=when, started_at=when, tenant_name="a1", heartbeat_at=when,
    )  # fmt: skip
    row = grid_row(run, when)
    assert (row["id"], row["href"], row["run_status"]) == ("#7", "/admin/operations/7", "running")
    assert (row["created_at"], row["created_at_iso"]) == ("2026-12-05 02:28 UTC", "2026-12-05T02:28:09Z")
    assert (row["completed_at"], row["completed_at_iso"]) == ("", None)
    # A status this page cannot order is nobody's news: no data-run-status for run_updates.js.
    assert grid_row(replace(run, status="paused"), when)["run_status"] is None
