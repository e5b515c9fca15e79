"""The tenant dashboard, review pack card, operation buttons and operations list over real
HTTP: Dash callback requests as a browser (or an attacker) sends them, through the login,
CSRF and access checks, against SQLite (and PostgreSQL when CONSOLE_TEST_DATABASE_URL is set).

Forged payloads must answer 404 / 403 / 400 — never data, never a 500 — and must create
nothing; the database is checked after every request that could have written."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from console import ids
from console.accounts.service import create_user, grant_capabilities, grant_role
from console.components import charts, operation_buttons, operations_table, review_pack_card, tenant_dashboard
from console.db import utcnow
from console.operations.models import OperationRun
from console.operations.service import complete_run, enqueue_run, mark_running
from console.review_packs.models import ReviewPack
from tests.factories import PASSWORD
from tests.support.web import login, page

CALLBACK = "/_dash-update-component"

# --------------------------------------------------------------------------- helpers


def _key(app, *, input_id: str, output: str) -> str:
    """The callback_map key of the (server) callback fed by ``input_id`` that writes ``output``."""
    keys = [
        k
        for k, v in app.callback_map.items()
        if any(i["id"] == input_id for i in v["inputs"]) and f"{output}" in k and v.get("callback") is not None
    ]
    assert len(keys) == 1, (input_id, output, keys)
    return keys[0]


def _outputs(key: str) -> Any:
    def split(part: str) -> dict[str, str]:
        id_, prop = part.rsplit(".", 1)
        return {"id": json.loads(id_) if id_.startswith("{") else id_, "property": prop.split("@")[0]}

    return [split(p) for p in key[2:-2].split("...")] if key.startswith("..") else split(key)


def body(app, key: str, inputs: list[Any], state: list[Any], *, changed: str | None = None) -> dict[str, Any]:
    """A callback request like dash-renderer's; a list value for an ALL input is [(id, value), ...]."""
    spec = app.callback_map[key]

    def item(dep: dict[str, str], value: Any) -> Any:
        if dep["id"].startswith("{"):  # pattern-matching (ALL): a list of concrete matches
            return [{"id": id_, "property": dep["property"], "value": v} for id_, v in value]
        return {"id": dep["id"], "property": dep["property"], "value": value}

    in_items = [item(d, v) for d, v in zip(spec["inputs"], inputs, strict=True)]
    first = spec["inputs"][0]
    return {
        "output": key,
        "outputs": _outputs(key),
        "inputs": in_items,
        "state": [item(d, v) for d, v in zip(spec["state"], state, strict=True)],
        "changedPropIds": [changed or f"{first['id']}.{first['property']}"],
    }


def post(client, payload: dict[str, Any]):
    token = client.get_cookie("_csrf_token").value
    return client.post(
        CALLBACK, data=json.dumps(payload), content_type="application/json", headers={"X-CSRFToken": token}
    )


def response_of(r) -> dict[str, Any]:
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:500])
    return r.get_json()["response"]


def count(web_app, model, **where) -> int:
    with web_app.server.extensions["console.db"].session() as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return int(s.scalar(stmt))


def add_run(
    web_app,
    workspace_id: int,
    tenant_id: int | None,
    *,
    type_: str = "inventory_sync",
    status: str = "completed",
    outcome: str | None = "succeeded",
    initiator: int | None = None,
    created_ago: timedelta = timedelta(hours=1),
    counts: dict | None = None,
) -> int:
    now = utcnow()
    with web_app.server.extensions["console.db"].session() as s:
        run = OperationRun(
            workspace_id=workspace_id,
            tenant_id=tenant_id,
            type=type_,
            status=status,
            outcome=outcome,
            summary_counts=counts or {},
            context={},
            initiator_user_id=initiator,
            created_at=now - created_ago,
            started_at=now - created_ago if status != "queued" else None,
            heartbeat_at=now - created_ago if status == "running" else None,
            completed_at=now - created_ago + timedelta(seconds=30) if status == "completed" else None,
        )
        s.add(run)
        s.commit()
        return run.id


def confirm_generate(
    web_app, tenant_id: Any, *, include_operations: Any = True, include_pii: Any = False
) -> dict[str, Any]:
    key = _key(web_app, input_id=ids.REVIEW_PACK_CONFIRM, output=review_pack_card.BODY)
    return body(web_app, key, [1], [include_operations, include_pii, tenant_id])


