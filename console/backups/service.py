"""Backup sets: add policies to a set (one unit per selected policy) and restore a set (fan-out).

Add policies (``backup_set_add_policies``)
    Units: the selected policies — option ``policy_ids`` as given, else every active policy of
    the tenant — unit key ``policy:<policy id>``; ``total`` = how many were selected, written
    once. An archived, unknown (not this tenant's) or provider-not-found policy is ``skipped``
    and still advances ``processed`` exactly once. The set is option ``backup_set_id``, else a
    new set created once per run (its id is kept in ``context.backup_set_id``).

Restore (``backup_set_restore``)
    The parent plans: ``total`` = the set's items (option ``backup_set_id``, else the tenant's
    latest set that has items), written once; the task then sends one child task per chunk of
    ``CONSOLE_FANOUT_CHUNK_SIZE`` items. A chunk restores its items one by one and records them
    in batches (``record_units``: at most ``FLUSH_SECONDS`` apart, so progress moves at least
    every second): each ``item:<item id>`` is counted on the parent exactly once (the ledger),
    with its ``restored_at``, in one transaction per batch; the batch holding the last unit
    completes the parent in that same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from functools import partial

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from console.backups.models import BackupSet, BackupSetItem
from console.db import utcnow
from console.errors import BadRequest
from console.inventory.models import Policy
from console.inventory.service import policy_names
from console.operations.constants import RUNNING
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.runner import (
    BatchRecorder,
    SkipUnit,
    finish_counted_run,
    lock_run,
    merge_context,
    recorded_units,
    retry_filter,
    run_unit,
    unit_error,
)
from console.operations.service import Unit, get_run, mark_running, maybe_complete_bulk_run, record_units, set_total
from console.providers.base import PolicyNotFound, PolicyRecord, Provider, ProviderError

log = logging.getLogger(__name__)


def _options(run: OperationRun) -> dict:
    options = (run.context or {}).get("options")
    return options if isinstance(options, dict) else {}


def latest_set_with_items(*, session: Session, tenant_id: int) -> BackupSet | None:
    """The tenant's newest backup set that holds at least one item (the restore default)."""
    has_items = exists().where(BackupSetItem.backup_set_id == BackupSet.id)
    return session.scalar(
        select(BackupSet)
        .where(BackupSet.tenant_id == tenant_id, has_items)
        .order_by(BackupSet.created_at.desc(), BackupSet.id.desc())
        .limit(1)
    )


def _tenant_set(session: Session, tenant_id: int, set_id: object) -> BackupSet | None:
    if isinstance(set_id, bool) or not isinstance(set_id, int):
        return None
    backup_set = session.get(BackupSet, set_id)
    return backup_set if backup_set is not None and backup_set.tenant_id == tenant_id else None


def check_backup_set_option(*, session: Session, tenant_id: int, value: int) -> None:
    """Option ``backup_set_id`` of a start: the set must be this tenant's (BadRequest otherwise)."""
    if _tenant_set(session, tenant_id, value) is None:
        raise BadRequest(f"backup set {value} does not exist for this tenant")


def _resolve_set(session: Session, run: OperationRun, *, default: Callable[[], BackupSet | None]) -> BackupSet | None:
    """The run's backup set, resolved once and kept in ``context.backup_set_id``: the set the
    context already names, else option ``backup_set_id`` (BadRequest when it is not this
    tenant's), else ``default()``. The caller holds the run's row lock and commits."""
    assert run.tenant_id is not None
    resolved = _tenant_set(session, run.tenant_id, (run.context or {}).get("backup_set_id"))
    if resolved is not None:
        return resolved
    requested = _options(run).get("backup_set_id")
    if requested is not None:
        resolved = _tenant_set(session, run.tenant_id, requested)
        if resolved is None:
            raise BadRequest(f"backup set {requested} does not exist for this tenant")
    else:
        resolved = default()
    if resolved is not None:
        merge_context(session=session, run=run, values={"backup_set_id": resolved.id})
    return resolved


