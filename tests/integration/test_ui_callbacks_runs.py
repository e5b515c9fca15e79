"""The run viewer's, activity shell's and bell's callbacks over HTTP (Flask test client, real
database): forged payloads get 404/400 and never data or a 500, an unchanged refresh is an
empty 204, and a poll costs a small, fixed number of SQL statements."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import select

from console.db import utcnow
from console.notifications.models import Notification
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.service import complete_run, record_unit
from tests.support.db import queries, sql_statements
from tests.support.web import callback_key, callback_outputs, login, post_callback

# ------------------------------------------------------------------ helpers


def _make_run(web_app, world, *, tenant_id=None, workspace_id=None, user="manager", age_s=0.0, **fields) -> int:
    values = {
        "workspace_id": workspace_id or world.workspace_id,
        "tenant_id": world.tenant_ids[0] if tenant_id is None else tenant_id,
        "type": "inventory_sync",
        "status": "running",
        "summary_counts": {"total": 10, "processed": 3, "succeeded": 3},
        "context": {},
        "initiator_user_id": world.users[user],
        "created_at": utcnow() - timedelta(seconds=age_s),
    }
    values.update(fields)
    values.setdefault("started_at", values["created_at"])
    with web_app.server.extensions["console.db"].session() as s:
        run = OperationRun(**values)
        s.add(run)
        s.commit()
        return run.id


_key, _outputs, _post = callback_key, callback_outputs, post_callback


def run_poll(
    client, web_app, run_id, fingerprint=None, policy=None, n=1, run_kick=None, changed=("run-poll.n_intervals",)
):
    return _post(
        client,
        web_app,
        "run-view.children",
        inputs=[("run-poll", "n_intervals", n), ("run-viewer-run-kick", "data", run_kick)],
        state=[
            ("run-id", "data", run_id),
            ("run-fingerprint", "data", fingerprint),
            ("run-poll-policy", "data", policy),
        ],
        changed=list(changed),
    )


def shell_refresh(
    client,
    web_app,
    *,
    pathname="/",
    kick=None,
    run_kick=None,
    fingerprint=None,
    policy=None,
    seen=None,
    changed=("_pages_location.pathname",),
):
    return _post(
        client,
        web_app,
        "activity-shell.children",
        inputs=[
            ("_pages_location", "pathname", pathname),
            ("activity-poll", "n_intervals", 1),
            ("activity-kick", "data", kick),
            ("activity-run-kick", "data", run_kick),
        ],
        state=[
            ("activity-fingerprint", "data", fingerprint),
            ("activity-policy", "data", policy),
            ("activity-seen", "data", seen),
        ],
        changed=list(changed),
    )


def _response(r) -> dict:
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:300])
    return r.get_json()["response"]


@contextmanager
def count_statements(web_app):
    """Every SQL statement the app's engine executes inside the block (BEGIN included)."""
    with sql_statements(web_app.server.extensions["console.db"].engine) as statements:
        yield statements


# ------------------------------------------------------------------ run viewer


def test_run_poll_sends_the_view_then_204_until_something_changes(web_app, client, world) -> None:
    run_id = _make_run(web_app, world)
    login(client, "manager@test.example")
    first = _response(run_poll(client, web_app, run_id))
    fingerprint = first["run-fingerprint"]["data"]
    assert isinstance(fingerprint, str) and first["run-poll-policy"]["data"] == {"interval": 1000}
    assert "3 / 10" in json.dumps(first["run-view"]["children"])

    unchanged = run_poll(client, web_app, run_id, fingerprint, {"interval": 1000})
    assert unchanged.status_code == 204 and unchanged.get_data() == b""

    with web_app.server.extensions["console.db"].session() as s:
        assert record_unit(session=s, run_id=run_id, unit_key="u4", outcome="succeeded")
    progressed = _response(run_poll(client, web_app, run_id, fingerprint, {"interval": 1000}))
    assert "4 / 10" in json.dumps(progressed["run-view"]["children"])
    assert "run-poll-policy" not in progressed  # same cadence: only what changed is sent
    fingerprint = progressed["run-fingerprint"]["data"]

    with web_app.server.extensions["console.db"].session() as s:
        complete_run(session=s, run_id=run_id, outcome="succeeded")
    done = _response(run_poll(client, web_app, run_id, fingerprint, {"interval": 1000}))
    assert done["run-poll-policy"]["data"] is None  # terminal: the Interval is disabled
    assert "4 of 10 processed" in json.dumps(done["run-view"]["children"])


