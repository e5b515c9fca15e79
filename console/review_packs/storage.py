"""Where review pack files live: one small interface, three backends, chosen by CONSOLE_STORAGE_URL.

Modelled on Django's ``Storage`` API (save, open, delete, exists, size), cut to what a pack needs:

* ``InstanceFolderStorage`` — unset: ``<instance>/review_packs/`` (the single-host default; the
  row's ``file_path`` is the file's absolute path, as it always was).
* ``FolderStorage`` — ``file:///path``: a folder that must already exist (a shared volume: a
  missing mount must not be papered over by writing to the local disk). ``file_path`` holds
  ``file:///path/<name>``, the same on every host.
* ``S3Storage`` — ``s3://bucket/prefix`` through obstore (``CONSOLE_S3_ENDPOINT_URL`` for MinIO,
  Ceph, R2…; credentials from the standard ``AWS_*`` variables; docs/architecture.md says why
  obstore and not boto3). ``file_path`` holds
  ``s3://bucket/prefix/<name>``.

A pack is built in a temporary file ``.review-pack-*.tmp`` in ``staging_dir()`` (the folder itself
for the folder backends, so the final rename is atomic; a local temporary folder for S3) and
handed to ``save``, which stores it whole or not at all: it renames (folders) or uploads and then
verifies the object's size and sha256 (S3), and on any failure removes what it wrote. ``save``
always consumes the temporary file. Readers only ever serve a plain name inside their own
folder/prefix, whatever a row says.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from console.config import ConfigError, Settings
from console.errors import NotFound, Unavailable

log = logging.getLogger(__name__)

PACKS_SUBDIR = "review_packs"
TEMP_PREFIX = ".review-pack-"
TEMP_SUFFIX = ".tmp"
#: A temporary pack file untouched for this long belongs to a worker that died: the sweep removes it.
ORPHAN_TEMP_SECONDS = 3600
#: S3 multipart: parts of this size, this many in flight — bounds the uploader's memory (~32 MB).
S3_PART_BYTES = 5 * 1024 * 1024
S3_CONCURRENCY = 1
#: Downloads read the object in pieces of this size (never the whole object).
S3_READ_BYTES = 256 * 1024
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._\-]{0,200}$")


class StorageError(Unavailable):
    """The pack storage failed to do what was asked (upload, read, delete): try again later."""


class PackFileMissing(NotFound):
    """No stored file behind this reference (removed, never written, or not this storage's)."""


@dataclass
class StoredFile:
    """An open stored pack: read ``stream`` in chunks, then close it."""

    stream: IO[bytes]
    size: int
    modified: datetime | None

    def close(self) -> None:
        self.stream.close()


def temp_name(name: str) -> str:
    """``review-pack-1-ab.zip`` -> ``.review-pack-1-ab.tmp`` (what the sweep recognizes)."""
    stem = name[: -len(".zip")] if name.endswith(".zip") else name
    return f".{stem}{TEMP_SUFFIX}"


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def sweep_folder(folder: Path, *, older_than: float, now: float | None = None, pack_id: int | None = None) -> int:
    """Remove ``.review-pack-*.tmp`` files in ``folder`` untouched for ``older_than`` seconds
    (``pack_id``: only that pack's, ``.review-pack-<id>-*.tmp``)."""
    if not folder.is_dir():
        return 0
    cutoff = (time.time() if now is None else now) - older_than
    removed = 0
    pattern = f"{TEMP_PREFIX}{pack_id}-*{TEMP_SUFFIX}" if pack_id is not None else f"{TEMP_PREFIX}*{TEMP_SUFFIX}"
    for path in folder.glob(pattern):
        try:
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # its writer finished (or another sweep won) meanwhile
        except OSError as exc:
            log.warning("event=review_pack_temp_sweep_failed file=%s error=%s", path.name, type(exc).__name__)
    if removed:
        log.info("event=review_pack_temp_swept folder=%s removed=%s", folder, removed)
    return removed


class PackStorage(ABC):
    """Where finished pack files are kept. ``ref``: what the pack row's ``file_path`` holds."""

    #: For logs, errors and the docs: the location without credentials.
    description: str

    @abstractmethod
    def staging_dir(self) -> Path:
        """The local folder temporary pack files are built in (created on demand)."""

    @abstractmethod
    def _staging_path(self) -> Path:
        """Where ``staging_dir`` is, without creating or checking it."""

    def temp_path(self, name: str) -> Path:
        return self.staging_dir() / temp_name(name)

    @abstractmethod
    def save(self, name: str, source: Path, *, size: int, sha256: str) -> str:
        """Store the finished file ``source`` as ``name`` atomically and verified; its ref.

        ``source`` is consumed (moved or deleted) whether or not the save succeeds; on failure
        nothing of ``name`` is left behind and StorageError says why."""

    @abstractmethod
    def open(self, ref: str) -> StoredFile:
        """The stored file, open for streaming; PackFileMissing, StorageError."""

    @abstractmethod
    def exists(self, ref: str) -> bool: ...

    @abstractmethod
    def size(self, ref: str) -> int:
        """The stored file's size in bytes; PackFileMissing."""

    @abstractmethod
    def delete(self, ref: str) -> bool:
        """Remove the stored file: True if it went, False if it was not there.

        PackFileMissing for a ref this storage does not own (never deletable here);
        StorageError when the delete failed (try again later)."""

    def owns(self, ref: str) -> bool:
        try:
            self._name(ref)
        except PackFileMissing:
            return False
        return True

    @abstractmethod
    def _name(self, ref: str) -> str:
        """The plain file name a ref points to in this storage; PackFileMissing if it is not ours."""

    def sweep_temporaries(self, *, older_than: float = ORPHAN_TEMP_SECONDS, now: float | None = None) -> int:
        """Remove orphan temporary pack files (of workers that died) from the staging folder."""
        # Never creates or insists on the folder: a sweep must not fail what it tidies after.
        return sweep_folder(self._staging_path(), older_than=older_than, now=now)

    def discard_temporaries(self, pack_id: int) -> int:
        """Remove the temporary files of one pack whose run failed (its writer is gone or stopping:
        a live writer unlinks its own file in ``finally`` and tolerates it being gone)."""
        return sweep_folder(self._staging_path(), older_than=0, pack_id=pack_id)

    @abstractmethod
    def check(self) -> None:
        """Prove the storage usable (exists, writable, reachable): ConfigError naming the setting."""

    def _check_staging(self, setting: str) -> None:
        folder = self._staging_path()
        try:
            self.staging_dir()
            probe = folder / f"{TEMP_PREFIX}check-{secrets.token_hex(4)}{TEMP_SUFFIX}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"{setting}: folder {folder} is not writable ({exc.strerror or exc})") from exc


# --------------------------------------------------------------------------- folders


class FolderStorage(PackStorage):
    """Pack files in a folder that exists already (``file:///path``, e.g. a shared volume)."""

    setting = "CONSOLE_STORAGE_URL"

    def __init__(self, root: Path, *, url: str | None) -> None:
        self.root = Path(root)
        self.url = url  # None: refs are absolute paths (the instance folder's historical form)
        self.description = url or str(self.root)

    def _staging_path(self) -> Path:
        return self.root

    def staging_dir(self) -> Path:
        # A missing folder is an unmounted volume: never "no file", never written around.
        if not self.root.is_dir():
            raise StorageError(f"pack folder {self.description} does not exist (is the volume mounted?)")
        return self.root

    def ref(self, name: str) -> str:
        return f"{self.url}/{name}" if self.url else str(self.root.resolve() / name)

    def _name(self, ref: str) -> str:
        if self.url is not None:
            if not ref.startswith(self.url + "/"):
                raise PackFileMissing("not a file of this storage")
            name = ref[len(self.url) + 1 :]
        else:
            candidate = Path(ref)
            if not candidate.is_absolute():
                raise PackFileMissing("not a file of this storage")
            name = candidate.name
            if candidate.parent.resolve() != self.root.resolve():
                raise PackFileMissing("not a file of this storage")
        if not _PLAIN_NAME.match(name):
            raise PackFileMissing("not a pack file name")
        return name

    def _path(self, ref: str) -> Path:
        path = self.staging_dir() / self._name(ref)
        # A symlink inside the folder pointing elsewhere is not ours either.
        if path.resolve().parent != self.root.resolve():
            raise PackFileMissing("not a file of this storage")
        return path

    def save(self, name: str, source: Path, *, size: int, sha256: str) -> str:
        target = self.root / name
        staged = source
        try:
            if not _PLAIN_NAME.match(name):
                raise ValueError(f"not a plain pack file name: {name!r}")
            if source.parent.resolve() != self.root.resolve():
                # Built elsewhere: copy next to the target first, so the rename stays atomic.
                staged = self.temp_path(name)
                shutil.copyfile(source, staged)
            if staged.stat().st_size != size:
                raise StorageError(f"review pack file in {self.description} has the wrong size")
            os.replace(staged, target)
            return self.ref(name)
        except OSError as exc:
            raise StorageError(f"could not store the review pack in {self.description}: {exc.strerror or exc}") from exc
        finally:
            staged.unlink(missing_ok=True)
            source.unlink(missing_ok=True)

    def open(self, ref: str) -> StoredFile:
        path = self._path(ref)
        try:
            fh = path.open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise PackFileMissing("review pack file missing") from exc
        except OSError as exc:
            raise StorageError(f"cannot read from {self.description}: {exc.strerror or exc}") from exc
        st = os.fstat(fh.fileno())
        return StoredFile(stream=fh, size=st.st_size, modified=datetime.fromtimestamp(st.st_mtime, tz=UTC))

    def exists(self, ref: str) -> bool:
        try:
            return self._path(ref).is_file()
        except PackFileMissing:
            return False

    def size(self, ref: str) -> int:
        try:
            return self._path(ref).stat().st_size
        except FileNotFoundError as exc:
            raise PackFileMissing("review pack file missing") from exc

    def delete(self, ref: str) -> bool:
        path = self._path(ref)
        try:
            path.unlink()
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"could not delete from {self.description}: {exc.strerror or exc}") from exc

    def check(self) -> None:
        if not self.root.is_dir():
            raise ConfigError(f"{self.setting}: folder {self.root} does not exist (create it or mount the volume)")
        self._check_staging(self.setting)


