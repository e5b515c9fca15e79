"""Every role x capability x (granted tenant, ungranted tenant, other workspace's tenant), and
every role x operation type, against answers written out by hand.

The expected answers are literal tables, never derived from console.access' own constants: a
wrong constant there (a capability dropped from a role, an operation mapped to the wrong
capability) must fail here. The rules the tables spell out (docs and console/access.py):

* owner and manager see every tenant of their workspace, with every capability;
* operator and viewer see only tenants granted to them (the grant must hold ``tenant.view``),
  with the granted capabilities; a viewer holds only ``*.view`` capabilities;
* a user who is not a member of the tenant's workspace sees nothing.

Answers: "ok" (allowed), "403" (the tenant is visible, the action is not allowed: Forbidden),
"404" (the tenant is not visible: NotFound)."""

from __future__ import annotations

import pytest

from console.access import (
    Principal,
    all_capabilities,
    parse_id,
    require_operation,
    require_tenant,
    startable_operations,
)
from console.accounts.models import Tenant
from console.errors import Forbidden, NotFound
from console.operations import registry

OWN_WS, OTHER_WS = 1, 2
GRANTED = Tenant(id=10, workspace_id=OWN_WS, name="granted")
UNGRANTED = Tenant(id=11, workspace_id=OWN_WS, name="ungranted")
FOREIGN = Tenant(id=20, workspace_id=OTHER_WS, name="foreign")
TENANTS = {"granted": GRANTED, "ungranted": UNGRANTED, "other_workspace": FOREIGN}
WHERE = tuple(TENANTS)  # the column order of the tables below

#: "non-member": no membership in any workspace, yet holding the same grant on the tenant.
ROLES = ("owner", "manager", "operator", "viewer", "non-member")

ALL_CAPABILITIES = frozenset(
    {
        "tenant.view",
        "operations.view",
        "review_pack.view",
        "review_pack.generate",
        "inventory.sync",
        "evidence.generate",
        "backup.manage",
        "baseline.manage",
    }
)
VIEW_ONLY = frozenset({"tenant.view", "operations.view", "review_pack.view"})

#: The capability each operation type needs (the product's contract, written out).
OPERATION_NEEDS = {
    "inventory_sync": "inventory.sync",
    "review_pack_generate": "review_pack.generate",
    "evidence_snapshot_generate": "evidence.generate",
    "backup_set_add_policies": "backup.manage",
    "backup_set_restore": "backup.manage",
    "baseline_capture": "baseline.manage",
    "baseline_compare": "baseline.manage",
}

# --------------------------------------------------------------------------- capabilities
# The user holds a grant of {tenant.view, <capability>} on the granted tenant (none elsewhere).
# (role, capability): answer on (granted tenant, ungranted tenant, other workspace's tenant)
CAPABILITY_TABLE: dict[tuple[str, str], tuple[str, str, str]] = {
    ("owner", "tenant.view"): ("ok", "ok", "404"),
    ("owner", "operations.view"): ("ok", "ok", "404"),
    ("owner", "review_pack.view"): ("ok", "ok", "404"),
    ("owner", "review_pack.generate"): ("ok", "ok", "404"),
    ("owner", "inventory.sync"): ("ok", "ok", "404"),
    ("owner", "evidence.generate"): ("ok", "ok", "404"),
    ("owner", "backup.manage"): ("ok", "ok", "404"),
    ("owner", "baseline.manage"): ("ok", "ok", "404"),
    ("manager", "tenant.view"): ("ok", "ok", "404"),
    ("manager", "operations.view"): ("ok", "ok", "404"),
    ("manager", "review_pack.view"): ("ok", "ok", "404"),
    ("manager", "review_pack.generate"): ("ok", "ok", "404"),
    ("manager", "inventory.sync"): ("ok", "ok", "404"),
    ("manager", "evidence.generate"): ("ok", "ok", "404"),
    ("manager", "backup.manage"): ("ok", "ok", "404"),
    ("manager", "baseline.manage"): ("ok", "ok", "404"),
    ("operator", "tenant.view"): ("ok", "404", "404"),
    ("operator", "operations.view"): ("ok", "404", "404"),
    ("operator", "review_pack.view"): ("ok", "404", "404"),
    ("operator", "review_pack.generate"): ("ok", "404", "404"),
    ("operator", "inventory.sync"): ("ok", "404", "404"),
    ("operator", "evidence.generate"): ("ok", "404", "404"),
    ("operator", "backup.manage"): ("ok", "404", "404"),
    ("operator", "baseline.manage"): ("ok", "404", "404"),
    ("viewer", "tenant.view"): ("ok", "404", "404"),
    ("viewer", "operations.view"): ("ok", "404", "404"),
    ("viewer", "review_pack.view"): ("ok", "404", "404"),
    ("viewer", "review_pack.generate"): ("403", "404", "404"),
    ("viewer", "inventory.sync"): ("403", "404", "404"),
    ("viewer", "evidence.generate"): ("403", "404", "404"),
    ("viewer", "backup.manage"): ("403", "404", "404"),
    ("viewer", "baseline.manage"): ("403", "404", "404"),
    ("non-member", "tenant.view"): ("404", "404", "404"),
    ("non-member", "operations.view"): ("404", "404", "404"),
    ("non-member", "review_pack.view"): ("404", "404", "404"),
    ("non-member", "review_pack.generate"): ("404", "404", "404"),
    ("non-member", "inventory.sync"): ("404", "404", "404"),
    ("non-member", "evidence.generate"): ("404", "404", "404"),
    ("non-member", "backup.manage"): ("404", "404", "404"),
    ("non-member", "baseline.manage"): ("404", "404", "404"),
}