def confirm_op(web_app, tenant_id: Any, operation_type: Any) -> dict[str, Any]:
    key = _key(web_app, input_id=ids.OP_CONFIRM, output=ids.TOAST_AREA)
    return body(web_app, key, [1], [operation_type, tenant_id])


def open_op(web_app, tenant_id: Any, operation_type: Any) -> dict[str, Any]:
    key = _key(web_app, input_id="op-cancel", output=ids.OP_CONFIRM_MODAL)
    wrapper = {"op": operation_type, "type": operation_buttons.WRAPPER}
    payload = body(web_app, key, [[(wrapper, 1)], None], [tenant_id])
    payload["changedPropIds"] = [json.dumps(wrapper, sort_keys=True, separators=(",", ":")) + ".n_clicks"]
    return payload


def card_refresh(web_app, tenant_id: Any, shown: Any = None, policy: Any = None) -> dict[str, Any]:
    key = _key(web_app, input_id=ids.REVIEW_PACK_POLL, output=review_pack_card.BODY)
    return body(web_app, key, [1, None], [tenant_id, shown, policy])


def dashboard_refresh(
    web_app, tenant_id: Any, shown: Any = None, policy: Any = None, shown_days: Any = None
) -> dict[str, Any]:
    key = _key(web_app, input_id=tenant_dashboard.POLL, output=tenant_dashboard.KPIS)
    return body(web_app, key, [1, None, None], [tenant_id, shown, policy, shown_days])


def rows_request(
    web_app,
    request: Any,
    *,
    type_: Any = "",
    status: Any = "",
    outcome: Any = "",
    tenant: Any = "",
    start: Any = None,
    end: Any = None,
    q: Any = None,
) -> dict[str, Any]:
    key = _key(web_app, input_id=ids.OPERATIONS_TABLE, output="getRowsResponse")
    return body(web_app, key, [request], [type_, status, outcome, tenant, start, end, q])


def ops_poll(web_app, request: Any, shown: Any, policy: Any = None) -> dict[str, Any]:
    key = _key(web_app, input_id=operations_table.POLL, output=operations_table.REFRESH)
    return body(web_app, key, [1, None], [request, "", "", "", "", None, None, "", shown, policy])


FIRST_PAGE = {"startRow": 0, "endRow": 25, "sortModel": [], "filterModel": {}}
FORGED_IDS = [2**70, 2**63, -1, 0, "abc", "1; DROP TABLE tenants", 1.5, {"id": 1}, [1], None, True, ""]


# --------------------------------------------------------------------------- pages


def test_dashboard_page_offers_each_role_exactly_what_it_may_do(web_app, client, world) -> None:
    a1, a2 = world.tenant_ids
    login(client, "operator@test.example")
    html = page(client, f"/admin/tenants/{a1}")
    for expected in (
        ids.REVIEW_PACK_CARD,
        ids.REVIEW_PACK_GENERATE,
        ids.REVIEW_PACK_MODAL,
        ids.NEEDS_ATTENTION,
        ids.OP_CONFIRM_MODAL,
        ids.REVIEW_PACK_POLL,
    ):
        assert f'"{expected}"' in html, expected
    for op in (
        "inventory_sync",
        "evidence_snapshot_generate",
        "backup_set_add_policies",
        "backup_set_restore",
        "baseline_capture",
        "baseline_compare",
    ):
        assert f'"{ids.op_start(op)}"' in html
    assert f'"{ids.op_start("review_pack_generate")}"' not in html  # the card's Generate button does that
    assert "not-found" not in html
    assert client.get(f"/admin/tenants/{a2}").status_code == 404  # not granted
    assert '"not-found"' in page(client, f"/admin/tenants/{a2}")

    client.post("/logout", data={"csrf_token": client.get_cookie("_csrf_token").value})
    login(client, "viewer@test.example")
    html = page(client, f"/admin/tenants/{a1}")
    assert f'"{ids.REVIEW_PACK_CARD}"' in html and f'"{ids.REVIEW_PACK_STATUS}"' in html
    for absent in (
        ids.REVIEW_PACK_GENERATE,
        ids.REVIEW_PACK_MODAL,
        ids.REVIEW_PACK_CONFIRM,
        ids.OP_CONFIRM_MODAL,
        "op-start-",
    ):
        assert absent not in html, absent


