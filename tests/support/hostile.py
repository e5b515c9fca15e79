"""Forged-request material for the hostile tests (test_hostile_callbacks.py, test_hostile_fuzz.py).

``build_scene`` seeds distinctive names, runs and packs in every tenant and says what one user
may see and what must never leak to them; the payload builders make requests like
dash-renderer's for any callback of ``app.callback_map``, from its declared inputs and state."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from console.accounts.models import Tenant, User
from console.db import utcnow
from console.operations.models import OperationRun
from console.review_packs.models import ReviewPack

CALLBACK = "/_dash-update-component"


# --------------------------------------------------------------------------- the scene


@dataclass
class Scene:
    """What one user may see (own_*) and what must never leak to them (foreign_*, markers)."""

    role: str
    email: str
    own_tenant: int
    own_run: int
    own_runs: set[int]
    foreign_tenants: list[int]
    foreign_runs: list[int]
    foreign_packs: list[int]
    seeded_runs: set[int] = field(default_factory=set)
    #: One API token of the user's own (the /account/tokens revoke buttons carry token ids).
    own_token: int | None = None
    markers: list[str] = field(default_factory=list)
    patterns: list[re.Pattern[str]] = field(default_factory=list)

    def leaks(self, text: str) -> list[str]:
        found = [m for m in self.markers if m in text]
        return found + [p.pattern for p in self.patterns if p.search(text)]


def _add_run(
    s, *, workspace_id: int, tenant_id: int | None, initiator: int | None, status: str, failure: str | None = None
) -> int:
    now = utcnow()
    run = OperationRun(
        workspace_id=workspace_id,
        tenant_id=tenant_id,
        type="inventory_sync",
        status=status,
        outcome="failed" if status == "completed" else None,
        summary_counts={"total": 4, "processed": 1},
        context={},
        failure_summary=failure,
        initiator_user_id=initiator,
        created_at=now - timedelta(seconds=30),
        started_at=now - timedelta(seconds=29),
        heartbeat_at=now,
        completed_at=now if status == "completed" else None,
    )
    s.add(run)
    s.flush()
    return run.id


def build_scene(web_app, world, role: str) -> Scene:
    """Distinctive names and texts in every tenant, a running and a failed run in each, a ready
    pack in each, and a tenantless run in each workspace (started by its owner)."""
    names = {
        world.tenant_ids[0]: "Tenant Alder-Granted",
        world.tenant_ids[1]: "Tenant Quokka-Ungranted",
        world.other_tenant_id: "Tenant Zephyr-Foreign",
    }
    runs: dict[int | str, list[int]] = {}
    packs: dict[int, int] = {}
    with web_app.server.extensions["console.db"].session() as s:
        for tid, name in names.items():
            s.execute(update(Tenant).where(Tenant.id == tid).values(name=name))
        s.execute(update(User).where(User.id == world.users["manager"]).values(name="Manny Manager-A"))
        s.execute(update(User).where(User.id == world.users["outsider"]).values(name="Otto Outsider-B"))
        for tid in names:
            ws = world.other_workspace_id if tid == world.other_tenant_id else world.workspace_id
            starter = world.users["outsider"] if ws == world.other_workspace_id else world.users["manager"]
            runs[tid] = [
                _add_run(s, workspace_id=ws, tenant_id=tid, initiator=starter, status="running"),
                _add_run(
                    s,
                    workspace_id=ws,
                    tenant_id=tid,
                    initiator=starter,
                    status="completed",
                    failure=f"failure-text-of-{names[tid]}",
                ),
            ]
            pack = ReviewPack(
                tenant_id=tid,
                status="ready",
                options={},
                operation_run_id=runs[tid][1],
                created_at=utcnow(),
                ready_at=utcnow(),
                expires_at=utcnow() + timedelta(days=1),
            )
            s.add(pack)
            s.flush()
            packs[tid] = pack.id
        runs["tenantless-A"] = [
            _add_run(
                s,
                workspace_id=world.workspace_id,
                tenant_id=None,
                initiator=world.users["manager"],
                status="running",
                failure=None,
            )
        ]
        runs["tenantless-B"] = [
            _add_run(
                s,
                workspace_id=world.other_workspace_id,
                tenant_id=None,
                initiator=world.users["outsider"],
                status="running",
            )
        ]
        s.commit()
        from console.api_tokens.service import create_token

        own_token = create_token(session=s, user_id=world.users[role], name=f"{role}'s script").id

    a1, a2, b1 = world.tenant_ids[0], world.tenant_ids[1], world.other_tenant_id
    if role == "outsider":
        own, foreign = b1, [a1, a2]
        foreign_runs = runs[a1] + runs[a2] + runs["tenantless-A"]
        leak_names = ["Manny Manager-A"]
    else:
        own, foreign = a1, [a2, b1]
        foreign_runs = runs[a2] + runs[b1] + runs["tenantless-A"] + runs["tenantless-B"]
        leak_names = ["Otto Outsider-B"]
    scene = Scene(
        role=role,
        email=f"{role}@test.example",
        own_tenant=own,
        own_run=runs[own][0],
        own_runs=set(runs[own]) | (set(runs["tenantless-B"]) if role == "outsider" else set()),
        foreign_tenants=foreign,
        foreign_runs=foreign_runs,
        foreign_packs=[packs[t] for t in foreign],
        seeded_runs={rid for ids_ in runs.values() for rid in ids_},
        own_token=own_token,
    )
    scene.markers = [names[t] for t in foreign] + [f"failure-text-of-{names[t]}" for t in foreign] + leak_names
    for rid in foreign_runs:
        scene.patterns.append(re.compile(rf"/admin/operations/{rid}(?!\d)"))
        scene.patterns.append(re.compile(rf'"data-run-id":\s*"{rid}"'))
    for tid in foreign:
        scene.patterns.append(re.compile(rf"/admin/tenants/{tid}(?!\d)"))
        scene.patterns.append(re.compile(rf'"data-tenant-id":\s*"{tid}"'))
    for pid in scene.foreign_packs:
        scene.patterns.append(re.compile(rf"/review-packs/{pid}/download"))
    return scene


# --------------------------------------------------------------------------- payloads from callback_map


def parse_dep_id(raw: str) -> str | dict:
    return json.loads(raw) if raw.startswith("{") else raw


def is_multi(dep: dict) -> bool:
    did = parse_dep_id(dep["id"])
    return isinstance(did, dict) and any(v in (["ALL"], ["ALLSMALLER"]) for v in did.values())


def slot(dep: dict) -> str:
    return f"{dep['id']}.{dep['property']}"


def outputs_for(key: str) -> Any:
    def one(part: str) -> dict:
        id_, prop = part.rsplit(".", 1)
        return {"id": parse_dep_id(id_), "property": prop.split("@")[0]}

    return [one(p) for p in key[2:-2].split("...")] if key.startswith("..") else one(key)


def concrete_id(dep: dict, wildcard_value: Any = "inventory_sync") -> dict:
    """A pattern-matching dependency's id with its wildcards filled in (an op-start wrapper)."""
    return {
        k: (wildcard_value if v in (["ALL"], ["ALLSMALLER"], ["MATCH"]) else v)
        for k, v in parse_dep_id(dep["id"]).items()
    }


