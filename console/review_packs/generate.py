"""Review pack generation: a real ZIP in the pack storage (storage.py), one counted unit per entry.

The file map is decided before anything is written, from the pack's options:

    manifest.json         format, pack/run/tenant ids, options, every other entry's size and sha256
    tenant-summary.json   the tenant, its policies by type, inventory, backups, recent run outcomes, access
    policies.csv          the provider's policies (the inventory as the provider reports it)
    operations.csv        the tenant's recent runs          (only with include_operations)
    evidence.json         the latest evidence snapshot and its items (empty when none exists)

``total`` = the number of entries in that map, written once; ``processed`` +1 as each entry is
written (unit key ``entry:<name>``). The archive holds files only (no directory entries), so
its entry count equals ``total``. Without ``include_pii`` every person (names, emails) is
``[redacted]`` and email addresses in free text are masked. The pack goes
``queued -> generating -> ready`` (file ref, size, sha256, ready_at, expires_at = now + TTL) in the
same transaction that completes the run, and only once the storage holds the verified file;
failures are handled by the task (pack ``failed``) and leave no temporary or stored file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import secrets
import zipfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from console.accounts.models import Tenant, TenantGrant, User, Workspace, WorkspaceMembership
from console.backups.models import BackupSet
from console.db import utcnow
from console.errors import BadRequest, NotFound
from console.evidence.service import latest_snapshot, snapshot_items
from console.inventory.models import InventoryItem
from console.operations.models import OperationRun
from console.operations.runner import finish_counted_run, lock_run, stop_if_ended
from console.operations.service import heartbeat, mark_running, record_unit, set_total
from console.operations.summary import normalize_counts
from console.providers.base import Provider
from console.review_packs.models import ReviewPack
from console.review_packs.service import ACTIVE_PACK_STATUSES, ensure_pack_for_run
from console.review_packs.storage import InstanceFolderStorage, PackStorage, file_digest

log = logging.getLogger(__name__)

FORMAT = "tenant-review-pack"
FORMAT_VERSION = 1
REDACTED = "[redacted]"
OPERATIONS_LIMIT = 500
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")


class PackStateError(RuntimeError):
    """The pack cannot be generated in its current state (already ready, failed or expired)."""


@dataclass(frozen=True)
class Redactor:
    include_pii: bool

    def person(self, name: str | None, email: str | None) -> str:
        if name is None and email is None:
            return ""
        return f"{name} <{email}>" if self.include_pii else REDACTED

    def text(self, value: str | None) -> str:
        if not value:
            return ""
        return value if self.include_pii else _EMAIL.sub(REDACTED, value)


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return buf.getvalue().encode("utf-8")


def _json(data: object) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --------------------------------------------------------------------------- entries


def _policies_csv(provider: Provider, tenant_id: int) -> bytes:
    rows = [
        [
            p.external_id,
            p.name,
            p.policy_type,
            "yes" if p.is_archived else "no",
            p.settings.get("enabled"),
            p.settings.get("version"),
            p.settings.get("assignments"),
        ]
        for p in provider.list_policies(tenant_id=tenant_id)
    ]
    return _csv(["external_id", "name", "policy_type", "archived", "enabled", "version", "assignments"], rows)


def _operations_csv(session: Session, tenant_id: int, run_id: int, redact: Redactor) -> bytes:
    initiator = aliased(User)
    runs = session.execute(
        select(OperationRun, initiator.name, initiator.email)
        .outerjoin(initiator, initiator.id == OperationRun.initiator_user_id)
        .where(OperationRun.tenant_id == tenant_id, OperationRun.id != run_id)
        .order_by(OperationRun.created_at.desc(), OperationRun.id.desc())
        .limit(OPERATIONS_LIMIT)
    ).all()
    rows = []
    for run, name, email in runs:
        counts = normalize_counts(run.summary_counts)
        rows.append(
            [
                run.id,
                run.type,
                run.status,
                run.outcome or "",
                _iso(run.created_at),
                _iso(run.started_at),
                _iso(run.completed_at),
                redact.person(name, email),
                counts.get("total", ""),
                counts.get("processed", ""),
                counts.get("succeeded", ""),
                counts.get("failed", ""),
                counts.get("skipped", ""),
                redact.text(run.failure_summary),
            ]
        )
    header = [
        "run_id",
        "type",
        "status",
        "outcome",
        "created_at",
        "started_at",
        "completed_at",
        "initiator",
        "total",
        "processed",
        "succeeded",
        "failed",
        "skipped",
        "failure_summary",
    ]
    return _csv(header, rows)


def _tenant_summary(session: Session, tenant: Tenant, provider: Provider, redact: Redactor, now: datetime) -> bytes:
    policies = provider.list_policies(tenant_id=tenant.id)
    by_type: dict[str, dict[str, int]] = {}
    for p in policies:
        entry = by_type.setdefault(p.policy_type, {"active": 0, "archived": 0})
        entry["archived" if p.is_archived else "active"] += 1
    inventory_count, last_sync = session.execute(
        select(func.count(InventoryItem.id), func.max(InventoryItem.synced_at)).where(
            InventoryItem.tenant_id == tenant.id
        )
    ).one()
    since = now - timedelta(days=30)
    outcomes = Counter(
        session.scalars(
            select(OperationRun.outcome).where(
                OperationRun.tenant_id == tenant.id,
                OperationRun.status == "completed",
                OperationRun.created_at >= since,
            )
        )
    )
    workspace = session.get(Workspace, tenant.workspace_id)
    # Who can see this tenant: workspace owners/managers, and granted operators/viewers.
    access: list[dict[str, Any]] = []
    for name, email, role in session.execute(
        select(User.name, User.email, WorkspaceMembership.role)
        .join(WorkspaceMembership, WorkspaceMembership.user_id == User.id)
        .where(
            WorkspaceMembership.workspace_id == tenant.workspace_id, WorkspaceMembership.role.in_(("owner", "manager"))
        )
        .order_by(User.id)
    ):
        access.append({"person": redact.person(name, email), "role": role, "capabilities": "all"})
    for name, email, role, caps in session.execute(
        select(User.name, User.email, WorkspaceMembership.role, TenantGrant.capabilities)
        .join(TenantGrant, TenantGrant.user_id == User.id)
        .join(
            WorkspaceMembership,
            (WorkspaceMembership.user_id == User.id) & (WorkspaceMembership.workspace_id == tenant.workspace_id),
        )
        .where(TenantGrant.tenant_id == tenant.id, WorkspaceMembership.role.in_(("operator", "viewer")))
        .order_by(User.id)
    ):
        access.append({"person": redact.person(name, email), "role": role, "capabilities": sorted(caps or [])})
    backup_sets = session.scalar(select(func.count(BackupSet.id)).where(BackupSet.tenant_id == tenant.id)) or 0
    return _json(
        {
            "tenant": {"id": tenant.id, "name": tenant.name, "workspace": workspace.name if workspace else None},
            "generated_at": now.isoformat(),
            "policies": {"total": len(policies), "by_type": dict(sorted(by_type.items()))},
            "inventory": {"items": int(inventory_count or 0), "last_synced_at": _iso(last_sync)},
            "backup_sets": int(backup_sets),
            "runs_last_30_days": {k: v for k, v in sorted(outcomes.items()) if k},
            "access": access,
        }
    )


def _evidence_json(session: Session, tenant_id: int) -> bytes:
    snapshot = latest_snapshot(session=session, tenant_id=tenant_id)
    if snapshot is None:
        return _json(
            {"snapshot": None, "items": [], "note": "No evidence snapshot has been generated for this tenant yet."}
        )
    items = snapshot_items(session=session, snapshot_id=snapshot.id)
    return _json(
        {
            "snapshot": {
                "id": snapshot.id,
                "created_at": _iso(snapshot.created_at),
                "status": snapshot.status,
                "run_id": snapshot.operation_run_id,
            },
            "items": [{"item_key": i.item_key, "payload": i.payload} for i in items],
        }
    )


def build_file_map(
    *, session: Session, run: OperationRun, pack: ReviewPack, tenant: Tenant, provider: Provider, now: datetime
) -> dict[str, bytes]:
    """Every entry of the archive, manifest first, decided by the pack's options."""
    options = dict(pack.options or {})
    include_operations = bool(options.get("include_operations", True))
    redact = Redactor(include_pii=bool(options.get("include_pii", False)))
    files: dict[str, bytes] = {
        "tenant-summary.json": _tenant_summary(session, tenant, provider, redact, now),
        "policies.csv": _policies_csv(provider, tenant.id),
    }
    if include_operations:
        files["operations.csv"] = _operations_csv(session, tenant.id, run.id, redact)
    files["evidence.json"] = _evidence_json(session, tenant.id)
    initiator = session.get(User, run.initiator_user_id) if run.initiator_user_id else None
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "pack_id": pack.id,
        "run_id": run.id,
        "tenant": {"id": tenant.id, "name": tenant.name},
        "generated_at": now.isoformat(),
        "generated_by": redact.person(initiator.name, initiator.email) if initiator else None,
        "options": {"include_operations": include_operations, "include_pii": redact.include_pii},
        "entry_count": len(files) + 1,
        "entries": [
            {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in files.items()
        ],
    }
    return {"manifest.json": _json(manifest), **files}