@pytest.mark.parametrize("email", ["outsider@test.example", "stranger@test.example"])
def test_another_workspace_tenant_dashboard_is_a_404_page(web_app, client, world, email) -> None:
    login(client, email)
    for tenant in (world.tenant_ids[0], 999999, "abc", "-1"):
        assert client.get(f"/admin/tenants/{tenant}").status_code == 404
        html = page(client, f"/admin/tenants/{tenant}")
        assert '"not-found"' in html and ids.REVIEW_PACK_CARD not in html and "a1" not in html


# --------------------------------------------------------------------------- review pack: generate


def test_generate_queues_one_pack_dispatches_once_and_dedupes_a_second_press(
    web_app, client, world, dispatcher
) -> None:
    a1 = world.tenant_ids[0]
    login(client, "operator@test.example")
    first = response_of(post(client, confirm_generate(web_app, a1, include_operations=False, include_pii=True)))
    assert first[ids.REVIEW_PACK_MODAL]["is_open"] is False
    card = json.dumps(first[review_pack_card.BODY]["children"])
    assert '"Queued"' in card and ids.REVIEW_PACK_DOWNLOAD not in card
    assert first[review_pack_card.POLL_POLICY]["data"] == {"interval": 10_000}
    run_id = first["run-enqueued"]["data"]["run_id"]
    assert ids.TOAST_AREA not in first  # the activity shell shows the queued toast on run-enqueued

    second = response_of(post(client, confirm_generate(web_app, a1)))
    assert "run-enqueued" not in second
    assert "Review pack generation is already running" in json.dumps(
        second[ids.TOAST_AREA]
    ) and f"/admin/operations/{run_id}" in json.dumps(second[ids.TOAST_AREA])

    assert count(web_app, OperationRun, type="review_pack_generate") == 1
    assert count(web_app, ReviewPack) == 1
    assert dispatcher.sent == [("tasks.review_packs.generate_review_pack", (run_id,))]
    with web_app.server.extensions["console.db"].session() as s:
        pack = s.scalar(select(ReviewPack))
        assert (pack.status, pack.operation_run_id, pack.tenant_id) == ("queued", run_id, a1)
        assert pack.options == {"include_operations": False, "include_pii": True}


def test_forged_generate_from_a_viewer_is_403_and_creates_nothing(web_app, client, world, dispatcher) -> None:
    login(client, "viewer@test.example")
    r = post(client, confirm_generate(web_app, world.tenant_ids[0]))
    assert r.status_code == 403 and r.get_json() == {"error": "not allowed"}
    # Opening the modal is refused the same way.
    key = _key(web_app, input_id=ids.REVIEW_PACK_GENERATE, output=ids.REVIEW_PACK_MODAL)
    assert post(client, body(web_app, key, [1, None], [world.tenant_ids[0]])).status_code == 403
    assert count(web_app, OperationRun) == 0 and count(web_app, ReviewPack) == 0 and dispatcher.sent == []


def test_forged_tenant_ids_answer_404_and_create_nothing(web_app, client, world, dispatcher) -> None:
    login(client, "operator@test.example")
    for forged in FORGED_IDS:
        for payload in (
            confirm_generate(web_app, forged),
            confirm_op(web_app, forged, "inventory_sync"),
            open_op(web_app, forged, "inventory_sync"),
            card_refresh(web_app, forged),
            dashboard_refresh(web_app, forged),
        ):
            r = post(client, payload)
            assert r.status_code == 404, (forged, payload["output"][:60], r.status_code)
            assert r.get_json() == {"error": "not found"}
    assert count(web_app, OperationRun) == 0 and count(web_app, ReviewPack) == 0 and dispatcher.sent == []