def test_run_poll_policy_follows_the_runs_age(web_app, client, world) -> None:
    login(client, "manager@test.example")
    for age, interval in ((1, 1000), (30, 5000), (300, 10000)):
        run_id = _make_run(
            web_app,
            world,
            age_s=age,
            type="evidence_snapshot_generate" if age == 30 else "inventory_sync",
            tenant_id=world.tenant_ids[age % 2],
        )
        assert _response(run_poll(client, web_app, run_id))["run-poll-policy"]["data"] == {"interval": interval}
    unknown = _make_run(web_app, world, status="archived_in_v9")
    body = _response(run_poll(client, web_app, unknown, policy={"interval": 1000}))
    assert body["run-poll-policy"]["data"] is None and "Unknown" in json.dumps(body["run-view"]["children"])


#: Ids a forged poll may carry: none of them may yield data, a 500, or a hint that a run exists.
FORGED_RUN_IDS = ["foreign", "ungranted", "abc", "-1", 0, -5, True, 1.5, [1], {"id": 1}, 2**70, "1e3", " 1", None, "٣"]


def test_forged_run_ids_answer_404_and_reveal_nothing(web_app, client, world) -> None:
    foreign = _make_run(
        web_app,
        world,
        tenant_id=world.other_tenant_id,
        workspace_id=world.other_workspace_id,
        user="outsider",
        failure_summary="SECRET-FAILURE",
    )
    ungranted = _make_run(web_app, world, tenant_id=world.tenant_ids[1], failure_summary="SECRET-FAILURE")
    login(client, "operator@test.example")  # granted a1 only
    for forged in FORGED_RUN_IDS:
        run_id = {"foreign": foreign, "ungranted": ungranted}.get(forged, forged) if isinstance(forged, str) else forged
        r = run_poll(client, web_app, run_id)
        text = r.get_data(as_text=True)
        assert r.status_code == 404, (forged, r.status_code, text[:200])
        assert "SECRET" not in text and "run-view" not in text, forged


def test_a_fingerprint_of_the_wrong_type_is_400(web_app, client, world) -> None:
    run_id = _make_run(web_app, world)
    login(client, "manager@test.example")
    for fingerprint in ({"x": 1}, 5, ["a"], True):
        r = run_poll(client, web_app, run_id, fingerprint=fingerprint)
        assert r.status_code == 400 and "run-view" not in r.get_data(as_text=True), fingerprint


def test_run_poll_without_a_session_is_401(web_app, client, world) -> None:
    run_id = _make_run(web_app, world)
    login(client, "manager@test.example")
    client.post("/logout", data={"csrf_token": client.get_cookie("_csrf_token").value})
    assert run_poll(client, web_app, run_id).status_code == 401


def test_run_viewer_page_renders_not_found_for_runs_the_user_may_not_see(web_app, client, world) -> None:
    own = _make_run(web_app, world)
    foreign = _make_run(
        web_app, world, tenant_id=world.other_tenant_id, workspace_id=world.other_workspace_id, user="outsider"
    )
    login(client, "manager@test.example")
    assert client.get(f"/admin/operations/{own}").status_code == 200
    assert client.get(f"/admin/operations/{foreign}").status_code == 404

    def page(path):
        return _post(
            client,
            web_app,
            "_pages_content.children",
            inputs=[("_pages_location", "pathname", path), ("_pages_location", "search", "")],
            state=[],
            changed=["_pages_location.pathname"],
        )

    assert '"run-status"' in page(f"/admin/operations/{own}").get_data(as_text=True)
    for path in (f"/admin/operations/{foreign}", "/admin/operations/nope", "/admin/operations/0"):
        text = page(path).get_data(as_text=True)
        assert '"not-found"' in text and '"run-status"' not in text


