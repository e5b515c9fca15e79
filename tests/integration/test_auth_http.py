"""Login, logout, the page gate and CSRF over real HTTP requests (Flask test client)."""

from __future__ import annotations

import json

import pytest

from console.accounts.models import User
from console.app import create_app
from console.config import ConfigError, load_settings
from console.migrate import upgrade
from console.operations.models import OperationRun
from console.web.auth import LOGIN_FAILED
from tests.factories import build_world
from tests.support.web import csrf_token, login


def _callback_body(output: str = "nav-user.children") -> dict:
    # A syntactically valid request (for a callback that does not exist: 400 once past CSRF).
    return {
        "output": output,
        "outputs": {"id": "nav-user", "property": "children"},
        "inputs": [],
        "changedPropIds": [],
        "state": [],
    }


def test_login_sets_a_hardened_session_and_follows_next(client, world) -> None:
    token = csrf_token(client)
    r = client.post(
        "/login",
        data={
            "email": "Owner@Test.Example",
            "password": "correct-horse-battery",
            "csrf_token": token,
            "next": "/admin/operations",
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == "/admin/operations"
    cookie = [h for h in r.headers.getlist("Set-Cookie") if h.startswith("session=")][0]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    "email,password",
    [("owner@test.example", "wrong-password"), ("nobody@test.example", "correct-horse-battery"), ("", "")],
)
def test_failed_login_says_the_same_thing_whatever_was_wrong(client, world, email, password) -> None:
    r = login(client, email, password)
    assert r.status_code == 401
    body = r.get_data(as_text=True)
    assert 'id="login-error"' in body and LOGIN_FAILED in body
    assert client.get("/").status_code == 302  # still logged out


def test_login_without_csrf_token_is_rejected(client, world) -> None:
    r = client.post("/login", data={"email": "owner@test.example", "password": "correct-horse-battery"})
    assert r.status_code == 400
    assert client.get("/").status_code == 302


def test_next_cannot_leave_the_site(client, world) -> None:
    token = csrf_token(client)
    r = client.post(
        "/login",
        data={
            "email": "owner@test.example",
            "password": "correct-horse-battery",
            "csrf_token": token,
            "next": "https://evil.example/",
        },
    )
    assert r.headers["Location"] == "/"


def test_passwords_are_stored_as_argon2_hashes(web_app, world) -> None:
    with web_app.server.extensions["console.db"].session() as s:
        user = s.get(User, world.users["owner"])
        assert user.password_hash.startswith("$argon2id$") and "correct-horse" not in user.password_hash


def test_unauthenticated_page_redirects_to_login_with_next(client) -> None:
    r = client.get("/admin/operations?type=inventory_sync")
    assert r.status_code == 302
    assert r.headers["Location"] == "/login?next=%2Fadmin%2Foperations%3Ftype%3Dinventory_sync"


def test_unauthenticated_callback_is_401_even_without_csrf(client) -> None:
    r = client.post("/_dash-update-component", json=_callback_body())
    assert r.status_code == 401 and r.json == {"error": "authentication required"}


def test_callback_without_csrf_header_is_rejected_and_with_it_accepted(client, world) -> None:
    login(client, "owner@test.example")
    r = client.post("/_dash-update-component", json=_callback_body())
    assert r.status_code == 400 and "CSRF" in r.json["error"]
    token = client.get_cookie("_csrf_token").value
    r = client.post(
        "/_dash-update-component",
        data=json.dumps(_callback_body()),
        content_type="application/json",
        headers={"X-CSRFToken": "forged"},
    )
    assert r.status_code == 400
    # The page shell's callbacks go through with the cookie's token in the header.
    r = client.post(
        "/_dash-update-component",
        json={
            "output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [
                {"id": "_pages_location", "property": "pathname", "value": "/"},
                {"id": "_pages_location", "property": "search", "value": ""},
            ],
            "changedPropIds": ["_pages_location.pathname"],
            "state": [],
        },
        headers={"X-CSRFToken": token},
    )
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert "a1" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"output": 5}',
        b'{"output": "x.children", "inputs": "nope"}',
        b'{"output": "no-such.children", "inputs": [], "changedPropIds": []}',
    ],
)
def test_malformed_callback_is_400_not_500(client, world, body) -> None:
    login(client, "owner@test.example")
    token = client.get_cookie("_csrf_token").value
    r = client.post(
        "/_dash-update-component", data=body, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert r.status_code == 400


def test_logout_needs_post_with_csrf_and_ends_the_session(client, world) -> None:
    login(client, "owner@test.example")
    assert client.get("/logout").status_code == 404  # only POST logs out
    assert client.post("/logout").status_code == 400  # no token
    token = client.get_cookie("_csrf_token").value
    r = client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def _run(web_app, workspace_id: int, tenant_id: int | None) -> int:
    with web_app.server.extensions["console.db"].session() as s:
        run = OperationRun(
            workspace_id=workspace_id,
            tenant_id=tenant_id,
            type="inventory_sync",
            status="completed",
            outcome="succeeded",
            summary_counts={},
            context={},
        )
        s.add(run)
        s.commit()
        return run.id


def test_pages_answer_404_for_what_the_user_may_not_see(web_app, client, world) -> None:
    own = _run(web_app, world.workspace_id, world.tenant_ids[0])
    ungranted = _run(web_app, world.workspace_id, world.tenant_ids[1])
    foreign = _run(web_app, world.other_workspace_id, world.other_tenant_id)
    login(client, "operator@test.example")
    assert client.get(f"/admin/operations/{own}").status_code == 200
    assert client.get(f"/admin/tenants/{world.tenant_ids[0]}").status_code == 200
    for path in (
        f"/admin/operations/{ungranted}",
        f"/admin/operations/{foreign}",
        "/admin/operations/999999",
        "/admin/operations/abc",
        "/admin/operations/-1",
        f"/admin/tenants/{world.tenant_ids[1]}",
        f"/admin/tenants/{world.other_tenant_id}",
        "/no/such/page",
    ):
        assert client.get(path).status_code == 404, path


def test_security_headers_on_every_response(client) -> None:
    r = client.get("/login")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert r.headers["X-Frame-Options"] == "DENY"
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-eval" not in csp and "script-src 'self' 'sha256-" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]


def test_healthz_reports_database_and_broker(client, dispatcher) -> None:
    r = client.get("/healthz")
    assert (r.status_code, r.json) == (200, {"status": "ok", "database": "ok", "broker": "ok"})
    dispatcher.up = False
    r = client.get("/healthz")
    assert (r.status_code, r.json) == (503, {"status": "degraded", "database": "ok", "broker": "error"})


def test_login_is_throttled_with_a_clear_message(client, world) -> None:
    statuses = [login(client, "owner@test.example", "wrong-password").status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    r = login(client, "owner@test.example")  # even the right password waits
    assert r.status_code == 429 and "Too many sign-in attempts" in r.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_session_is_rotated_on_login(client, world) -> None:
    """Nothing planted in the session before login (session fixation) survives it."""
    client.get("/login")
    with client.session_transaction() as sess:
        sess["planted"] = "attacker"
        old_csrf = sess.get("csrf_token")
    login(client, "owner@test.example")
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess.get("_user_id") == str(world.users["owner"])
        assert sess.get("csrf_token") != old_csrf


def _wrong_logins(app, forwarded_for: str, times: int) -> list[int]:
    """``times`` failed logins from one client behind the proxy (X-Forwarded-For names it)."""
    client = app.server.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return [login(client, "owner@test.example", "wrong-password").status_code for _ in range(times)]


@pytest.mark.parametrize("hops", [0, 1], ids=["no-proxy", "one-trusted-proxy"])
def test_the_per_ip_login_limit_counts_clients_behind_a_trusted_proxy_only(
    empty_db_url, tmp_path, dispatcher, hops
) -> None:
    """Behind CONSOLE_TRUSTED_PROXIES=1 each client (X-Forwarded-For) has its own budget; without
    it the header is ignored — a client cannot shed its limit by inventing addresses."""
    upgrade(empty_db_url)
    app = create_app(
        {
            "instance_dir": tmp_path / "instance",
            "database_url": empty_db_url,
            "secret_key": "test-secret",
            "dispatcher": dispatcher,
            "trusted_proxies": hops,
        }
    )
    with app.server.extensions["console.db"].session() as s:
        build_world(s)
    assert _wrong_logins(app, "203.0.113.7", 11) == [401] * 10 + [429]
    other = _wrong_logins(app, "198.51.100.9", 1)
    assert other == ([401] if hops else [429])
    app.server.extensions["console.db"].dispose()


def test_trusted_proxies_must_be_a_small_whole_number(tmp_path) -> None:
    for bad in ("-1", "one", "1.5", "11"):
        with pytest.raises(ConfigError, match="CONSOLE_TRUSTED_PROXIES"):
            load_settings({"instance_dir": tmp_path, "secret_key": "x"}, environ={"CONSOLE_TRUSTED_PROXIES": bad})
    assert load_settings({"instance_dir": tmp_path, "secret_key": "x"}, environ={}).trusted_proxies == 0
    assert (
        load_settings(
            {"instance_dir": tmp_path, "secret_key": "x"}, environ={"CONSOLE_TRUSTED_PROXIES": "2"}
        ).trusted_proxies
        == 2
    )
