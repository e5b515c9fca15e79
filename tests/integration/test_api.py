"""The HTTP API's behaviour: the run object is the CLI's, cursors page and cannot be forged,
ETag/304, start/cancel/retry with their rules and audit events naming the token, token
semantics (session cookies refused, read-only, removed grants, last use), the rate limit,
and problem+json for everything a client can get wrong."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import delete, select

from console.accounts.models import TenantGrant
from console.api_tokens.models import ApiToken
from console.audit.models import AuditEvent
from console.db import utcnow
from console.operations.models import OperationRun
from console.operations.run_object import packs_by_run, run_view
from tests.support.api import ZIP_BYTES, api_app, bearer, db_session, make_run, ready_pack
from tests.support.db import DB_BACKENDS, fresh_database_url, queries, sql_statements
from tests.support.web import login

PROBLEM = "application/problem+json"


@pytest.fixture
def app(empty_db_url, tmp_path):
    """A fresh console per test (for tests that change state)."""
    with api_app(empty_db_url, tmp_path) as app:
        yield app


@pytest.fixture(scope="module", params=DB_BACKENDS)
def shared(request, tmp_path_factory):
    """One console per module and backend, for requests that change nothing (refused ones)."""
    tmp = tmp_path_factory.mktemp("api-shared")
    with fresh_database_url(request.param, tmp) as url, api_app(url, tmp) as app:
        yield app


def call(app, method: str, path: str, role: str = "owner", kind: str = "full", **kw):
    headers = {**bearer(app.api.tokens[role, kind]), **kw.pop("headers", {})}
    return app.server.test_client().open(path, method=method, headers=headers, **kw)


def assert_problem(response, status: int, detail_contains: str = "") -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == PROBLEM
    body = json.loads(response.get_data(as_text=True))
    assert set(body) == {"type", "title", "status", "detail"} and body["status"] == status
    assert body["type"].startswith("urn:console:problem:")
    assert detail_contains in body["detail"]
    return body


# --------------------------------------------------------------------------- reads


def test_tenants_are_those_the_user_sees(app) -> None:
    w = app.api.world
    names = {
        role: [t["name"] for t in call(app, "GET", "/api/v1/tenants", role).get_json()["items"]]
        for role in ("owner", "operator", "outsider", "stranger")
    }
    assert names == {"owner": ["a1", "a2"], "operator": ["a1"], "outsider": ["b1"], "stranger": []}
    item = call(app, "GET", "/api/v1/tenants", "viewer").get_json()["items"][0]
    assert item == {"id": w.tenant_ids[0], "name": "a1", "workspace_id": w.workspace_id}


def test_the_run_object_is_the_one_runs_show_json_prints(app) -> None:
    a1 = app.api.world.tenant_ids[0]
    run_id = make_run(app, a1, type="review_pack_generate", units=2)
    pack_id = ready_pack(app, a1, run_id=run_id)
    answer = call(app, "GET", f"/api/v1/runs/{run_id}").get_json()
    with db_session(app) as s:
        run = s.get(OperationRun, run_id)
        assert answer == run_view(run, packs_by_run(s, [run]))
    assert answer["review_pack"] == {
        "id": pack_id,
        "status": "ready",
        "download_url": f"/review-packs/{pack_id}/download",
    }
    listed = call(app, "GET", "/api/v1/runs").get_json()["items"]
    assert listed == [answer]


def test_runs_page_newest_first_with_cursors_and_filters(app) -> None:
    a1, a2 = app.api.world.tenant_ids
    ids = [make_run(app, a1 if i % 2 else a2, age_s=100 - i) for i in range(7)]
    seen, cursor = [], None
    for _ in range(4):
        query = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = call(app, "GET", "/api/v1/runs", query_string=query).get_json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]
    mine = call(app, "GET", "/api/v1/runs", "operator", query_string={"limit": 200}).get_json()
    assert [r["id"] for r in mine["items"]] == [i for i in ids[::-1] if i % 2 == ids[1] % 2]
    assert mine["next_cursor"] is None
    only_a2 = call(app, "GET", "/api/v1/runs", query_string={"tenant": a2}).get_json()["items"]
    assert {r["tenant_id"] for r in only_a2} == {a2}
    assert call(app, "GET", "/api/v1/runs", query_string={"q": f"#{ids[3]}"}).get_json()["items"][0]["id"] == ids[3]


def test_a_cursor_is_bound_to_its_user_and_cannot_be_forged(app) -> None:
    a1 = app.api.world.tenant_ids[0]
    for i in range(3):
        make_run(app, a1, age_s=10 - i)
    cursor = call(app, "GET", "/api/v1/runs", query_string={"limit": 1}).get_json()["next_cursor"]
    assert call(app, "GET", "/api/v1/runs", "manager", query_string={"cursor": cursor}).status_code == 400
    other_secret = URLSafeSerializer("guessed", salt="console.api.cursor.runs").dumps(
        {"u": app.api.world.users["owner"], "p": ["2999-01-01T00:00:00+00:00", 1]}
    )
    for forged in (other_secret, cursor[:-2] + "xx", "x", "%00", "é" * 50, cursor + "." + cursor):
        assert_problem(call(app, "GET", "/api/v1/runs", query_string={"cursor": forged}), 400, "invalid cursor")


def test_a_valid_cursor_still_only_reaches_runs_the_user_sees(app) -> None:
    """The outsider's own cursor, positioned past workspace A's runs, yields only B's runs."""
    w = app.api.world
    for _ in range(2):
        make_run(app, w.tenant_ids[0])
        make_run(app, w.other_tenant_id, user="outsider")
    cursor = call(app, "GET", "/api/v1/runs", "outsider", query_string={"limit": 1}).get_json()["next_cursor"]
    rest = call(app, "GET", "/api/v1/runs", "outsider", query_string={"cursor": cursor}).get_json()["items"]
    assert [r["tenant_id"] for r in rest] == [w.other_tenant_id]