def test_tenants_outside_the_grant_or_workspace_are_404_for_every_callback(web_app, client, world, dispatcher) -> None:
    add_run(web_app, world.workspace_id, world.tenant_ids[1], type_="inventory_sync", status="running", outcome=None)
    login(client, "operator@test.example")
    for tenant in (world.tenant_ids[1], world.other_tenant_id):
        for payload in (
            confirm_generate(web_app, tenant),
            confirm_op(web_app, tenant, "baseline_capture"),
            card_refresh(web_app, tenant),
            dashboard_refresh(web_app, tenant),
            rows_request(web_app, FIRST_PAGE, tenant=str(tenant)),
        ):
            r = post(client, payload)
            assert r.status_code == 404 and "a2" not in r.get_data(as_text=True), payload["output"][:60]
    assert count(web_app, OperationRun) == 1 and dispatcher.sent == []


def test_wrong_option_types_are_400_and_create_nothing(web_app, client, world, dispatcher) -> None:
    login(client, "operator@test.example")
    for include_operations, include_pii in (("maybe", False), ({"a": 1}, False), (True, [1]), (True, 3)):
        r = post(
            client,
            confirm_generate(
                web_app, world.tenant_ids[0], include_operations=include_operations, include_pii=include_pii
            ),
        )
        assert r.status_code == 400, (include_operations, include_pii)
    assert count(web_app, OperationRun) == 0 and count(web_app, ReviewPack) == 0 and dispatcher.sent == []


# --------------------------------------------------------------------------- operation buttons


def test_op_buttons_open_the_modal_and_confirm_creates_one_run_even_when_pressed_twice(
    web_app, client, world, dispatcher
) -> None:
    a1 = world.tenant_ids[0]
    login(client, "operator@test.example")
    opened = response_of(post(client, open_op(web_app, a1, "inventory_sync")))
    assert (
        opened[ids.OP_CONFIRM_MODAL]["is_open"] is True
        and opened[operation_buttons.OP_PENDING]["data"] == "inventory_sync"
    )
    first = response_of(post(client, confirm_op(web_app, a1, "inventory_sync")))
    run_id = first["run-enqueued"]["data"]["run_id"]
    assert (
        first[ids.OP_CONFIRM_MODAL]["is_open"] is False
        and first[operation_buttons.DASHBOARD_REFRESH]["data"]["run_id"] == run_id
    )
    second = response_of(post(client, confirm_op(web_app, a1, "inventory_sync")))
    assert "run-enqueued" not in second and f"/admin/operations/{run_id}" in json.dumps(second[ids.TOAST_AREA])
    assert count(web_app, OperationRun, type="inventory_sync") == 1
    assert dispatcher.sent == [("tasks.inventory.run_inventory_sync", (run_id,))]


def test_op_confirm_with_a_forged_operation_type_is_400(web_app, client, world, dispatcher) -> None:
    login(client, "operator@test.example")
    for pending in ("review_pack_generate", "rm -rf /", 5, None, ["inventory_sync"], {"op": "inventory_sync"}):
        assert post(client, confirm_op(web_app, world.tenant_ids[0], pending)).status_code == 400, pending
        assert (
            post(
                client, open_op(web_app, world.tenant_ids[0], pending if isinstance(pending, str) else "x")
            ).status_code
            == 400
        ), pending
    assert count(web_app, OperationRun) == 0 and dispatcher.sent == []


def test_an_operator_without_the_capability_gets_403_and_no_run(web_app, client, world, dispatcher) -> None:
    with web_app.server.extensions["console.db"].session() as s:
        create_user(session=s, email="looker@test.example", password=PASSWORD, name="Looker")
        grant_role(session=s, email="looker@test.example", workspace_id=world.workspace_id, role="operator")
        grant_capabilities(
            session=s,
            email="looker@test.example",
            tenant_id=world.tenant_ids[0],
            capabilities=["operations.view", "review_pack.view"],
        )
    login(client, "looker@test.example")
    html = page(client, f"/admin/tenants/{world.tenant_ids[0]}")
    assert "op-start-" not in html and ids.REVIEW_PACK_GENERATE not in html
    for payload in (
        confirm_op(web_app, world.tenant_ids[0], "inventory_sync"),
        open_op(web_app, world.tenant_ids[0], "baseline_compare"),
        confirm_generate(web_app, world.tenant_ids[0]),
    ):
        assert post(client, payload).status_code == 403
    assert count(web_app, OperationRun) == 0 and dispatcher.sent == []


