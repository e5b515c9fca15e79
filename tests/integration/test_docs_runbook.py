"""docs/deployment.md as a newcomer follows it: every fenced block marked ```bash tested runs,
in document order, in ONE bash session (variables carry over, as in a terminal; `set -euo
pipefail`, so a failing command ends the session and the test). The names of section 0
(CONSOLE_HOME, CONSOLE_ENV_FILE, CONSOLE_URL, BACKUP_DIR, ADMIN_EMAIL, ADMIN_PASSWORD_FILE) come
from the environment, pointing into a temp dir; between blocks the test does what the runbook
asks a person to do by hand (write the password file, fill in the settings file's placeholders,
start the web process).

Throw-away SQLite + embedded broker always; on PostgreSQL too when CONSOLE_TEST_DATABASE_URL is
set, and then the ```bash tested-postgresql blocks (pg_dump / pg_restore) run as well."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.worker import REPO
from tests.support.db import DB_BACKENDS, fresh_database_url

RUNBOOK = REPO / "docs" / "deployment.md"
FENCE = re.compile(r"^```bash( tested(?:-postgresql)?)?\n(.*?)^```$", re.M | re.S)
DONE = "__runbook_block_done__"


def blocks(backend: str) -> list[tuple[str, str]]:
    """(kind, text) of every tested block, in order; kind is 'tested' or 'tested-postgresql'."""
    found = [(m.group(1).strip(), m.group(2)) for m in FENCE.finditer(RUNBOOK.read_text()) if m.group(1)]
    return [(kind, text) for kind, text in found if kind == "tested" or backend == "postgresql"]


def test_the_runbook_marks_its_runnable_blocks_and_has_the_several_hosts_section() -> None:
    text = RUNBOOK.read_text()
    kinds = [kind for kind, _ in blocks("postgresql")]
    assert kinds.count("tested") >= 6 and kinds.count("tested-postgresql") == 2
    assert "\n## Several hosts\n" in text and "### A worked example" in text
    for needed in ("pip install", "--password-stdin", "deploy/nginx/console.conf", "console-worker.service"):
        assert needed in text, needed
    # Every fence is a known kind: a typo ("```bash testd") would silently drop a block.
    assert set(re.findall(r"^```(\S.*)$", text, re.M)) <= {"bash", "bash tested", "bash tested-postgresql"}


class Shell:
    """One bash session fed block by block through stdin."""

    def __init__(self, *, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.transcript: list[str] = []
        self.run("set -euo pipefail")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, block: str, timeout: float = 180) -> str:
        assert self.proc.stdin is not None
        self.transcript.append(f"$ {block.strip()}")
        self.proc.stdin.write(f"{block}\necho {DONE}\n")
        self.proc.stdin.flush()
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            except queue.Empty:
                raise AssertionError(f"block still running after {timeout} s:\n{self.text()}") from None
            if line is None:
                self.proc.wait(timeout=10)
                raise AssertionError(f"the shell exited ({self.proc.returncode}) in:\n{block}\n--\n{self.text()}")
            if line.strip() == DONE:
                return "".join(out)
            out.append(line)
            self.transcript.append(line.rstrip("\n"))

    def text(self) -> str:
        return "\n".join(self.transcript[-80:])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def fill_in(env_file: Path, values: dict[str, str]) -> None:
    """What the runbook asks a person to do: edit the placeholders of the settings file."""
    text = env_file.read_text()
    for key, value in values.items():
        text, n = re.subn(rf"^{key}=.*$", f"{key}={value}", text, flags=re.M)
        assert n == 1, key
    assert not re.search(r"^[A-Z_]+=.*<", text, re.M), "a placeholder is left"
    env_file.write_text(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=DB_BACKENDS)
def database(request, tmp_path) -> Iterator[tuple[str, str]]:
    with fresh_database_url(request.param, tmp_path) as url:
        yield request.param, url


def test_every_tested_block_of_the_runbook_runs_top_to_bottom(database, tmp_path) -> None:
    backend, database_url = database
    env_file = tmp_path / "etc" / "console" / "console.env"
    instance = tmp_path / "var-lib-console"
    password_file = tmp_path / "admin-password"
    password_file.write_text("a long enough password\n")
    port = free_port()
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "AWS_"))} | {
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "CONSOLE_HOME": str(REPO),
        "CONSOLE_ENV_FILE": str(env_file),
        "CONSOLE_URL": f"http://127.0.0.1:{port}",
        "BACKUP_DIR": str(tmp_path / "backups"),
        "ADMIN_EMAIL": "admin@runbook.example",
        "ADMIN_PASSWORD_FILE": str(password_file),
    }
    shell = Shell(env=env, cwd=tmp_path)
    web: subprocess.Popen | None = None
    ran: list[str] = []
    try:
        for kind, block in blocks(backend):
            if "curl" in block and web is None:
                # Section 5 starts the processes with systemd; here the web process alone.
                settings = dict(
                    line.split("=", 1) for line in env_file.read_text().splitlines() if line and line[0] != "#"
                )
                web = subprocess.Popen(
                    [sys.executable, "-m", "console", "serve", "--port", str(port)],
                    env=env | settings,
                    cwd=tmp_path,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                wait_for_port(port, web)
            output = shell.run(block)
            ran.append(kind)
            if "console.env.example" in block:
                assert output.strip() == "1"  # the grep: one 64-hex secret
                assert oct(env_file.stat().st_mode & 0o777) == "0o640"
                fill_in(
                    env_file,
                    {
                        "CONSOLE_DATABASE_URL": database_url,
                        "CONSOLE_BROKER_URL": f"sqla+sqlite:///{instance / 'broker.sqlite'}",
                        "CONSOLE_INSTANCE_DIR": str(instance),
                        "CONSOLE_RATELIMIT_STORAGE_URL": "memory://",
                    },
                )
            if "console db upgrade\nconsole doctor" in block:
                assert "applied 0001_initial_schema" in output and "now at 0007" in output
                assert re.search(r"^ok\s+database .* at revision 0007 \(head\)", output, re.M), output
            if "curl" in block:
                assert '"status":"ok"' in output.replace(" ", "") and '"type": "inventory_sync"' in output
                web.terminate()
                web.wait(timeout=30)
            if "pg_restore" in block:
                assert "database is up to date at 0007" in output
    finally:
        shell.close()
        if web is not None and web.poll() is None:
            web.kill()
            web.wait(timeout=10)
    assert ran.count("tested-postgresql") == (2 if backend == "postgresql" else 0)
    assert ran.count("tested") == len([b for b in blocks("sqlite")])
    # The pack backup of section 9 was written.
    assert (tmp_path / "backups").is_dir() and any((tmp_path / "backups").glob("packs-*.tar.gz"))


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"console serve exited with {proc.returncode}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"console serve not listening on {port} after {timeout} s")