# --------------------------------------------------------------------------- operations
# The user holds a grant of every capability on the granted tenant (a viewer keeps only the
# *.view ones of it). (role, operation type): answer on (granted, ungranted, other workspace).
OPERATION_TABLE: dict[tuple[str, str], tuple[str, str, str]] = {
    ("owner", "inventory_sync"): ("ok", "ok", "404"),
    ("owner", "review_pack_generate"): ("ok", "ok", "404"),
    ("owner", "evidence_snapshot_generate"): ("ok", "ok", "404"),
    ("owner", "backup_set_add_policies"): ("ok", "ok", "404"),
    ("owner", "backup_set_restore"): ("ok", "ok", "404"),
    ("owner", "baseline_capture"): ("ok", "ok", "404"),
    ("owner", "baseline_compare"): ("ok", "ok", "404"),
    ("manager", "inventory_sync"): ("ok", "ok", "404"),
    ("manager", "review_pack_generate"): ("ok", "ok", "404"),
    ("manager", "evidence_snapshot_generate"): ("ok", "ok", "404"),
    ("manager", "backup_set_add_policies"): ("ok", "ok", "404"),
    ("manager", "backup_set_restore"): ("ok", "ok", "404"),
    ("manager", "baseline_capture"): ("ok", "ok", "404"),
    ("manager", "baseline_compare"): ("ok", "ok", "404"),
    ("operator", "inventory_sync"): ("ok", "404", "404"),
    ("operator", "review_pack_generate"): ("ok", "404", "404"),
    ("operator", "evidence_snapshot_generate"): ("ok", "404", "404"),
    ("operator", "backup_set_add_policies"): ("ok", "404", "404"),
    ("operator", "backup_set_restore"): ("ok", "404", "404"),
    ("operator", "baseline_capture"): ("ok", "404", "404"),
    ("operator", "baseline_compare"): ("ok", "404", "404"),
    ("viewer", "inventory_sync"): ("403", "404", "404"),
    ("viewer", "review_pack_generate"): ("403", "404", "404"),
    ("viewer", "evidence_snapshot_generate"): ("403", "404", "404"),
    ("viewer", "backup_set_add_policies"): ("403", "404", "404"),
    ("viewer", "backup_set_restore"): ("403", "404", "404"),
    ("viewer", "baseline_capture"): ("403", "404", "404"),
    ("viewer", "baseline_compare"): ("403", "404", "404"),
    ("non-member", "inventory_sync"): ("404", "404", "404"),
    ("non-member", "review_pack_generate"): ("404", "404", "404"),
    ("non-member", "evidence_snapshot_generate"): ("404", "404", "404"),
    ("non-member", "backup_set_add_policies"): ("404", "404", "404"),
    ("non-member", "backup_set_restore"): ("404", "404", "404"),
    ("non-member", "baseline_capture"): ("404", "404", "404"),
    ("non-member", "baseline_compare"): ("404", "404", "404"),
}


class Tenants:
    """The one Session method require_tenant / require_operation use: ``get(Tenant, id)``."""

    def get(self, model, id_):
        assert model is Tenant
        return {t.id: t for t in TENANTS.values()}.get(id_)


def principal(role: str, grant: frozenset[str]) -> Principal:
    roles = {} if role == "non-member" else {OWN_WS: role}
    return Principal(user_id=1, roles=roles, grants={GRANTED.id: grant})