def test_sql_statements_per_run_poll_are_bounded_and_do_not_grow_with_the_ledger(web_app, client, world) -> None:
    plain = _make_run(web_app, world)
    fanout = _make_run(web_app, world, type="backup_set_restore", summary_counts={"total": 300, "processed": 0})
    with web_app.server.extensions["console.db"].session() as s:
        for i in range(120):
            assert record_unit(
                session=s,
                run_id=fanout,
                unit_key=f"policy-{i:03d}",
                outcome="failed" if i % 7 == 0 else "succeeded",
                error="locked" if i % 7 == 0 else None,
            )
    login(client, "manager@test.example")
    for run_id in (plain, fanout):
        first = _response(run_poll(client, web_app, run_id))
        with count_statements(web_app) as statements:
            r = run_poll(client, web_app, run_id, first["run-fingerprint"]["data"], first["run-poll-policy"]["data"])
        assert r.status_code == 204
        sql = queries(statements)
        # the user row with its memberships and grants (flask-login's loader, one statement,
        # reused as the principal) + the run row with its tenant, initiator and pack in one
        # statement; access is decided on that row's values.
        assert len(sql) <= 2, sql
        assert sum("operation_runs" in q for q in sql) == 1
        assert not any("operation_run_units" in q for q in sql)  # unchanged: the ledger is not read
    with web_app.server.extensions["console.db"].session() as s:
        record_unit(session=s, run_id=fanout, unit_key="policy-999", outcome="succeeded")
    with count_statements(web_app) as statements:
        changed = _response(
            run_poll(client, web_app, fanout, first["run-fingerprint"]["data"], first["run-poll-policy"]["data"])
        )
    sql = queries(statements)
    # + the ledger page and the timeline, read only because the run changed (and the unit names,
    # when the type can name these keys: not here)
    assert len(sql) <= 4, sql
    assert sum("operation_run_units" in q for q in sql) == 1 and sum("audit_events" in q for q in sql) == 1
    assert "policy-000" in json.dumps(changed["run-view"]["children"])  # failures first


# ------------------------------------------------------------------ activity shell


def test_shell_refresh_lists_active_runs_then_204_and_forged_kicks_are_refused(web_app, client, world) -> None:
    mine = _make_run(web_app, world, status="queued", summary_counts={})
    foreign = _make_run(
        web_app, world, tenant_id=world.other_tenant_id, workspace_id=world.other_workspace_id, user="outsider"
    )
    login(client, "manager@test.example")
    first = _response(shell_refresh(client, web_app))
    text = json.dumps(first["activity-shell"]["children"])
    assert f'"data-run-id": "{mine}"' in text and f'"data-run-id": "{foreign}"' not in text
    assert first["activity-policy"]["data"] == {"interval": 1000}
    assert first["activity-seen"]["data"] == 0 and first["notifications-count"]["children"] == "0"
    state = {
        "fingerprint": first["activity-fingerprint"]["data"],
        "policy": first["activity-policy"]["data"],
        "seen": 0,
    }
    again = shell_refresh(client, web_app, changed=("activity-poll.n_intervals",), **state)
    assert again.status_code == 204

    kicked = _response(
        shell_refresh(client, web_app, kick={"run_id": mine, "at": 1}, changed=("activity-kick.data",), **state)
    )
    assert f"/admin/operations/{mine}" in json.dumps(kicked["toast-area"]["children"])  # the queued toast
    # The worker picked the new run up before the shell looked: still "started", never "already running".
    with web_app.server.extensions["console.db"].session() as s:
        from console.operations.service import mark_running

        mark_running(session=s, run_id=mine)
    quick = json.dumps(
        _response(
            shell_refresh(client, web_app, kick={"run_id": mine, "at": 2}, changed=("activity-kick.data",), **state)
        )["toast-area"]["children"]
    )
    assert "Inventory sync started" in quick and "Running." in quick and "already running" not in quick
    for kick, status in (
        ({"run_id": foreign}, 404),
        ({"run_id": "abc"}, 404),
        ({"run_id": [1]}, 404),
        ("run", 400),
        ([mine], 400),
        (5, 400),
    ):
        r = shell_refresh(client, web_app, kick=kick, changed=("activity-kick.data",), **state)
        assert r.status_code == status, (kick, r.status_code)
        assert "data-run-id" not in r.get_data(as_text=True)


