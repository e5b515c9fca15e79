"""The operations list's query string, free-text search, subtitle and CSV export over real HTTP
(SQLite, and PostgreSQL in CI): the CSV holds exactly the runs the list shows the user —
another tenant's runs never, an outsider nothing — and a formula never reaches a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from console import ids
from console.accounts.service import create_tenant
from console.components import operations_table
from console.operations.models import OperationRun
from tests.integration.test_ui_callbacks_tenant import FIRST_PAGE, add_run, post, response_of, rows_request
from tests.support.web import login, page


def _set(web_app, run_id: int, **fields) -> None:
    with web_app.server.extensions["console.db"].session() as s:
        run = s.get(OperationRun, run_id)
        for k, v in fields.items():
            setattr(run, k, v)
        s.commit()


def _csv(client, query: str = "") -> list[list[str]]:
    r = client.get("/admin/operations.csv" + query)
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:300])
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    assert r.headers["Cache-Control"] == "private, no-store"
    return list(csv.reader(io.StringIO(r.get_data(as_text=True))))


def test_free_text_search_matches_id_type_label_initiator_and_failure_text_only_among_visible_runs(
    web_app, client, world
) -> None:
    a1 = world.tenant_ids[0]
    operator = world.users["operator"]
    synced = add_run(web_app, world.workspace_id, a1, initiator=operator)
    failed = add_run(web_app, world.workspace_id, a1, type_="baseline_compare", outcome="failed")
    _set(web_app, failed, failure_summary="Provider said 50% of QUOTA_used")
    restored = add_run(web_app, world.workspace_id, a1, type_="backup_set_restore")
    foreign = add_run(web_app, world.other_workspace_id, world.other_tenant_id, outcome="failed")
    _set(web_app, foreign, failure_summary="provider said 50% of quota_used")
    login(client, "operator@test.example")

    def found(q) -> set[int]:
        data = response_of(post(client, rows_request(web_app, FIRST_PAGE, q=q)))[ids.OPERATIONS_TABLE]
        return {row["run_id"] for row in data["getRowsResponse"]["rowData"]}

    assert found("quota_USED") == {failed}  # failure text, case-insensitive, wildcards literal
    assert found("50%") == {failed} and found("5_%") == set()
    assert found("operator") == {synced}  # the initiator's name
    assert found("backup RESTORE") == {restored}  # the type's label
    assert found(f"#{restored}") == {restored} and found(str(synced)) == {synced}
    assert found(str(foreign)) == set()  # another workspace's run: never, by id or by text
    assert found("  ") == {synced, failed, restored}  # blank: no filter
    for bad in ("x" * 201, "a\x00b", ["q"], 3):
        assert post(client, rows_request(web_app, FIRST_PAGE, q=bad)).status_code == 400, bad


def test_subtitle_follows_the_sort_and_an_empty_list_says_so(web_app, client, world) -> None:
    add_run(web_app, world.workspace_id, world.tenant_ids[0])
    login(client, "operator@test.example")
    first = response_of(post(client, rows_request(web_app, FIRST_PAGE)))
    assert first[operations_table.SUBTITLE]["children"].startswith("1 run you may see, newest first.")
    assert first[operations_table.EMPTY]["hidden"] is True
    by_type = {**FIRST_PAGE, "sortModel": [{"colId": "type", "sort": "asc"}]}
    resorted = response_of(post(client, rows_request(web_app, by_type)))
    assert "newest first" not in resorted[operations_table.SUBTITLE]["children"]
    assert "sorted by type (ascending)" in resorted[operations_table.SUBTITLE]["children"]
    none = response_of(post(client, rows_request(web_app, FIRST_PAGE, status="running")))
    assert none[operations_table.EMPTY]["hidden"] is False
    assert none[operations_table.SUBTITLE]["children"].startswith("0 runs match these filters")


def test_the_page_reads_its_filters_from_the_query_string_and_says_which_it_ignored(web_app, client, world) -> None:
    a1 = world.tenant_ids[0]
    login(client, "operator@test.example")
    shown = page(client, "/admin/operations", f"?tenant={a1}&status=running&q=quota&type=drop_tables")
    layout = json.dumps(json.loads(shown))
    assert '"id": "ops-filter-status", "options"' in layout or '"ops-filter-status"' in layout

    def value_of(component_id: str):
        found = []

        def walk(node):
            if isinstance(node, dict):
                props = node.get("props", {})
                if props.get("id") == component_id:
                    found.append(props)
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)

        walk(json.loads(shown))
        (props,) = found
        return props

    assert value_of(operations_table.FILTER_STATUS)["value"] == "running"
    assert value_of(operations_table.FILTER_TENANT)["value"] == str(a1)
    assert value_of(operations_table.FILTER_Q)["value"] == "quota"
    assert value_of(operations_table.FILTER_TYPE)["value"] == operations_table.ALL  # rejected: dropped
    message = value_of(operations_table.FILTER_MESSAGE)
    assert message["hidden"] is False and "filter type must be one of" in json.dumps(message)
    assert value_of(operations_table.CSV_LINK)["href"] == f"/admin/operations.csv?tenant={a1}&status=running&q=quota"
    # A tenant the user may not see is ignored (and said), not an error page.
    hidden = page(client, "/admin/operations", f"?tenant={world.tenant_ids[1]}")
    assert "The tenant filter was ignored" in hidden
    clean = page(client, "/admin/operations")
    assert "was ignored" not in clean


def test_csv_needs_a_session(web_app, client, world) -> None:
    r = client.get("/admin/operations.csv?status=failed")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    assert "operations.csv" in r.headers["Location"]


def test_csv_holds_exactly_the_runs_the_list_shows_and_no_formula(web_app, client, world) -> None:
    a1, a2 = world.tenant_ids
    with web_app.server.extensions["console.db"].session() as s:
        evil = create_tenant(session=s, workspace_id=world.workspace_id, name='=HYPERLINK("http://x","y")').id
    mine = add_run(web_app, world.workspace_id, a1, counts={"total": 3, "processed": 3})
    failed = add_run(web_app, world.workspace_id, a1, outcome="failed", created_ago=timedelta(hours=2))
    _set(web_app, failed, failure_summary="-2 quota")
    other_tenant = add_run(web_app, world.workspace_id, a2)
    other_workspace = add_run(web_app, world.other_workspace_id, world.other_tenant_id)
    formula = add_run(web_app, world.workspace_id, evil)

    login(client, "operator@test.example")  # sees a1 only
    rows = _csv(client)
    assert rows[0] == ["run_id", "type", "tenant", "status", "outcome", "progress", "created_at", "completed_at"]
    assert [int(r[0]) for r in rows[1:]] == [mine, failed]  # newest first; a2 and workspace B never
    assert rows[1][1:6] == ["Inventory sync", "a1", "Completed", "Succeeded", "3 of 3 processed"]
    assert [int(r[0]) for r in _csv(client, "?outcome=failed")[1:]] == [failed]
    assert [int(r[0]) for r in _csv(client, "?q=quota")[1:]] == [failed]
    assert client.get(f"/admin/operations.csv?tenant={a2}").status_code == 404  # not granted: not revealed
    assert client.get(f"/admin/operations.csv?tenant={world.other_tenant_id}").status_code == 404
    assert client.get("/admin/operations.csv?status=exploded").status_code == 400

    client.post("/logout", headers={"X-CSRFToken": client.get_cookie("_csrf_token").value})
    login(client, "manager@test.example")  # every tenant of workspace A
    rows = _csv(client)
    got = {int(r[0]): r for r in rows[1:]}
    assert set(got) == {mine, failed, other_tenant, formula} and other_workspace not in got
    assert got[formula][2] == "'" + '=HYPERLINK("http://x","y")'  # a quote: text, not a formula

    client.post("/logout", headers={"X-CSRFToken": client.get_cookie("_csrf_token").value})
    login(client, "outsider@test.example")  # owner of workspace B only
    assert [int(r[0]) for r in _csv(client)[1:]] == [other_workspace]
    assert client.get(f"/admin/operations.csv?tenant={a1}").status_code == 404

    client.post("/logout", headers={"X-CSRFToken": client.get_cookie("_csrf_token").value})
    login(client, "stranger@test.example")  # member of no workspace: the header, nothing else
    assert _csv(client) == [["run_id", "type", "tenant", "status", "outcome", "progress", "created_at", "completed_at"]]


def test_pages_link_into_the_filtered_list_and_show_where_you_are(web_app, client, world) -> None:
    a1 = world.tenant_ids[0]
    failed = add_run(web_app, world.workspace_id, a1, outcome="failed")
    login(client, "operator@test.example")
    dashboard = json.dumps(json.loads(page(client, f"/admin/tenants/{a1}")))
    assert f'"href": "/admin/operations?tenant={a1}"' in dashboard  # "All operations"
    assert '"id": "breadcrumbs"' in dashboard and '"href": "/"' in dashboard
    viewer = json.dumps(json.loads(page(client, f"/admin/operations/{failed}")))
    assert '"id": "breadcrumbs"' in viewer and f'"href": "/admin/tenants/{a1}"' in viewer
    assert f"Run #{failed}" in viewer
    home = json.dumps(json.loads(page(client, "/")))
    assert f"/admin/operations?tenant={a1}&outcome=failed&from=" in home
    assert f"/admin/operations?tenant={a1}&status=active" in home


def test_csv_exports_in_the_grids_sort_and_the_link_follows_a_re_sort(web_app, client, world) -> None:
    """Re-sorting the grid rewrites the CSV link with ``sort`` (``-`` = descending); the CSV
    comes in that order. A sort outside the sortable columns is a 400 saying which are."""
    a1 = world.tenant_ids[0]
    ids_ = [
        add_run(web_app, world.workspace_id, a1, type_=t, created_ago=timedelta(minutes=m))
        for t, m in (("inventory_sync", 1), ("baseline_compare", 2), ("evidence_snapshot_generate", 3))
    ]
    login(client, "operator@test.example")
    first = response_of(post(client, rows_request(web_app, FIRST_PAGE, outcome="succeeded")))
    assert first[operations_table.CSV_LINK]["href"] == "/admin/operations.csv?outcome=succeeded"  # default: no sort
    by_type = {**FIRST_PAGE, "sortModel": [{"colId": "type", "sort": "asc"}, {"colId": "created_at", "sort": "desc"}]}
    resorted = response_of(post(client, rows_request(web_app, by_type, outcome="succeeded")))
    href = resorted[operations_table.CSV_LINK]["href"]
    assert href == "/admin/operations.csv?outcome=succeeded&sort=type,-created_at"
    grid_order = [r["run_id"] for r in resorted[ids.OPERATIONS_TABLE]["getRowsResponse"]["rowData"]]
    assert grid_order == [ids_[1], ids_[2], ids_[0]]  # Baseline compare, Evidence snapshot, Inventory sync
    assert [int(r[0]) for r in _csv(client, href.removeprefix("/admin/operations.csv"))[1:]] == grid_order
    assert [int(r[0]) for r in _csv(client, "?sort=id")[1:]] == sorted(ids_)
    assert [int(r[0]) for r in _csv(client, "?sort=-id")[1:]] == sorted(ids_, reverse=True)

    for bad in ("password_hash", "id,,type", "--id", "id,id", "id,type,status,outcome", "type:asc", " id"):
        r = client.get("/admin/operations.csv", query_string={"sort": bad})
        assert r.status_code == 400, bad
        assert "sort must be" in r.get_data(as_text=True) and "rowData" not in r.get_data(as_text=True), bad