def test_broker_down_shows_an_error_toast_and_fails_the_run_and_the_pack(web_app, client, world, dispatcher) -> None:
    dispatcher.up = False
    a1 = world.tenant_ids[0]
    login(client, "operator@test.example")
    generated = response_of(post(client, confirm_generate(web_app, a1)))
    toast = json.dumps(generated[ids.TOAST_AREA])
    assert "The task queue is unreachable" in toast and '"error"' in toast
    assert "run-enqueued" not in generated
    card = json.dumps(generated[review_pack_card.BODY]["children"])
    assert '"Failed"' in card and "task queue was unreachable" in card
    assert generated[review_pack_card.POLL_POLICY]["data"] is None

    op = response_of(post(client, confirm_op(web_app, a1, "evidence_snapshot_generate")))
    assert "The task queue is unreachable" in json.dumps(op[ids.TOAST_AREA]) and "run-enqueued" not in op

    with web_app.server.extensions["console.db"].session() as s:
        runs = s.scalars(select(OperationRun).order_by(OperationRun.id)).all()
        assert [(r.type, r.status, r.outcome) for r in runs] == [
            ("review_pack_generate", "completed", "failed"),
            ("evidence_snapshot_generate", "completed", "failed"),
        ]
        assert all("dispatch_failed" in r.failure_summary for r in runs)
        assert s.scalar(select(ReviewPack.status)) == "failed"


# --------------------------------------------------------------------------- card and dashboard refresh


def test_card_refresh_is_no_update_while_unchanged_and_follows_the_pack(web_app, client, world) -> None:
    a1 = world.tenant_ids[0]
    login(client, "viewer@test.example")
    empty = response_of(post(client, card_refresh(web_app, a1)))
    assert (
        "No pack yet" in json.dumps(empty) and review_pack_card.POLL_POLICY not in empty
    )  # no polling: the store keeps None
    shown = empty[review_pack_card.SIGNATURE]["data"]
    assert post(client, card_refresh(web_app, a1, shown)).status_code == 204  # unchanged: nothing sent

    with web_app.server.extensions["console.db"].session() as s:
        run, _ = enqueue_run(
            session=s,
            type="review_pack_generate",
            workspace_id=world.workspace_id,
            tenant_id=a1,
            initiator_user_id=None,
        )
        s.add(ReviewPack(tenant_id=a1, operation_run_id=run.id, status="generating", options={}))
        s.commit()
    generating = response_of(post(client, card_refresh(web_app, a1, shown)))
    assert '"Generating"' in json.dumps(generating) and generating[review_pack_card.POLL_POLICY]["data"] == {
        "interval": 10_000
    }
    shown = generating[review_pack_card.SIGNATURE]["data"]
    assert post(client, card_refresh(web_app, a1, shown, {"interval": 10_000})).status_code == 204
    # A page that showed the outage banner (a "lost" policy) gets the real policy back, nothing else.
    back = response_of(post(client, card_refresh(web_app, a1, shown, {"lost": True, "at": 1})))
    assert back == {review_pack_card.POLL_POLICY: {"data": {"interval": 10_000}}}
    assert ids.REVIEW_PACK_GENERATE not in json.dumps(generating)  # a viewer never gets the button