def test_shell_refresh_with_state_of_the_wrong_type_is_400(web_app, client, world) -> None:
    _make_run(web_app, world, status="queued")
    login(client, "manager@test.example")
    for field, value in (
        ("seen", "0"),
        ("seen", -1),
        ("seen", True),
        ("seen", {"n": 1}),
        ("pathname", 5),
        ("pathname", ["/"]),
        ("fingerprint", 7),
    ):
        r = shell_refresh(client, web_app, **{field: value})
        assert r.status_code == 400 and "data-run-id" not in r.get_data(as_text=True), (field, value)


def test_a_path_never_widens_the_shells_scope(web_app, client, world) -> None:
    foreign = _make_run(
        web_app, world, tenant_id=world.other_tenant_id, workspace_id=world.other_workspace_id, user="outsider"
    )
    ungranted = _make_run(web_app, world, tenant_id=world.tenant_ids[1])
    granted = _make_run(web_app, world, tenant_id=world.tenant_ids[0], type="evidence_snapshot_generate")
    login(client, "operator@test.example")
    for path in (
        f"/admin/tenants/{world.other_tenant_id}",
        f"/admin/tenants/{world.tenant_ids[1]}",
        "/admin/tenants/x",
        "/",
    ):
        text = json.dumps(_response(shell_refresh(client, web_app, pathname=path))["activity-shell"]["children"])
        shown = {rid for rid in (granted, foreign, ungranted) if f'"data-run-id": "{rid}"' in text}
        assert shown == {granted}, path


def test_terminal_notification_becomes_a_toast_once(web_app, client, world) -> None:
    run_id = _make_run(web_app, world, status="queued", summary_counts={})
    login(client, "manager@test.example")
    first = _response(shell_refresh(client, web_app))
    seen = first["activity-seen"]["data"]
    with web_app.server.extensions["console.db"].session() as s:
        complete_run(session=s, run_id=run_id, outcome="succeeded")
    state = {
        "fingerprint": first["activity-fingerprint"]["data"],
        "policy": first["activity-policy"]["data"],
        "seen": seen,
    }
    done = _response(shell_refresh(client, web_app, changed=("activity-poll.n_intervals",), **state))
    assert done["activity-policy"]["data"] is None  # nothing active: polling stops
    assert "Inventory sync succeeded" in json.dumps(done["toast-area"]["children"])
    assert done["notifications-count"]["children"] == "1" and done["activity-seen"]["data"] > seen
    state.update(fingerprint=done["activity-fingerprint"]["data"], policy=None, seen=done["activity-seen"]["data"])
    assert shell_refresh(client, web_app, changed=("activity-poll.n_intervals",), **state).status_code == 204


def test_sql_statements_per_shell_poll_are_bounded(web_app, client, world) -> None:
    for tenant_id, run_type in (
        (world.tenant_ids[0], "inventory_sync"),
        (world.tenant_ids[1], "inventory_sync"),
        (world.tenant_ids[0], "evidence_snapshot_generate"),
    ):
        _make_run(web_app, world, tenant_id=tenant_id, type=run_type, status="queued", summary_counts={})
    for email, bound in (("manager@test.example", 3), ("operator@test.example", 4)):
        login(client, email)
        first = _response(shell_refresh(client, web_app))
        state = {
            "fingerprint": first["activity-fingerprint"]["data"],
            "policy": first["activity-policy"]["data"],
            "seen": first["activity-seen"]["data"],
        }
        with count_statements(web_app) as statements:
            r = shell_refresh(client, web_app, changed=("activity-poll.n_intervals",), **state)
        assert r.status_code == 204
        # user with principal (1) + active runs with their count (1 window query) + notification marks (1);
        # an operator's visibility filter adds one query for the tenants granted to them.
        assert len(queries(statements)) <= bound, queries(statements)


