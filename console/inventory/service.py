"""Inventory sync: copy the provider's policies into ``inventory_items``, one policy type per unit.

Units: the policy types the provider reports for the tenant (sorted; unit key ``type:<policy_type>``).
``total`` is that number, written once before the first unit; a tenant without policy types
completes as succeeded with total 0 (never counted). A failing type counts as ``failed``, the
others go on; mixed results give ``partially_succeeded``."""

from __future__ import annotations

import logging
from functools import partial

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from console.db import utcnow
from console.errors import BadRequest
from console.inventory.models import InventoryItem, Policy
from console.operations.models import OperationRun
from console.operations.runner import finish_counted_run, recorded_units, retry_filter, run_unit
from console.operations.service import mark_running, set_total
from console.providers.base import PolicyRecord, Provider

log = logging.getLogger(__name__)


def unit_key(policy_type: str) -> str:
    return f"type:{policy_type}"


def _active_of_type(provider: Provider, tenant_id: int, policy_type: str) -> list[PolicyRecord]:
    return [p for p in provider.list_policies(tenant_id=tenant_id, policy_type=policy_type) if not p.is_archived]


def _store_type(
    session: Session, tenant_id: int, run_id: int, policy_type: str, policies: list[PolicyRecord]
) -> dict[str, int]:
    """Upsert one type's active policies and drop items the provider no longer has; the caller commits."""
    existing = {
        item.external_id: item
        for item in session.scalars(
            select(InventoryItem).where(InventoryItem.tenant_id == tenant_id, InventoryItem.policy_type == policy_type)
        )
    }
    now = utcnow()
    created = updated = 0
    for policy in policies:
        item = existing.pop(policy.external_id, None)
        payload = policy.payload()
        if item is None:
            session.add(
                InventoryItem(
                    tenant_id=tenant_id,
                    policy_type=policy_type,
                    external_id=policy.external_id,
                    name=policy.name,
                    payload=payload,
                    last_run_id=run_id,
                    synced_at=now,
                )
            )
            created += 1
        else:
            if item.payload != payload or item.name != policy.name:
                updated += 1
            item.name, item.payload, item.last_run_id, item.synced_at = policy.name, payload, run_id, now
    if existing:
        session.execute(delete(InventoryItem).where(InventoryItem.id.in_([i.id for i in existing.values()])))
    session.flush()
    return {"created": created, "updated": updated, "deleted": len(existing)}


def run_inventory_sync(*, session: Session, run_id: int, provider: Provider) -> OperationRun:
    """Sync every policy type of the run's tenant, counting one unit per type."""
    run = mark_running(session=session, run_id=run_id)
    if run.tenant_id is None:
        raise BadRequest("inventory sync needs a tenant")
    types = retry_filter(
        session=session, run_id=run_id, planned=provider.policy_types(tenant_id=run.tenant_id), key=unit_key
    )
    set_total(session=session, run_id=run_id, total=len(types))
    done = recorded_units(session=session, run_id=run_id)
    changes = {"created": 0, "updated": 0, "deleted": 0}
    tenant_id = run.tenant_id
    for policy_type in types:
        key = unit_key(policy_type)
        if key in done:
            continue  # a redelivered task: this type was synced and counted already
        result = run_unit(
            session=session,
            run_id=run_id,
            key=key,
            provider=provider,
            fetch=partial(_active_of_type, provider, tenant_id, policy_type),
            store=partial(_store_type, session, tenant_id, run_id, policy_type),
        )
        for name, value in (result.stored or {}).items():
            changes[name] += value
    items = (
        session.scalar(select(func.count()).select_from(InventoryItem).where(InventoryItem.tenant_id == tenant_id)) or 0
    )
    return finish_counted_run(session=session, run_id=run_id, summary={**changes, "items": int(items)})


def unit_labels(*, session: Session, tenant_id: int | None, keys: list[str]) -> dict[str, str]:
    """``type:<policy type>`` -> "Policies of type 'x'" (the registry's ``unit_labels`` hook)."""
    return {key: f"Policies of type '{key[len('type:') :]}'" for key in keys if key.startswith("type:")}


def policy_names(
    *, session: Session, tenant_id: int | None, ids: list[int] = (), external_ids: list[str] = ()
) -> tuple[dict[int, str], dict[str, str]]:
    """The tenant's policy names by id and by external id (one statement; unknown ones absent)."""
    if tenant_id is None or (not ids and not external_ids):
        return {}, {}
    rows = session.execute(
        select(Policy.id, Policy.external_id, Policy.name).where(
            Policy.tenant_id == tenant_id, (Policy.id.in_(list(ids))) | (Policy.external_id.in_(list(external_ids)))
        )
    )
    by_id: dict[int, str] = {}
    by_external: dict[str, str] = {}
    for pid, external_id, name in rows:
        by_id[pid], by_external[external_id] = name, name
    return by_id, by_external