def test_dashboard_refresh_polls_only_while_a_shown_run_is_active_and_is_no_update_when_unchanged(
    web_app, client, world
) -> None:
    a1 = world.tenant_ids[0]
    done = add_run(web_app, world.workspace_id, a1, status="completed", outcome="failed")
    login(client, "operator@test.example")
    quiet = response_of(post(client, dashboard_refresh(web_app, a1)))
    assert tenant_dashboard.POLL_POLICY not in quiet  # nothing active: the store keeps None, no polling
    assert f'"data-run-id": "{done}"' in json.dumps(quiet[tenant_dashboard.RECENT]["children"])
    assert '"data-kind": "failed"' in json.dumps(quiet[tenant_dashboard.ATTENTION_BODY]["children"])
    shown = quiet[tenant_dashboard.SIGNATURE]["data"]
    assert post(client, dashboard_refresh(web_app, a1, shown)).status_code == 204  # unchanged: an empty 204

    with web_app.server.extensions["console.db"].session() as s:
        run, _ = enqueue_run(
            session=s, type="inventory_sync", workspace_id=world.workspace_id, tenant_id=a1, initiator_user_id=None
        )
        mark_running(session=s, run_id=run.id)
        active_id = run.id
    busy = response_of(post(client, dashboard_refresh(web_app, a1, shown)))
    assert busy[tenant_dashboard.POLL_POLICY]["data"] == {"interval": 10_000}
    assert '"children": "1"' in json.dumps(busy[tenant_dashboard.KPIS]["children"])  # Active runs: 1
    busy_shown = busy[tenant_dashboard.SIGNATURE]["data"]
    back = response_of(post(client, dashboard_refresh(web_app, a1, busy_shown, {"lost": True, "at": 1})))
    assert back == {tenant_dashboard.POLL_POLICY: {"data": {"interval": 10_000}}}
    with web_app.server.extensions["console.db"].session() as s:
        complete_run(session=s, run_id=active_id, outcome="succeeded")
    settled = response_of(post(client, dashboard_refresh(web_app, a1, busy_shown, {"interval": 10_000})))
    assert settled[tenant_dashboard.POLL_POLICY]["data"] is None


def test_dashboard_refresh_keeps_the_runs_charts_chosen_range_and_ignores_a_forged_one(web_app, client, world) -> None:
    a1 = world.tenant_ids[0]
    add_run(web_app, world.workspace_id, a1, status="completed", outcome="succeeded")
    login(client, "manager@test.example")

    def shown_range(days: Any) -> tuple[list[str], dict[str, list[str]]]:
        layout = response_of(post(client, dashboard_refresh(web_app, a1, shown_days=days)))[charts.RUNS_PER_DAY][
            "figure"
        ]["layout"]
        return layout["xaxis"]["range"], layout["meta"]["ranges"]

    week, ranges = shown_range(7)
    assert sorted(ranges, key=int) == ["7", "14", str(tenant_dashboard.CHART_DAYS)]
    assert week == ranges["7"]
    assert shown_range(14)[0] == ranges["14"]
    for forged in (None, 8, "7", True, [7], -1):  # not a choice: the whole window, never an error
        assert shown_range(forged)[0] == ranges[str(tenant_dashboard.CHART_DAYS)], forged


# --------------------------------------------------------------------------- operations list


def test_operations_rows_are_only_the_visible_runs_and_filters_narrow_them(web_app, client, world) -> None:
    a1, a2 = world.tenant_ids
    operator = world.users["operator"]
    mine = {
        add_run(
            web_app, world.workspace_id, a1, status="completed", outcome="succeeded", created_ago=timedelta(days=3)
        ),
        add_run(web_app, world.workspace_id, a1, type_="baseline_compare", status="completed", outcome="failed"),
        add_run(web_app, world.workspace_id, a1, status="running", outcome=None, counts={"total": 10, "processed": 4}),
        add_run(web_app, world.workspace_id, None, status="completed", outcome="succeeded", initiator=operator),
    }
    hidden = {
        add_run(web_app, world.workspace_id, a2),
        add_run(web_app, world.other_workspace_id, world.other_tenant_id),
        add_run(web_app, world.workspace_id, None, initiator=world.users["manager"]),
    }
    login(client, "operator@test.example")

    def ids_of(**filters) -> set[int]:
        resp = response_of(post(client, rows_request(web_app, FIRST_PAGE, **filters)))
        data = resp[ids.OPERATIONS_TABLE]["getRowsResponse"]
        assert data["rowCount"] == len(data["rowData"])
        return {row["run_id"] for row in data["rowData"]}

    assert ids_of() == mine and not ids_of() & hidden
    assert len(ids_of(type_="baseline_compare")) == 1
    assert len(ids_of(status="running")) == 1 and len(ids_of(outcome="failed")) == 1
    assert ids_of(tenant=str(a1)) == mine - {max(mine)}  # the tenantless run is not a1's
    today = utcnow().date()
    assert len(ids_of(start=(today - timedelta(days=1)).isoformat(), end=today.isoformat())) == 3
    assert len(ids_of(end=(today - timedelta(days=2)).isoformat())) == 1

    resp = response_of(post(client, rows_request(web_app, FIRST_PAGE, status="running")))
    (row,) = resp[ids.OPERATIONS_TABLE]["getRowsResponse"]["rowData"]
    assert (row["progress_mode"], row["progress"]) == ("counted", "4 / 10 · 40%")
    assert (row["id"], row["href"]) == (f"#{row['run_id']}", f"/admin/operations/{row['run_id']}")
    assert row["run_status"] == "running"  # the link's data-run-status (one truth per page)
    assert resp[operations_table.POLL_POLICY]["data"] == {"interval": 10_000}
    quiet = response_of(post(client, rows_request(web_app, FIRST_PAGE, status="completed")))
    assert quiet[operations_table.POLL_POLICY]["data"] is None


