"""The HTTP API under test: an app with a recording dispatcher, one token per role and kind,
and runs and packs to point requests at (plain ORM writes: the states the API reads)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update

from console.accounts.models import Tenant
from console.api_tokens.models import ApiToken
from console.api_tokens.service import create_token
from console.app import create_app
from console.db import utcnow
from console.migrate import upgrade
from console.operations.constants import ACTIVE_STATUSES
from console.operations.models import OperationRun, OperationRunUnit
from console.review_packs.models import ReviewPack
from console.review_packs.service import packs_dir
from tests.factories import World, build_world
from tests.support.web import RecordingDispatcher

ROLES = ("owner", "manager", "operator", "viewer", "outsider", "stranger")
KINDS = ("full", "read_only", "expired", "revoked")
ZIP_BYTES = b"PK\x05\x06" + b"\x00" * 18


@dataclass
class ApiWorld:
    world: World
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)
    token_ids: dict[tuple[str, str], int] = field(default_factory=dict)


def db_session(app):
    return app.server.extensions["console.db"].session()


@contextmanager
def api_app(database_url: str, tmp_path: Path, **settings: Any) -> Iterator[Any]:
    """A console on a migrated database with a demo world and a token per (role, kind):
    ``app.api`` (ApiWorld), ``app.dispatcher`` (what was sent to Celery)."""
    upgrade(database_url)
    dispatcher = RecordingDispatcher()
    app = create_app(
        {
            "instance_dir": tmp_path / "instance",
            "database_url": database_url,
            "secret_key": "test-secret",
            "dispatcher": dispatcher,
            **settings,
        }
    )
    app.dispatcher = dispatcher
    with db_session(app) as s:
        api = ApiWorld(world=build_world(s))
        for role in ROLES:
            for kind in KINDS:
                new = create_token(
                    session=s, user_id=api.world.users[role], name=f"{role}-{kind}", read_only=kind == "read_only"
                )
                api.tokens[role, kind] = new.token
                api.token_ids[role, kind] = new.id
        past = utcnow() - timedelta(seconds=1)
        s.execute(update(ApiToken).where(ApiToken.name.like("%-expired")).values(expires_at=past))
        s.execute(update(ApiToken).where(ApiToken.name.like("%-revoked")).values(revoked_at=past))
        s.commit()
    app.api = api
    try:
        yield app
    finally:
        app.server.extensions["console.db"].dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_run(
    app,
    tenant_id: int,
    *,
    type: str = "inventory_sync",  # noqa: A002
    status: str = "completed",
    outcome: str | None = "succeeded",
    units: int = 0,
    user: str = "owner",
    age_s: float = 0,
) -> int:
    """A run in the given state (with ``units`` ledger rows, the first one failed)."""
    with db_session(app) as s:
        tenant = s.get(Tenant, tenant_id)
        now = utcnow() - timedelta(seconds=age_s)
        run = OperationRun(
            type=type,
            workspace_id=tenant.workspace_id,
            tenant_id=tenant.id,
            initiator_user_id=app.api.world.users[user],
            status=status,
            outcome=outcome,
            summary_counts={"total": units, "processed": units} if units else {},
            context={"options": {}},
            created_at=now,
            started_at=now if status != "queued" else None,
            completed_at=now if status == "completed" else None,
        )
        s.add(run)
        s.flush()
        for i in range(units):
            s.add(
                OperationRunUnit(
                    run_id=run.id,
                    unit_key=f"unit-{i:03d}",
                    outcome="failed" if i == 0 else "succeeded",
                    error="boom" if i == 0 else None,
                )
            )
        s.commit()
        return run.id


def settle_active_runs(app) -> None:
    """Every active run ends (cancelled), so the next start of any type creates a new run."""
    with db_session(app) as s:
        s.execute(
            update(OperationRun)
            .where(OperationRun.status.in_(sorted(ACTIVE_STATUSES)))
            .values(status="completed", outcome="cancelled", completed_at=utcnow())
        )
        s.commit()


def ready_pack(app, tenant_id: int, *, content: bytes = ZIP_BYTES, run_id: int | None = None) -> int:
    """A ready review pack with its file in the instance folder."""
    instance = app.server.extensions["console.settings"].instance_dir
    with db_session(app) as s:
        pack = ReviewPack(
            tenant_id=tenant_id,
            operation_run_id=run_id,
            status="ready",
            options={},
            created_at=utcnow(),
            ready_at=utcnow(),
            expires_at=utcnow() + timedelta(days=1),
        )
        s.add(pack)
        s.flush()
        path = packs_dir(instance) / f"pack-{pack.id}.zip"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        pack.file_path = str(path)
        pack.sha256 = hashlib.sha256(content).hexdigest()
        pack.size = len(content)
        s.commit()
        return pack.id
