"""Hostile HTTP beyond the callbacks: CSRF and cross-origin POSTs, session lifetime, account
enumeration, redirects, security headers on every kind of response, error pages without
stack traces, and the review-pack download under path tricks and foreign ids.

test_auth_http.py holds the basics (a missing or forged token, rotation on login, throttling
per IP); these are the attacks around them. Flask test client, real database (SQLite, and
PostgreSQL when CONSOLE_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import statistics
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from console.accounts.models import Tenant, User
from console.app import create_app
from console.db import utcnow
from console.review_packs.models import ReviewPack
from console.review_packs.service import packs_dir
from console.web.auth import LOGIN_FAILED, LOGIN_THROTTLED
from tests.factories import PASSWORD
from tests.support.web import (
    RecordingDispatcher,
    confirm_inventory_sync,
    csrf_token,
    instant_password_checks,
    login,
    run_count,
)

CALLBACK = "/_dash-update-component"
ROUTER = {
    "output": ".._pages_content.children..._pages_store.data..",
    "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
    "inputs": [
        {"id": "_pages_location", "property": "pathname", "value": "/"},
        {"id": "_pages_location", "property": "search", "value": ""},
    ],
    "changedPropIds": ["_pages_location.pathname"],
    "state": [],
}


def _logged_in(client) -> bool:
    return client.get("/").status_code == 200


def _token(client) -> str:
    return client.get_cookie("_csrf_token").value


# --------------------------------------------------------------------------- CSRF and cross-origin


def test_a_token_from_another_session_is_refused_for_callbacks_logout_and_login(
    web_app, client, world, dispatcher
) -> None:
    victim, attacker = client, web_app.server.test_client()
    login(victim, "operator@test.example")
    login(attacker, "viewer@test.example")
    foreign_token = _token(attacker)  # valid, but bound to the attacker's session
    assert foreign_token != _token(victim)

    r = victim.post(
        CALLBACK,
        data=json.dumps(confirm_inventory_sync(web_app, world.tenant_ids[0])),
        content_type="application/json",
        headers={"X-CSRFToken": foreign_token},
    )
    assert r.status_code == 400 and "CSRF" in r.json["error"]
    r = victim.post("/logout", data={"csrf_token": foreign_token})
    assert r.status_code == 400
    # Login CSRF: a fresh visitor cannot be signed in with a token minted for someone else.
    stranger = web_app.server.test_client()
    stranger.get("/login")
    r = stranger.post(
        "/login", data={"email": "viewer@test.example", "password": PASSWORD, "csrf_token": foreign_token}
    )
    assert r.status_code == 400 and not _logged_in(stranger)

    assert _logged_in(victim) and run_count(web_app) == 0 and dispatcher.sent == []
    # The control: the victim's own token works.
    r = victim.post(
        CALLBACK,
        data=json.dumps(confirm_inventory_sync(web_app, world.tenant_ids[0])),
        content_type="application/json",
        headers={"X-CSRFToken": _token(victim)},
    )
    assert r.status_code == 200 and run_count(web_app) == 1


WRONG_TOKENS = ["", "forged", "a" * 5000, "IjEyMyI.ZZZ.abc", "None"]


def test_wrong_tokens_are_refused_for_logout_and_login(web_app, client, world) -> None:
    login(client, "operator@test.example")
    for token in WRONG_TOKENS:
        assert client.post("/logout", data={"csrf_token": token}).status_code == 400, token
        assert _logged_in(client)
        other = web_app.server.test_client()
        other.get("/login")
        assert (
            other.post(
                "/login", data={"email": "viewer@test.example", "password": PASSWORD, "csrf_token": token}
            ).status_code
            == 400
        ), token
        assert not _logged_in(other)


def test_a_token_signed_with_another_secret_is_refused(web_app, client, world, tmp_path) -> None:
    """A token from another console install (another secret key) is worthless here."""
    elsewhere = create_app(
        {
            "instance_dir": tmp_path / "elsewhere",
            "database_url": f"sqlite:///{tmp_path / 'elsewhere.db'}",
            "secret_key": "another-secret",
        }
    )
    foreign = csrf_token(elsewhere.server.test_client())
    elsewhere.server.extensions["console.db"].dispose()
    login(client, "operator@test.example")
    assert client.post("/logout", data={"csrf_token": foreign}).status_code == 400
    assert client.post(CALLBACK, json=ROUTER, headers={"X-CSRFToken": foreign}).status_code == 400
    assert _logged_in(client)


HOSTILE_ORIGINS = [
    "http://evil.example",
    "http://localhost:8051",
    "https://localhost.evil.example",
    "null",
    "file://",
    "http://[::1",
]


def test_cross_origin_posts_are_refused_even_with_a_valid_token(web_app, client, world, dispatcher) -> None:
    """A page on another origin that got hold of the token (another port of this host can read the
    cookie) still cannot post: browsers name the page's origin in Origin."""
    login(client, "operator@test.example")
    token = _token(client)
    for origin in HOSTILE_ORIGINS:
        r = client.post(
            CALLBACK,
            data=json.dumps(confirm_inventory_sync(web_app, world.tenant_ids[0])),
            content_type="application/json",
            headers={"X-CSRFToken": token, "Origin": origin},
        )
        assert r.status_code == 400 and r.json == {"error": "cross-origin request refused"}, origin
        assert client.post("/logout", data={"csrf_token": token}, headers={"Origin": origin}).status_code == 400, origin
        assert _logged_in(client) and run_count(web_app) == 0 and dispatcher.sent == []
        anonymous = web_app.server.test_client()
        login_token = csrf_token(anonymous)
        r = anonymous.post(
            "/login",
            data={"email": "operator@test.example", "password": PASSWORD, "csrf_token": login_token},
            headers={"Origin": origin},
            environ_base={"REMOTE_ADDR": "10.7.0.1"},
        )
        assert r.status_code == 400 and not _logged_in(anonymous), origin


