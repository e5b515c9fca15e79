"""Notifications name the tenant and link to the run, and to the pack download once the pack
is ready — read with the row (one statement for the list and for the shell's toasts), so an
older notification shows today's pack state and a workspace-level run names no tenant."""

from __future__ import annotations

import json

from console.components import activity_shell, notifications
from console.notifications.service import list_notifications, notifications_after, notify_run_terminal
from console.operations.models import OperationRun
from console.review_packs.models import ReviewPack
from tests.support.db import sql_statements


def _finished_run(web_app, world, *, tenant_id, type_="inventory_sync", outcome="succeeded") -> int:
    with web_app.server.extensions["console.db"].session() as s:
        run = OperationRun(
            workspace_id=world.workspace_id,
            tenant_id=tenant_id,
            type=type_,
            status="completed",
            outcome=outcome,
            summary_counts={},
            context={},
            initiator_user_id=world.users["operator"],
        )
        s.add(run)
        s.flush()
        notify_run_terminal(session=s, run=run)
        s.commit()
        return run.id


def test_notifications_name_the_tenant_and_link_the_run_and_a_ready_pack(web_app, world) -> None:
    a1 = world.tenant_ids[0]
    tenantless = _finished_run(web_app, world, tenant_id=None, type_="baseline_compare")
    synced = _finished_run(web_app, world, tenant_id=a1, outcome="failed")
    packed = _finished_run(web_app, world, tenant_id=a1, type_="review_pack_generate")
    db = web_app.server.extensions["console.db"]
    with db.session() as s:
        pack = ReviewPack(tenant_id=a1, operation_run_id=packed, status="generating", options={})
        s.add(pack)
        s.commit()
        pack_id = pack.id
    user = world.users["operator"]
    with db.session() as s:
        with sql_statements(db.engine) as statements:
            rows = list_notifications(session=s, user_id=user)
        assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) == 1
        by_run = {n.run_id: n for n in rows}
        assert by_run[synced].tenant_name == "a1" and by_run[tenantless].tenant_name is None
        assert by_run[packed].ready_pack_id is None  # generating: no link yet
    with db.session() as s:
        s.get(ReviewPack, pack_id).status = "ready"
        s.commit()
    with db.session() as s:
        rows = notifications_after(session=s, user_id=user, after_id=0, limit=10)
    by_run = {n.run_id: n for n in rows}
    assert by_run[packed].ready_pack_id == pack_id

    listed = json.dumps([c.to_plotly_json() for c in notifications.render_list(rows)], default=str)
    assert "Inventory sync failed \\u00b7 a1" in listed or "Inventory sync failed · a1" in listed
    assert f"/admin/operations/{synced}" in listed and f"/review-packs/{pack_id}/download" in listed
    n = by_run[packed]
    toast = json.dumps(
        activity_shell.terminal_toast(
            notification_id=n.id,
            run_id=n.run_id,
            title=n.title,
            body=n.body,
            kind=n.kind,
            tenant_name=n.tenant_name,
            ready_pack_id=n.ready_pack_id,
        ).to_plotly_json(),
        default=str,
    )
    assert "a1" in toast and f"/review-packs/{pack_id}/download" in toast and f"/admin/operations/{packed}" in toast


def test_a_ready_pack_past_its_expiry_gets_no_download_link_anywhere(web_app, world) -> None:
    """Between ``expires_at`` and the next expiry pass (≤ 1 min) the pack is still ``ready`` in
    the database: the card already says Expired, so the bell, the toasts and the run viewer
    must not offer a link that answers 410 either."""
    from datetime import timedelta

    from console.db import utcnow

    a1 = world.tenant_ids[0]
    packed = _finished_run(web_app, world, tenant_id=a1, type_="review_pack_generate")
    db = web_app.server.extensions["console.db"]
    with db.session() as s:
        pack = ReviewPack(
            tenant_id=a1,
            operation_run_id=packed,
            status="ready",
            options={},
            ready_at=utcnow() - timedelta(days=15),
            expires_at=utcnow() + timedelta(minutes=5),
        )
        s.add(pack)
        s.commit()
        pack_id = pack.id
    user = world.users["operator"]

    def offered() -> tuple[int | None, bool]:
        with db.session() as s:
            row = next(n for n in list_notifications(session=s, user_id=user) if n.run_id == packed)
        with db.session() as s:
            from console.access import load_principal
            from console.operations.queries import run_snapshot

            snap = run_snapshot(session=s, principal=load_principal(session=s, user_id=user), run_id=packed)
        return row.ready_pack_id, snap.pack_downloadable

    assert offered() == (pack_id, True)
    with db.session() as s:
        s.get(ReviewPack, pack_id).expires_at = utcnow() - timedelta(seconds=5)
        s.commit()
    assert offered() == (None, False)