# ------------------------------------------------------------------ notifications


def test_mark_all_read_touches_only_the_callers_notifications(web_app, client, world) -> None:
    with web_app.server.extensions["console.db"].session() as s:
        for user in ("manager", "manager", "operator"):
            s.add(
                Notification(
                    user_id=world.users[user],
                    workspace_id=world.workspace_id,
                    kind="run_completed",
                    title=f"for {user}",
                )
            )
        s.commit()
    login(client, "manager@test.example")
    opened = _response(
        _post(
            client,
            web_app,
            "notifications-modal.is_open",
            inputs=[
                ("notifications-bell", "n_clicks", 1),
                ("notifications-mark-read", "n_clicks", 0),
                ("notifications-close", "n_clicks", 0),
            ],
            state=[],
            changed=["notifications-bell.n_clicks"],
        )
    )
    listed = json.dumps(opened["notifications-list"]["children"])
    assert listed.count("for manager") == 2 and "for operator" not in listed
    marked = _response(
        _post(
            client,
            web_app,
            "notifications-modal.is_open",
            inputs=[
                ("notifications-bell", "n_clicks", 1),
                ("notifications-mark-read", "n_clicks", 1),
                ("notifications-close", "n_clicks", 0),
            ],
            state=[],
            changed=["notifications-mark-read.n_clicks"],
        )
    )
    assert marked["notifications-count"]["children"] == "0"
    with web_app.server.extensions["console.db"].session() as s:
        unread = s.execute(select(Notification.user_id).where(Notification.read_at.is_(None))).scalars().all()
    assert unread == [world.users["operator"]]


def test_units_are_listed_failures_first(web_app, client, world) -> None:
    run_id = _make_run(web_app, world, type="backup_set_restore", summary_counts={"total": 3, "processed": 0})
    with web_app.server.extensions["console.db"].session() as s:
        for key, outcome in (("a", "succeeded"), ("b", "failed"), ("c", "skipped")):
            record_unit(
                session=s, run_id=run_id, unit_key=key, outcome=outcome, error="boom" if outcome == "failed" else None
            )
        assert s.scalar(select(OperationRunUnit.unit_key).where(OperationRunUnit.outcome == "failed")) == "b"
    login(client, "manager@test.example")
    body = json.dumps(_response(run_poll(client, web_app, run_id))["run-view"]["children"])
    assert body.index('"data-unit-key": "b"') < body.index('"data-unit-key": "a"') < body.index('"data-unit-key": "c"')


# ------------------------------------------------------------------ cancel and retry


def _by_inputs(web_app, first_input: str) -> str:
    [key] = [k for k, v in web_app.callback_map.items() if v["inputs"][0]["id"] == first_input and v.get("callback")]
    return key


def _action(client, web_app, first_input: str, run_id, n=1):
    key = _by_inputs(web_app, first_input)
    spec = web_app.callback_map[key]
    values = {first_input: n, "run-id": run_id}
    body = {
        "output": key,
        "outputs": _outputs(key),
        "inputs": [{"id": d["id"], "property": d["property"], "value": values.get(d["id"])} for d in spec["inputs"]],
        "state": [{"id": d["id"], "property": d["property"], "value": values.get(d["id"])} for d in spec["state"]],
        "changedPropIds": [f"{first_input}.n_clicks"],
    }
    token = client.get_cookie("_csrf_token").value
    return client.post(
        "/_dash-update-component",
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )


def _run_state(web_app, run_id) -> tuple:
    with web_app.server.extensions["console.db"].session() as s:
        run = s.get(OperationRun, run_id)
        return run.status, run.outcome, dict(run.context or {})