def test_same_origin_and_proxied_posts_go_through(web_app, client, world) -> None:
    token = csrf_token(client)
    r = client.post(
        "/login",
        data={"email": "operator@test.example", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "http://localhost"},
    )
    assert r.status_code == 302
    client.get("/")
    # Behind a TLS proxy the app sees Host=internal name; the browser's Origin names the public host.
    r = client.post(
        CALLBACK,
        json=ROUTER,
        headers={
            "X-CSRFToken": _token(client),
            "Origin": "https://console.example.com",
            "X-Forwarded-Host": "console.example.com",
        },
    )
    assert r.status_code == 200
    r = client.post(
        CALLBACK, json=ROUTER, headers={"X-CSRFToken": _token(client), "Origin": "https://console.example.com"}
    )
    assert r.status_code == 400


def test_a_cross_site_form_cannot_fake_a_json_callback(web_app, client, world, dispatcher) -> None:
    """An HTML form can send text/plain (no preflight) shaped like JSON; it carries no header token."""
    login(client, "operator@test.example")
    body = json.dumps(confirm_inventory_sync(web_app, world.tenant_ids[0]))
    assert client.post(CALLBACK, data=body, content_type="text/plain").status_code == 400
    # Even with the token in the header, a non-JSON content type is not a callback.
    assert (
        client.post(CALLBACK, data=body, content_type="text/plain", headers={"X-CSRFToken": _token(client)}).status_code
        == 400
    )
    assert client.post(CALLBACK, data={"csrf_token": _token(client), "output": "x"}).status_code == 400
    assert run_count(web_app) == 0 and dispatcher.sent == []


# --------------------------------------------------------------------------- session


def test_logout_ends_a_copied_session_cookie_and_every_other_session_of_the_account(web_app, client, world) -> None:
    login(client, "operator@test.example")
    copied = client.get_cookie("session").value
    laptop = web_app.server.test_client()  # the same account signed in elsewhere
    login(laptop, "operator@test.example")
    assert _logged_in(laptop)

    assert client.post("/logout", data={"csrf_token": _token(client)}).status_code == 302
    thief = web_app.server.test_client()
    thief.set_cookie("session", copied)
    assert thief.get("/").status_code == 302
    assert thief.post(CALLBACK, json=ROUTER).status_code == 401
    assert thief.get("/review-packs/1/download").status_code == 401
    assert not _logged_in(laptop)

    # Signing in again works, and the old cookie stays dead.
    login(client, "operator@test.example")
    assert _logged_in(client) and thief.get("/").status_code == 302


def test_a_deactivated_users_session_ends_at_once(web_app, client, world) -> None:
    login(client, "operator@test.example")
    with web_app.server.extensions["console.db"].session() as s:
        s.execute(update(User).where(User.id == world.users["operator"]).values(is_active=False))
        s.commit()
    assert client.get("/").status_code == 302
    assert client.post(CALLBACK, json=ROUTER, headers={"X-CSRFToken": _token(client)}).status_code == 401


