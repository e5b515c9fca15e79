"""One contract, every pack storage: the instance folder (default), a shared folder (file:///)
and S3 (s3://, against moto's real S3 HTTP server). Each backend must store a finished file
whole or not at all, stream it back, say whether it exists and how big it is, delete it, never
touch what is not its own, sweep orphan temporaries — and refuse bad settings at start."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from console.accounts.service import create_tenant, create_workspace
from console.config import ConfigError, load_settings
from console.db import Database, utcnow
from console.review_packs.models import ReviewPack
from console.review_packs.service import expire_packs
from console.review_packs.storage import (
    FolderStorage,
    InstanceFolderStorage,
    PackFileMissing,
    PackStorage,
    S3Storage,
    StorageError,
    build_storage,
    check_storage,
)
from tests.integration.s3server import AWS_ENV, S3Endpoint, free_port, s3_endpoint  # noqa: F401 - fixture

BACKENDS = ["instance", "folder", "s3"]


@dataclass
class Backend:
    kind: str
    storage: PackStorage
    listing: Callable[[], list[str]]  # names stored (no temporaries), however the backend keeps them
    leftovers: Callable[[], list[str]]  # temporary files and half-made objects (must stay empty)


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Iterator[Backend]:
    kind = request.param
    if kind == "instance":
        storage = build_storage(instance_dir=tmp_path / "instance", storage_url=None, s3_endpoint_url=None)
        root = tmp_path / "instance" / "review_packs"
        yield _folder_backend(kind, storage, root)
    elif kind == "folder":
        root = tmp_path / "shared"
        root.mkdir()
        storage = build_storage(instance_dir=tmp_path / "instance", storage_url=f"file://{root}", s3_endpoint_url=None)
        yield _folder_backend(kind, storage, root)
    else:
        s3: S3Endpoint = request.getfixturevalue("s3_endpoint")
        bucket = s3.new_bucket()
        storage = S3Storage(url=f"s3://{bucket}/packs/eu", endpoint_url=s3.url, staging=tmp_path / "staging")

        def listing() -> list[str]:
            return [k.rsplit("/", 1)[-1] for k in s3.keys(bucket)]

        def leftovers() -> list[str]:
            return [p.name for p in (tmp_path / "staging").glob("*")] + s3.open_multipart_uploads(bucket)

        yield Backend(kind, storage, listing, leftovers)


def _folder_backend(kind: str, storage: PackStorage, root: Path) -> Backend:
    def listing() -> list[str]:
        return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))

    def leftovers() -> list[str]:
        return sorted(p.name for p in root.iterdir() if p.name.startswith("."))

    return Backend(kind, storage, listing, leftovers)


def staged(storage: PackStorage, name: str, data: bytes) -> tuple[Path, int, str]:
    """A finished temporary pack file, as generation leaves it before ``save``."""
    path = storage.temp_path(name)
    path.write_bytes(data)
    return path, len(data), hashlib.sha256(data).hexdigest()


def read_all(storage: PackStorage, ref: str) -> bytes:
    stored = storage.open(ref)
    try:
        return b"".join(iter(lambda: stored.stream.read(1 << 16), b""))
    finally:
        stored.close()


def test_a_saved_file_streams_back_whole_and_exists_with_its_size(backend: Backend) -> None:
    storage = backend.storage
    data = os.urandom(300_000)
    tmp, size, sha = staged(storage, "review-pack-7-abcd.zip", data)
    ref = storage.save("review-pack-7-abcd.zip", tmp, size=size, sha256=sha)

    assert not tmp.exists()  # the temporary was consumed
    expected_ref = {
        "instance": str(storage.staging_dir() / "review-pack-7-abcd.zip"),
        "folder": f"{getattr(storage, 'url', '')}/review-pack-7-abcd.zip",
        "s3": f"{getattr(storage, 'url', '')}/review-pack-7-abcd.zip",
    }[backend.kind]
    assert ref == expected_ref
    assert read_all(storage, ref) == data
    stored = storage.open(ref)
    stored.close()
    assert (stored.size, storage.size(ref), storage.exists(ref)) == (size, size, True)
    assert stored.modified is not None and abs(stored.modified.timestamp() - time.time()) < 300
    assert backend.listing() == ["review-pack-7-abcd.zip"] and backend.leftovers() == []


def test_a_file_larger_than_one_part_is_stored_verified_with_no_upload_left_open(backend: Backend) -> None:
    storage = backend.storage
    data = os.urandom(20 * 1024 * 1024 + 123)  # S3: three parts of 8 MiB (multipart upload)
    tmp, size, sha = staged(storage, "review-pack-8-big.zip", data)
    ref = storage.save("review-pack-8-big.zip", tmp, size=size, sha256=sha)
    assert storage.size(ref) == size
    assert hashlib.sha256(read_all(storage, ref)).hexdigest() == sha
    assert backend.leftovers() == []


def test_a_save_that_does_not_verify_fails_and_leaves_nothing_behind(backend: Backend) -> None:
    storage = backend.storage
    tmp, size, sha = staged(storage, "review-pack-9-bad.zip", b"PK" + os.urandom(5000))
    with pytest.raises(StorageError, match="review pack"):
        storage.save("review-pack-9-bad.zip", tmp, size=size + 1, sha256=sha)
    assert not tmp.exists()
    assert backend.listing() == [] and backend.leftovers() == []


def test_delete_removes_the_file_once_and_then_it_is_missing(backend: Backend) -> None:
    storage = backend.storage
    tmp, size, sha = staged(storage, "review-pack-10-x.zip", b"zip bytes")
    ref = storage.save("review-pack-10-x.zip", tmp, size=size, sha256=sha)
    assert storage.delete(ref) is True
    assert storage.delete(ref) is False
    assert storage.exists(ref) is False
    with pytest.raises(PackFileMissing):
        storage.open(ref)
    with pytest.raises(PackFileMissing):
        storage.size(ref)
    assert backend.listing() == []


def test_refs_that_are_not_the_storages_own_are_never_read_or_deleted(backend: Backend, tmp_path) -> None:
    storage = backend.storage
    tmp, size, sha = staged(storage, "review-pack-11-y.zip", b"mine")
    ref = storage.save("review-pack-11-y.zip", tmp, size=size, sha256=sha)
    victim = tmp_path / "victim.zip"
    victim.write_bytes(b"not a pack")
    base = ref.rsplit("/", 1)[0]
    foreign = [
        str(victim),
        "/etc/passwd",
        f"{base}/../victim.zip",
        f"{base}/../../victim.zip",
        f"{base}/.review-pack-11-y.tmp",
        f"{base}/sub/review-pack-11-y.zip",
        "s3://another-bucket/review-pack-11-y.zip",
        "file:///etc/passwd",
        "review-pack-11-y.zip",
        "",
    ]
    for other in foreign:
        assert storage.owns(other) is False, other
        assert storage.exists(other) is False, other
        with pytest.raises(PackFileMissing):
            storage.open(other)
        with pytest.raises(PackFileMissing):
            storage.delete(other)
    assert victim.read_bytes() == b"not a pack" and storage.exists(ref)


def test_the_sweep_removes_only_temporaries_older_than_an_hour(backend: Backend) -> None:
    storage = backend.storage
    old = storage.temp_path("review-pack-12-old.zip")
    fresh = storage.temp_path("review-pack-13-new.zip")
    for path in (old, fresh):
        path.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    tmp, size, sha = staged(storage, "review-pack-14-z.zip", b"kept")
    ref = storage.save("review-pack-14-z.zip", tmp, size=size, sha256=sha)

    assert storage.sweep_temporaries() == 1
    assert not old.exists() and fresh.exists() and storage.exists(ref)
    fresh.unlink()


def test_check_accepts_a_usable_storage(backend: Backend) -> None:
    backend.storage.check()
    assert backend.leftovers() == []  # the write probe cleaned up after itself


# --------------------------------------------------------------------------- S3 failures on the wire


def test_an_upload_cut_off_mid_multipart_fails_and_leaves_no_object_and_no_open_upload(
    s3_endpoint: S3Endpoint,  # noqa: F811
    tmp_path,
) -> None:
    bucket = s3_endpoint.new_bucket()
    storage = S3Storage(url=f"s3://{bucket}/p", endpoint_url=s3_endpoint.url, staging=tmp_path / "staging")
    data = os.urandom(20 * 1024 * 1024)
    tmp, size, sha = staged(storage, "review-pack-20-cut.zip", data)
    # The second part never reaches the server (every retry is cut too): the upload must be aborted.
    s3_endpoint.proxy.refuse = re.compile(rb"PUT /" + bucket.encode() + rb"/\S*partNumber=2")
    try:
        with pytest.raises(StorageError, match=rf"review pack upload to s3://{bucket}/p failed"):
            storage.save("review-pack-20-cut.zip", tmp, size=size, sha256=sha)
    finally:
        s3_endpoint.proxy.refuse = None
    assert s3_endpoint.proxy.refused >= 1
    assert not tmp.exists()
    assert s3_endpoint.keys(bucket) == [] and s3_endpoint.open_multipart_uploads(bucket) == []


def test_a_storage_that_does_not_answer_is_a_storage_error_not_a_missing_file(
    s3_endpoint: S3Endpoint,  # noqa: F811
    tmp_path,
) -> None:
    bucket = s3_endpoint.new_bucket()
    storage = S3Storage(url=f"s3://{bucket}", endpoint_url=s3_endpoint.url, staging=tmp_path / "staging")
    tmp, size, sha = staged(storage, "review-pack-21-d.zip", b"data")
    ref = storage.save("review-pack-21-d.zip", tmp, size=size, sha256=sha)
    s3_endpoint.proxy.refuse = re.compile(rb"(GET|HEAD|DELETE) /" + bucket.encode() + rb"/")
    try:
        with pytest.raises(StorageError):
            storage.open(ref)
        with pytest.raises(StorageError):
            storage.delete(ref)
    finally:
        s3_endpoint.proxy.refuse = None
    assert storage.exists(ref)


# --------------------------------------------------------------------------- expiry's retry marker


class FlakyFolderStorage(FolderStorage):
    """A shared folder whose first delete fails (a volume hiccup)."""

    failures = 1

    def delete(self, ref: str) -> bool:
        if self.failures:
            self.failures -= 1
            raise StorageError("could not delete: volume busy")
        return super().delete(ref)


def test_expiry_keeps_the_file_marker_until_the_delete_succeeds_on_a_later_pass(database: Database, tmp_path) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    storage = FlakyFolderStorage(root, url=f"file://{root}")
    tmp, size, sha = staged(storage, "review-pack-30-e.zip", b"expiring")
    ref = storage.save("review-pack-30-e.zip", tmp, size=size, sha256=sha)
    foreign = str(tmp_path / "elsewhere.zip")  # written under another CONSOLE_STORAGE_URL
    (tmp_path / "elsewhere.zip").write_bytes(b"x")
    with database.session() as s:
        ws = create_workspace(session=s, name="W")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="T")
        past = utcnow() - timedelta(minutes=1)
        packs = [
            ReviewPack(tenant_id=tenant.id, status="ready", options={}, file_path=path, expires_at=past)
            for path in (ref, foreign)
        ]
        s.add_all(packs)
        s.commit()
        ids = [p.id for p in packs]

    def rows() -> list[tuple[str, str | None]]:
        with database.session() as s:
            return [
                (p.status, p.file_path)
                for p in s.scalars(select(ReviewPack).where(ReviewPack.id.in_(ids)).order_by(ReviewPack.id))
            ]

    with database.session() as s:
        first = expire_packs(session=s, now=utcnow(), storage=storage)
    assert (first.expired, first.delete_failed, first.files_deleted) == (ids, [ids[0]], 0)
    # The failed delete keeps its marker; the foreign ref can never be deleted here, so it is dropped.
    assert rows() == [("expired", ref), ("expired", None)] and storage.exists(ref)
    with database.session() as s:
        second = expire_packs(session=s, now=utcnow(), storage=storage)
    assert (second.expired, second.delete_failed, second.files_deleted) == ([], [], 1)
    assert rows() == [("expired", None), ("expired", None)] and not storage.exists(ref)
    assert (tmp_path / "elsewhere.zip").exists()  # never deleted from outside the storage


def test_a_delete_refused_by_s3_is_retried_on_the_next_expiry_pass(
    database: Database,
    s3_endpoint: S3Endpoint,  # noqa: F811
    tmp_path,
) -> None:
    bucket = s3_endpoint.new_bucket()
    storage = S3Storage(url=f"s3://{bucket}/packs", endpoint_url=s3_endpoint.url, staging=tmp_path / "staging")
    tmp, size, sha = staged(storage, "review-pack-31-s.zip", b"expiring on s3")
    ref = storage.save("review-pack-31-s.zip", tmp, size=size, sha256=sha)
    with database.session() as s:
        ws = create_workspace(session=s, name="W")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="T")
        pack = ReviewPack(
            tenant_id=tenant.id,
            status="ready",
            options={},
            file_path=ref,
            expires_at=utcnow() - timedelta(minutes=1),
        )
        s.add(pack)
        s.commit()
        pack_id = pack.id

    s3_endpoint.proxy.refuse = re.compile(rb"DELETE /" + bucket.encode() + rb"/")
    try:
        with database.session() as s:
            first = expire_packs(session=s, now=utcnow(), storage=storage)
    finally:
        s3_endpoint.proxy.refuse = None
    assert (first.expired, first.delete_failed) == ([pack_id], [pack_id])
    with database.session() as s:
        assert (s.get(ReviewPack, pack_id).status, s.get(ReviewPack, pack_id).file_path) == ("expired", ref)
    assert s3_endpoint.keys(bucket) == ["packs/review-pack-31-s.zip"]

    with database.session() as s:
        second = expire_packs(session=s, now=utcnow(), storage=storage)
    assert (second.expired, second.delete_failed, second.files_deleted) == ([], [], 1)
    with database.session() as s:
        assert s.get(ReviewPack, pack_id).file_path is None
    assert s3_endpoint.keys(bucket) == []


# --------------------------------------------------------------------------- bad settings stop at start


def settings_with(tmp_path: Path, **env: str):
    return load_settings({"instance_dir": tmp_path / "instance", "secret_key": "x"}, environ=env)


@pytest.mark.parametrize(
    "env,message",
    [
        ({"CONSOLE_STORAGE_URL": "ftp://host/packs"}, "CONSOLE_STORAGE_URL: unknown scheme 'ftp'"),
        ({"CONSOLE_STORAGE_URL": "/srv/packs"}, "CONSOLE_STORAGE_URL: unknown scheme '(none)'"),
        ({"CONSOLE_STORAGE_URL": "file://host/srv/packs"}, "CONSOLE_STORAGE_URL must be file:///absolute/path"),
        ({"CONSOLE_STORAGE_URL": "file:///"}, "CONSOLE_STORAGE_URL must name a folder"),
        ({"CONSOLE_STORAGE_URL": "s3://Bad_Bucket/x"}, "CONSOLE_STORAGE_URL must be s3://bucket"),
        ({"CONSOLE_STORAGE_URL": "s3://bucket/a/../b"}, "CONSOLE_STORAGE_URL: the prefix must be plain"),
        ({"CONSOLE_STORAGE_URL": "s3://AKIA:hunter2@bucket/x"}, "CONSOLE_STORAGE_URL must not contain credentials"),
        ({"CONSOLE_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}, "CONSOLE_S3_ENDPOINT_URL is set but"),
        (
            {"CONSOLE_STORAGE_URL": "s3://bucket", "CONSOLE_S3_ENDPOINT_URL": "minio:9000"},
            "CONSOLE_S3_ENDPOINT_URL must be http(s)://",
        ),
    ],
)
def test_malformed_storage_settings_are_refused_when_loaded(tmp_path, env, message) -> None:
    with pytest.raises(ConfigError) as info:
        settings_with(tmp_path, **env)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)
    assert "hunter2" not in str(info.value)


def test_storage_urls_are_normalized(tmp_path) -> None:
    assert settings_with(tmp_path).storage_url is None
    assert settings_with(tmp_path, CONSOLE_STORAGE_URL="file:///srv/packs/").storage_url == "file:///srv/packs"
    s3 = settings_with(tmp_path, CONSOLE_STORAGE_URL="s3://packs/eu/", CONSOLE_S3_ENDPOINT_URL="http://minio:9000/")
    assert (s3.storage_url, s3.s3_endpoint_url) == ("s3://packs/eu", "http://minio:9000")


def test_a_missing_or_unwritable_folder_stops_the_start(tmp_path) -> None:
    missing = settings_with(tmp_path, CONSOLE_STORAGE_URL=f"file://{tmp_path}/not-mounted")
    with pytest.raises(ConfigError, match=r"^CONSOLE_STORAGE_URL: folder .*not-mounted does not exist"):
        check_storage(missing)
    assert not (tmp_path / "not-mounted").exists()  # never created: an unmounted volume stays visible
    if os.geteuid() == 0:
        readonly = Path("/sys")  # root may write anywhere a mode allows; sysfs refuses new files
    else:
        readonly = tmp_path / "readonly"
        readonly.mkdir(mode=0o500)
    with pytest.raises(ConfigError, match=rf"^CONSOLE_STORAGE_URL: folder {readonly} is not writable"):
        check_storage(settings_with(tmp_path, CONSOLE_STORAGE_URL=f"file://{readonly}"))


def test_a_bucket_that_does_not_exist_stops_the_start(s3_endpoint: S3Endpoint, tmp_path) -> None:  # noqa: F811
    settings = settings_with(
        tmp_path, CONSOLE_STORAGE_URL="s3://no-such-bucket-here/packs", CONSOLE_S3_ENDPOINT_URL=s3_endpoint.url
    )
    with pytest.raises(ConfigError) as info:
        check_storage(settings)
    assert str(info.value) == (
        "CONSOLE_STORAGE_URL=s3://no-such-bucket-here/packs: bucket 'no-such-bucket-here' does not exist"
    )


def test_missing_credentials_stop_the_start(s3_endpoint: S3Endpoint, tmp_path, monkeypatch) -> None:  # noqa: F811
    bucket = s3_endpoint.new_bucket()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    settings = settings_with(tmp_path, CONSOLE_STORAGE_URL=f"s3://{bucket}", CONSOLE_S3_ENDPOINT_URL=s3_endpoint.url)
    with pytest.raises(ConfigError) as info:
        check_storage(settings)
    assert str(info.value) == (
        f"CONSOLE_STORAGE_URL=s3://{bucket}: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    )


def test_no_keys_and_no_instance_role_stop_the_start(s3_endpoint: S3Endpoint, tmp_path, monkeypatch) -> None:  # noqa: F811
    """Without keys the client asks the instance metadata service; one that gives nothing is "no credentials"."""
    bucket = s3_endpoint.new_bucket()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    monkeypatch.setenv("AWS_METADATA_ENDPOINT", f"http://127.0.0.1:{free_port()}")  # nothing listens: no role
    settings = settings_with(tmp_path, CONSOLE_STORAGE_URL=f"s3://{bucket}", CONSOLE_S3_ENDPOINT_URL=s3_endpoint.url)
    with pytest.raises(ConfigError) as info:
        check_storage(settings)
    assert str(info.value) == (
        f"CONSOLE_STORAGE_URL=s3://{bucket}: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    )


def test_a_profile_without_keys_stops_the_start_naming_it(s3_endpoint: S3Endpoint, tmp_path, monkeypatch) -> None:  # noqa: F811
    """obstore reads no AWS profile files: AWS_PROFILE alone must not fall through to an instance role."""
    bucket = s3_endpoint.new_bucket()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "false")
    monkeypatch.setenv("AWS_PROFILE", "ops")
    settings = settings_with(tmp_path, CONSOLE_STORAGE_URL=f"s3://{bucket}", CONSOLE_S3_ENDPOINT_URL=s3_endpoint.url)
    with pytest.raises(ConfigError) as info:
        check_storage(settings)
    assert str(info.value) == (
        f"CONSOLE_STORAGE_URL=s3://{bucket}: AWS_PROFILE is not read; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
    )


def test_an_endpoint_that_does_not_answer_stops_the_start(tmp_path, monkeypatch) -> None:
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    port = free_port()  # bound, then closed: nothing listens there
    settings = settings_with(
        tmp_path, CONSOLE_STORAGE_URL="s3://packs", CONSOLE_S3_ENDPOINT_URL=f"http://127.0.0.1:{port}"
    )
    with pytest.raises(ConfigError) as info:
        check_storage(settings)
    assert str(info.value) == f"CONSOLE_S3_ENDPOINT_URL=http://127.0.0.1:{port}: cannot connect to the S3 endpoint"


def test_the_default_instance_folder_is_checked_and_created(tmp_path) -> None:
    settings = settings_with(tmp_path)
    check_storage(settings)
    storage = build_storage(instance_dir=settings.instance_dir, storage_url=None, s3_endpoint_url=None)
    assert isinstance(storage, InstanceFolderStorage)
    assert storage.staging_dir() == settings.instance_dir / "review_packs" and storage.staging_dir().is_dir()
    assert list(storage.staging_dir().iterdir()) == []


def test_a_pack_name_must_be_plain(tmp_path) -> None:
    storage = InstanceFolderStorage(tmp_path / "instance")
    tmp = storage.temp_path("x.zip")
    for bad in ("../x.zip", "a/b.zip", ".hidden.zip", ""):
        tmp.write_bytes(b"x")
        with pytest.raises(ValueError):
            storage.save(bad, tmp, size=1, sha256=secrets.token_hex(32))
        assert not tmp.exists()  # consumed even when refused
