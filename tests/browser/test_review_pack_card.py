"""The review pack card in headless Chromium: each pack state and its polling (10 s while
queued/generating, none otherwise), and the whole flow with a real Celery worker — an
operator clicks Generate, picks options, confirms, sees Queued without a reload, then
Generating, then Ready with a download link that serves the ZIP, all without reloading."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from dash.testing.wait import until
from sqlalchemy import select

from console.accounts.service import create_tenant
from console.app import create_app
from console.db import utcnow
from console.operations.models import OperationRun
from console.operations.service import enqueue_run
from console.providers.builtin import seed_tenant_dataset
from console.review_packs.models import ReviewPack
from tests.factories import build_world
from tests.integration.worker import open_stack, wait_until
from tests.support.browser import (
    TENANT_PAGE,
    attr,
    browser_login,
    count,
    interval_state,
    set_visibility,
    text,
)

FETCH_JS = """
var done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: 'same-origin'}).then(function (r) {
    return r.arrayBuffer().then(function (b) { done([r.status, r.headers.get('content-type'), b.byteLength]); });
}).catch(function (e) { done(['error', String(e), 0]); });
"""


def navigate(dash_duo, path: str) -> None:
    """Client-side navigation (what a dcc.Link does): no page load, the pages callback renders."""
    dash_duo.driver.execute_script(
        "window.history.pushState({}, '', arguments[0]); "
        "window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));",
        path,
    )


def test_each_pack_state_renders_its_label_and_polls_only_while_active(dash_duo, console_app) -> None:
    world = console_app.world
    now = utcnow()
    states = {
        # name: (pack fields or None, label, polling?)
        "none": (None, "No pack yet", False),
        "queued": ({"status": "queued"}, "Queued", True),
        "generating": ({"status": "generating"}, "Generating", True),
        "ready": (
            {
                "status": "ready",
                "size": 3 * 1024 * 1024,
                "ready_at": now,
                "expires_at": now + timedelta(days=14),
                "file_path": "/nowhere.zip",
            },
            "Ready",
            False,
        ),
        "failed": ({"status": "failed", "error": "Review pack generation failed: provider timed out"}, "Failed", False),
        "expired": (
            {"status": "expired", "ready_at": now - timedelta(days=15), "expires_at": now - timedelta(days=1)},
            "Expired",
            False,
        ),
        # ready in the database, but past expires_at before the expiry job ran: already unusable
        "ready-past-expiry": (
            {
                "status": "ready",
                "size": 10,
                "ready_at": now - timedelta(days=15),
                "expires_at": now - timedelta(minutes=1),
            },
            "Expired",
            False,
        ),
    }
    tenants: dict[str, tuple[int, int | None]] = {}
    with console_app.server.extensions["console.db"].session() as s:
        for name, (fields, _, _) in states.items():
            tenant = create_tenant(session=s, workspace_id=world.workspace_id, name=f"t-{name}")
            pack_id = None
            if fields is not None:
                pack = ReviewPack(tenant_id=tenant.id, options={}, created_at=now - timedelta(minutes=5), **fields)
                s.add(pack)
                s.commit()
                pack_id = pack.id
            tenants[name] = (tenant.id, pack_id)

    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example")
    for name, (_, label, polls) in states.items():
        tenant_id, pack_id = tenants[name]
        navigate(dash_duo, TENANT_PAGE.format(tenant_id))
        dash_duo.wait_for_element(f"#tenant-dashboard[data-tenant-id='{tenant_id}']")
        dash_duo.wait_for_text_to_equal("#review-pack-status", label)
        until(
            lambda polls=polls: (
                interval_state(dash_duo, "review-pack-poll") == ((False, 10_000) if polls else (True, 10_000))
            ),
            timeout=5,
        )
        assert attr(dash_duo, "#review-pack-generate", "disabled") == ("" if polls else None), (
            name
        )  # no second pack while one is active
        if name == "ready":
            assert attr(dash_duo, "#review-pack-download", "href") == f"/review-packs/{pack_id}/download"
            assert text(dash_duo, "#review-pack-size") == "3.0 MB"
        else:
            assert count(dash_duo, "#review-pack-download") == 0, name
        if name == "failed":
            assert text(dash_duo, "#review-pack-error") == "Review pack generation failed: provider timed out"
    assert dash_duo.get_logs() == []


@pytest.fixture
def worker_app(tmp_path):
    """The console on a real stack: migrated SQLite, the embedded broker and a Celery worker
    that takes ~1 s per pack entry (so 'Generating' is visible for a few seconds: the card now
    follows the run at once, so it leaves Generating as soon as the pack is ready)."""
    stacks = open_stack("sqlite", "embedded", tmp_path, {"CONSOLE_PROVIDER_FAULTS": json.dumps({"delay_seconds": 1.0})})
    stack = next(stacks)
    try:
        app = create_app({**stack.settings_overrides(), "secret_key": "browser-secret", "dispatcher": stack.dispatcher})
        with stack.db.session() as s:
            app.world = build_world(s)
            seed_tenant_dataset(session=s, tenant_id=app.world.tenant_ids[0])
        app.stack = stack
        yield app
    finally:
        stacks.close()


def test_operator_generates_a_pack_and_sees_queued_generating_then_ready_without_reloading(
    dash_duo, worker_app
) -> None:
    stack, a1 = worker_app.stack, worker_app.world.tenant_ids[0]
    with stack.db.session() as s:  # history for the pack's operations.csv
        enqueue_run(
            session=s,
            type="baseline_capture",
            workspace_id=worker_app.world.workspace_id,
            tenant_id=a1,
            initiator_user_id=None,
        )

    def pack() -> ReviewPack | None:
        with stack.db.session() as s:
            p = s.scalar(select(ReviewPack).where(ReviewPack.tenant_id == a1))
            if p is not None:
                s.expunge(p)
            return p

    dash_duo.start_server(worker_app, navigate=False)
    browser_login(dash_duo, "operator@test.example", path=TENANT_PAGE.format(a1))
    dash_duo.wait_for_text_to_equal("#review-pack-status", "No pack yet")
    assert interval_state(dash_duo, "review-pack-poll")[0] is True
    marker = dash_duo.driver.execute_script("window.__sameDocument = 'yes'; return window.__sameDocument;")

    dash_duo.find_element("#review-pack-generate").click()
    dash_duo.wait_for_element("#review-pack-modal #review-pack-include-operations")
    assert dash_duo.find_element("#review-pack-include-operations").is_selected()
    assert not dash_duo.find_element("#review-pack-include-pii").is_selected()
    dash_duo.find_element("#review-pack-include-operations").click()  # leave operations out
    dash_duo.find_element("#review-pack-confirm").click()

    # The confirm response itself renders the queued card (the worker may already be on it).
    until(lambda: text(dash_duo, "#review-pack-status") in ("Queued", "Generating"), timeout=5)
    assert attr(dash_duo, "#review-pack-generate", "disabled") == ""
    until(lambda: interval_state(dash_duo, "review-pack-poll") == (False, 10_000), timeout=5)
    assert pack().options == {"include_operations": False, "include_pii": False}

    # While the worker writes entries: hide and show the tab -> one immediate refresh -> Generating.
    wait_until(
        lambda: (p := pack()) is not None and p.status == "generating", timeout=30, stack=stack, what="generating"
    )
    set_visibility(dash_duo, "hidden")
    until(lambda: interval_state(dash_duo, "review-pack-poll")[0] is True, timeout=5)  # no polling while hidden
    set_visibility(dash_duo, "visible")
    dash_duo.wait_for_text_to_equal("#review-pack-status", "Generating", timeout=5)

    # The worker finishes; the shell sees the run end, run-updated refreshes the card at once
    # (no 10 s wait): Ready with the link, and polling stops.
    wait_until(lambda: (p := pack()) is not None and p.status == "ready", timeout=30, stack=stack, what="ready")
    dash_duo.wait_for_text_to_equal("#review-pack-status", "Ready", timeout=15)
    ready = pack()
    href = attr(dash_duo, "#review-pack-download", "href")
    assert href == f"/review-packs/{ready.id}/download"
    status, content_type, size = dash_duo.driver.execute_async_script(FETCH_JS, href)
    assert (status, content_type, size) == (200, "application/zip", ready.size)
    until(lambda: interval_state(dash_duo, "review-pack-poll")[0] is True, timeout=5)
    assert attr(dash_duo, "#review-pack-generate", "disabled") is None
    assert dash_duo.driver.execute_script("return window.__sameDocument;") == marker  # never reloaded
    with stack.db.session() as s:
        runs = s.scalars(select(OperationRun).where(OperationRun.type == "review_pack_generate")).all()
        assert [(r.status, r.outcome, r.id) for r in runs] == [("completed", "succeeded", ready.operation_run_id)]
    assert dash_duo.get_logs() == []