class InstanceFolderStorage(FolderStorage):
    """The default: ``<instance>/review_packs/``, created on demand; refs are absolute paths."""

    def __init__(self, instance_dir: Path) -> None:
        super().__init__(Path(instance_dir).resolve() / PACKS_SUBDIR, url=None)
        self.description = f"the instance folder ({self.root})"

    def staging_dir(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root

    def check(self) -> None:
        try:
            self.staging_dir()
        except OSError as exc:
            raise ConfigError(f"CONSOLE_INSTANCE_DIR: cannot create {self.root} ({exc.strerror or exc})") from exc
        self._check_staging("CONSOLE_INSTANCE_DIR")


# --------------------------------------------------------------------------- S3

#: What the S3 client logs and errors look like when nothing answers (connection refused, reset,
#: timed out): obstore (Rust's reqwest underneath) says so only in the message.
_NO_ANSWER = re.compile(
    r"error sending request|connection (refused|reset|closed)|operation timed out|deadline has elapsed|dns error",
    re.I,
)
_S3_CODE = re.compile(r"<Code>([A-Za-z0-9.]+)</Code>")
#: A credential look-up that failed: the words, or a request to the EC2 instance metadata service
#: (IMDS paths) or the ECS container endpoint, which obstore asks when no keys are set.
_CREDENTIAL_TROUBLE = re.compile(r"credential|/latest/api/token|/latest/meta-data/|169\.254\.170\.2", re.I)
#: Where obstore (object_store) finds credentials besides the key pair: a web identity (EKS),
#: the container endpoint (ECS), or the instance metadata service (EC2, unless disabled).
_OTHER_CREDENTIAL_SOURCES = (
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)
_NO_CREDENTIALS = "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"


def _reason(exc: BaseException) -> str:
    """A short, secret-free reason: the S3 error code, or what kind of connection trouble."""
    text = str(exc)
    code = next(iter(_S3_CODE.findall(text)), "")
    if code:
        return code
    if _is_missing(exc):
        return "NoSuchKey"
    if _NO_ANSWER.search(text):
        return f"the S3 endpoint did not answer ({type(exc).__name__})"
    return type(exc).__name__


def _is_missing(exc: BaseException) -> bool:
    from obstore.exceptions import NotFoundError

    # obstore raises Python's FileNotFoundError for a missing object.
    return isinstance(exc, (FileNotFoundError, NotFoundError))


class _ObjectStream(io.RawIOBase):
    """An S3 object's body as a readable file (what ``StoredFile.stream`` promises): chunks are
    pulled from obstore's stream as they are read, never the whole object."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks: Iterator[bytes] | None = chunks
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        while not self._pending and self._chunks is not None:
            try:
                self._pending = memoryview(next(self._chunks))
            except StopIteration:
                self._chunks = None
            except Exception as exc:
                raise StorageError(f"reading the review pack object failed: {_reason(exc)}") from exc
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        # Dropping obstore's stream closes its connection: a client that went away stops the read.
        self._chunks = None
        self._pending = memoryview(b"")
        super().close()


class S3Storage(PackStorage):
    """Pack objects under ``s3://bucket/prefix`` (obstore; multipart above one part's size)."""

    def __init__(self, *, url: str, endpoint_url: str | None, staging: Path | None = None) -> None:
        parts = urlsplit(url)
        self.url = url.rstrip("/")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.endpoint_url = endpoint_url
        self.description = self.url
        self._staging = staging or Path(tempfile.gettempdir()) / "tenant-console-packs"
        self._lock = threading.Lock()
        self._store: Any = None

    @property
    def store(self) -> Any:
        """One obstore S3 store per storage (thread-safe; holds the connection pool)."""
        with self._lock:
            if self._store is None:
                from datetime import timedelta

                from obstore.store import S3Store

                # One object per delete: a plain DELETE works on every S3-compatible store (the bulk
                # DeleteObjects POST does not, e.g. Alibaba OSS) and answers for that object alone.
                config: dict[str, Any] = {"disable_bulk_delete": True}
                if self.endpoint_url:
                    # A custom endpoint (MinIO, Ceph, a test server) rarely resolves bucket subdomains.
                    config |= {"endpoint": self.endpoint_url, "virtual_hosted_style_request": False}
                else:
                    config |= {"virtual_hosted_style_request": True}
                self._store = S3Store(
                    self.bucket,
                    config=config,
                    client_options={
                        "allow_http": bool(self.endpoint_url and self.endpoint_url.startswith("http://")),
                        "connect_timeout": "5s",
                        "timeout": "60s",
                    },
                    retry_config={
                        "max_retries": 3,
                        "retry_timeout": timedelta(seconds=30),
                        "backoff": {
                            "init_backoff": timedelta(milliseconds=100),
                            "max_backoff": timedelta(seconds=5),
                            "base": 2,
                        },
                    },
                )
            return self._store

    def _staging_path(self) -> Path:
        return self._staging

    def staging_dir(self) -> Path:
        self._staging.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self._staging

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _name(self, ref: str) -> str:
        if not ref.startswith(self.url + "/"):
            raise PackFileMissing("not an object of this storage")
        name = ref[len(self.url) + 1 :]
        if not _PLAIN_NAME.match(name):
            raise PackFileMissing("not a pack object name")
        return name

    def save(self, name: str, source: Path, *, size: int, sha256: str) -> str:
        import obstore

        if not _PLAIN_NAME.match(name):
            source.unlink(missing_ok=True)
            raise ValueError(f"not a plain pack object name: {name!r}")
        key = self.key(name)
        try:
            # Multipart above one part (S3_PART_BYTES), at most S3_CONCURRENCY parts in flight;
            # obstore aborts the multipart upload when a part fails for good.
            obstore.put(
                self.store,
                key,
                source,
                attributes={"Content-Type": "application/zip", "sha256": sha256},
                chunk_size=S3_PART_BYTES,
                max_concurrency=S3_CONCURRENCY,
            )
            stored_size, stored_sha = self._stored_digest(key)
            if stored_size != size or stored_sha != sha256:
                raise StorageError(
                    f"review pack upload to {self.description} did not verify "
                    f"(stored {stored_size} bytes, expected {size})"
                )
            return f"{self.url}/{name}"
        except BaseException as exc:
            self._remove_quietly(key)
            if isinstance(exc, StorageError) or not isinstance(exc, Exception):
                raise
            raise StorageError(f"review pack upload to {self.description} failed: {_reason(exc)}") from exc
        finally:
            source.unlink(missing_ok=True)

    def _stored_digest(self, key: str) -> tuple[int, str | None]:
        """(size, sha256 metadata) of a stored object, from a HEAD request (no body)."""
        import obstore

        result = obstore.get(self.store, key, options={"head": True})
        return int(result.meta["size"]), result.attributes.get("sha256")

    def _remove_quietly(self, key: str) -> None:
        """Nothing half-made: remove whatever the failed save may have left (a no-op if nothing)."""
        import obstore

        try:
            obstore.delete(self.store, key)
        except Exception as exc:
            log.error("event=review_pack_object_cleanup_failed key=%s error=%s", key, _reason(exc))

    def _head(self, ref: str) -> dict[str, Any] | None:
        import obstore

        try:
            return dict(obstore.head(self.store, self.key(self._name(ref))))
        except PackFileMissing:
            raise
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise StorageError(f"cannot read from {self.description}: {_reason(exc)}") from exc

    def open(self, ref: str) -> StoredFile:
        import obstore

        key = self.key(self._name(ref))
        try:
            result = obstore.get(self.store, key)
        except Exception as exc:
            if _is_missing(exc):
                raise PackFileMissing("review pack object missing") from exc
            raise StorageError(f"cannot read from {self.description}: {_reason(exc)}") from exc
        meta = result.meta
        # 1 MiB pieces (the download route's block size), not obstore's default 10 MiB.
        stream = _ObjectStream(iter(result.stream(min_chunk_size=S3_READ_BYTES)))
        return StoredFile(stream=stream, size=int(meta["size"]), modified=meta.get("last_modified"))

    def exists(self, ref: str) -> bool:
        try:
            return self._head(ref) is not None
        except PackFileMissing:
            return False

    def size(self, ref: str) -> int:
        head = self._head(ref)
        if head is None:
            raise PackFileMissing("review pack object missing")
        return int(head["size"])

    def delete(self, ref: str) -> bool:
        import obstore

        if self._head(ref) is None:
            return False
        try:
            obstore.delete(self.store, self.key(self._name(ref)))
        except Exception as exc:
            raise StorageError(f"could not delete from {self.description}: {_reason(exc)}") from exc
        return True

    def check(self) -> None:
        import obstore

        where = f"CONSOLE_STORAGE_URL={self.url}"
        if not _credentials_configured():
            raise ConfigError(f"{where}: {_NO_CREDENTIALS}")
        if os.environ.get("AWS_PROFILE") and not os.environ.get("AWS_ACCESS_KEY_ID"):
            # boto3 read profiles; obstore does not: say so rather than fall through to the instance role.
            raise ConfigError(
                f"{where}: AWS_PROFILE is not read; {_NO_CREDENTIALS[len('no AWS credentials found (') : -1]}"
            )
        # No "does the bucket exist" call in obstore: a write probe answers it (and proves access).
        probe = self.key(f"{TEMP_PREFIX}check-{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            obstore.put(self.store, probe, b"", use_multipart=False)
            obstore.delete(self.store, probe)
        except Exception as exc:
            code = _reason(exc)
            if code in ("NoSuchBucket",):
                raise ConfigError(f"{where}: bucket {self.bucket!r} does not exist") from exc
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or _is_denied(exc):
                raise ConfigError(
                    f"{where}: access denied ({code}); check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY"
                ) from exc
            if _CREDENTIAL_TROUBLE.search(str(exc)):
                raise ConfigError(f"{where}: {_NO_CREDENTIALS}") from exc
            if code.startswith("the S3 endpoint did not answer"):
                target = f"CONSOLE_S3_ENDPOINT_URL={self.endpoint_url}" if self.endpoint_url else where
                raise ConfigError(f"{target}: cannot connect to the S3 endpoint") from exc
            raise ConfigError(f"{where}: the bucket cannot be used ({code})") from exc
        self._check_staging("TMPDIR")


def _is_denied(exc: BaseException) -> bool:
    from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

    return isinstance(exc, (PermissionDeniedError, UnauthenticatedError))


def _credentials_configured(environ: Mapping[str, str] | None = None) -> bool:
    """Whether any credential source obstore reads is configured: the key pair, a web identity,
    the container endpoint, or the EC2 instance metadata service (unless disabled)."""
    env = os.environ if environ is None else environ
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return True
    if any(env.get(name) for name in _OTHER_CREDENTIAL_SOURCES):
        return True
    return env.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() != "true"


# --------------------------------------------------------------------------- choosing one

_cache: dict[tuple[str, str | None, str | None], PackStorage] = {}
_cache_lock = threading.Lock()


def build_storage(*, instance_dir: Path, storage_url: str | None, s3_endpoint_url: str | None) -> PackStorage:
    """A new storage for these settings (``load_settings`` validated the URL already)."""
    if not storage_url:
        return InstanceFolderStorage(instance_dir)
    scheme = urlsplit(storage_url).scheme.lower()
    if scheme == "file":
        path = urlsplit(storage_url).path
        return FolderStorage(Path(path), url="file://" + path.rstrip("/"))
    if scheme == "s3":
        return S3Storage(url=storage_url, endpoint_url=s3_endpoint_url)
    raise ConfigError(f"CONSOLE_STORAGE_URL: unknown scheme {scheme!r}; use file:///path or s3://bucket/prefix")


def storage_for(settings: Settings) -> PackStorage:
    """The process's storage for ``settings`` (one per configuration: the S3 client is reused)."""
    key = (str(settings.instance_dir), settings.storage_url, settings.s3_endpoint_url)
    with _cache_lock:
        storage = _cache.get(key)
        if storage is None:
            storage = _cache[key] = build_storage(
                instance_dir=settings.instance_dir,
                storage_url=settings.storage_url,
                s3_endpoint_url=settings.s3_endpoint_url,
            )
        return storage


def check_storage(settings: Settings) -> None:
    """Stop a process at start when the pack storage is unusable: ConfigError naming the setting."""
    storage = build_storage(
        instance_dir=settings.instance_dir, storage_url=settings.storage_url, s3_endpoint_url=settings.s3_endpoint_url
    )
    storage.check()
    log.info("event=pack_storage_checked storage=%s", storage.description)