def test_cancel_from_the_run_viewer_shows_cancelled_at_once_and_keeps_the_counts(
    web_app, client, world, dispatcher
) -> None:
    run_id = _make_run(web_app, world)
    login(client, "operator@test.example")
    page = _response(run_poll(client, web_app, run_id))["run-view"]["children"]
    assert '"run-cancel"' in json.dumps(page) and '"run-retry"' not in json.dumps(page)
    body = _response(_action(client, web_app, "run-cancel-confirm", run_id))
    shown = json.dumps(body["run-view"]["children"])
    assert body["run-cancel-modal"]["is_open"] is False
    assert '"Cancelled"' in shown and "3 of 10 processed" in shown and '"run-retry"' in shown
    assert _run_state(web_app, run_id)[:2] == ("completed", "cancelled")
    # Cancelling again (a double click, another tab): a toast says why, nothing changes.
    again = _response(_action(client, web_app, "run-cancel-confirm", run_id, n=2))
    assert "Nothing was cancelled" in json.dumps(again["toast-area"]["children"])

    # Retry: the modal says what will run; confirming goes to the new run and tells the shell.
    text = _response(_action(client, web_app, "run-retry", run_id))["run-retry-text"]["children"]
    assert text == "Retry the 7 units that did not succeed on a1."
    go = _response(_action(client, web_app, "run-retry-confirm", run_id))
    new_id = go["run-enqueued"]["data"]["run_id"]
    assert go["run-nav"]["href"] == f"/admin/operations/{new_id}" and dispatcher.sent[-1][1] == (new_id,)
    assert _run_state(web_app, new_id)[2]["retry_of"] == run_id
    assert _run_state(web_app, run_id)[2]["retried_as"] == new_id
    second = _response(_action(client, web_app, "run-retry-confirm", run_id, n=2))  # double click
    assert second["run-nav"]["href"] == f"/admin/operations/{new_id}" and "run-enqueued" not in second
    with web_app.server.extensions["console.db"].session() as s:
        assert len(s.scalars(select(OperationRun.id).where(OperationRun.type == "inventory_sync")).all()) == 2


def test_forged_cancel_and_retry_answer_404_or_403_and_change_nothing(web_app, client, world, dispatcher) -> None:
    foreign = _make_run(web_app, world, tenant_id=world.other_tenant_id, workspace_id=world.other_workspace_id)
    ungranted = _make_run(web_app, world, tenant_id=world.tenant_ids[1])
    mine = _make_run(web_app, world)
    login(client, "operator@test.example")
    for run_id in (foreign, ungranted, "abc", -4, None, 10**30, {"id": 1}):
        for action in ("run-cancel-confirm", "run-retry", "run-retry-confirm"):
            r = _action(client, web_app, action, run_id)
            assert r.status_code in (400, 404), (action, run_id, r.status_code)
    client.post("/logout", data={"csrf_token": client.get_cookie("_csrf_token").value})
    login(client, "viewer@test.example")  # sees a1's runs, may not start inventory syncs
    page = json.dumps(_response(run_poll(client, web_app, mine))["run-view"]["children"])
    assert '"run-cancel"' not in page and '"run-retry"' not in page
    assert _action(client, web_app, "run-cancel-confirm", mine).status_code == 403
    for run_id in (foreign, ungranted, mine):
        assert _run_state(web_app, run_id)[:2] == ("running", None)
    assert dispatcher.sent == []