def test_operations_rows_page_and_sort_on_the_server(web_app, client, world) -> None:
    a1 = world.tenant_ids[0]
    created = [add_run(web_app, world.workspace_id, a1, created_ago=timedelta(minutes=m)) for m in range(30)]
    login(client, "manager@test.example")
    second = response_of(post(client, rows_request(web_app, {"startRow": 25, "endRow": 50, "sortModel": []})))
    data = second[ids.OPERATIONS_TABLE]["getRowsResponse"]
    assert data["rowCount"] == 30 and [r["run_id"] for r in data["rowData"]] == created[25:]  # newest first
    by_id = response_of(
        post(client, rows_request(web_app, {"startRow": 0, "endRow": 5, "sortModel": [{"colId": "id", "sort": "asc"}]}))
    )
    assert [r["run_id"] for r in by_id[ids.OPERATIONS_TABLE]["getRowsResponse"]["rowData"]] == created[:5]


MALFORMED_GRID_REQUESTS = [
    ("rows please", {}),
    ({"startRow": -1, "endRow": 25}, {}),
    ({"startRow": 0, "endRow": 100_000}, {}),
    ({"startRow": "0", "endRow": 25}, {}),
    ({"startRow": True, "endRow": 25}, {}),
    ({"startRow": 0, "endRow": 25, "sortModel": [{"colId": "password_hash", "sort": "asc"}]}, {}),
    ({"startRow": 0, "endRow": 25, "sortModel": [{"colId": "id", "sort": "sideways"}]}, {}),
    ({"startRow": 0, "endRow": 25, "sortModel": "id"}, {}),
    (FIRST_PAGE, {"type_": "drop_tables"}),
    (FIRST_PAGE, {"status": ["queued"]}),
    (FIRST_PAGE, {"outcome": 3}),
    (FIRST_PAGE, {"start": "yesterday"}),
    (FIRST_PAGE, {"start": "2026-02-30"}),
    (FIRST_PAGE, {"start": "2026-03-02", "end": "2026-03-01"}),
]


def test_malformed_grid_requests_and_filters_are_400_never_rows(web_app, client, world) -> None:
    add_run(web_app, world.workspace_id, world.tenant_ids[0])
    login(client, "operator@test.example")
    for request_, filters in MALFORMED_GRID_REQUESTS:
        r = post(client, rows_request(web_app, request_, **filters))
        assert r.status_code == 400 and "rowData" not in r.get_data(as_text=True), (request_, filters, r.status_code)
    # A tenant filter that is not a plain positive id is "not found", like any id in a payload.
    for tenant in ("a1", 2**80, {"id": 1}, True, "-1"):
        r = post(client, rows_request(web_app, FIRST_PAGE, tenant=tenant))
        assert r.status_code == 404 and "rowData" not in r.get_data(as_text=True), tenant
    # Dash's own "no request yet" gets no response at all (204), not data.
    assert post(client, rows_request(web_app, None)).status_code == 204


def test_operations_poll_is_no_update_until_the_page_changes(web_app, client, world) -> None:
    a1 = world.tenant_ids[0]
    with web_app.server.extensions["console.db"].session() as s:
        run, _ = enqueue_run(
            session=s, type="inventory_sync", workspace_id=world.workspace_id, tenant_id=a1, initiator_user_id=None
        )
        run_id = run.id
    login(client, "operator@test.example")
    first = response_of(post(client, rows_request(web_app, FIRST_PAGE)))
    shown = first[operations_table.SIGNATURE]["data"]
    assert first[operations_table.POLL_POLICY]["data"] == {"interval": 10_000}
    assert post(client, ops_poll(web_app, FIRST_PAGE, shown, {"interval": 10_000})).status_code == 204
    back = response_of(post(client, ops_poll(web_app, FIRST_PAGE, shown, {"lost": True, "at": 1})))
    assert back == {operations_table.POLL_POLICY: {"data": {"interval": 10_000}}}
    with web_app.server.extensions["console.db"].session() as s:
        mark_running(session=s, run_id=run_id)
    changed = response_of(post(client, ops_poll(web_app, FIRST_PAGE, shown)))
    assert changed[operations_table.REFRESH]["data"] not in (None, shown)


