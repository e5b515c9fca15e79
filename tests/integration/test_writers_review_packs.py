"""Review packs against a real worker: the ZIP and its counts, options and PII, dedupe, failure,
expiry on the maintenance task, and the authorized download route."""

from __future__ import annotations

import hashlib
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from console.accounts.service import create_user, grant_capabilities, grant_role
from console.app import create_app
from console.db import utcnow
from console.operations.models import OperationRun
from console.operations.service import counts_of
from console.review_packs.models import ReviewPack
from tests.integration.worker import (
    Stack,
    World,
    load_run,
    make_world,
    stack_fixture,
    start,
    start_with_faults,
    wait_run,
    wait_until,
)
from tests.support.web import login

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

stack = stack_fixture()

DEFAULT_ENTRIES = ["manifest.json", "tenant-summary.json", "policies.csv", "operations.csv", "evidence.json"]


def pack_of(stack: Stack, run_id: int) -> ReviewPack:
    with stack.db.session() as s:
        pack = s.scalar(select(ReviewPack).where(ReviewPack.operation_run_id == run_id))
        s.expunge(pack)
        return pack


def history(stack: Stack, world: World) -> None:
    """Runs the pack's operations.csv will list, one failing with the user's email in its reason."""
    wait_run(stack, start(stack, world, "inventory_sync"))
    wait_run(stack, start(stack, world, "evidence_snapshot_generate"))
    with stack.db.session() as s:
        s.add(
            OperationRun(
                workspace_id=world.workspace_id,
                tenant_id=world.tenant_id,
                type="backup_set_restore",
                status="completed",
                outcome="failed",
                summary_counts={"total": 3, "processed": 1, "failed": 1},
                context={},
                failure_summary=f"restore refused for {world.email}",
                initiator_user_id=world.user_id,
                created_at=utcnow(),
                completed_at=utcnow(),
            )
        )
        s.commit()


