from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from console.app import create_app
from console.migrate import upgrade
from tests.factories import PASSWORD, World, build_world


class RecordingDispatcher:
    """Stands in for Celery where a web test only needs to know what was sent."""

    def __init__(self, up: bool = True) -> None:
        self.sent: list[tuple[str, tuple]] = []
        self.up = up

    def send(self, task_name: str, *args) -> None:
        from console.dispatch import DispatchError

        if not self.up:
            raise DispatchError("the task queue is unreachable (test)")
        self.sent.append((task_name, args))

    def ping(self) -> bool:
        return self.up


@contextmanager
def real_app(database_url: str, tmp_path: Path, **settings: Any) -> Iterator[Any]:
    """The real app (real CeleryDispatcher: embedded broker unless ``broker_url`` is given) on a
    freshly migrated database, with a demo world; ``app.world`` and ``app.database_url`` set."""
    upgrade(database_url)
    app = create_app(
        {"instance_dir": tmp_path / "instance", "database_url": database_url, "secret_key": "test-secret", **settings}
    )
    with app.server.extensions["console.db"].session() as s:
        app.world = build_world(s)
    app.database_url = database_url
    try:
        yield app
    finally:
        app.server.extensions["console.dispatcher"].client.close()
        app.server.extensions["console.db"].dispose()


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


@pytest.fixture
def web_app(empty_db_url, tmp_path, dispatcher) -> Iterator:
    """A console on a migrated database (SQLite, and PostgreSQL in CI)."""
    upgrade(empty_db_url)
    app = create_app(
        {
            "instance_dir": tmp_path / "instance",
            "database_url": empty_db_url,
            "secret_key": "test-secret",
            "dispatcher": dispatcher,
        }
    )
    yield app
    app.server.extensions["console.db"].dispose()


@pytest.fixture
def world(web_app) -> World:
    with web_app.server.extensions["console.db"].session() as s:
        return build_world(s)


@pytest.fixture
def client(web_app):
    return web_app.server.test_client()


def csrf_token(client) -> str:
    """The token the login form carries (also set as the _csrf_token cookie)."""
    client.get("/login")
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    return cookie.value


def login(client, email: str, password: str = PASSWORD):
    """Log in like a browser: post the form, then load the page it redirects to (which
    sets the fresh session's CSRF cookie)."""
    token = csrf_token(client)
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    if response.status_code == 302:
        client.get(response.headers["Location"])
    return response
