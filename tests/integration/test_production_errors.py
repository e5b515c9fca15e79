"""Errors that say what is wrong, for a production console (CONSOLE_ENV=production) behind or
without TLS: a sign-in over plain HTTP says the console needs HTTPS (never a bare CSRF error),
a POST without a Referer says so, and a per-process rate-limit store is a warning at start.
Flask test client, real database (SQLite, and PostgreSQL when CONSOLE_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from html import unescape

import pytest

from console.app import create_app
from console.migrate import upgrade
from tests.factories import PASSWORD, build_world
from tests.support.web import RecordingDispatcher

CALLBACK = "/_dash-update-component"
HTTPS = "https://console.example.com"
HTTP = "http://console.example.com"


def _production_app(db_url: str, tmp_path, *, world: bool = True, **overrides):
    upgrade(db_url)
    app = create_app(
        {
            "instance_dir": tmp_path / "instance",
            "database_url": db_url,
            "secret_key": "prod-secret-for-test",
            "env": "production",
            "dispatcher": RecordingDispatcher(),
            **overrides,
        }
    )
    if world:
        with app.server.extensions["console.db"].session() as s:
            build_world(s)
    return app


@pytest.fixture
def prod_app(empty_db_url, tmp_path) -> Iterator:
    app = _production_app(empty_db_url, tmp_path)
    yield app
    app.server.extensions["console.db"].dispose()


def login_error(html: str) -> str:
    match = re.search(r'id="login-error"[^>]*>(.*?)</div>', html, re.S)
    assert match, f"no login-error element in:\n{html[:2000]}"
    return unescape(match.group(1))


def test_a_sign_in_over_plain_http_says_the_console_needs_https(prod_app) -> None:
    client = prod_app.server.test_client()
    page = client.get("/login", base_url=HTTP)
    assert page.status_code == 200
    assert "needs HTTPS" in login_error(page.get_data(as_text=True))

    # What a browser sends over plain HTTP: the Secure cookies never came back, so the token
    # in the form has no session to match — before this change: {"error": "CSRF token missing or invalid"}.
    r = client.post(
        "/login",
        data={"email": "owner@test.example", "password": PASSWORD, "csrf_token": "from-the-form"},
        base_url=HTTP,
        headers={"Origin": HTTP, "Referer": HTTP + "/login"},
    )
    assert r.status_code == 400 and r.mimetype == "text/html"
    message = login_error(r.get_data(as_text=True))
    assert "needs HTTPS" in message and "docs/deployment.md" in message and "https://" in message
    assert "CSRF" not in message
    assert client.get("/", base_url=HTTP).status_code == 302  # not signed in


def test_a_trusted_proxy_reporting_https_is_https(empty_db_url, tmp_path) -> None:
    app = _production_app(empty_db_url, tmp_path, trusted_proxies=1)
    try:
        client = app.server.test_client()
        proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "console.example.com"}
        page = client.get("/login", base_url="http://127.0.0.1:8050", headers=proxied)
        assert 'id="login-error"' not in page.get_data(as_text=True)
        token = client.get_cookie("_csrf_token", domain="127.0.0.1")
        assert token is not None
        r = client.post(
            "/login",
            data={"email": "owner@test.example", "password": PASSWORD, "csrf_token": token.value},
            base_url="http://127.0.0.1:8050",
            headers={**proxied, "Referer": HTTPS + "/login", "Origin": HTTPS},
        )
        assert r.status_code == 302, r.get_data(as_text=True)[:500]
        assert all("Secure" in h for h in r.headers.getlist("Set-Cookie"))
    finally:
        app.server.extensions["console.db"].dispose()


def test_a_post_without_referer_over_https_says_the_referer_is_missing(prod_app) -> None:
    client = prod_app.server.test_client()
    client.get("/login", base_url=HTTPS)
    token = client.get_cookie("_csrf_token", domain="console.example.com").value
    r = client.post(
        "/login",
        data={"email": "owner@test.example", "password": PASSWORD, "csrf_token": token},
        base_url=HTTPS,
    )
    assert r.status_code == 400
    message = login_error(r.get_data(as_text=True))
    assert "no Referer header" in message and "docs/deployment.md" in message

    # The control: the same sign-in with the Referer a browser sends.
    r = client.post(
        "/login",
        data={"email": "owner@test.example", "password": PASSWORD, "csrf_token": token},
        base_url=HTTPS,
        headers={"Referer": HTTPS + "/login"},
    )
    assert r.status_code == 302
    client.get("/", base_url=HTTPS, headers={"Referer": HTTPS + "/login"})
    callback = client.post(
        CALLBACK,
        json={"output": "x.children", "outputs": {"id": "x", "property": "children"}, "inputs": []},
        base_url=HTTPS,
        headers={"X-CSRFToken": client.get_cookie("_csrf_token", domain="console.example.com").value},
    )
    assert callback.status_code == 400
    assert "no Referer header" in callback.json["error"] and "CSRF" in callback.json["error"]


def test_a_wrong_token_still_says_csrf_and_how_to_recover(prod_app) -> None:
    client = prod_app.server.test_client()
    client.get("/login", base_url=HTTPS)
    r = client.post(
        "/login",
        data={"email": "owner@test.example", "password": PASSWORD, "csrf_token": "forged"},
        base_url=HTTPS,
        headers={"Referer": HTTPS + "/login"},
    )
    assert r.status_code == 400
    message = login_error(r.get_data(as_text=True))
    assert message.startswith("CSRF check failed:") and "Reload the page" in message


def test_production_with_per_process_rate_limit_storage_warns_at_start(empty_db_url, tmp_path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="console.app")
    app = _production_app(empty_db_url, tmp_path)
    app.server.extensions["console.db"].dispose()
    warnings = [r for r in caplog.records if r.name == "console.app" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "CONSOLE_RATELIMIT_STORAGE_URL" in warnings[0].getMessage()

    caplog.clear()
    app = _production_app(empty_db_url, tmp_path / "b", world=False, ratelimit_storage_url="redis://127.0.0.1:6379/1")
    app.server.extensions["console.db"].dispose()
    assert not [r for r in caplog.records if r.name == "console.app"]