def entries(path: str | Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def test_a_pack_is_a_zip_whose_entry_count_is_total_and_processed_with_pii_redacted(stack: Stack) -> None:
    world = make_world(stack, name="Patty Private")
    history(stack, world)
    run = wait_run(stack, start(stack, world, "review_pack_generate"))
    pack = pack_of(stack, run.id)

    counts = counts_of(run)
    assert (run.outcome, pack.status, pack.error) == ("succeeded", "ready", None)
    with zipfile.ZipFile(pack.file_path) as archive:
        infos = archive.infolist()
    files = entries(pack.file_path)
    assert not any(info.is_dir() or info.filename.endswith("/") for info in infos)
    assert counts["processed"] == counts["total"] == len(infos) == len(DEFAULT_ENTRIES)
    assert list(files) == DEFAULT_ENTRIES
    # The row describes the file; the file lives in the instance folder.
    raw = Path(pack.file_path).read_bytes()
    assert Path(pack.file_path).parent == stack.instance_dir / "review_packs"
    assert (pack.size, pack.sha256) == (len(raw), hashlib.sha256(raw).hexdigest())
    assert pack.expires_at - pack.ready_at == timedelta(days=14)
    manifest = json.loads(files["manifest.json"])
    assert manifest["entry_count"] == len(infos) and manifest["options"] == {
        "include_operations": True,
        "include_pii": False,
    }
    for entry in manifest["entries"]:
        assert hashlib.sha256(files[entry["name"]]).hexdigest() == entry["sha256"]
    # No person in the pack: names and emails are redacted everywhere, free text included.
    blob = b"".join(files.values()).lower()
    assert b"patty" not in blob and b"pii.example" not in blob
    operations = files["operations.csv"].decode().splitlines()
    assert operations[0].split(",")[7] == "initiator" and len(operations) == 1 + 3
    assert all(",[redacted]," in line for line in operations[1:])
    assert "restore refused for [redacted]" in files["operations.csv"].decode()
    evidence = json.loads(files["evidence.json"])
    assert evidence["snapshot"] is not None and len(evidence["items"]) > 0
    policies = files["policies.csv"].decode().splitlines()
    assert policies[0].startswith("external_id,name,policy_type") and len(policies) > 6


def test_options_filter_the_file_map_and_include_pii_keeps_people(stack: Stack) -> None:
    world = make_world(stack, name="Patty Private")
    run = wait_run(
        stack, start(stack, world, "review_pack_generate", {"include_operations": "false", "include_pii": "true"})
    )
    pack = pack_of(stack, run.id)
    files = entries(pack.file_path)
    assert list(files) == [e for e in DEFAULT_ENTRIES if e != "operations.csv"]
    assert counts_of(run)["total"] == counts_of(run)["processed"] == 4
    summary = json.loads(files["tenant-summary.json"])
    assert {"person": f"Patty Private <{world.email}>", "role": "manager", "capabilities": "all"} in summary["access"]
    assert json.loads(files["manifest.json"])["generated_by"] == f"Patty Private <{world.email}>"
    assert json.loads(files["evidence.json"]) == {
        "snapshot": None,
        "items": [],
        "note": "No evidence snapshot has been generated for this tenant yet.",
    }


def test_generating_while_a_pack_is_active_returns_the_active_run_and_pack(stack: Stack) -> None:
    world = make_world(stack)
    first = start_with_faults(stack, world, "review_pack_generate", {"delay_seconds": 0.3})
    second = start(stack, world, "review_pack_generate")
    assert second == first
    wait_run(stack, first)
    with stack.db.session() as s:
        assert (
            s.scalar(select(func.count()).select_from(ReviewPack).where(ReviewPack.tenant_id == world.tenant_id)) == 1
        )
        assert (
            s.scalar(select(func.count()).select_from(OperationRun).where(OperationRun.tenant_id == world.tenant_id))
            == 1
        )


@pytest.mark.parametrize(
    "faults,reason",
    [
        ({"fail_units": ["entry:operations.csv"]}, "ProviderError: injected failure at unit entry:operations.csv"),
        ({"crash_units": ["entry:evidence.json"]}, "InjectedCrash: injected crash at unit entry:evidence.json"),
    ],
)
def test_a_failure_mid_pack_fails_run_and_pack_and_leaves_no_file(stack: Stack, faults: dict, reason: str) -> None:
    world = make_world(stack)
    run = wait_run(stack, start_with_faults(stack, world, "review_pack_generate", faults))
    pack = pack_of(stack, run.id)
    assert (run.outcome, run.failure_summary) == ("failed", reason)
    assert counts_of(run)["processed"] < counts_of(run)["total"] == 5
    assert (pack.status, pack.file_path) == ("failed", None)
    assert pack.error == f"Review pack generation failed: {reason}"
    # Files are review-pack-<id>-<token>.zip, temporaries .review-pack-<id>-<token>.tmp.
    leftovers = [
        p.name
        for p in (stack.instance_dir / "review_packs").iterdir()
        if p.name.lstrip(".").startswith(f"review-pack-{pack.id}-")
    ]
    assert leftovers == []


# ---------------------------------------------------------------- expiry and download


@pytest.fixture
def client_for(stack: Stack):
    """A Flask test client of a console on the stack's database and instance folder."""
    apps = []

    def make():
        app = create_app({**stack.settings_overrides(), "secret_key": "test-secret", "dispatcher": stack.dispatcher})
        apps.append(app)
        return app.server.test_client()

    yield make
    for app in apps:
        app.server.extensions["console.db"].dispose()


def test_download_streams_the_zip_to_authorized_users_only_and_410_once_expired(stack: Stack, client_for) -> None:
    world = make_world(stack)
    other = make_world(stack)  # a manager of another workspace: must not learn the pack exists
    with stack.db.session() as s:
        create_user(session=s, email=f"viewer.{world.tag}@x.example", password="long-enough-pw", name="V")
        grant_role(session=s, email=f"viewer.{world.tag}@x.example", workspace_id=world.workspace_id, role="viewer")
        grant_capabilities(
            session=s,
            email=f"viewer.{world.tag}@x.example",
            tenant_id=world.tenant_id,
            capabilities=["operations.view"],
        )
        queued = ReviewPack(tenant_id=world.tenant_id, status="queued", options={})
        s.add(queued)
        s.commit()
        queued_id = queued.id
    run = wait_run(stack, start(stack, world, "review_pack_generate"))
    pack = pack_of(stack, run.id)
    url = f"/review-packs/{pack.id}/download"

    anonymous = client_for()
    assert anonymous.get(url).status_code == 401

    owner = client_for()
    login(owner, world.email, "long-enough-pw")
    response = owner.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert (
        response.headers["Content-Disposition"] == f"attachment; filename=review-pack-tenant-{world.tag}-{pack.id}.zip"
    )
    assert response.data == Path(pack.file_path).read_bytes()
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["ETag"] == f'"{pack.sha256}"' and "private" in response.headers["Cache-Control"]
    assert owner.get(url, headers={"If-None-Match": f'"{pack.sha256}"'}).status_code == 304
    for bad in ("abc", "0", "-1", "1.0", "%2e%2e", "..%2F..%2Fconsole.db", "99999999", "1e3", str(2**63)):
        assert owner.get(f"/review-packs/{bad}/download").status_code == 404, bad
    assert owner.get(f"/review-packs/{queued_id}/download").status_code == 404  # not ready

    for email in (other.email, f"viewer.{world.tag}@x.example"):  # other workspace; no review_pack.view
        outsider = client_for()
        login(outsider, email, "long-enough-pw")
        assert outsider.get(url).status_code == 404

    # Expiry on the maintenance task: status expired, file removed, download 410.
    with stack.db.session() as s:
        s.execute(update(ReviewPack).where(ReviewPack.id == pack.id).values(expires_at=utcnow() - timedelta(minutes=1)))
        s.commit()
    stack.dispatcher.send("tasks.maintenance.expire_review_packs")
    wait_until(lambda: pack_of(stack, run.id).status == "expired", stack=stack, what="pack expiry")
    assert not Path(pack.file_path).exists()
    assert owner.get(url).status_code == 410
    assert load_run(stack, run.id).outcome == "succeeded"  # expiry does not rewrite history
