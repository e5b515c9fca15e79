"""Every role x capability x (own workspace, other workspace, ungranted tenant)."""

from __future__ import annotations

import pytest

from console.access import FULL_ACCESS_ROLES, ROLES, VIEW_CAPABILITIES, Principal, all_capabilities, parse_id

CAPABILITIES = all_capabilities()
from console.accounts.models import Tenant
from console.errors import NotFound

OWN_WS, OTHER_WS = 1, 2
GRANTED = Tenant(id=10, workspace_id=OWN_WS, name="granted")
UNGRANTED = Tenant(id=11, workspace_id=OWN_WS, name="ungranted")
FOREIGN = Tenant(id=20, workspace_id=OTHER_WS, name="foreign")


def principal(role: str, capability: str) -> Principal:
    return Principal(user_id=1, roles={OWN_WS: role}, grants={GRANTED.id: frozenset({"tenant.view", capability})})


def expected(role: str, capability: str, where: str) -> bool:
    if where == "other_workspace":
        return False
    if role in FULL_ACCESS_ROLES:
        return True
    if where == "ungranted_tenant":
        return False
    return role == "operator" or capability in VIEW_CAPABILITIES


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("capability", CAPABILITIES)
@pytest.mark.parametrize("where", ["own_workspace", "other_workspace", "ungranted_tenant"])
def test_capability_matrix(role: str, capability: str, where: str) -> None:
    tenant = {"own_workspace": GRANTED, "other_workspace": FOREIGN, "ungranted_tenant": UNGRANTED}[where]
    caps = principal(role, capability).capabilities_for(tenant)
    assert (capability in caps) is expected(role, capability, where)
    # Whatever a user may do on a tenant, they can see it; and a viewer never holds an action.
    assert not caps or "tenant.view" in caps
    if role == "viewer":
        assert caps <= VIEW_CAPABILITIES


def test_a_grant_without_tenant_view_shows_nothing() -> None:
    p = Principal(user_id=1, roles={OWN_WS: "operator"}, grants={GRANTED.id: frozenset({"inventory.sync"})})
    assert p.capabilities_for(GRANTED) == frozenset()


def test_member_of_no_workspace_sees_nothing() -> None:
    assert Principal(user_id=1).capabilities_for(GRANTED) == frozenset()


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1.5", "", " 1", "9" * 30, None, True, 0, -5, 2**63, [], {}, "١٢"])
def test_invalid_ids_are_not_found(raw: object) -> None:
    with pytest.raises(NotFound):
        parse_id(raw)


@pytest.mark.parametrize("raw,value", [("1", 1), (7, 7), ("000123", 123)])
def test_valid_ids_parse(raw: object, value: int) -> None:
    assert parse_id(raw) == value
