"""Every API endpoint x every role x every token kind, against answers written out by hand.

Roles (tests/factories.build_world): owner and manager of workspace A; operator and viewer of A
with a grant on tenant a1 only (the viewer's holds only *.view); outsider, owner of workspace B
only; stranger, member of no workspace. Targets live on a1 unless named: ``a2`` is A's
ungranted tenant, ``run_b`` a run on B's tenant. Token kinds: full, read-only, expired, revoked.

The table is literal (never derived from console.access): a rule that drifts fails here."""

from __future__ import annotations

import pytest

from tests.support.api import ROLES, api_app, bearer, make_run, ready_pack, settle_active_runs
from tests.support.db import DB_BACKENDS, fresh_database_url

PROBLEM = "application/problem+json"

#: name -> (method, path, JSON body or None); {placeholders} are filled per request.
ENDPOINTS = {
    "tenants": ("GET", "/api/v1/tenants", None),
    "runs": ("GET", "/api/v1/runs", None),
    "runs_a1": ("GET", "/api/v1/runs?tenant={a1}", None),
    "runs_a2": ("GET", "/api/v1/runs?tenant={a2}", None),
    "run": ("GET", "/api/v1/runs/{run}", None),
    "run_b": ("GET", "/api/v1/runs/{run_b}", None),
    "units": ("GET", "/api/v1/runs/{run}/units", None),
    "start": ("POST", "/api/v1/runs", {"type": "inventory_sync", "tenant_id": "{a1}", "options": {}}),
    "start_a2": ("POST", "/api/v1/runs", {"type": "inventory_sync", "tenant_id": "{a2}", "options": {}}),
    "cancel": ("POST", "/api/v1/runs/{queued}/cancel", None),
    "retry": ("POST", "/api/v1/runs/{failed}/retry", None),
    "pack": ("GET", "/api/v1/review-packs/{pack}", None),
    "download": ("GET", "/api/v1/review-packs/{pack}/download", None),
    "openapi": ("GET", "/api/v1/openapi.json", None),
}

# (endpoint, role): status with a (full, read-only, expired, revoked) token
TABLE: dict[tuple[str, str], tuple[int, int, int, int]] = {
    ("tenants", "owner"): (200, 200, 401, 401),
    ("tenants", "manager"): (200, 200, 401, 401),
    ("tenants", "operator"): (200, 200, 401, 401),
    ("tenants", "viewer"): (200, 200, 401, 401),
    ("tenants", "outsider"): (200, 200, 401, 401),
    ("tenants", "stranger"): (200, 200, 401, 401),
    ("runs", "owner"): (200, 200, 401, 401),
    ("runs", "manager"): (200, 200, 401, 401),
    ("runs", "operator"): (200, 200, 401, 401),
    ("runs", "viewer"): (200, 200, 401, 401),
    ("runs", "outsider"): (200, 200, 401, 401),
    ("runs", "stranger"): (200, 200, 401, 401),
    ("runs_a1", "owner"): (200, 200, 401, 401),
    ("runs_a1", "manager"): (200, 200, 401, 401),
    ("runs_a1", "operator"): (200, 200, 401, 401),
    ("runs_a1", "viewer"): (200, 200, 401, 401),
    ("runs_a1", "outsider"): (404, 404, 401, 401),
    ("runs_a1", "stranger"): (404, 404, 401, 401),
    ("runs_a2", "owner"): (200, 200, 401, 401),
    ("runs_a2", "manager"): (200, 200, 401, 401),
    ("runs_a2", "operator"): (404, 404, 401, 401),
    ("runs_a2", "viewer"): (404, 404, 401, 401),
    ("runs_a2", "outsider"): (404, 404, 401, 401),
    ("runs_a2", "stranger"): (404, 404, 401, 401),
    ("run", "owner"): (200, 200, 401, 401),
    ("run", "manager"): (200, 200, 401, 401),
    ("run", "operator"): (200, 200, 401, 401),
    ("run", "viewer"): (200, 200, 401, 401),
    ("run", "outsider"): (404, 404, 401, 401),
    ("run", "stranger"): (404, 404, 401, 401),
    ("run_b", "owner"): (404, 404, 401, 401),
    ("run_b", "manager"): (404, 404, 401, 401),
    ("run_b", "operator"): (404, 404, 401, 401),
    ("run_b", "viewer"): (404, 404, 401, 401),
    ("run_b", "outsider"): (200, 200, 401, 401),
    ("run_b", "stranger"): (404, 404, 401, 401),
    ("units", "owner"): (200, 200, 401, 401),
    ("units", "manager"): (200, 200, 401, 401),
    ("units", "operator"): (200, 200, 401, 401),
    ("units", "viewer"): (200, 200, 401, 401),
    ("units", "outsider"): (404, 404, 401, 401),
    ("units", "stranger"): (404, 404, 401, 401),
    ("start", "owner"): (202, 403, 401, 401),
    ("start", "manager"): (202, 403, 401, 401),
    ("start", "operator"): (202, 403, 401, 401),
    ("start", "viewer"): (403, 403, 401, 401),
    ("start", "outsider"): (404, 403, 401, 401),
    ("start", "stranger"): (404, 403, 401, 401),
    ("start_a2", "owner"): (202, 403, 401, 401),
    ("start_a2", "manager"): (202, 403, 401, 401),
    ("start_a2", "operator"): (404, 403, 401, 401),
    ("start_a2", "viewer"): (404, 403, 401, 401),
    ("start_a2", "outsider"): (404, 403, 401, 401),
    ("start_a2", "stranger"): (404, 403, 401, 401),
    ("cancel", "owner"): (200, 403, 401, 401),
    ("cancel", "manager"): (200, 403, 401, 401),
    ("cancel", "operator"): (200, 403, 401, 401),
    ("cancel", "viewer"): (403, 403, 401, 401),
    ("cancel", "outsider"): (404, 403, 401, 401),
    ("cancel", "stranger"): (404, 403, 401, 401),
    ("retry", "owner"): (202, 403, 401, 401),
    ("retry", "manager"): (202, 403, 401, 401),
    ("retry", "operator"): (202, 403, 401, 401),
    ("retry", "viewer"): (403, 403, 401, 401),
    ("retry", "outsider"): (404, 403, 401, 401),
    ("retry", "stranger"): (404, 403, 401, 401),
    ("pack", "owner"): (200, 200, 401, 401),
    ("pack", "manager"): (200, 200, 401, 401),
    ("pack", "operator"): (200, 200, 401, 401),
    ("pack", "viewer"): (200, 200, 401, 401),
    ("pack", "outsider"): (404, 404, 401, 401),
    ("pack", "stranger"): (404, 404, 401, 401),
    ("download", "owner"): (200, 200, 401, 401),
    ("download", "manager"): (200, 200, 401, 401),
    ("download", "operator"): (200, 200, 401, 401),
    ("download", "viewer"): (200, 200, 401, 401),
    ("download", "outsider"): (404, 404, 401, 401),
    ("download", "stranger"): (404, 404, 401, 401),
    ("openapi", "owner"): (200, 200, 200, 200),
    ("openapi", "manager"): (200, 200, 200, 200),
    ("openapi", "operator"): (200, 200, 200, 200),
    ("openapi", "viewer"): (200, 200, 200, 200),
    ("openapi", "outsider"): (200, 200, 200, 200),
    ("openapi", "stranger"): (200, 200, 200, 200),
}
KIND_COLUMNS = ("full", "read_only", "expired", "revoked")