# --------------------------------------------------------------------------- the use case


def _start_pack(session: Session, run: OperationRun) -> ReviewPack:
    """The run's pack, queued -> generating (a redelivered task finds it generating); written by
    ``mark_running``'s stage, in the transaction that makes the run running (it does not commit):
    the card says Generating exactly when the run is running.

    Under the run's row lock: two deliveries at once find (or create) the same pack."""
    if run.tenant_id is None:
        raise BadRequest("a review pack needs a tenant")
    lock_run(session=session, run_id=run.id)
    options = (run.context or {}).get("options") or {}
    pack = ensure_pack_for_run(session=session, run_id=run.id, tenant_id=run.tenant_id, options=options, commit=False)
    if pack.status not in ACTIVE_PACK_STATUSES:
        raise PackStateError(f"review pack {pack.id} is {pack.status}; it cannot be generated again")
    pack.status, pack.error = "generating", None
    return pack


def entry_unit_key(name: str) -> str:
    return f"entry:{name}"


def unit_labels(*, session: Session, tenant_id: int | None, keys: list[str]) -> dict[str, str]:
    """``entry:<name>`` -> "File name" (the registry's ``unit_labels`` hook; no query)."""
    return {key: f"File {key[len('entry:') :]}" for key in keys if key.startswith("entry:")}