# --------------------------------------------------------------------------- add policies


def _set_for_add(*, session: Session, run_id: int) -> int:
    """The run's target set: resolved once (row lock), a new set when no option names one."""
    run = lock_run(session=session, run_id=run_id)
    assert run.tenant_id is not None

    def new_set() -> BackupSet:
        created = BackupSet(
            tenant_id=run.tenant_id, name=f"Backup {utcnow():%Y-%m-%d %H:%M} UTC (run {run_id})", created_at=utcnow()
        )
        session.add(created)
        session.flush()
        return created

    resolved = _resolve_set(session, run, default=new_set)
    assert resolved is not None
    set_id = resolved.id
    session.commit()
    return set_id


def _selected_policy_ids(session: Session, run: OperationRun) -> list[int]:
    requested = _options(run).get("policy_ids")
    if isinstance(requested, list) and requested:
        return sorted({int(i) for i in requested if isinstance(i, int) and not isinstance(i, bool)})
    return list(
        session.scalars(
            select(Policy.id)
            .where(Policy.tenant_id == run.tenant_id, Policy.is_archived.is_(False))
            .order_by(Policy.id)
        )
    )


def _fetch_policy(session: Session, provider: Provider, tenant_id: int, policy_id: int) -> PolicyRecord:
    """The policy's current record at the provider; an unknown or archived policy is skipped."""
    policy = session.get(Policy, policy_id)
    if policy is None or policy.tenant_id != tenant_id:
        raise PolicyNotFound(f"policy {policy_id} does not exist for this tenant")
    if policy.is_archived:
        raise SkipUnit("policy is archived")
    record = provider.get_policy(tenant_id=tenant_id, external_id=policy.external_id)
    if record.is_archived:
        raise SkipUnit("policy is archived")
    return record


def _store_item(session: Session, set_id: int, record: PolicyRecord) -> str:
    """Copy the record into the set (a new item, or the existing item refreshed); which it was."""
    item = session.scalar(
        select(BackupSetItem).where(
            BackupSetItem.backup_set_id == set_id, BackupSetItem.policy_external_id == record.external_id
        )
    )
    if item is None:
        session.add(
            BackupSetItem(
                backup_set_id=set_id,
                policy_external_id=record.external_id,
                policy_type=record.policy_type,
                payload=record.payload(),
                added_at=utcnow(),
            )
        )
        return "created"
    item.payload, item.policy_type, item.added_at = record.payload(), record.policy_type, utcnow()
    return "updated"


def add_policies_to_backup_set(*, session: Session, run_id: int, provider: Provider) -> OperationRun:
    """Copy each selected policy's current payload into the backup set."""
    run = mark_running(session=session, run_id=run_id)
    if run.tenant_id is None:
        raise BadRequest("adding policies to a backup set needs a tenant")
    tenant_id = run.tenant_id
    set_id = _set_for_add(session=session, run_id=run_id)
    selected = retry_filter(
        session=session, run_id=run_id, planned=_selected_policy_ids(session, run), key=lambda i: f"policy:{i}"
    )
    set_total(session=session, run_id=run_id, total=len(selected))
    done = recorded_units(session=session, run_id=run_id)
    added = {"created": 0, "updated": 0}
    for policy_id in selected:
        key = f"policy:{policy_id}"
        if key in done:
            continue
        result = run_unit(
            session=session,
            run_id=run_id,
            key=key,
            provider=provider,
            fetch=partial(_fetch_policy, session, provider, tenant_id, policy_id),
            store=partial(_store_item, session, set_id),
        )
        if result.stored is not None:
            added[result.stored] += 1
    items = len(session.scalars(select(BackupSetItem.id).where(BackupSetItem.backup_set_id == set_id)).all())
    return finish_counted_run(session=session, run_id=run_id, summary={**added, "items": items})


# --------------------------------------------------------------------------- restore (fan-out)