@pytest.fixture(scope="module", params=DB_BACKENDS)
def app(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api-matrix")
    with fresh_database_url(request.param, tmp) as url, api_app(url, tmp) as app:
        world = app.api.world
        a1 = world.tenant_ids[0]
        app.targets = {
            "a1": a1,
            "a2": world.tenant_ids[1],
            "run": make_run(app, a1, units=3),
            "run_b": make_run(app, world.other_tenant_id, user="outsider"),
            "pack": ready_pack(app, a1),
        }
        yield app


def test_the_table_covers_every_endpoint_and_role() -> None:
    assert set(TABLE) == {(e, r) for e in ENDPOINTS for r in ROLES}


def _fill(value, targets):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return targets[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, targets) for k, v in value.items()}
    return value.format(**targets) if isinstance(value, str) else value


@pytest.mark.parametrize("kind", KIND_COLUMNS)
@pytest.mark.parametrize("endpoint, role", sorted(TABLE))
def test_status_per_endpoint_role_and_token_kind(app, endpoint, role, kind) -> None:
    method, path, body = ENDPOINTS[endpoint]
    targets = dict(app.targets)
    settle_active_runs(app)  # a start or retry creates a run (202), not the active one (200)
    if endpoint == "cancel":
        targets["queued"] = make_run(app, targets["a1"], status="queued", outcome=None)
    if endpoint == "retry":
        targets["failed"] = make_run(app, targets["a1"], outcome="failed")
    client = app.server.test_client()
    response = client.open(
        _fill(path, targets),
        method=method,
        json=_fill(body, targets) if body is not None else None,
        headers=bearer(app.api.tokens[role, kind]),
    )
    expected = TABLE[endpoint, role][KIND_COLUMNS.index(kind)]
    assert response.status_code == expected, response.get_data(as_text=True)[:300]
    if expected >= 400:
        assert response.mimetype == PROBLEM
        problem = response.get_json(force=True)
        assert set(problem) == {"type", "title", "status", "detail"} and problem["status"] == expected
    if expected == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