def test_a_forged_session_cookie_is_not_a_session(web_app, client, world) -> None:
    """The cookie is signed: a hand-made one (any user id) is ignored, whatever it claims."""
    payload = (
        base64.urlsafe_b64encode(json.dumps({"_user_id": str(world.users["owner"]), "_fresh": True, "_sv": 0}).encode())
        .rstrip(b"=")
        .decode()
    )
    for forged in (payload + ".AAAAAA.BBBBBBBBBBBBBBBBBBBBBBBBBBB", payload, "." + payload, "x" * 4000):
        c = web_app.server.test_client()
        c.set_cookie("session", forged)
        assert c.get("/").status_code == 302, forged[:40]
        assert c.post(CALLBACK, json=ROUTER).status_code == 401


def test_the_per_email_limit_stops_a_guesser_spread_over_many_addresses(web_app, world, monkeypatch) -> None:
    """Per IP: 10 failures/min (test_auth_http.py). Per email: 30 failures/h, whatever the address
    (successes count for nothing: test_login_throttling.py)."""
    instant_password_checks(monkeypatch)
    statuses = []
    for i in range(31):
        c = web_app.server.test_client()
        token = csrf_token(c)
        r = c.post(
            "/login",
            data={"email": "owner@test.example", "password": "wrong-password", "csrf_token": token},
            environ_base={"REMOTE_ADDR": f"10.9.{i}.1"},
        )
        statuses.append(r.status_code)
    assert statuses[:30] == [401] * 30 and statuses[30] == 429
    assert LOGIN_THROTTLED in r.get_data(as_text=True)
    # Another account from a fresh address is not affected.
    c = web_app.server.test_client()
    r = c.post(
        "/login",
        data={"email": "viewer@test.example", "password": PASSWORD, "csrf_token": csrf_token(c)},
        environ_base={"REMOTE_ADDR": "10.9.200.1"},
    )
    assert r.status_code == 302


def _attempt(web_app, email: str, password: str, n: int):
    c = web_app.server.test_client()
    token = csrf_token(c)
    started = time.perf_counter()
    r = c.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": f"10.8.{n}.1"},
    )
    return r, time.perf_counter() - started


def test_unknown_email_and_wrong_password_cannot_be_told_apart(web_app, world) -> None:
    """Same status, same page (but the echoed email), same cost (argon2 runs for unknown emails too)."""
    pages, timings = {}, {"known": [], "unknown": []}
    for n in range(5):
        for kind, email in (("known", "owner@test.example"), ("unknown", "nobody-here@test.example")):
            r, seconds = _attempt(web_app, email, "wrong-password", n * 2 + (kind == "unknown"))
            assert r.status_code == 401
            pages[kind] = r.get_data(as_text=True).replace(email, "EMAIL")
            timings[kind].append(seconds)
    strip = lambda html: re.sub(r'name="csrf_token" value="[^"]*"', "", html)  # noqa: E731
    assert strip(pages["known"]) == strip(pages["unknown"]) and LOGIN_FAILED in pages["known"]
    known, unknown = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    # argon2 dominates both (tens of ms); a skipped hash would make "unknown" tens of times
    # faster. Wide bounds: the machine is shared and timings are noisy.
    assert 0.33 < unknown / known < 3.0, (known, unknown)


OFFSITE_TARGETS = [
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "http:/evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "/\r\nSet-Cookie: x=1",
    "/\x00",
    " //evil.example",
    "evil.example",
    "%2F%2Fevil.example",
]


def test_next_never_leaves_the_site_nor_breaks_the_redirect(web_app, world, monkeypatch) -> None:
    instant_password_checks(monkeypatch)
    c = web_app.server.test_client()
    for n, target in enumerate(OFFSITE_TARGETS):
        r = c.post(
            "/login",
            data={"email": "owner@test.example", "password": PASSWORD, "csrf_token": csrf_token(c), "next": target},
            environ_base={"REMOTE_ADDR": f"10.6.{n}.1"},
        )
        assert r.status_code == 302 and r.headers["Location"] == "/", (target, r.headers.get("Location"))
        # Already signed in, GET /login?next= redirects the same way.
        r = c.get("/login", query_string={"next": target})
        assert r.status_code == 302 and r.headers["Location"] == "/", target


def test_control_characters_in_the_email_are_a_failed_login_not_a_500(web_app, world) -> None:
    """PostgreSQL refuses NUL in text: the email must not reach the query."""
    for n, email in enumerate(
        ("owner@test.example\x00", "\x00", "own\x00er@test.example", "owner@test.example\x1b[31m")
    ):
        r, _ = _attempt(web_app, email, PASSWORD, 100 + n)
        assert r.status_code == 401 and LOGIN_FAILED in r.get_data(as_text=True), email