def item_unit_key(item_id: int) -> str:
    return f"item:{item_id}"


def plan_restore(*, session: Session, run_id: int) -> list[int]:
    """Start the parent run: resolve the set, write ``total`` once; the item ids still to restore.

    A zero-item plan completes the run here (succeeded, never counted)."""
    mark_running(session=session, run_id=run_id)
    run = lock_run(session=session, run_id=run_id)
    if run.tenant_id is None:
        raise BadRequest("a restore needs a tenant")
    tenant_id = run.tenant_id
    backup_set = _resolve_set(session, run, default=lambda: latest_set_with_items(session=session, tenant_id=tenant_id))
    item_ids = (
        list(
            session.scalars(
                select(BackupSetItem.id).where(BackupSetItem.backup_set_id == backup_set.id).order_by(BackupSetItem.id)
            )
        )
        if backup_set is not None
        else []
    )
    session.commit()
    item_ids = retry_filter(session=session, run_id=run_id, planned=item_ids, key=item_unit_key)
    set_total(session=session, run_id=run_id, total=len(item_ids))
    done = recorded_units(session=session, run_id=run_id)
    # Zero items, or a redelivered parent whose children all finished: complete now.
    maybe_complete_bulk_run(session=session, run_id=run_id)
    return [i for i in item_ids if item_unit_key(i) not in done]


#: A chunk writes what it restored at least this often (the progress a page sees moves every second).
FLUSH_SECONDS = 0.5


def restore_chunk(
    *,
    session: Session,
    open_session: Callable[[], AbstractContextManager[Session]],
    run_id: int,
    item_ids: Sequence[int],
    provider: Provider,
    flush_seconds: float = FLUSH_SECONDS,
) -> dict[str, int]:
    """One child: restore a chunk of items, counting each on the parent once; returns what happened.

    Items already in the ledger (a redelivered or duplicated chunk, a retry) are not restored
    again. ``PolicyNotFound`` counts an item ``skipped``, any other ``ProviderError``
    ``failed``. The provider's write is its own (as a tenant API's would be); the unit, its
    counters and its ``restored_at`` are written by a BatchRecorder at least every
    ``flush_seconds``. An unexpected error writes what was done and propagates (the task
    retries the chunk from its first uncounted item)."""
    run = get_run(session=session, run_id=run_id)
    if run.status != RUNNING:
        session.commit()
        for item_id in item_ids:
            log.info(
                "event=restore_item_ignored run_id=%s unit_key=%s state=%s", run_id, item_unit_key(item_id), run.status
            )
        return {"ignored": len(item_ids)}
    assert run.tenant_id is not None
    tenant_id, set_id = run.tenant_id, (run.context or {}).get("backup_set_id")
    counted = _counted(session, run_id, item_ids)
    pending = [i for i in item_ids if item_unit_key(i) not in counted]
    items = {
        item.id: (item.policy_external_id, item.policy_type, item.payload or {})
        for item in session.scalars(
            select(BackupSetItem)
            .join(BackupSet, BackupSet.id == BackupSetItem.backup_set_id)
            .where(BackupSetItem.id.in_(pending), BackupSet.id == set_id, BackupSet.tenant_id == tenant_id)
        )
    }
    # End the read before the provider calls: on SQLite an open transaction holds the write
    # lock, so a slow tenant API would stall every other child, writer and page (see run_unit).
    session.commit()
    recorder = BatchRecorder(open_session=open_session, run_id=run_id, every=flush_seconds, stage=_mark_restored)
    try:
        for item_id in pending:
            if recorder.run_ended:  # cancelled (or reaped): stop between units
                log.info("event=restore_chunk_stopped run_id=%s", run_id)
                break
            key = item_unit_key(item_id)
            try:
                provider.begin_unit(key)
                if item_id not in items:
                    raise PolicyNotFound(f"backup item {item_id} is not in this run's backup set")
                external_id, policy_type, payload = items[item_id]
                provider.restore_item(
                    tenant_id=tenant_id, external_id=external_id, policy_type=policy_type, payload=payload
                )
                session.commit()  # the provider's own write, before the unit is counted
                recorder.add(Unit(key, "succeeded"))
            except PolicyNotFound as exc:
                session.rollback()
                recorder.add(Unit(key, "skipped", unit_error(exc)))
            except ProviderError as exc:
                session.rollback()
                recorder.add(Unit(key, "failed", unit_error(exc)))
    finally:
        recorder.close()  # what was restored before an unexpected error is counted, not done twice
    return {"counted": recorder.counted, "duplicate": len(item_ids) - len(pending) + recorder.refused}


