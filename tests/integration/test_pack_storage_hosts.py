"""Several hosts: a web process (instance folder A) and a real worker process (instance folder B)
share only the database, the broker, the secret and the pack storage — a shared folder
(``file:///``) or S3 (moto's real S3 HTTP server). A pack the worker writes downloads from the web
process; expiry run with B's settings removes it; a missing file is a 404 and an audit event; a
storage failure fails the run with a clear summary; and no pack file is ever left in an instance
folder (or in a worker's staging folder)."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from console.app import create_app
from console.audit.models import AuditEvent
from console.db import utcnow
from console.operations.service import counts_of
from console.review_packs.models import ReviewPack
from console.review_packs.service import AUDIT_FILE_MISSING
from console.review_packs.storage import PackStorage, build_storage
from tests.integration.s3server import S3Endpoint, s3_endpoint  # noqa: F401 - fixture
from tests.integration.worker import Stack, make_world, open_stack, start, start_with_faults, wait_run, wait_until
from tests.support.db import BROKER_URL, PG_URL
from tests.support.web import login

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

# SQLite + the embedded broker always; PostgreSQL + Redis when CI provides them.
PAIRS = [("sqlite", "embedded")] + ([("postgresql", "redis")] if PG_URL and BROKER_URL else [])
PARAMS = [(db, broker, kind) for db, broker in PAIRS for kind in ("folder", "s3")]


@dataclass
class Hosts:
    kind: str
    stack: Stack  # host B: the worker (and beat's tasks) with instance folder B
    web_instance: Path  # host A
    worker_tmp: Path  # host B's TMPDIR (where S3 packs are staged)
    storage_url: str
    endpoint_url: str | None
    storage: PackStorage  # the test's own view of the shared storage
    s3: S3Endpoint | None
    bucket: str | None
    shared: Path | None

    def web(self):
        """A test client of a web process on host A (its own instance folder)."""
        app = create_app(
            {
                "instance_dir": self.web_instance,
                "database_url": self.stack.database_url,
                "broker_url": self.stack.broker_url,
                "secret_key": "test-secret",
                "storage_url": self.storage_url,
                "s3_endpoint_url": self.endpoint_url,
                "dispatcher": self.stack.dispatcher,
            }
        )
        return app

    def stored_names(self) -> list[str]:
        if self.s3 is not None:
            return [key.rsplit("/", 1)[-1] for key in self.s3.keys(self.bucket)]
        return sorted(p.name for p in self.shared.iterdir())

    def pack_files_in_instance_folders(self) -> list[str]:
        found = []
        for folder in (self.web_instance, self.stack.instance_dir, self.worker_tmp):
            found += [str(p) for p in folder.rglob("*") if "review-pack" in p.name]
        return found


@pytest.fixture(scope="module", params=PARAMS, ids=[f"{d}-{b}-{k}" for d, b, k in PARAMS])
def hosts(request, tmp_path_factory) -> Iterator[Hosts]:
    backend, broker, kind = request.param
    tmp = tmp_path_factory.mktemp(f"hosts-{backend}-{broker}-{kind}")
    worker_tmp = tmp / "host-b-tmp"
    worker_tmp.mkdir()
    web_instance = tmp / "host-a-instance"
    web_instance.mkdir()
    s3, bucket, shared, endpoint = None, None, None, None
    if kind == "s3":
        s3 = request.getfixturevalue("s3_endpoint")
        bucket = s3.new_bucket()
        url, endpoint = f"s3://{bucket}/review-packs", s3.url
    else:
        shared = tmp / "shared-volume"
        shared.mkdir()
        url = f"file://{shared}"
    env = {"CONSOLE_STORAGE_URL": url, "TMPDIR": str(worker_tmp)}
    if endpoint:
        env["CONSOLE_S3_ENDPOINT_URL"] = endpoint
    host_b = tmp / "host-b"
    host_b.mkdir()
    storage = build_storage(instance_dir=tmp / "test-instance", storage_url=url, s3_endpoint_url=endpoint)
    for stack in open_stack(backend, broker, host_b, env):
        yield Hosts(kind, stack, web_instance, worker_tmp, url, endpoint, storage, s3, bucket, shared)


@pytest.fixture
def web(hosts: Hosts):
    apps = []

    def make():
        app = hosts.web()
        apps.append(app)
        return app.server.test_client()

    yield make
    for app in apps:
        app.server.extensions["console.db"].dispose()


def pack_of(stack: Stack, run_id: int) -> ReviewPack:
    with stack.db.session() as s:
        pack = s.scalar(select(ReviewPack).where(ReviewPack.operation_run_id == run_id))
        s.expunge(pack)
        return pack


def read_stored(storage: PackStorage, ref: str) -> bytes:
    stored = storage.open(ref)
    try:
        return stored.stream.read()
    finally:
        stored.close()


def test_a_pack_written_by_the_worker_downloads_from_the_web_process_on_another_host(hosts: Hosts, web) -> None:
    world = make_world(hosts.stack)
    run = wait_run(hosts.stack, start(hosts.stack, world, "review_pack_generate"))
    pack = pack_of(hosts.stack, run.id)
    assert (run.outcome, pack.status) == ("succeeded", "ready"), run.failure_summary
    assert re.fullmatch(re.escape(hosts.storage_url) + rf"/review-pack-{pack.id}-[0-9a-f]{{8}}\.zip", pack.file_path)
    raw = read_stored(hosts.storage, pack.file_path)
    assert (pack.size, pack.sha256) == (len(raw), hashlib.sha256(raw).hexdigest())
    assert hosts.stored_names() == [pack.file_path.rsplit("/", 1)[-1]]

    client = web()
    login(client, world.email, "long-enough-pw")
    url = f"/review-packs/{pack.id}/download"
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.data == raw
    assert response.headers["Content-Length"] == str(len(raw))
    assert (
        response.headers["Content-Disposition"] == f"attachment; filename=review-pack-tenant-{world.tag}-{pack.id}.zip"
    )
    assert response.headers["ETag"] == f'"{pack.sha256}"' and response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["X-Content-Type-Options"] == "nosniff" and "Last-Modified" in response.headers
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        assert len(archive.infolist()) == counts_of(run)["total"] == 5
    assert client.get(url, headers={"If-None-Match": f'"{pack.sha256}"'}).status_code == 304
    ranged = client.get(url, headers={"Range": "bytes=0-9"})
    assert ranged.status_code == 206 and ranged.data == raw[:10]
    # Storage elsewhere: nothing in either instance folder, nothing staged on the worker.
    assert hosts.pack_files_in_instance_folders() == []


def test_a_missing_file_is_the_friendly_404_and_an_audit_event(hosts: Hosts, web) -> None:
    world = make_world(hosts.stack)
    run = wait_run(hosts.stack, start(hosts.stack, world, "review_pack_generate"))
    pack = pack_of(hosts.stack, run.id)
    assert hosts.storage.delete(pack.file_path) is True  # lost behind the console's back

    client = web()
    login(client, world.email, "long-enough-pw")
    response = client.get(f"/review-packs/{pack.id}/download")
    assert (response.status_code, response.json) == (404, {"error": "not found"})
    with hosts.stack.db.session() as s:
        events = s.scalars(
            select(AuditEvent).where(AuditEvent.action == AUDIT_FILE_MISSING, AuditEvent.target_id == pack.id)
        ).all()
        assert [(e.user_id, e.tenant_id, e.workspace_id, e.details) for e in events] == [
            (world.user_id, world.tenant_id, world.workspace_id, {"reason": "missing"})
        ]


def test_expiry_with_the_worker_hosts_settings_removes_the_file_wherever_it_lives(hosts: Hosts, web) -> None:
    world = make_world(hosts.stack)
    run = wait_run(hosts.stack, start(hosts.stack, world, "review_pack_generate"))
    pack = pack_of(hosts.stack, run.id)
    assert hosts.storage.exists(pack.file_path)
    with hosts.stack.db.session() as s:
        s.execute(update(ReviewPack).where(ReviewPack.id == pack.id).values(expires_at=utcnow() - timedelta(minutes=1)))
        s.commit()

    hosts.stack.dispatcher.send("tasks.maintenance.expire_review_packs")
    wait_until(
        lambda: (lambda p: p.status == "expired" and p.file_path is None)(pack_of(hosts.stack, run.id)),
        stack=hosts.stack,
        what="expiry to remove the pack's file",
    )
    assert not hosts.storage.exists(pack.file_path)
    assert pack.file_path.rsplit("/", 1)[-1] not in hosts.stored_names()
    client = web()
    login(client, world.email, "long-enough-pw")
    assert client.get(f"/review-packs/{pack.id}/download").status_code == 410


def test_a_storage_failure_fails_the_run_with_a_clear_summary_and_leaves_nothing(hosts: Hosts) -> None:
    world = make_world(hosts.stack)
    before = hosts.stored_names()
    if hosts.kind == "s3":
        # Every upload to the bucket is cut on the wire (the client's retries included).
        hosts.s3.proxy.refuse = re.compile(rb"(PUT|POST) /" + hosts.bucket.encode() + rb"/review-packs/")
        expected = f"StorageError: review pack upload to {hosts.storage_url} failed: the S3 endpoint did not answer"
    else:
        # The shared volume is not mounted on the worker's host.
        hosts.shared.rename(hosts.shared.with_name("unmounted"))
        expected = f"StorageError: pack folder {hosts.storage_url} does not exist (is the volume mounted?)"
    try:
        run = wait_run(hosts.stack, start(hosts.stack, world, "review_pack_generate"))
    finally:
        if hosts.kind == "s3":
            hosts.s3.proxy.refuse = None
        else:
            hosts.shared.with_name("unmounted").rename(hosts.shared)
    pack = pack_of(hosts.stack, run.id)
    assert run.outcome == "failed" and run.failure_summary.startswith(expected), run.failure_summary
    assert (pack.status, pack.file_path) == ("failed", None)
    assert pack.error == f"Review pack generation failed: {run.failure_summary}"
    assert hosts.stored_names() == before
    if hosts.s3 is not None:
        assert hosts.s3.open_multipart_uploads(hosts.bucket) == []
    assert hosts.pack_files_in_instance_folders() == []


def test_a_failure_mid_pack_leaves_no_file_in_the_storage_or_any_instance_folder(hosts: Hosts) -> None:
    world = make_world(hosts.stack)
    before = hosts.stored_names()
    run = wait_run(
        hosts.stack,
        start_with_faults(hosts.stack, world, "review_pack_generate", {"fail_units": ["entry:evidence.json"]}),
    )
    assert run.outcome == "failed" and "entry:evidence.json" in run.failure_summary
    assert pack_of(hosts.stack, run.id).status == "failed"
    assert hosts.stored_names() == before
    assert hosts.pack_files_in_instance_folders() == []
