"""Sign-in throttling counts failed attempts only (per client address and per email): a
successful sign-in never uses up a budget; a throttled attempt is HTTP 429 with the message in
``login-error``; with a Redis limiter storage every app instance shares the counters.

test_auth_http.py holds the per-address basics (behind a trusted proxy too) and
test_hostile_http.py the per-email guesser spread over many addresses."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from console.app import create_app
from console.migrate import upgrade
from console.web.auth import LOGIN_FAILED, LOGIN_THROTTLED
from tests.factories import PASSWORD, build_world
from tests.support import servers
from tests.support.web import RecordingDispatcher, csrf_token, instant_password_checks, login


def login_error(response) -> str | None:
    """The text of the sign-in form's ``login-error`` element (None when there is none)."""
    match = re.search(r'id="login-error"[^>]*>([^<]*)<', response.get_data(as_text=True))
    return match.group(1) if match else None


def _attempt(app, email: str, password: str, address: str = "127.0.0.1"):
    """One sign-in from a fresh browser at ``address``."""
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    token = csrf_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_two_hundred_successful_sign_ins_from_one_address_all_succeed(web_app, world, monkeypatch) -> None:
    """A browser suite signs in hundreds of times from one address: none of it is throttled, and
    the address keeps its whole failure budget afterwards (10 failures, then 429)."""
    instant_password_checks(monkeypatch)
    # Were successes counted, the 11th (a second or two in: the window starts at the first hit)
    # would already be 429, however long the 200 take on a loaded machine.
    statuses = [_attempt(web_app, "owner@test.example", PASSWORD).status_code for _ in range(200)]
    assert statuses == [302] * 200
    failures = [_attempt(web_app, "owner@test.example", "wrong-password") for _ in range(11)]
    assert [r.status_code for r in failures] == [401] * 10 + [429]
    assert login_error(failures[0]) == LOGIN_FAILED
    assert login_error(failures[10]) == LOGIN_THROTTLED


def test_successes_between_failures_do_not_reset_nor_use_the_budget(web_app, world, monkeypatch) -> None:
    instant_password_checks(monkeypatch)
    seen = []
    for _ in range(9):
        seen.append(_attempt(web_app, "viewer@test.example", "wrong-password").status_code)
        seen.append(_attempt(web_app, "viewer@test.example", PASSWORD).status_code)
    assert seen == [401, 302] * 9
    assert _attempt(web_app, "viewer@test.example", "wrong-password").status_code == 401  # the 10th failure
    throttled = _attempt(web_app, "viewer@test.example", PASSWORD)  # then even the right password waits
    assert throttled.status_code == 429 and login_error(throttled) == LOGIN_THROTTLED


def test_the_per_email_budget_counts_failures_only(web_app, world, monkeypatch) -> None:
    """Per email (30 failures an hour, from any address): 60 successful sign-ins of the account
    spend nothing; 30 failures then throttle it, even from a fresh address with the right password."""
    instant_password_checks(monkeypatch)
    ok = [_attempt(web_app, "owner@test.example", PASSWORD, f"10.7.{i}.1").status_code for i in range(60)]
    assert ok == [302] * 60
    failed = [_attempt(web_app, "owner@test.example", "nope", f"10.6.{i}.1").status_code for i in range(30)]
    assert failed == [401] * 30
    throttled = _attempt(web_app, "owner@test.example", PASSWORD, "10.5.0.1")
    assert throttled.status_code == 429 and login_error(throttled) == LOGIN_THROTTLED
    # Another account from that address is untouched.
    assert _attempt(web_app, "viewer@test.example", PASSWORD, "10.5.0.1").status_code == 302


def test_a_throttled_browser_shows_the_message_and_stays_signed_out(web_app, world, monkeypatch) -> None:
    instant_password_checks(monkeypatch)
    client = web_app.server.test_client()
    for _ in range(10):
        assert login(client, "owner@test.example", "wrong-password").status_code == 401
    r = login(client, "owner@test.example")
    assert r.status_code == 429 and login_error(r) == LOGIN_THROTTLED
    assert client.get("/").status_code == 302


@pytest.fixture
def private_redis(tmp_path) -> Iterator[str]:
    """A redis-server of this test only (the limiter's keys are per address and per email: a
    shared server would carry them across test runs within the hour)."""
    with servers.private_redis(tmp_path) as url:
        yield url


def test_two_app_instances_share_the_counters_in_redis(empty_db_url, tmp_path, private_redis, monkeypatch) -> None:
    """With CONSOLE_RATELIMIT_STORAGE_URL=redis://… two processes (here two apps) count together:
    5 failures on each use up one address's budget of 10; successes on either count for nothing."""
    upgrade(empty_db_url)
    apps = [
        create_app(
            {
                "instance_dir": tmp_path / f"instance-{name}",
                "database_url": empty_db_url,
                "secret_key": "test-secret",
                "dispatcher": RecordingDispatcher(),
                "ratelimit_storage_url": private_redis,
            }
        )
        for name in "ab"
    ]
    try:
        with apps[0].server.extensions["console.db"].session() as s:
            build_world(s)
        instant_password_checks(monkeypatch)
        a, b = apps
        assert [_attempt(app, "owner@test.example", PASSWORD).status_code for app in (a, b) * 20] == [302] * 40
        failures = [_attempt(app, "owner@test.example", "wrong").status_code for app in (a, b) * 5]
        assert failures == [401] * 10
        for app in (a, b):
            r = _attempt(app, "owner@test.example", PASSWORD)
            assert r.status_code == 429 and login_error(r) == LOGIN_THROTTLED
        # The per-email budget is shared too: 30 failures spread over both apps and 30 addresses.
        email = f"nobody-{uuid.uuid4().hex[:8]}@test.example"
        spread = [_attempt((a, b)[i % 2], email, "wrong", f"10.4.{i}.1").status_code for i in range(31)]
        assert spread == [401] * 30 + [429]
    finally:
        for app in apps:
            app.server.extensions["console.db"].dispose()
