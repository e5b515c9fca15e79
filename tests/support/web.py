"""The app under the Flask test client: a dispatcher that records instead of sending, the real
app on a migrated database, logging in like a browser, and a few request builders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from console.app import create_app
from console.migrate import upgrade
from console.operations.models import OperationRun
from tests.factories import PASSWORD, build_world


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


CALLBACK = "/_dash-update-component"


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


def instant_password_checks(monkeypatch) -> None:
    """argon2 costs ~0.1 s per attempt (more on a busy machine). Where a test is about what
    surrounds it (throttling, redirects, form parsing), the verify step is made instant; the
    real cost is what test_unknown_email_and_wrong_password_cannot_be_told_apart measures."""
    from argon2.exceptions import VerifyMismatchError

    from console.accounts import service

    class InstantHasher:
        def verify(self, _hash: str, password: str) -> bool:
            if password != PASSWORD:
                raise VerifyMismatchError
            return True

        def check_needs_rehash(self, _hash: str) -> bool:
            return False

    monkeypatch.setattr(service, "_hasher", InstantHasher())


def confirm_inventory_sync(web_app, tenant_id: int) -> dict:
    """The op-confirm callback request that starts inventory_sync on ``tenant_id`` (a state change)."""
    key = next(k for k, v in web_app.callback_map.items() if v["inputs"][0]["id"] == "op-confirm" and v.get("callback"))
    outputs = [
        {"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in key[2:-2].split("...")
    ]
    return {
        "output": key,
        "outputs": outputs,
        "inputs": [{"id": "op-confirm", "property": "n_clicks", "value": 1}],
        "state": [
            {"id": "op-pending", "property": "data", "value": "inventory_sync"},
            {"id": "tenant-id", "property": "data", "value": tenant_id},
        ],
        "changedPropIds": ["op-confirm.n_clicks"],
    }


def run_count(web_app) -> int:
    """How many operation runs exist (a refused state change leaves it unchanged)."""
    with web_app.server.extensions["console.db"].session() as s:
        return int(s.scalar(select(func.count()).select_from(OperationRun)))


def page(client, path: str, search: str = "") -> str:
    """The page content the pages callback renders for ``path`` and its query string (as JSON text)."""
    r = client.post(
        CALLBACK,
        json={
            "output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [
                {"id": "_pages_location", "property": "pathname", "value": path},
                {"id": "_pages_location", "property": "search", "value": search},
            ],
            "changedPropIds": ["_pages_location.pathname"],
            "state": [],
        },
        headers={"X-CSRFToken": client.get_cookie("_csrf_token").value},
    )
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_data(as_text=True)


def callback_key(app, fragment: str, inputs: list[tuple[str, str, object]] = ()) -> str:
    """The callback whose outputs start with ``fragment``. Several callbacks may write it (with
    ``allow_duplicate``: their keys carry ``@<hash>``); ``inputs`` then picks the one that has them."""
    keys = [
        k
        for k, spec in app.callback_map.items()
        if (k == fragment or k.startswith((f"..{fragment}...", f"..{fragment}@")))
        and {(i, p) for i, p, _ in inputs} <= {(d["id"], d["property"]) for d in spec["inputs"]}
    ]
    assert len(keys) == 1, keys
    return keys[0]


def callback_outputs(key: str) -> list[dict]:
    parts = key.strip(".").split("...")
    return [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in parts]


def post_callback(
    client,
    app,
    fragment: str,
    inputs: list[tuple[str, str, object]],
    state: list[tuple[str, str, object]],
    changed: list[str],
):
    """``callback_body`` posted as dash-renderer posts it (with the session's CSRF token)."""
    return client.post(
        "/_dash-update-component",
        data=json.dumps(callback_body(app, fragment, inputs, state, changed)),
        content_type="application/json",
        headers={"X-CSRFToken": client.get_cookie("_csrf_token").value},
    )


def callback_body(
    app,
    fragment: str,
    inputs: list[tuple[str, str, object]],
    state: list[tuple[str, str, object]],
    changed: list[str],
) -> dict:
    """A callback request as dash-renderer builds it.

    ``inputs`` and ``state`` give ``(id, property, value)`` for the props the caller cares about;
    every other Input and State of the callback goes out as ``None`` (what a freshly rendered page
    holds), in the callback's own order — so a new Input does not break every test that posts the
    callback. A prop that is not one of the callback's is an error (a typo, or a stale test)."""
    key = callback_key(app, fragment, inputs)
    spec = app.callback_map[key]
    return {
        "output": key,
        "outputs": callback_outputs(key),
        "inputs": declared_values(key, spec["inputs"], inputs),
        "state": declared_values(key, spec["state"], state),
        "changedPropIds": changed,
    }


def declared_values(key: str, declared: list[dict], given: list[tuple[str, str, object]]) -> list[dict]:
    values = {(i, p): v for i, p, v in given}
    unknown = set(values) - {(d["id"], d["property"]) for d in declared}
    assert not unknown, f"{sorted(unknown)} are not inputs/state of {key}"
    return [{**d, "value": values.get((d["id"], d["property"]))} for d in declared]


def run_poll_request(run_id: int, fingerprint: object, policy: object) -> dict:
    """The run viewer's poll (``run-poll`` ticked) as dash-renderer posts it, for a client that
    speaks plain HTTP (no app object in the test's process to read the callback key from)."""
    key = "..run-view.children...run-fingerprint.data...run-poll-policy.data.."
    return {
        "output": key,
        "outputs": [
            {"id": "run-view", "property": "children"},
            {"id": "run-fingerprint", "property": "data"},
            {"id": "run-poll-policy", "property": "data"},
        ],
        "inputs": [
            {"id": "run-poll", "property": "n_intervals", "value": 1},
            {"id": "run-viewer-run-kick", "property": "data", "value": None},
        ],
        "state": [
            {"id": "run-id", "property": "data", "value": run_id},
            {"id": "run-fingerprint", "property": "data", "value": fingerprint},
            {"id": "run-poll-policy", "property": "data", "value": policy},
        ],
        "changedPropIds": ["run-poll.n_intervals"],
    }
