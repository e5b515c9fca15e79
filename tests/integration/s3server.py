"""A real S3 HTTP endpoint for the storage tests: moto's standalone server in a subprocess on
127.0.0.1 (never an in-process mock), and a small TCP proxy in front of it that can refuse
chosen requests, so an upload or a delete really fails on the wire.

``s3_endpoint`` is a session-scoped fixture (import it into a test module); it sets the standard
AWS_* variables for the session, as an operator would, and yields an ``S3Endpoint``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "console-test",
    "AWS_SECRET_ACCESS_KEY": "console-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    # No instance-metadata look-ups, no profile files: only what the variables say.
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/nonexistent/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
}
START_TIMEOUT = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FaultProxy:
    """Forwards TCP connections to ``target``; a connection whose request line matches ``refuse``
    (a regex over e.g. ``PUT /bucket/key?partNumber=2``) is cut before it reaches the server."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.refuse: re.Pattern[bytes] | None = None
        self.refused = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, name="s3-fault-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
        except OSError:
            client.close()
            return
        threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()
        self._pipe(client, upstream, True)

    def _pipe(self, src: socket.socket, dst: socket.socket, inspect: bool) -> None:
        try:
            while data := src.recv(1 << 16):
                refuse = self.refuse
                if inspect and refuse is not None and refuse.search(data):
                    self.refused += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


@dataclass
class S3Endpoint:
    """The moto server (``direct_url``) and the proxy in front of it (``url``: what consoles use)."""

    direct_url: str
    url: str
    proxy: FaultProxy
    env: dict[str, str] = field(default_factory=lambda: dict(AWS_ENV))

    def client(self):  # noqa: ANN201 - a boto3 S3 client talking to the server directly
        import boto3

        return boto3.session.Session(
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=AWS_ENV["AWS_DEFAULT_REGION"],
        ).client("s3", endpoint_url=self.direct_url)

    def new_bucket(self, prefix: str = "packs") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))

    def open_multipart_uploads(self, bucket: str) -> list[str]:
        return [u["Key"] for u in self.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def start_moto(log_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **AWS_ENV},
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{port} within {START_TIMEOUT} s")


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> Iterator[S3Endpoint]:
    """moto's S3 server on 127.0.0.1 for the whole session, behind a fault proxy."""
    proc, port = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    proxy = FaultProxy(port)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in AWS_ENV.items():
            mp.setenv(key, value)
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(key, raising=False)
        try:
            yield S3Endpoint(direct_url=f"http://127.0.0.1:{port}", url=f"http://127.0.0.1:{proxy.port}", proxy=proxy)
        finally:
            proxy.close()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
