"""Property-based fuzzing (hypothesis) of every Dash callback and the login form.

For each server-side callback in ``app.callback_map`` (the page router included), hypothesis
draws a value for every declared input and state — the page's own value, a foreign or
ungranted id, or arbitrary JSON (huge ints, NaN, control characters, nested lists/objects) —
and which input fired. The login form gets arbitrary email / password / next / token fields.

Properties: never a 500, no ERROR record in the server log (Flask logs every unhandled
exception there), and a 200 never carries the foreign tenant's or run's data. Bounded:
``MAX_EXAMPLES`` per target, no deadline, no example database (nothing written to the repo)."""

from __future__ import annotations

import json
import logging
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import PASSWORD
from tests.support.hostile import (
    Scene,
    body_for,
    build_scene,
    concrete_id,
    is_multi,
    legit_value,
    post,
    readable,
    server_callbacks,
)
from tests.support.web import csrf_token, instant_password_checks, login

MAX_EXAMPLES = int(__import__("os").environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()
    | st.text(max_size=40)
    | st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=12)  # ASCII incl. NUL and control characters
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def id_like(scene: Scene) -> st.SearchStrategy[Any]:
    """Ids that exist somewhere (own and foreign tenants, runs, packs), as ints, strings and paths."""
    ids = sorted(
        {
            scene.own_tenant,
            scene.own_run,
            *scene.own_runs,
            *scene.foreign_tenants,
            *scene.foreign_runs,
            *scene.foreign_packs,
        }
    )
    one = st.sampled_from(ids)
    return st.one_of(
        one,
        one.map(str),
        one.map(lambda i: {"run_id": i}),
        one.map(lambda i: f"/admin/tenants/{i}"),
        one.map(lambda i: f"/admin/operations/{i}"),
        one.map(lambda i: f"?tenant_id={i}&run_id={i}"),
    )


def callback_requests(key: str, spec: dict, scene: Scene) -> st.SearchStrategy[dict]:
    deps = spec["inputs"] + spec["state"]
    anything = st.one_of(json_values, id_like(scene))

    def value_for(dep: dict) -> st.SearchStrategy[Any]:
        legit = legit_value(dep, scene)
        if is_multi(dep):
            wrapper = st.one_of(
                st.sampled_from(["inventory_sync", "review_pack_generate", "baseline_compare"]),
                st.text(max_size=20),
                st.integers(),
            )
            item = st.tuples(wrapper.map(lambda op: concrete_id(dep, op)), anything)
            return st.one_of(st.just(legit), st.lists(item, max_size=3))
        return st.one_of(st.just(legit), anything)

    @st.composite
    def build(draw) -> dict:
        values = {i: draw(value_for(d)) for i, d in enumerate(deps)}
        changed = draw(st.integers(min_value=0, max_value=len(spec["inputs"]) - 1))
        body = body_for(key, spec, values, changed=changed)
        mutation = draw(
            st.sampled_from(["none", "none", "none", "no-changed", "extra-changed", "drop-value", "no-state"])
        )
        if mutation == "no-changed":
            body["changedPropIds"] = []
        elif mutation == "extra-changed":
            body["changedPropIds"] = body["changedPropIds"] + [draw(st.text(max_size=30))]
        elif mutation == "drop-value" and body["inputs"] and isinstance(body["inputs"][0], dict):
            body["inputs"][0].pop("value", None)
        elif mutation == "no-state":
            body.pop("state", None)
        return body

    return build()


def _token_names(web_app, scene: Scene) -> str:
    """The names the user gave their own API tokens (their own text, shown back to them)."""
    from sqlalchemy import select

    from console.accounts.models import User
    from console.api_tokens.models import ApiToken

    with web_app.server.extensions["console.db"].session() as s:
        user_id = s.scalar(select(User.id).where(User.email == scene.email))
        return json.dumps(list(s.scalars(select(ApiToken.name).where(ApiToken.user_id == user_id))), ensure_ascii=False)


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def fuzz_callback(
    client, caplog, scene: Scene, key: str, spec: dict, statuses: dict[int, int], own_text=lambda: ""
) -> None:
    """Hypothesis-generated requests to one callback: never a 500, a leak or a logged error."""

    @FUZZ
    @given(body=callback_requests(key, spec, scene))
    def one_request(body: dict) -> None:
        r = post(client, body)
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        text = readable(r)
        assert r.status_code in (200, 204, 400, 403, 404), (
            key[:60],
            r.status_code,
            json.dumps(body)[:300],
            text[:300],
        )
        if r.status_code == 200:
            # What the request itself carried, or the user typed earlier (a token name such as
            # "/admin/operations/8", listed back on /account/tokens), tells them nothing.
            echoed = set(scene.leaks(json.dumps(body, ensure_ascii=False) + own_text()))
            leaked = [found for found in scene.leaks(text) if found not in echoed]
            assert not leaked, (key[:60], leaked, json.dumps(body)[:300])
        assert not _errors(caplog), (key[:60], _errors(caplog)[:1], json.dumps(body)[:300])

    one_request()


def test_fuzzed_callbacks_and_login_never_500_nor_log_an_exception(web_app, client, world, caplog, monkeypatch) -> None:
    instant_password_checks(monkeypatch)  # argon2 is not what is fuzzed here
    scene = build_scene(web_app, world, "operator")
    login(client, scene.email)
    client.get("/")  # registers Dash's page router
    caplog.set_level(logging.ERROR)
    targets = server_callbacks(web_app)
    assert len(targets) >= 12
    statuses: dict[int, int] = {}

    for key, spec in targets.items():
        fuzz_callback(client, caplog, scene, key, spec, statuses, own_text=lambda: _token_names(web_app, scene))

    @FUZZ
    @given(
        email=st.one_of(st.just("operator@test.example"), st.text(max_size=60), st.emails().map(str)),
        password=st.one_of(st.just(PASSWORD), st.text(max_size=60)),
        next_=st.one_of(
            st.none(), st.text(max_size=60), st.sampled_from(["/admin/operations", "//evil.example", "/\r\nX: y"])
        ),
        token_kind=st.sampled_from(["valid", "valid", "valid", "missing", "random"]),
        random_token=st.text(max_size=40),
        extra=st.dictionaries(st.text(min_size=1, max_size=10), st.text(max_size=20), max_size=3),
        address=st.integers(min_value=1, max_value=250),
    )
    def fuzz_login(email, password, next_, token_kind, random_token, extra, address) -> None:
        visitor = web_app.server.test_client()
        form: dict[str, Any] = {**extra, "email": email, "password": password}
        if next_ is not None:
            form["next"] = next_
        if token_kind == "valid":
            form["csrf_token"] = csrf_token(visitor)
        elif token_kind == "random":
            form["csrf_token"] = random_token
        r = visitor.post(
            "/login", data=form, environ_base={"REMOTE_ADDR": f"10.{address}.{len(email) % 250}.{len(password) % 250}"}
        )
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code in (302, 400, 401, 429), (r.status_code, form)
        if r.status_code == 302:
            location = r.headers["Location"]
            assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location
        assert not _errors(caplog), (_errors(caplog)[:1], form)

    fuzz_login()
    assert statuses.get(200, 0) + statuses.get(204, 0) > 0 and statuses.get(400, 0) > 0, statuses