def test_a_silent_run_says_no_progress_in_the_viewer_and_the_shell_until_its_heartbeat_returns(
    web_app, client, world
) -> None:
    """Issue #20 item 5, over HTTP: a worker gone quiet hides the ETA (the pages re-render once
    when the silence starts, then per step) and the ETA returns with the heartbeat."""
    run_id = _make_run(web_app, world, age_s=300, heartbeat_at=utcnow() - timedelta(seconds=3))
    login(client, "manager@test.example")
    first = _response(run_poll(client, web_app, run_id))
    text = json.dumps(first["run-view"]["children"], ensure_ascii=False)
    assert "left" in text and "No progress" not in text  # the ETA, while the worker is heard from
    fingerprint = first["run-fingerprint"]["data"]

    def set_heartbeat(seconds_ago: float) -> None:
        with web_app.server.extensions["console.db"].session() as s:
            s.get(OperationRun, run_id).heartbeat_at = utcnow() - timedelta(seconds=seconds_ago)
            s.commit()

    set_heartbeat(150)  # the worker died 150 s ago; the reaper (limit 120 s here by default) is due
    quiet = _response(run_poll(client, web_app, run_id, fingerprint, {"interval": 10000}))
    text = json.dumps(quiet["run-view"]["children"], ensure_ascii=False)
    assert "No progress for 2 min — the worker may be gone" in text and " left" not in text
    assert "resumes or fails this run at" in text
    again = run_poll(client, web_app, run_id, quiet["run-fingerprint"]["data"], {"interval": 10000})
    assert again.status_code == 204  # the same words: nothing to send

    shell = _response(shell_refresh(client, web_app))
    item = json.dumps(shell["activity-shell"]["children"])
    assert f'"data-run-id": "{run_id}"' in item and '"data-quiet": "true"' in item and "No progress for 2 min" in item

    set_heartbeat(1)  # a worker picked it up again
    back = _response(run_poll(client, web_app, run_id, quiet["run-fingerprint"]["data"], {"interval": 10000}))
    text = json.dumps(back["run-view"]["children"], ensure_ascii=False)
    assert "No progress" not in text and "left" in text
    shell = _response(shell_refresh(client, web_app, fingerprint=shell["activity-fingerprint"]["data"]))
    assert '"data-quiet": "false"' in json.dumps(shell["activity-shell"]["children"])


def test_every_counted_family_lists_its_units_by_name(web_app, client, world) -> None:
    """Issue #14 items 8 and 10: the unit table is there for every counted family, and a unit
    is named for people ("Policy 'Baseline – Windows'"), its key kept as the title and
    ``data-unit-key``. A key the type cannot name (or another tenant's item) shows as the key."""
    from console.backups.models import BackupSet, BackupSetItem
    from console.inventory.models import Policy

    tenant, other_tenant = world.tenant_ids[0], world.tenant_ids[1]
    with web_app.server.extensions["console.db"].session() as s:
        mine = Policy(tenant_id=tenant, external_id="ext-1", name="Baseline – Windows", policy_type="compliance")
        theirs = Policy(tenant_id=other_tenant, external_id="ext-9", name="Not yours", policy_type="compliance")
        s.add_all([mine, theirs])
        s.flush()
        own_set = BackupSet(tenant_id=tenant, name="set")
        other_set = BackupSet(tenant_id=other_tenant, name="theirs")
        s.add_all([own_set, other_set])
        s.flush()
        item = BackupSetItem(backup_set_id=own_set.id, policy_external_id="ext-1", policy_type="compliance")
        foreign = BackupSetItem(backup_set_id=other_set.id, policy_external_id="ext-9", policy_type="compliance")
        s.add_all([item, foreign])
        s.commit()
        policy_id, item_id, foreign_id = mine.id, item.id, foreign.id

    cases = {
        "backup_set_restore": [(f"item:{item_id}", "Policy 'Baseline – Windows'"), (f"item:{foreign_id}", None)],
        "backup_set_add_policies": [(f"policy:{policy_id}", "Policy 'Baseline – Windows'")],
        "evidence_snapshot_generate": [("item:compliance:ext-1", "Policy 'Baseline – Windows'")],
        "inventory_sync": [("type:compliance", "Policies of type 'compliance'")],
        "review_pack_generate": [("entry:tenant.json", "File tenant.json"), ("odd-key", None)],
    }
    login(client, "manager@test.example")
    for type_, units in cases.items():
        run_id = _make_run(web_app, world, type=type_, summary_counts={"total": 5, "processed": 0})
        with web_app.server.extensions["console.db"].session() as s:
            for key, _ in units:
                assert record_unit(session=s, run_id=run_id, unit_key=key, outcome="succeeded")
        body = json.dumps(_response(run_poll(client, web_app, run_id))["run-view"]["children"], ensure_ascii=False)
        assert '"id": "run-units"' in body, type_
        for key, label in units:
            assert f'"data-unit-key": "{key}"' in body, (type_, key)
            if label is None:
                assert f'"children": "{key}"' in body, (type_, key)  # shown as the key
            else:
                assert f'"children": "{label}", "title": "{key}"' in body, (type_, key)
        assert "Not yours" not in body


