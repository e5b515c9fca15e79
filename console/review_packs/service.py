"""Review packs: the row created with the run, lifecycle (failure, expiry) and the authorized
download lookup. (Generation: generate.py; the UI's reads: queries.py; where the files live:
storage.py.)"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from console.access import Principal, require_pack
from console.accounts.models import Tenant
from console.audit.service import record_audit
from console.db import utcnow
from console.errors import Gone, NotFound
from console.operations.constants import COMPLETED
from console.operations.models import OperationRun
from console.review_packs.models import ReviewPack
from console.review_packs.storage import (
    ORPHAN_TEMP_SECONDS,
    InstanceFolderStorage,
    PackFileMissing,
    PackStorage,
    StoredFile,
)

log = logging.getLogger(__name__)

ACTIVE_PACK_STATUSES = frozenset({"queued", "generating"})
PACK_STATUSES = ("queued", "generating", "ready", "failed", "expired")


def ensure_pack_for_run(
    *, session: Session, run_id: int, tenant_id: int, options: dict[str, Any], commit: bool = True
) -> ReviewPack:
    """The pack linked to ``run_id``, created as ``queued`` if it does not exist yet (``commit=False``:
    flushed only, the caller's transaction commits it)."""
    pack = session.scalar(select(ReviewPack).where(ReviewPack.operation_run_id == run_id))
    if pack is None:
        pack = ReviewPack(tenant_id=tenant_id, operation_run_id=run_id, status="queued", options=dict(options))
        session.add(pack)
        if commit:
            session.commit()
        else:
            session.flush()
    return pack


# --------------------------------------------------------------------------- files, lifecycle, downloads

ORPHAN_ERROR = "Generation stopped before the pack was ready (the run ended). Generate a new pack."
_SLUG = re.compile(r"[^a-z0-9]+")


class PackExpired(Gone):
    """The pack existed but its file was removed at expiry (HTTP 410)."""


@dataclass(frozen=True)
class PackFile:
    stored: StoredFile
    filename: str
    sha256: str | None
    size: int


def packs_dir(instance_dir: Path) -> Path:
    """Where pack files live without CONSOLE_STORAGE_URL: ``<instance>/review_packs/`` (created on demand)."""
    return InstanceFolderStorage(instance_dir).staging_dir()


def slug(text: str) -> str:
    """A filename-safe lower-case slug (``tenant`` when nothing is left)."""
    return _SLUG.sub("-", (text or "").lower()).strip("-")[:60] or "tenant"


def download_url(pack_id: int) -> str:
    return f"/review-packs/{pack_id}/download"


def download_filename(*, tenant_name: str, pack_id: int) -> str:
    return f"review-pack-{slug(tenant_name)}-{pack_id}.zip"


def pack_for_run(*, session: Session, run_id: int) -> ReviewPack | None:
    return session.scalar(select(ReviewPack).where(ReviewPack.operation_run_id == run_id))


def fail_pack_for_run(*, session: Session, run_id: int, reason: str) -> bool:
    """Mark the run's pack failed if it is still queued/generating (the registry's ``on_fail`` hook).

    The caller commits (with the run's failure)."""
    error = f"Review pack generation failed: {reason}"
    changed = session.execute(
        update(ReviewPack)
        .where(ReviewPack.operation_run_id == run_id, ReviewPack.status.in_(ACTIVE_PACK_STATUSES))
        .values(status="failed", error=error[:1000])
        # "fetch": a pack object already in this session (the launch that just created it) sees the change.
        .execution_options(synchronize_session="fetch")
    ).rowcount
    if changed:
        log.info("event=review_pack_failed run_id=%s", run_id)
    return bool(changed)


def fail_orphan_packs(*, session: Session) -> list[int]:
    """Active packs whose run already completed (reaped, or failed before generating) become failed."""
    finished = select(OperationRun.id).where(OperationRun.status == COMPLETED)
    ids = list(
        session.scalars(
            select(ReviewPack.id).where(
                ReviewPack.status.in_(ACTIVE_PACK_STATUSES),
                or_(ReviewPack.operation_run_id.is_(None), ReviewPack.operation_run_id.in_(finished)),
            )
        )
    )
    if ids:
        session.execute(
            update(ReviewPack)
            .where(ReviewPack.id.in_(ids), ReviewPack.status.in_(ACTIVE_PACK_STATUSES))
            .values(status="failed", error=ORPHAN_ERROR)
            .execution_options(synchronize_session=False)
        )
    session.commit()
    for pack_id in ids:
        log.info("event=review_pack_failed pack_id=%s reason=run_ended", pack_id)
    return ids


def remove_pack_file(path: str | Path | None, *, instance_dir: Path) -> bool:
    """Delete a pack file, only ever inside ``<instance>/review_packs/``; True if a file went."""
    if not path:
        return False
    try:
        return InstanceFolderStorage(instance_dir).delete(str(path))
    except PackFileMissing:
        log.warning("event=review_pack_file_outside_dir path_ignored=true")
        return False


@dataclass(frozen=True)
class ExpiryReport:
    expired: list[int]
    files_deleted: int
    delete_failed: list[int]


def expire_packs(*, session: Session, now: datetime, storage: PackStorage) -> ExpiryReport:
    """Ready packs past ``expires_at`` become ``expired``; then every expired pack that still names a
    file loses it. A failed delete keeps ``file_path`` (the marker), so the next pass tries again."""
    due = session.scalars(select(ReviewPack.id).where(ReviewPack.status == "ready", ReviewPack.expires_at <= now))
    expired: list[int] = []
    for pack_id in list(due):
        # Conditional: a pack regenerated or failed meanwhile is left alone.
        if session.execute(
            update(ReviewPack)
            .where(ReviewPack.id == pack_id, ReviewPack.status == "ready")
            .values(status="expired")
            .execution_options(synchronize_session=False)
        ).rowcount:
            expired.append(pack_id)
    session.commit()
    for pack_id in expired:
        log.info("event=review_pack_expired pack_id=%s", pack_id)
    # Files go after the commit: a download either sees "ready" with a file or "expired" (410).
    pending = session.execute(
        select(ReviewPack.id, ReviewPack.file_path)
        .where(ReviewPack.status == "expired", ReviewPack.file_path.is_not(None))
        .order_by(ReviewPack.id)
    ).all()
    deleted, failed = 0, []
    for pack_id, ref in pending:
        try:
            deleted += storage.delete(ref)
        except PackFileMissing:
            # Not this storage's (written before CONSOLE_STORAGE_URL changed, or a tampered row):
            # it can never be deleted from here, so trying again each minute would only add noise.
            log.warning("event=review_pack_file_foreign pack_id=%s storage=%s", pack_id, storage.description)
        except Exception as exc:
            failed.append(pack_id)
            log.error(
                "event=review_pack_delete_failed pack_id=%s storage=%s error=%s retry=next_expiry_pass",
                pack_id,
                storage.description,
                exc,
            )
            continue
        session.execute(
            update(ReviewPack)
            .where(ReviewPack.id == pack_id, ReviewPack.file_path == ref)
            .values(file_path=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return ExpiryReport(expired=expired, files_deleted=deleted, delete_failed=failed)


def discard_abandoned_temporaries(*, session: Session, run_ids: list[int], storage: PackStorage) -> int:
    """The reaper gave up on these runs' workers (silent for the stale limit: it failed the runs,
    or resumed them and has not sent their task yet): remove their packs' temporary files in this
    host's staging folder now (on other hosts the hourly sweep, ``sweep_temporary_files``, is the
    backstop). A resumed pack's next attempt writes a file of its own, under a new name."""
    if not run_ids:
        return 0
    pack_ids = session.scalars(select(ReviewPack.id).where(ReviewPack.operation_run_id.in_(run_ids)))
    return sum(storage.discard_temporaries(pack_id) for pack_id in pack_ids)


def sweep_temporary_files(*, storage: PackStorage, older_than: float = ORPHAN_TEMP_SECONDS) -> int:
    """Remove temporary pack files left by workers that died (untouched for ``older_than`` s)."""
    return storage.sweep_temporaries(older_than=older_than)


AUDIT_FILE_MISSING = "review_pack.file_missing"


def pack_download(*, session: Session, principal: Principal, pack_id: object, storage: PackStorage) -> PackFile:
    """The open file to stream for an authorized user: NotFound (not visible, invalid, not ready,
    file missing: audited), PackExpired, StorageError (the storage did not answer)."""
    pack = require_pack(session=session, principal=principal, pack_id=pack_id)
    # Past expires_at is expired even before the beat task has swept it (its file may still exist).
    if pack.status == "expired" or (
        pack.status == "ready" and pack.expires_at is not None and pack.expires_at <= utcnow()
    ):
        raise PackExpired("review pack expired")
    if pack.status != "ready" or not pack.file_path:
        raise NotFound("review pack not ready")
    # Only files the storage owns are ever served, whatever the row says.
    try:
        stored = storage.open(pack.file_path)
    except PackFileMissing:
        _file_missing(session, principal, pack, "missing")
        raise NotFound("review pack file missing") from None
    if pack.size is not None and stored.size != pack.size:
        stored.close()
        _file_missing(session, principal, pack, "size_mismatch")
        raise NotFound("review pack file damaged")
    tenant = session.get(Tenant, pack.tenant_id)
    return PackFile(
        stored=stored,
        filename=download_filename(tenant_name=tenant.name if tenant else "tenant", pack_id=pack.id),
        sha256=pack.sha256,
        size=stored.size,
    )


def _file_missing(session: Session, principal: Principal, pack: ReviewPack, reason: str) -> None:
    tenant = session.get(Tenant, pack.tenant_id)
    log.warning("event=review_pack_file_missing pack_id=%s reason=%s", pack.id, reason)
    record_audit(
        session=session,
        action=AUDIT_FILE_MISSING,
        target_type="review_pack",
        target_id=pack.id,
        workspace_id=tenant.workspace_id if tenant else None,
        tenant_id=pack.tenant_id,
        user_id=principal.user_id or None,
        details={"reason": reason},
    )
    session.commit()