def legit_value(dep: dict, scene: Scene) -> Any:
    """What the page would hold for this user in ``dep`` (own tenant / run)."""
    name = slot(dep)
    if is_multi(dep):
        # A token's revoke button carries the user's own token id; an op-start wrapper, a type.
        own = scene.own_token if "token" in parse_dep_id(dep["id"]) else "inventory_sync"
        return [(concrete_id(dep, own), 1)]
    prop = dep["property"]
    table = {
        "tenant-id.data": scene.own_tenant,
        "run-id.data": scene.own_run,
        "activity-kick.data": {"run_id": scene.own_run},
        "_pages_location.pathname": f"/admin/tenants/{scene.own_tenant}",
        "_pages_location.search": "",
        "_pages_store.data": {"title": "x", "description": ""},
        "operations-table.getRowsRequest": {"startRow": 0, "endRow": 25, "sortModel": [], "filterModel": {}},
        "ops-filter-tenant.value": str(scene.own_tenant),
        "ops-filter-from.value": None,  # a date, or empty: "all" is no date
        "ops-filter-to.value": None,
        "op-pending.data": "inventory_sync",
        "review-pack-include-operations.value": True,
        "review-pack-include-pii.value": False,
        "page-visibility.data": "visible",
        "modal-open.data": False,
        "token-revoke-pending.data": scene.own_token,
    }
    if name in table:
        return table[name]
    if prop in ("n_clicks", "n_intervals"):
        return 1
    if name.startswith("ops-filter-") and prop == "value":
        return "all"
    return None


def body_for(key: str, spec: dict, values: dict[int, Any], *, changed: int = 0) -> dict:
    """A request like dash-renderer's, with ``values`` by dependency index (inputs, then state)."""
    deps = spec["inputs"] + spec["state"]

    def item(i: int, dep: dict) -> Any:
        value = values[i]
        if is_multi(dep):  # [(concrete id, value), ...]
            return [{"id": id_, "property": dep["property"], "value": v} for id_, v in value]
        return {"id": parse_dep_id(dep["id"]), "property": dep["property"], "value": value}

    items = [item(i, d) for i, d in enumerate(deps)]
    n_in = len(spec["inputs"])
    trig = deps[changed]
    if is_multi(trig):
        first = items[changed][0]["id"] if items[changed] else parse_dep_id(trig["id"])
        changed_id = json.dumps(first, sort_keys=True, separators=(",", ":")) if isinstance(first, dict) else str(first)
    else:
        changed_id = trig["id"]
    return {
        "output": key,
        "outputs": outputs_for(key),
        "inputs": items[:n_in],
        "state": items[n_in:],
        "changedPropIds": [f"{changed_id}.{trig['property']}"] if changed < n_in else [],
    }


def server_callbacks(app) -> dict[str, dict]:
    return {k: v for k, v in app.callback_map.items() if v.get("callback") is not None}


def clientside_callbacks(app) -> dict[str, dict]:
    return {k: v for k, v in app.callback_map.items() if v.get("callback") is None}


def post(client, body: Any, *, raw: bool = False):
    token = client.get_cookie("_csrf_token").value
    data = body if raw else json.dumps(body)
    return client.post(CALLBACK, data=data, content_type="application/json", headers={"X-CSRFToken": token})


def readable(r) -> str:
    """The body as text, with Dash's JSON escapes (``\u002f`` for ``/``) undone."""
    text = r.get_data(as_text=True)
    if r.is_json:
        text += json.dumps(r.get_json(), ensure_ascii=False)
    return text