# --------------------------------------------------------------------------- headers and error pages


def test_every_kind_of_response_carries_the_security_headers(web_app, client, world) -> None:
    login(client, "operator@test.example")
    responses = {
        "page": client.get("/"),
        "404 page": client.get("/admin/tenants/999999"),
        "layout": client.get("/_dash-layout"),
        "dependencies": client.get("/_dash-dependencies"),
        "callback": client.post(CALLBACK, json=ROUTER, headers={"X-CSRFToken": _token(client)}),
        "callback 400": client.post(
            CALLBACK, data=b"{", content_type="application/json", headers={"X-CSRFToken": _token(client)}
        ),
        "healthz": client.get("/healthz"),
        "asset": client.get("/vendor/bootstrap.min.css"),
        "download 404": client.get("/review-packs/999/download"),
        "login": web_app.server.test_client().get("/login"),
        "401": web_app.server.test_client().post(CALLBACK, json=ROUTER),
    }
    for name, r in responses.items():
        h = r.headers
        assert h.get("X-Content-Type-Options") == "nosniff", name
        assert h.get("X-Frame-Options") == "DENY", name
        assert h.get("Referrer-Policy") == "strict-origin-when-cross-origin", name
        csp = h.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "unsafe-eval" not in csp, name
        script_src = csp.split("script-src")[1].split(";")[0]
        assert "'unsafe-inline'" not in script_src and "*" not in script_src and "data:" not in script_src, name


def test_the_csp_hashes_cover_every_inline_script_the_page_serves(web_app, client, world) -> None:
    """Dash's page has inline scripts (config, renderer start); each must be allowed by hash —
    the browser test (tests/browser/test_csrf_cross_origin.py) proves it at runtime."""
    login(client, "operator@test.example")
    r = client.get("/")
    html = re.sub(r"<!--.*?-->", "", r.get_data(as_text=True), flags=re.S)  # e.g. Dash's <!--[if IE]> script: never run
    inline = [
        (attrs, body)
        for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
        if "src=" not in attrs
    ]
    executable = [body for attrs, body in inline if "application/json" not in attrs and body.strip()]
    assert executable, "Dash's index has inline scripts"
    csp = r.headers["Content-Security-Policy"]
    for body in executable:
        digest = "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        assert digest in csp, body[:80]
    srcs = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert srcs and all(s.startswith("/") and not s.startswith("//") for s in srcs), srcs


