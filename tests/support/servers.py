"""Server processes for HTTP tests: the console's web server (``console serve``, or
``gunicorn console.wsgi:server`` with several workers, as production runs it) and a private
``redis-server`` (for tests that must not share the CI's Redis)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
#: gunicorn's access log line: the answering worker's pid, the status, the request line.
ACCESS_FORMAT = "%(p)s %(s)s %(r)s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class WebServer:
    url: str
    proc: subprocess.Popen
    log_path: Path
    access_log: Path | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def answers(self) -> list[tuple[int, int, str]]:
        """gunicorn only: (worker pid, status, request line) of every request answered so far."""
        assert self.access_log is not None, "only gunicorn writes an access log"
        out = []
        for line in self.access_log.read_text().splitlines():
            pid, status, request_line = line.split(" ", 2)
            out.append((int(pid.strip("<>")), int(status), request_line))
        return out


@contextmanager
def web_server(kind: str, env: dict[str, str], tmp_path: Path, *, workers: int = 2) -> Iterator[WebServer]:
    """``kind`` ``serve`` (``console serve``) or ``gunicorn`` (``workers`` gthread workers, an access
    log naming the answering worker); yields once ``/healthz`` answers from every worker."""
    port = free_port()
    log_path = tmp_path / f"{kind}.log"
    access_log = None
    if kind == "serve":
        argv = [sys.executable, "-m", "console", "serve", "--port", str(port)]
    elif kind == "gunicorn":
        access_log = tmp_path / "gunicorn-access.log"
        argv = [sys.executable, "-m", "gunicorn", "console.wsgi:server", "--workers", str(workers)]
        argv += ["--worker-class", "gthread", "--threads", "2", "--bind", f"127.0.0.1:{port}"]
        argv += ["--log-level", "warning", "--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT]
    else:
        raise ValueError(f"unknown web server kind {kind!r}")
    env = {"PYTHONPATH": str(REPO), **env}
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = WebServer(f"http://127.0.0.1:{port}", proc, log_path, access_log)
    try:
        _wait_ready(server, workers if kind == "gunicorn" else 1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_ready(server: WebServer, workers: int, timeout: float = 90) -> None:
    """Until ``/healthz`` answers (and, under gunicorn, every worker has answered one: a worker
    still importing the app would otherwise leave its share of the first requests to the other)."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.proc.poll() is None, f"the web server exited:\n{server.log()[-3000:]}"
        assert time.monotonic() < deadline, f"the web server did not answer in {timeout} s:\n{server.log()[-3000:]}"
        try:
            requests.get(f"{server.url}/healthz", headers={"Connection": "close"}, timeout=5)
        except requests.RequestException:
            time.sleep(0.2)
            continue
        if server.access_log is None or len({pid for pid, _, _ in server.answers()}) >= workers:
            return
        time.sleep(0.05)


@contextmanager
def private_redis(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test only (its keys cannot meet another test's); its URL."""
    import redis

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)", pytrace=False)
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen([*argv, "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