def test_units_page_through_the_ledger(app) -> None:
    run_id = make_run(app, app.api.world.tenant_ids[0], units=5)
    first = call(app, "GET", f"/api/v1/runs/{run_id}/units", query_string={"limit": 2}).get_json()
    assert first["items"][0] == {"unit_key": "unit-000", "outcome": "failed", "error": "boom"}
    keys = [u["unit_key"] for u in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = call(app, "GET", f"/api/v1/runs/{run_id}/units", query_string={"limit": 2, "cursor": cursor}).get_json()
        keys += [u["unit_key"] for u in page["items"]]
        cursor = page["next_cursor"]
    assert keys == [f"unit-{i:03d}" for i in range(5)]
    other = make_run(app, app.api.world.tenant_ids[0], units=5)
    assert (
        call(app, "GET", f"/api/v1/runs/{other}/units", query_string={"cursor": first["next_cursor"]}).status_code
        == 400
    )


def test_etag_answers_304_while_the_run_is_unchanged(app) -> None:
    run_id = make_run(app, app.api.world.tenant_ids[0], status="running", outcome=None)
    first = call(app, "GET", f"/api/v1/runs/{run_id}")
    etag = first.headers["ETag"]
    again = call(app, "GET", f"/api/v1/runs/{run_id}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    with db_session(app) as s:
        s.get(OperationRun, run_id).summary_counts = {"total": 4, "processed": 1}
        s.commit()
    changed = call(app, "GET", f"/api/v1/runs/{run_id}", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.get_json()["progress"] == {"mode": "counted", "processed": 1, "total": 4, "percent": 25}
    # Another user's answer for the same run carries no data they may not see: 404 with or without an ETag.
    assert call(app, "GET", f"/api/v1/runs/{run_id}", "outsider", headers={"If-None-Match": etag}).status_code == 404


@pytest.mark.parametrize("run_type", ["inventory_sync", "review_pack_generate"])
def test_a_304_poll_costs_two_sql_statements(app, run_type) -> None:
    """The cheap poll: one statement for token + user + memberships + grants, one for the run
    with its tenant (and review pack) as columns — whoever polls, whatever the run's type."""
    a1 = app.api.world.tenant_ids[0]
    run_id = make_run(app, a1, type=run_type, status="running", outcome=None, units=3)
    if run_type == "review_pack_generate":
        ready_pack(app, a1, run_id=run_id)
    engine = app.server.extensions["console.db"].engine
    for role in ("owner", "operator"):
        path = f"/api/v1/runs/{run_id}"
        etag = call(app, "GET", path, role).headers["ETag"]  # also writes last_used_at (once a minute)
        with sql_statements(engine) as statements:
            polled = call(app, "GET", path, role, headers={"If-None-Match": etag})
        assert polled.status_code == 304
        sql = queries(statements)
        assert len(sql) == 2, sql
        assert "api_tokens" in sql[0] and "workspace_memberships" in sql[0] and "tenant_grants" in sql[0]
        assert "operation_runs" in sql[1] and "tenants" in sql[1]


def test_review_pack_and_its_download(app) -> None:
    pack_id = ready_pack(app, app.api.world.tenant_ids[0])
    pack = call(app, "GET", f"/api/v1/review-packs/{pack_id}", "viewer").get_json()
    assert set(pack) == {"id", "tenant_id", "operation_run_id", "status", "size", "sha256", "ready_at", "expires_at"}
    assert (pack["status"], pack["size"]) == ("ready", len(ZIP_BYTES))
    zipped = call(app, "GET", f"/api/v1/review-packs/{pack_id}/download", "viewer")
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip" and zipped.get_data() == ZIP_BYTES
    with db_session(app) as s:
        from console.review_packs.models import ReviewPack

        s.get(ReviewPack, pack_id).status = "expired"
        s.commit()
    assert_problem(call(app, "GET", f"/api/v1/review-packs/{pack_id}/download"), 410)


# --------------------------------------------------------------------------- writes


def _audits(app, action: str) -> list[tuple[int | None, int | None, dict]]:
    """(target_id, user_id, details) of each audit event of ``action``."""
    with db_session(app) as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
        return [(e.target_id, e.user_id, dict(e.details)) for e in rows]


def test_start_answers_202_with_location_dispatches_once_and_audits_the_token(app) -> None:
    a1 = app.api.world.tenant_ids[0]
    body = {"type": "inventory_sync", "tenant_id": a1, "options": {}}
    first = call(app, "POST", "/api/v1/runs", "operator", json=body)
    assert first.status_code == 202
    run = first.get_json()
    assert first.headers["Location"] == f"/api/v1/runs/{run['id']}"
    assert (run["type"], run["status"], run["tenant_id"]) == ("inventory_sync", "queued", a1)
    again = call(app, "POST", "/api/v1/runs", "owner", json=body)
    assert again.status_code == 200 and again.get_json()["id"] == run["id"]
    assert [args for name, args in app.dispatcher.sent] == [(run["id"],)]
    ((target_id, user_id, details),) = _audits(app, "api.run_started")
    assert target_id == run["id"] and user_id == app.api.world.users["operator"]
    assert details["token_id"] == app.api.token_ids["operator", "full"]
    assert details["token_name"] == "operator-full" and details["via"] == "api"


def test_start_refusals(app) -> None:
    a1 = app.api.world.tenant_ids[0]
    assert_problem(call(app, "POST", "/api/v1/runs", json={"type": "nope", "tenant_id": a1}), 400, "unknown operation")
    assert_problem(call(app, "POST", "/api/v1/runs", json={"type": "inventory_sync"}), 422, "tenant_id")
    assert_problem(call(app, "POST", "/api/v1/runs", json={"type": "inventory_sync", "tenant_id": "1"}), 422)
    assert_problem(
        call(app, "POST", "/api/v1/runs", json={"type": "inventory_sync", "tenant_id": a1, "options": {"x": 1}}), 400
    )
    assert_problem(call(app, "POST", "/api/v1/runs", json={"type": "inventory_sync", "tenant_id": a1, "extra": 1}), 422)
    with db_session(app) as s:
        assert s.scalar(select(OperationRun.id)) is None


def test_cancel_then_cancel_again_is_409_and_retry_rules(app) -> None:
    a1 = app.api.world.tenant_ids[0]
    queued = make_run(app, a1, status="queued", outcome=None)
    cancelled = call(app, "POST", f"/api/v1/runs/{queued}/cancel")
    assert cancelled.status_code == 200
    assert (cancelled.get_json()["status"], cancelled.get_json()["outcome"]) == ("completed", "cancelled")
    assert_problem(call(app, "POST", f"/api/v1/runs/{queued}/cancel"), 409)
    assert [target for target, _, _ in _audits(app, "api.run_cancelled")] == [queued]
    retried = call(app, "POST", f"/api/v1/runs/{queued}/retry")
    assert retried.status_code == 202 and retried.headers["Location"] == f"/api/v1/runs/{retried.get_json()['id']}"
    assert call(app, "POST", f"/api/v1/runs/{queued}/retry").get_json()["id"] == retried.get_json()["id"]
    assert_problem(call(app, "POST", f"/api/v1/runs/{retried.get_json()['id']}/retry"), 409)
    ((_, _, details),) = _audits(app, "api.run_retried")
    assert details["retry_of"] == queued and details["token_name"] == "owner-full"


# --------------------------------------------------------------------------- tokens


def test_a_session_cookie_alone_is_refused_and_bearer_posts_need_no_csrf(app) -> None:
    client = app.server.test_client()
    login(client, "owner@test.example")
    assert client.get("/").status_code == 200  # the session works for pages
    assert_problem(client.get("/api/v1/tenants"), 401)
    a1 = app.api.world.tenant_ids[0]
    r = client.post("/api/v1/runs", json={"type": "inventory_sync", "tenant_id": a1})
    assert_problem(r, 401)
    r = client.post(
        "/api/v1/runs",
        json={"type": "inventory_sync", "tenant_id": a1},
        headers={**bearer(app.api.tokens["owner", "full"]), "Origin": "https://evil.example"},
    )
    assert r.status_code == 202


@pytest.mark.parametrize(
    "header", ["", "Bearer", "Bearer ", "Basic b3duZXI6eA==", "Bearer toc_unknown", "Token toc_x", "Bearer \u00e9"]
)
def test_missing_or_malformed_authorization_is_401_with_www_authenticate(shared, header) -> None:
    r = shared.server.test_client().get("/api/v1/tenants", headers={"Authorization": header} if header else {})
    assert_problem(r, 401)
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="console"'


def test_read_only_tokens_only_read(app) -> None:
    a1 = app.api.world.tenant_ids[0]
    assert call(app, "GET", "/api/v1/runs", kind="read_only").status_code == 200
    r = call(app, "POST", "/api/v1/runs", kind="read_only", json={"type": "inventory_sync", "tenant_id": a1})
    assert_problem(r, 403)
    assert call(app, "DELETE", "/api/v1/runs", kind="read_only").status_code in (403, 405)
    assert app.dispatcher.sent == []


def test_a_removed_grant_takes_effect_at_once(app) -> None:
    a1 = app.api.world.tenant_ids[0]
    run_id = make_run(app, a1)
    assert call(app, "GET", f"/api/v1/runs/{run_id}", "operator").status_code == 200
    with db_session(app) as s:
        s.execute(delete(TenantGrant).where(TenantGrant.user_id == app.api.world.users["operator"]))
        s.commit()
    assert call(app, "GET", f"/api/v1/runs/{run_id}", "operator").status_code == 404
    assert call(app, "GET", "/api/v1/tenants", "operator").get_json() == {"items": []}


def test_last_used_at_is_written_on_use_at_most_once_a_minute(app) -> None:
    key = ("viewer", "full")

    def last_used():
        with db_session(app) as s:
            return s.get(ApiToken, app.api.token_ids[key]).last_used_at

    assert last_used() is None
    call(app, "GET", "/api/v1/tenants", *key)
    first = last_used()
    assert first is not None and utcnow() - first < timedelta(seconds=30)
    call(app, "GET", "/api/v1/tenants", *key)
    assert last_used() == first
    with db_session(app) as s:
        s.get(ApiToken, app.api.token_ids[key]).last_used_at = first - timedelta(seconds=61)
        s.commit()
    call(app, "GET", "/api/v1/tenants", *key)
    assert last_used() > first


def test_over_the_rate_limit_is_429_with_retry_after_per_token(empty_db_url, tmp_path) -> None:
    with api_app(empty_db_url, tmp_path, api_rate_limit="3/minute") as app:
        for _ in range(3):
            assert call(app, "GET", "/api/v1/tenants").status_code == 200
        r = call(app, "GET", "/api/v1/tenants")
        assert_problem(r, 429)
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert call(app, "GET", "/api/v1/tenants", "manager").status_code == 200  # another token's budget
        assert call(app, "GET", "/api/v1/openapi.json").status_code == 200  # the document is not limited
        for _ in range(5):  # unauthenticated requests are refused, not counted against anyone
            assert app.server.test_client().get("/api/v1/tenants").status_code == 401


def test_an_unreachable_limiter_redis_costs_the_budget_not_the_answers(empty_db_url, tmp_path) -> None:
    """The limiter's Redis is the broker's by default: when it is down, API requests and sign-ins
    are still answered (counted in this process meanwhile), never a 500."""
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"
    with api_app(empty_db_url, tmp_path, api_rate_limit="3/minute", ratelimit_storage_url=dead) as app:
        for _ in range(3):
            assert call(app, "GET", "/api/v1/tenants").status_code == 200
        assert_problem(call(app, "GET", "/api/v1/tenants"), 429)  # the in-memory fallback still limits
        client = app.server.test_client()
        assert login(client, "viewer@test.example", "wrong password").status_code == 401


# --------------------------------------------------------------------------- what a client can get wrong

HOSTILE_GETS = [
    ("/api/v1/runs?limit=0", 422),
    ("/api/v1/runs?limit=-1", 422),
    ("/api/v1/runs?limit=201", 422),
    ("/api/v1/runs?limit=99999999999999999999999", 422),
    ("/api/v1/runs?limit=abc", 422),
    ("/api/v1/runs?tenant=abc", 422),
    ("/api/v1/runs?tenant=2147483648", 422),
    ("/api/v1/runs?tenant=-5", 422),
    ("/api/v1/runs?tenant=9999", 404),
    ("/api/v1/runs?type=drop_tables", 422),
    ("/api/v1/runs?status=';DROP TABLE operation_runs;--", 422),
    ("/api/v1/runs?q=' OR 1=1 --", 200),
    ("/api/v1/runs?q=%E2%80%AE%F0%9F%92%A5%E4%B8%AD%E6%96%87", 200),
    ("/api/v1/runs?q=%00", 400),
    ("/api/v1/runs?q=" + "x" * 201, 422),
    ("/api/v1/runs/2147483648", 404),
    ("/api/v1/runs/99999999999999999999999999", 404),
    ("/api/v1/runs/0", 404),
    ("/api/v1/runs/-1", 400),
    ("/api/v1/runs/abc", 400),
    ("/api/v1/runs/1e3", 400),
    ("/api/v1/runs/%EF%BC%91", 400),
    ("/api/v1/runs/2147483648/units", 404),
    ("/api/v1/runs/1/units?limit=1000", 422),
    ("/api/v1/review-packs/2147483648", 404),
    ("/api/v1/review-packs/x/download", 400),
    ("/api/v1/nothing-here", 404),
    ("/api/v2/runs", 404),
    ("/api/v1/runs?tenat=1", 422),
]


@pytest.mark.parametrize("path, status", HOSTILE_GETS)
def test_hostile_queries_are_4xx_problems_never_500(shared, path, status) -> None:
    r = call(shared, "GET", path)
    if status == 200:
        assert r.status_code == 200 and r.get_json()["items"] == []
    else:
        assert_problem(r, status)


HOSTILE_POSTS = [
    ({"data": "not json", "content_type": "application/json"}, 400),
    ({"data": "{", "content_type": "application/json"}, 400),
    ({"data": "[]", "content_type": "application/json"}, 422),
    ({"data": "null", "content_type": "application/json"}, 422),
    ({"data": '"x"', "content_type": "application/json"}, 422),
    ({"data": "type=inventory_sync", "content_type": "application/x-www-form-urlencoded"}, 415),
    ({"data": "<run/>", "content_type": "text/xml"}, 415),
    ({"json": {"type": 5, "tenant_id": 1}}, 422),
    ({"json": {"type": "inventory_sync", "tenant_id": True}}, 422),
    ({"json": {"type": "inventory_sync", "tenant_id": 2**31}}, 422),
    ({"json": {"type": "inventory_sync", "tenant_id": 1.5}}, 422),
    ({"json": {"type": "inventory_sync", "tenant_id": 1, "options": []}}, 422),
    ({"json": {"type": "x" * 10_000, "tenant_id": 1}}, 422),
    ({"data": json.dumps({"type": "inventory_sync", "pad": "x" * 70_000}), "content_type": "application/json"}, 413),
    ({"data": b"\xff\xfe\x00", "content_type": "application/json"}, 400),
]


@pytest.mark.parametrize("kw, status", HOSTILE_POSTS)
def test_hostile_bodies_are_4xx_problems_never_500(shared, kw, status) -> None:
    assert_problem(call(shared, "POST", "/api/v1/runs", **kw), status)
    assert shared.dispatcher.sent == []


def test_wrong_methods_are_405_problems(shared) -> None:
    for method, path in (("DELETE", "/api/v1/runs"), ("PUT", "/api/v1/tenants"), ("POST", "/api/v1/runs/1")):
        r = call(shared, method, path)
        assert_problem(r, 405)
        assert "GET" in r.headers["Allow"]


def test_a_huge_body_is_refused_before_it_is_read(shared) -> None:
    r = call(shared, "POST", "/api/v1/runs", data=b"{" + b" " * 2_000_000, content_type="application/json")
    assert_problem(r, 413)


def test_openapi_document_is_public_and_valid(app) -> None:
    from openapi_spec_validator import validate

    r = app.server.test_client().get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.get_json()
    validate(doc)
    assert set(doc["paths"]) == {
        "/api/v1/tenants",
        "/api/v1/runs",
        "/api/v1/runs/{run_id}",
        "/api/v1/runs/{run_id}/cancel",
        "/api/v1/runs/{run_id}/retry",
        "/api/v1/runs/{run_id}/units",
        "/api/v1/review-packs/{pack_id}",
        "/api/v1/review-packs/{pack_id}/download",
    }
    errors = doc["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(errors) == [PROBLEM]
    run_keys = set(doc["components"]["schemas"]["Run"]["properties"])
    a1 = app.api.world.tenant_ids[0]
    with db_session(app) as s:
        run = s.get(OperationRun, make_run(app, a1, type="review_pack_generate"))
        assert run_keys == set(run_view(run, {}))
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}


def test_the_api_reference_is_served_from_the_package_under_the_same_csp(shared) -> None:
    from swagger_ui_bundle import swagger_ui_path

    client = shared.server.test_client()
    # /api/docs: the accessible reference, rendered on the server from the live document.
    ref = client.get("/api/docs")
    assert ref.status_code == 200 and ref.mimetype == "text/html"
    page = ref.get_data(as_text=True)
    spec = client.get("/api/v1/openapi.json").get_json()
    for path, item in spec["paths"].items():
        for method in item:
            if method in ("get", "post"):
                assert f'data-method="{method.upper()}" data-path="{path}"' in page, (method, path)
    assert '<script src="/assets/theme.js">' in page and page.count("<script") == 1  # the theme, no inline code
    assert '<main id="api-reference"' in page and 'href="/api/docs/try"' in page
    # /api/docs/try: Swagger UI from the package.
    r = client.get("/api/docs/try")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "http" not in html.replace("/api/v1/openapi.json", "")  # nothing from another host
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-eval" not in csp and "unsafe-inline" not in csp.split("style-src")[0]
    assert "<script>" not in html  # no inline script: the start-up code is a file
    bundle = client.get("/api/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and bundle.get_data() == (swagger_ui_path / "swagger-ui-bundle.js").read_bytes()
    assert "SwaggerUIBundle" in client.get("/api/docs/start.js").get_data(as_text=True)
    assert_problem(client.get("/api/docs/static/index.html"), 404)
    assert_problem(client.get("/api/docs/static/..%2F..%2F__init__.py"), 404)