@pytest.mark.parametrize("env", ["production", "development"])
def test_unexpected_errors_answer_a_generic_page_or_json_without_a_trace(tmp_path, env, caplog, empty_db_url) -> None:
    from console.migrate import upgrade
    from tests.factories import build_world

    upgrade(empty_db_url)
    app = create_app(
        {
            "instance_dir": tmp_path / "instance",
            "database_url": empty_db_url,
            "secret_key": "prod-secret-for-test",
            "env": env,
            "dispatcher": RecordingDispatcher(),
        }
    )
    secret_detail = "SECRET-DETAIL db=postgresql://admin:hunter2@db/console"

    def boom():
        raise RuntimeError(secret_detail)

    app.server.add_url_rule("/admin/boom", "boom", boom)
    from dash import Input, Output

    @app.callback(Output("boom-out", "children"), Input("boom-in", "n_clicks"), prevent_initial_call=True)
    def _boom(_n):
        raise KeyError(secret_detail)

    try:
        with app.server.extensions["console.db"].session() as s:
            build_world(s)
        base = "https://localhost" if env == "production" else "http://localhost"
        c = app.server.test_client()
        c.get("/login", base_url=base)
        token = c.get_cookie("_csrf_token").value
        # Flask-WTF checks the Referer on HTTPS (a browser sends it on a same-origin form POST).
        r = c.post(
            "/login",
            data={"email": "owner@test.example", "password": PASSWORD, "csrf_token": token},
            base_url=base,
            headers={"Referer": base + "/login"},
        )
        assert r.status_code == 302
        if env == "production":  # secure cookies in production
            assert all("Secure" in h for h in r.headers.getlist("Set-Cookie"))
        c.get("/", base_url=base)
        caplog.set_level(logging.ERROR)

        page = c.get("/admin/boom", base_url=base)
        text = page.get_data(as_text=True)
        assert page.status_code == 500 and page.mimetype == "text/html" and 'id="server-error"' in text
        callback = c.post(
            CALLBACK,
            json={
                "output": "boom-out.children",
                "outputs": {"id": "boom-out", "property": "children"},
                "inputs": [{"id": "boom-in", "property": "n_clicks", "value": 1}],
                "changedPropIds": ["boom-in.n_clicks"],
                "state": [],
            },
            headers={"X-CSRFToken": c.get_cookie("_csrf_token").value, "Referer": base + "/"},
            base_url=base,
        )
        assert callback.status_code == 500 and callback.is_json and set(callback.json) == {"error"}
        for r in (page, callback):
            body = r.get_data(as_text=True)
            for leak in ("Traceback", "SECRET-DETAIL", "hunter2", "RuntimeError", "KeyError", ".py", 'File "'):
                assert leak not in body, (leak, body[:300])
            assert (
                r.headers["X-Content-Type-Options"] == "nosniff"
                and "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            )
        # Operators still get the whole story in the server log.
        logged = "\n".join(
            rec.getMessage() + (str(rec.exc_info[1]) if rec.exc_info else "")
            for rec in caplog.records
            if rec.levelno >= logging.ERROR
        )
        assert "SECRET-DETAIL" in logged
    finally:
        app.server.extensions["console.db"].dispose()


# --------------------------------------------------------------------------- review-pack download


def _pack(
    web_app,
    tenant_id: int,
    *,
    status: str = "ready",
    file_path: str | None = None,
    expires_in: timedelta = timedelta(days=1),
    content: bytes = b"PK\x05\x06" + b"\x00" * 18,
) -> int:
    instance = web_app.server.extensions["console.settings"].instance_dir
    with web_app.server.extensions["console.db"].session() as s:
        pack = ReviewPack(
            tenant_id=tenant_id,
            status=status,
            options={},
            created_at=utcnow(),
            ready_at=utcnow(),
            expires_at=utcnow() + expires_in,
        )
        s.add(pack)
        s.flush()
        if file_path is None:
            path = packs_dir(instance) / f"pack-{pack.id}.zip"
            path.write_bytes(content)
            file_path = str(path)
        pack.file_path = file_path
        pack.sha256 = hashlib.sha256(content).hexdigest()
        pack.size = len(content)
        s.commit()
        return pack.id


TRAVERSALS = [
    "..%2F..%2Fsecret_key",
    "%2e%2e%2f%2e%2e%2fconsole.db",
    "..%5C..%5Csecret_key",
    "..\\..\\secret_key",
    "%252e%252e%252fsecret_key",
    "%2Fetc%2Fpasswd",
    "/etc/passwd",
    "C:%5Cwindows%5Cwin.ini",
    "1%00",
    "1%2F..%2F2",
    "\uff11",
    "1 ",
    "+1",
    "0x1",
    "1/../2",
]


def test_download_path_tricks_foreign_packs_and_expiry(web_app, client, world) -> None:
    instance = web_app.server.extensions["console.settings"].instance_dir
    own = _pack(web_app, world.tenant_ids[0])
    ungranted = _pack(web_app, world.tenant_ids[1])
    foreign = _pack(web_app, world.other_tenant_id)
    (instance / "secret_key").write_text("instance secret")
    outside = instance / "outside.zip"
    outside.write_bytes(b"not yours")
    escaped = _pack(web_app, world.tenant_ids[0], file_path=str(outside))  # a tampered row: file outside the packs dir
    relative = _pack(web_app, world.tenant_ids[0], file_path=str(packs_dir(instance) / ".." / "secret_key"))
    link = packs_dir(instance) / "link.zip"
    link.symlink_to(instance / "secret_key")
    symlinked = _pack(web_app, world.tenant_ids[0], file_path=str(link))  # a symlink in the packs dir pointing out
    absolute = _pack(web_app, world.tenant_ids[0], file_path="/etc/passwd")
    expired = _pack(web_app, world.tenant_ids[0], status="expired")
    overdue = _pack(web_app, world.tenant_ids[0], expires_in=timedelta(minutes=-1))  # past expires_at, not yet swept

    login(client, "operator@test.example")
    r = client.get(f"/review-packs/{own}/download")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    for pack_id in (ungranted, foreign, escaped, relative, symlinked, absolute):
        r = client.get(f"/review-packs/{pack_id}/download")
        assert r.status_code == 404 and r.json == {"error": "not found"}, pack_id
    for trick in TRAVERSALS:
        for url in (
            f"/review-packs/{trick}/download",
            f"/review-packs/{trick}",
            f"/review-packs/{own}/download/{trick}",
        ):
            r = client.get(url)
            body = r.get_data()
            assert r.status_code in (404, 405), (url, r.status_code)
            assert b"instance secret" not in body and b"not yours" not in body and b"root:" not in body, url
    assert client.get(f"/review-packs/{expired}/download").status_code == 410
    r = client.get(f"/review-packs/{overdue}/download")
    assert r.status_code == 410 and "expired" in r.json["error"]

    # A browser (prefers text/html) gets the console's own page with the same status, not raw JSON;
    # the page names no pack detail either way.
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    for url, status, words in (
        ("/review-packs/999999/download", 404, "Review pack not found"),
        (f"/review-packs/{foreign}/download", 404, "Review pack not found"),
        ("/review-packs/%2e%2e/x", 404, "Review pack not found"),
        (f"/review-packs/{overdue}/download", 410, "Review pack expired"),
    ):
        r = client.get(url, headers=browser)
        page = r.get_data(as_text=True)
        assert (r.status_code, r.mimetype) == (status, "text/html"), url
        assert f'id="download-error" class="card card-body shadow-sm" data-status="{status}"' in page, url
        assert words in page and '<html lang="en">' in page and "<h1" in page, url
        assert client.get(url, headers={"Accept": "application/json"}).mimetype == "application/json", url

    # The outsider (another workspace) and a viewer without review_pack.view learn nothing either.
    with web_app.server.extensions["console.db"].session() as s:
        from console.accounts.models import TenantGrant

        s.execute(
            update(TenantGrant)
            .where(TenantGrant.user_id == world.users["viewer"])
            .values(capabilities=["tenant.view", "operations.view"])
        )
        s.commit()
    for email in ("outsider@test.example", "viewer@test.example", "stranger@test.example"):
        other = web_app.server.test_client()
        login(other, email)
        for pack_id in (own, expired, overdue):
            assert other.get(f"/review-packs/{pack_id}/download").status_code == 404, (email, pack_id)


HOSTILE_TENANT_NAMES = [
    'Evil"; filename="../../x.exe',
    "Ünïcödé ☃ Tenant",
    "a/b\\c:d*e?f<g>h|i",
    "tab\tand\r\nX-Injected: 1",
    "...",
    "\u202eexe.zip",
]


def test_download_filename_is_safe_whatever_the_tenant_is_called(web_app, client, world) -> None:
    login(client, "owner@test.example")
    for tenant_name in HOSTILE_TENANT_NAMES:
        with web_app.server.extensions["console.db"].session() as s:
            s.execute(update(Tenant).where(Tenant.id == world.tenant_ids[0]).values(name=tenant_name))
            s.commit()
        pack_id = _pack(web_app, world.tenant_ids[0])
        r = client.get(f"/review-packs/{pack_id}/download")
        assert r.status_code == 200, tenant_name
        disposition = r.headers["Content-Disposition"]
        assert re.fullmatch(rf"attachment; filename=review-pack-[a-z0-9-]+-{pack_id}\.zip", disposition), disposition
        assert "X-Injected" not in r.headers and r.mimetype == "application/zip"
        assert r.headers["X-Content-Type-Options"] == "nosniff" and "private" in r.headers["Cache-Control"]


def test_paths_that_match_nothing_are_404_not_a_shell_or_a_500(web_app, client, world) -> None:
    """Dash's catch-all would answer any path with its 200 page shell, and its component-suite
    route raises (500) for an unknown package or file: both are 404 under reserved prefixes."""
    login(client, "operator@test.example")
    anonymous = web_app.server.test_client()
    for path in (
        "/review-packs//etc/passwd/download",
        "/review-packs/%2Fetc%2Fpasswd/download",
        "/_dash-nothing",
        "/_dash-layout/x",
        "/_dash-update-component",
        "/vendor/x",
        "/healthz/x",
        "/login/x",
        "/_dash-component-suites/../../etc/passwd",
        "/_dash-component-suites/dash/../../x.js",
        "/_dash-component-suites/nope/x.js",
        "/_dash-component-suites/dash/deps/nope.js",
        "/assets/../app.py",
        "/assets/%2e%2e/app.py",
    ):
        for c in (client, anonymous):
            r = c.get(path)
            assert r.status_code in (401, 404), (path, r.status_code)
            assert b"__file__" not in r.data and b"Traceback" not in r.data
    assert client.get("/admin/operations/1/x").status_code == 404