def answer(call) -> str:
    try:
        call()
    except NotFound:
        return "404"
    except Forbidden:
        return "403"
    return "ok"


def may_use(p: Principal, tenant: Tenant, capability: str) -> str:
    return answer(lambda: require_tenant(session=Tenants(), principal=p, tenant_id=tenant.id, capability=capability))


def may_start(p: Principal, tenant: Tenant, operation_type: str) -> str:
    return answer(
        lambda: require_operation(session=Tenants(), principal=p, tenant_id=tenant.id, operation_type=operation_type)
    )


def test_the_tables_cover_every_role_capability_and_operation_type_of_the_code() -> None:
    # A capability or operation type added to (or dropped from) the code must show up here.
    assert set(all_capabilities()) == ALL_CAPABILITIES
    assert registry.capabilities() == OPERATION_NEEDS
    assert set(CAPABILITY_TABLE) == {(r, c) for r in ROLES for c in ALL_CAPABILITIES}
    assert set(OPERATION_TABLE) == {(r, o) for r in ROLES for o in OPERATION_NEEDS}


@pytest.mark.parametrize(("role", "capability"), list(CAPABILITY_TABLE))
@pytest.mark.parametrize("where", WHERE)
def test_capability_matrix(role: str, capability: str, where: str) -> None:
    expected = CAPABILITY_TABLE[role, capability][WHERE.index(where)]
    tenant = TENANTS[where]
    p = principal(role, frozenset({"tenant.view", capability}))
    caps = p.capabilities_for(tenant)
    assert ("ok" if capability in caps else "403" if "tenant.view" in caps else "404") == expected
    assert may_use(p, tenant, capability) == expected
    # Whatever a user may do on a tenant, they can see it; and a viewer never holds an action.
    assert not caps or "tenant.view" in caps
    if role == "viewer":
        assert caps <= VIEW_ONLY


@pytest.mark.parametrize(("role", "operation_type"), list(OPERATION_TABLE))
@pytest.mark.parametrize("where", WHERE)
def test_operation_matrix(role: str, operation_type: str, where: str) -> None:
    expected = OPERATION_TABLE[role, operation_type][WHERE.index(where)]
    tenant = TENANTS[where]
    p = principal(role, ALL_CAPABILITIES)
    assert may_start(p, tenant, operation_type) == expected
    assert (operation_type in startable_operations(p, tenant)) is (expected == "ok")


@pytest.mark.parametrize(("operation_type", "capability"), list(OPERATION_NEEDS.items()))
def test_each_operation_needs_exactly_its_capability(operation_type: str, capability: str) -> None:
    """An operator granted only that capability may start it; granted everything else, may not."""
    only = principal("operator", frozenset({"tenant.view", capability}))
    assert may_start(only, GRANTED, operation_type) == "ok"
    assert startable_operations(only, GRANTED) == [o for o, c in OPERATION_NEEDS.items() if c == capability]
    without = principal("operator", ALL_CAPABILITIES - {capability})
    assert may_start(without, GRANTED, operation_type) == "403"
    assert operation_type not in startable_operations(without, GRANTED)


@pytest.mark.parametrize("role", ROLES)
def test_an_unknown_operation_type_is_not_found(role: str) -> None:
    p = principal(role, ALL_CAPABILITIES)
    assert may_start(p, GRANTED, "no_such_type") == "404"


def test_a_grant_without_tenant_view_shows_nothing() -> None:
    p = Principal(user_id=1, roles={OWN_WS: "operator"}, grants={GRANTED.id: frozenset({"inventory.sync"})})
    assert p.capabilities_for(GRANTED) == frozenset()
    assert may_start(p, GRANTED, "inventory_sync") == "404"


def test_member_of_no_workspace_sees_nothing() -> None:
    assert Principal(user_id=1).capabilities_for(GRANTED) == frozenset()


@pytest.mark.parametrize(
    "raw", ["0", "-1", "abc", "1.5", "", " 1", "9" * 30, None, True, 0, -5, 2**63, 2**31, "2147483648", [], {}, "١٢"]
)
def test_invalid_ids_are_not_found(raw: object) -> None:
    with pytest.raises(NotFound):
        parse_id(raw)


@pytest.mark.parametrize("raw,value", [("1", 1), (7, 7), ("000123", 123)])
def test_valid_ids_parse(raw: object, value: int) -> None:
    assert parse_id(raw) == value