def test_a_run_updated_kick_refreshes_the_operations_list_like_a_poll(web_app, client, world) -> None:
    """The list's kick store (``operations-run-kick``) runs its poll at once: a changed page asks
    the grid to refresh its rows in place; an unchanged one is an empty 204."""
    a1 = world.tenant_ids[0]
    run_id = add_run(web_app, world.workspace_id, a1, status="running", outcome=None)
    login(client, "operator@test.example")
    first = response_of(post(client, rows_request(web_app, FIRST_PAGE)))
    shown = first[operations_table.SIGNATURE]["data"]
    kick = {"run_id": run_id, "status": "completed", "at": 1}
    key = _key(web_app, input_id=operations_table.POLL, output=operations_table.REFRESH)
    policy = first[operations_table.POLL_POLICY]["data"]

    def kicked():
        state = [FIRST_PAGE, "", "", "", "", None, None, "", shown, policy]
        return post(client, body(web_app, key, [None, kick], state, changed="operations-run-kick.data"))

    assert kicked().status_code == 204  # nothing changed yet
    with web_app.server.extensions["console.db"].session() as s:
        complete_run(session=s, run_id=run_id, outcome="succeeded")
    refreshed = response_of(kicked())
    assert refreshed[operations_table.REFRESH]["data"] not in (None, shown)
    assert refreshed[operations_table.POLL_POLICY]["data"] is None  # nothing active: the 10 s poll stops


def test_a_run_updated_kick_is_one_ordinary_refresh_of_the_card_and_the_dashboard(web_app, client, world) -> None:
    """assets/run_updates.js writes {run_id, status, at} to a surface's kick store: the card and the
    dashboard refresh at once with the same answers as a poll (new state, or 204 when unchanged)."""
    a1 = world.tenant_ids[0]
    login(client, "operator@test.example")
    kick = {"run_id": 1, "status": "running", "at": 1}
    card_key = _key(web_app, input_id=ids.REVIEW_PACK_POLL, output=review_pack_card.BODY)
    dash_key = _key(web_app, input_id=tenant_dashboard.POLL, output=tenant_dashboard.KPIS)
    shown_card = response_of(post(client, card_refresh(web_app, a1)))[review_pack_card.SIGNATURE]["data"]
    shown_dash = response_of(post(client, dashboard_refresh(web_app, a1)))[tenant_dashboard.SIGNATURE]["data"]
    with web_app.server.extensions["console.db"].session() as s:
        run, _ = enqueue_run(
            session=s,
            type="review_pack_generate",
            workspace_id=world.workspace_id,
            tenant_id=a1,
            initiator_user_id=None,
        )
        s.add(ReviewPack(tenant_id=a1, operation_run_id=run.id, status="generating", options={}))
        s.commit()

    card = body(web_app, card_key, [1, kick], [a1, shown_card, None], changed="review-pack-run-kick.data")
    refreshed = response_of(post(client, card))
    assert '"Generating"' in json.dumps(refreshed) and '"data-run-status": "running"' in json.dumps(refreshed)
    dash = body(web_app, dash_key, [1, None, kick], [a1, shown_dash, None, None], changed="dashboard-run-kick.data")
    rows = response_of(post(client, dash))
    assert f'"data-run-id": "{run.id}"' in json.dumps(rows)
    # Unchanged since: the same kick is an empty 204, like an unchanged poll.
    card_again = body(
        web_app,
        card_key,
        [1, kick],
        [a1, refreshed[review_pack_card.SIGNATURE]["data"], refreshed[review_pack_card.POLL_POLICY]["data"]],
        changed="review-pack-run-kick.data",
    )
    assert post(client, card_again).status_code == 204