def _zip_info(name: str, now: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=now.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    return info


def generate_review_pack(
    *,
    session: Session,
    run_id: int,
    provider: Provider,
    ttl_days: int,
    instance_dir: Path | None = None,
    storage: PackStorage | None = None,
) -> ReviewPack:
    """Write the pack's ZIP entry by entry (one unit each) into a temporary file, store it (the
    storage verifies it), then make the pack ready and complete the run.

    ``storage``: where the finished file goes (default: ``<instance_dir>/review_packs/``)."""
    if storage is None:
        if instance_dir is None:
            raise TypeError("generate_review_pack needs a storage or an instance_dir")
        storage = InstanceFolderStorage(instance_dir)
    started: list[ReviewPack] = []
    run = mark_running(session=session, run_id=run_id, stage=lambda r: started.append(_start_pack(session, r)))
    tenant = session.get(Tenant, run.tenant_id)
    if tenant is None:
        raise NotFound(f"tenant {run.tenant_id} no longer exists")
    pack = started[0]
    pack_id = pack.id
    now = utcnow()
    files = build_file_map(session=session, run=run, pack=pack, tenant=tenant, provider=provider, now=now)
    session.commit()
    heartbeat(session=session, run_id=run_id)  # building the map may have taken a while
    set_total(session=session, run_id=run_id, total=len(files))

    # A file of this delivery's own: a second delivery running at once never replaces or removes
    # the file the pack row names (only the delivery that completes the run names its file).
    name = f"review-pack-{pack_id}-{secrets.token_hex(4)}.zip"
    tmp = storage.temp_path(name)
    try:
        # A redelivered task rebuilds the whole archive; units it counted before are not counted again.
        with zipfile.ZipFile(tmp, "w") as archive:
            for entry, data in files.items():
                key = entry_unit_key(entry)
                provider.begin_unit(key)  # a failing entry fails the pack: a pack with a hole is no pack
                archive.writestr(_zip_info(entry, now), data)
                if not record_unit(session=session, run_id=run_id, unit_key=key, outcome="succeeded"):
                    stop_if_ended(session=session, run_id=run_id)  # cancelled: no file is left behind
        size, sha256 = file_digest(tmp)
        # Not ready until stored whole and verified; a failed save leaves nothing behind.
        ref = storage.save(name, tmp, size=size, sha256=sha256)
    finally:
        tmp.unlink(missing_ok=True)

    ready_at = utcnow()

    def stage(_outcome: str) -> None:
        row = session.get(ReviewPack, pack_id)
        assert row is not None
        row.status, row.file_path, row.size, row.sha256 = "ready", ref, size, sha256
        row.ready_at, row.expires_at, row.error = ready_at, ready_at + timedelta(days=ttl_days), None

    try:
        finish_counted_run(session=session, run_id=run_id, stage=stage)
    except BaseException:
        _remove_quietly(storage, ref, pack_id)
        raise
    done = session.get(ReviewPack, pack_id)
    assert done is not None
    log.info(
        "event=review_pack_ready pack_id=%s run_id=%s tenant_id=%s entries=%s size=%s storage=%s",
        pack_id,
        run_id,
        tenant.id,
        len(files),
        size,
        storage.description,
    )
    return done


def _remove_quietly(storage: PackStorage, ref: str, pack_id: int) -> None:
    """The run did not complete with this file: it must not outlive the failure."""
    try:
        storage.delete(ref)
    except Exception as exc:
        log.error("event=review_pack_file_cleanup_failed pack_id=%s error=%s", pack_id, exc)
