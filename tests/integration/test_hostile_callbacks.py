"""Every Dash callback of the app, fed forged payloads by three kinds of user.

The callbacks are not listed by hand: they are read from ``app.callback_map`` after the first
request (that is when Dash registers its page router), so a callback added later is attacked
too. For each one a *legitimate* request is built from its declared inputs and state (the
user's own tenant and run), checked to be accepted (the control: otherwise everything below
would be a vacuous 400), and then forged slot by slot: another workspace's tenant / run /
pack id, an ungranted tenant, huge, negative, fractional and non-numeric ids, wrong types
(lists, objects, strings, bools, null), missing fields and mismatched shapes.

Every answer must be 400 / 403 / 404, or 200 / 204 without a trace of the foreign tenant or
run (names, failure texts, run links, pack links) — never a 500. Forged tenant and run ids in
the slots that name them must be 404 (existence not revealed). Clientside callbacks have no
server function: posting to them is a 400, not Dash's 500."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from console.operations.models import OperationRun
from console.review_packs.models import ReviewPack
from tests.support.hostile import (
    Scene,
    body_for,
    build_scene,
    clientside_callbacks,
    concrete_id,
    is_multi,
    legit_value,
    post,
    readable,
    server_callbacks,
    slot,
)
from tests.support.web import login

ROLES = ("viewer", "operator", "outsider")
PAGES_ROUTER = ".._pages_content.children..._pages_store.data.."

#: Wrong types and hostile ids thrown into every slot of every callback.
HOSTILE_VALUES: list[Any] = [
    None,
    True,
    -1,
    1.5,
    2**70,
    "",
    "abc",
    "1; DROP TABLE tenants",
    "../../../etc/passwd",
    "\u0661\u0662",
    "x" * 5000,
    [],
    [[[[[1]]]]],
    {},
    {"run_id": {"$gt": 0}},
]
#: Operation types a forged op-start wrapper id may claim (the wildcard part of a pattern id).
FORGED_OPERATION_TYPES: list[Any] = [
    "review_pack_generate",
    "no_such_type",
    "inventory_sync ",
    "INVENTORY_SYNC",
    "",
    "x" * 500,
    7,
    1.5,
    -1,
]
#: Slots whose value names a tenant or a run: forged ids there are 404, whatever the callback.
ID_SLOTS = {
    "tenant-id.data": "tenant",
    "run-id.data": "run",
    "activity-kick.data": "kick",
    "ops-filter-tenant.value": "tenant",
}


# --------------------------------------------------------------------------- forgeries
# (the scene and the legitimate payloads they start from are in tests/support/hostile.py)


def forged_id_values(kind: str, scene: Scene) -> tuple[list[Any], list[Any]]:
    """(ids of things that exist but are not the user's, malformed ids) for a slot naming a tenant
    or run, as the page would hold them: the first must be 404, the second 404 or 400."""
    if kind == "tenant":
        raw, own, visible = scene.foreign_tenants + scene.foreign_packs, scene.own_tenant, {scene.own_tenant}
    else:
        raw, own, visible = scene.foreign_runs + scene.foreign_packs, scene.own_run, scene.own_runs
    foreign: list[Any] = [v for v in raw if v not in visible]  # a pack id may equal a visible id by chance
    foreign += [str(v) for v in foreign]
    malformed: list[Any] = [
        2**63,
        2**70,
        -1,
        0,
        "0",
        "-1",
        "1.0",
        "abc",
        "1e3",
        "\u0661",
        1.5,
        True,
        f" {own}",
        f"{own}\x00",
    ]
    if kind == "kick":
        return [{"run_id": v} for v in foreign], [{"run_id": v} for v in malformed]
    return foreign, malformed


def slot_extras(name: str, scene: Scene) -> list[Any]:
    """Forgeries that only make sense in one slot: foreign page paths, query strings that try to
    override a path variable (Dash passes query parameters to the layout as keyword arguments)."""
    if name == "_pages_location.pathname":
        return (
            [f"/admin/tenants/{t}" for t in scene.foreign_tenants]
            + [f"/admin/operations/{r}" for r in scene.foreign_runs]
            + [
                f"/admin/tenants/{scene.own_tenant}/../{scene.foreign_tenants[0]}",
                "//evil.example/",
                "/\x00",
                "/admin/operations/%2e%2e",
            ]
        )
    if name == "_pages_location.search":
        return (
            [f"?tenant_id={t}" for t in scene.foreign_tenants]
            + [f"?run_id={r}" for r in scene.foreign_runs]
            + [
                f"?tenant_id={scene.own_tenant}&tenant_id={scene.foreign_tenants[0]}",
                "?__class__=1",
                "?=&&=",
                "?" + "a=1&" * 500,
            ]
        )
    return []


def structural_forgeries(key: str, spec: dict, legit: dict) -> list[tuple[str, Any]]:
    """Requests that are not what dash-renderer sends for this callback: each must be a 400."""
    out: list[tuple[str, Any]] = []

    def variant(name: str, **changes: Any) -> None:
        b = json.loads(json.dumps(legit))
        for k, v in changes.items():
            if v is _DROP:
                b.pop(k, None)
            else:
                b[k] = v
        out.append((name, b))

    variant("inputs missing", inputs=_DROP)
    variant("inputs not a list", inputs={"0": legit["inputs"][0]})
    variant("an input dropped", inputs=legit["inputs"][:-1])
    variant("an input added", inputs=legit["inputs"] + [{"id": "tenant-id", "property": "data", "value": 1}])
    variant("outputs missing", outputs=_DROP)
    variant("outputs of another callback", outputs={"id": "nav-user", "property": "children"})
    variant("changedPropIds not strings", changedPropIds=[1])
    variant("changedPropIds not a list", changedPropIds="x.y")
    variant("output names no callback", output=key + "x")
    first = legit["inputs"][0]
    if isinstance(first, dict):
        variant("input with another id", inputs=[{**first, "id": "tenant-id"}] + legit["inputs"][1:])
        variant("input with another property", inputs=[{**first, "property": "children"}] + legit["inputs"][1:])
        variant("input without property", inputs=[{"id": first["id"], "value": 1}] + legit["inputs"][1:])
        variant("input with extra keys", inputs=[{**first, "path": ["x"]}] + legit["inputs"][1:])
        variant("input as a string", inputs=["run-id.data"] + legit["inputs"][1:])
        variant("input as a list", inputs=[[first]] + legit["inputs"][1:])
    else:  # a pattern-matching ALL input: a list of concrete matches
        one = first[0] if first else {"id": {}, "property": "n_clicks", "value": 1}
        variant("ALL input as an object", inputs=[one] + legit["inputs"][1:])
        variant(
            "ALL match with a foreign type",
            inputs=[[{**one, "id": {**one["id"], "type": "run-id"}}]] + legit["inputs"][1:],
        )
        variant("ALL match with an extra key", inputs=[[{**one, "id": {**one["id"], "x": 1}}]] + legit["inputs"][1:])
        variant("ALL match id not an object", inputs=[[{**one, "id": "op-start-wrap"}]] + legit["inputs"][1:])
        variant(
            "ALL match with an object value",
            inputs=[[{**one, "id": {**one["id"], "op": {"$ne": 1}}}]] + legit["inputs"][1:],
        )
        variant("ALL list too long", inputs=[[one] * 600] + legit["inputs"][1:])
    if spec["state"]:
        variant("state missing", state=_DROP)
        variant("a state dropped", state=legit["state"][:-1])
        variant("state not a list", state={"id": "tenant-id"})
    return out


_DROP = object()


def raw_forgeries() -> list[tuple[str, bytes]]:
    return [
        ("not JSON", b"{not json"),
        ("JSON array", b"[]"),
        ("JSON string", b'"x"'),
        ("deeply nested JSON", b"[" * 100_000 + b"]" * 100_000),
        ("output not a string", b'{"output": ["x"], "inputs": []}'),
    ]


# --------------------------------------------------------------------------- the test


def check(scene: Scene, what: str, r, allowed: tuple[int, ...] = (200, 204, 400, 403, 404)) -> None:
    text = readable(r)
    assert r.status_code in allowed, f"{scene.role}: {what} -> {r.status_code} {text[:400]}"
    if r.status_code == 200:
        leaked = scene.leaks(text)
        assert not leaked, f"{scene.role}: {what} leaked {leaked}: {text[:400]}"
    assert "Traceback" not in text


@pytest.mark.parametrize("role", ROLES)
def test_every_callback_refuses_forged_payloads_without_500_or_foreign_data(
    web_app, client, world, dispatcher, role, caplog
) -> None:
    scene = build_scene(web_app, world, role)
    login(client, scene.email)
    client.get("/")  # Dash registers its page router on the first request
    servers = server_callbacks(web_app)
    assert PAGES_ROUTER in servers and len(servers) >= 12, sorted(servers)
    caplog.set_level(logging.ERROR)
    tried = 0

    # The leak detector has teeth: the same refresh, by a manager who may see the foreign
    # tenant (workspace A), is caught carrying its data.
    manager = web_app.server.test_client()
    login(manager, "manager@test.example")
    dash_key = next(k for k, v in servers.items() if v["inputs"][0]["id"] == "dashboard-poll")
    dash_spec = servers[dash_key]
    values = {i: legit_value(d, scene) for i, d in enumerate(dash_spec["inputs"] + dash_spec["state"])}
    values[len(dash_spec["inputs"])] = scene.foreign_tenants[0]  # tenant-id.data
    seen_by_manager = post(manager, body_for(dash_key, dash_spec, values))
    assert seen_by_manager.status_code == 200 and scene.leaks(readable(seen_by_manager)), (
        "the leak markers must match Dash's output"
    )

    for key, spec in servers.items():
        deps = spec["inputs"] + spec["state"]
        legit = {i: legit_value(d, scene) for i, d in enumerate(deps)}
        legit_body = body_for(key, spec, legit)
        # The control: the user's own request goes through (403 only where the role may not act).
        r = post(client, legit_body)
        check(scene, f"legit {key}", r, allowed=(200, 204, 403))
        tried += 1

        for index, dep in enumerate(deps):
            changed = index if index < len(spec["inputs"]) else 0
            multi = is_multi(dep)
            for value in HOSTILE_VALUES:
                forged = [(concrete_id(dep), value)] if multi else value
                r = post(client, body_for(key, spec, {**legit, index: forged}, changed=changed))
                check(scene, f"{key} {slot(dep)}={value!r:.60}", r)
                tried += 1
            for value in slot_extras(slot(dep), scene):
                r = post(client, body_for(key, spec, {**legit, index: value}, changed=changed))
                check(scene, f"{key} {slot(dep)}={value!r:.60}", r)
                tried += 1
            if multi:  # the wildcard part of the id is a claim too (the operation type)
                for op in FORGED_OPERATION_TYPES:
                    r = post(
                        client, body_for(key, spec, {**legit, index: [(concrete_id(dep, op), 1)]}, changed=changed)
                    )
                    check(scene, f"{key} {slot(dep)} op={op!r:.60}", r, allowed=(400, 403, 404))
                    tried += 1
            kind = ID_SLOTS.get(slot(dep))
            if kind is None:
                continue
            foreign, malformed = forged_id_values(kind, scene)
            for value in foreign + malformed:
                r = post(client, body_for(key, spec, {**legit, index: value}, changed=changed))
                allowed = (404,) if any(type(v) is type(value) and v == value for v in foreign) else (400, 404)
                check(scene, f"{key} {slot(dep)}={value!r:.60}", r, allowed=allowed)
                tried += 1

        # Non-standard JSON numbers (Python's parser accepts them) in every slot.
        for index, dep in enumerate(deps):
            if is_multi(dep):
                continue
            for raw in ("NaN", "Infinity", "-Infinity", "1e999"):
                text = json.dumps(body_for(key, spec, {**legit, index: "__RAW__"})).replace('"__RAW__"', raw)
                check(scene, f"{key} {slot(dep)}={raw}", post(client, text, raw=True))
                tried += 1

        for what, forged in structural_forgeries(key, spec, legit_body):
            r = post(client, forged)
            check(scene, f"{key}: {what}", r, allowed=(400,))
            tried += 1

    # Clientside callbacks have no server function: a 400, not Dash's KeyError (500).
    for key, spec in clientside_callbacks(web_app).items():
        deps = spec["inputs"] + spec["state"]
        r = post(client, body_for(key, spec, {i: legit_value(d, scene) for i, d in enumerate(deps)}))
        check(scene, f"clientside {key}", r, allowed=(400,))
        tried += 1
    for what, raw in raw_forgeries():
        check(scene, what, post(client, raw, raw=True), allowed=(400,))
        tried += 1

    # Nothing was started on anything foreign, and nothing reached the queue for it.
    with web_app.server.extensions["console.db"].session() as s:
        foreign_runs = s.scalar(
            select(func.count()).select_from(OperationRun).where(OperationRun.tenant_id.in_(scene.foreign_tenants))
        )
        foreign_packs = s.scalar(
            select(func.count()).select_from(ReviewPack).where(ReviewPack.tenant_id.in_(scene.foreign_tenants))
        )
        started = {
            rid: tid
            for rid, tid in s.execute(select(OperationRun.id, OperationRun.tenant_id))
            if rid not in scene.seeded_runs
        }
    assert foreign_runs == 2 * len(scene.foreign_tenants)
    assert foreign_packs == len(scene.foreign_tenants)
    assert set(started.values()) <= {scene.own_tenant}, started
    assert {args[0] for _, args in dispatcher.sent} <= set(started), dispatcher.sent
    if role in ("operator", "outsider"):  # the outsider owns workspace B: it may start anything on b1
        assert started, "the user's own confirm requests should have started something (the control)"
    else:
        assert not started
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors][:3]
    assert tried > 900, tried
    print(f"{role}: {tried} requests")