def test_the_run_viewer_shows_a_timeline_of_who_did_what_and_when(web_app, client, world, dispatcher) -> None:
    """Issue #14 item 10: queued (by whom), started, cancel requested (by whom), completed with
    its outcome — from the audit events, oldest first."""
    from console.access import load_principal
    from console.operations.launch import cancel_operation, start_operation

    db = web_app.server.extensions["console.db"]
    with db.session() as s:
        who = load_principal(session=s, user_id=world.users["manager"])
        run_id = start_operation(
            session=s,
            principal=who,
            tenant_id=world.tenant_ids[0],
            operation_type="inventory_sync",
            options=None,
            dispatcher=dispatcher,
        ).run_id
        s.get(OperationRun, run_id).started_at = utcnow()
        s.get(OperationRun, run_id).status = "running"
        s.commit()
        cancel_operation(session=s, principal=who, run_id=run_id, user_name="Maria Manager")
    login(client, "manager@test.example")
    view = _response(run_poll(client, web_app, run_id))["run-view"]["children"]
    body = json.dumps(view, ensure_ascii=False)
    events = re.findall(r'"data-event": "([a-z.]+)"', body)
    assert events == ["queued", "started", "cancelled", "completed"], events
    manager = _user_name(web_app, world.users["manager"])
    assert f"Queued by {manager}" in body and "Started by a worker" in body
    assert "Completed: Cancelled" in body and f"Cancel requested by {manager}" in body


def _user_name(web_app, user_id: int) -> str:
    from console.accounts.models import User

    with web_app.server.extensions["console.db"].session() as s:
        return s.get(User, user_id).name


def test_past_the_count_limit_the_list_stops_counting_and_pages_on(web_app, world, monkeypatch) -> None:
    """At 1,000,000 runs counting every visible run cost a full scan per page: the list counts
    up to COUNT_LIMIT and says "more than" past it; pages still come newest first, to the end."""
    from console.access import load_principal
    from console.operations import queries
    from console.operations.queries import RowsRequest, RunFilters, run_page

    made = [_make_run(web_app, world, age_s=100 - i) for i in range(7)]  # newest last
    monkeypatch.setattr(queries, "COUNT_LIMIT", 5)
    db = web_app.server.extensions["console.db"]
    with db.session() as s:
        who = load_principal(session=s, user_id=world.users["manager"])
        sort = (("created_at", "desc"),)
        first = run_page(session=s, principal=who, filters=RunFilters(), request=RowsRequest(0, 3, sort))
        assert (first.total, first.exact) == (5, False)
        assert [r.id for r in first.rows] == made[::-1][:3]
        everything = run_page(session=s, principal=who, filters=RunFilters(), request=RowsRequest(0, 100, sort))
        assert len(everything.rows) >= 7 and not everything.exact
        monkeypatch.setattr(queries, "COUNT_LIMIT", 10_000)
        exact = run_page(session=s, principal=who, filters=RunFilters(), request=RowsRequest(0, 3, sort))
        assert exact.exact and exact.total == len(everything.rows)


def test_searching_hash_and_a_number_finds_that_run_only(web_app, world) -> None:
    """``#123`` is a run reference (an index lookup at any scale); plain words and numbers still
    search the failure text, the initiator and the type labels."""
    from console.access import load_principal
    from console.operations.queries import RowsRequest, RunFilters, run_page

    target = _make_run(web_app, world)
    mentions = _make_run(
        web_app, world, status="completed", outcome="failed", failure_summary=f"upstream ticket {target} timed out"
    )
    db = web_app.server.extensions["console.db"]
    with db.session() as s:
        who = load_principal(session=s, user_id=world.users["manager"])

        def found(q: str) -> set[int]:
            page = run_page(session=s, principal=who, filters=RunFilters(q=q), request=RowsRequest(0, 100, ()))
            return {r.id for r in page.rows}

        assert found(f"#{target}") == {target}
        assert found(f"  #{target} ") == {target}
        assert {target, mentions} <= found(str(target))  # a bare number: the id or the text
        assert found("#999999999") == set()