def _item_id(unit_key: str) -> int:
    return int(unit_key.split(":", 1)[1])


def _counted(session: Session, run_id: int, item_ids: Sequence[int]) -> set[str]:
    keys = [item_unit_key(i) for i in item_ids]
    return set(
        session.scalars(
            select(OperationRunUnit.unit_key).where(
                OperationRunUnit.run_id == run_id, OperationRunUnit.unit_key.in_(keys)
            )
        )
    )


def _mark_restored(session: Session, units: list[Unit]) -> None:
    item_ids = [_item_id(u.key) for u in units if u.outcome == "succeeded"]
    if item_ids:
        session.execute(
            update(BackupSetItem)
            .where(BackupSetItem.id.in_(item_ids))
            .values(restored_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def first_uncounted(*, session: Session, run_id: int, item_ids: Sequence[int]) -> int | None:
    """The chunk's first item not yet in the ledger (where an unexpected error stopped it)."""
    counted = _counted(session, run_id, item_ids)
    session.commit()
    return next((i for i in item_ids if item_unit_key(i) not in counted), None)


def record_item_failure(*, session: Session, run_id: int, item_id: int, error: str) -> bool:
    """A chunk that gave up on one item (retries exhausted): count it as failed so the parent can complete."""
    counted = record_units(session=session, run_id=run_id, units=[Unit(item_unit_key(item_id), "failed", error)])
    if not counted:
        maybe_complete_bulk_run(session=session, run_id=run_id)
    return bool(counted)


def _ids_after(prefix: str, keys: list[str]) -> dict[str, int]:
    """``{key: id}`` for the keys ``<prefix><int>`` (others ignored)."""
    out: dict[str, int] = {}
    for key in keys:
        rest = key[len(prefix) :] if key.startswith(prefix) else ""
        if rest.isdigit():
            out[key] = int(rest)
    return out


def add_policies_unit_labels(*, session: Session, tenant_id: int | None, keys: list[str]) -> dict[str, str]:
    """``policy:<policy id>`` -> "Policy 'name'" (the registry's ``unit_labels`` hook)."""
    wanted = _ids_after("policy:", keys)
    by_id, _ = policy_names(session=session, tenant_id=tenant_id, ids=list(wanted.values()))
    return {key: f"Policy '{by_id[pid]}'" for key, pid in wanted.items() if pid in by_id}


def restore_unit_labels(*, session: Session, tenant_id: int | None, keys: list[str]) -> dict[str, str]:
    """``item:<backup set item id>`` -> "Policy 'name'" (the policy the item holds a copy of)."""
    wanted = _ids_after("item:", keys)
    if not wanted or tenant_id is None:
        return {}
    rows = session.execute(
        select(BackupSetItem.id, BackupSetItem.policy_external_id, Policy.name)
        .join(BackupSet, BackupSet.id == BackupSetItem.backup_set_id)
        .outerjoin(Policy, (Policy.tenant_id == tenant_id) & (Policy.external_id == BackupSetItem.policy_external_id))
        .where(BackupSetItem.id.in_(list(wanted.values())), BackupSet.tenant_id == tenant_id)
    )
    names = {item_id: name or external_id for item_id, external_id, name in rows}
    return {key: f"Policy '{names[item_id]}'" for key, item_id in wanted.items() if item_id in names}
