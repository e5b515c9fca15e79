"""The operator commands as an operator runs them (real processes, real database): passwords
that never reach argv, ``db upgrade`` saying what it applied, workers keeping their defaults,
``capabilities`` and ``doctor``."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from console.access import all_capabilities
from console.accounts.service import authenticate
from console.cli import worker_args
from console.cli.runs import pack_view
from console.db import Database, utcnow
from console.migrate import upgrade
from console.operations import registry
from console.operations.models import OperationRun
from console.review_packs.models import ReviewPack
from tests.integration.worker import REPO

PASSWORD = "a long enough password"


def console(*args: str, env: dict, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console", *args],
        env=env,
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=None if stdin is not None else subprocess.DEVNULL,
    )


@pytest.fixture
def env(empty_db_url, tmp_path) -> dict:
    """A console environment on an empty database (not migrated)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")} | {
        "CONSOLE_INSTANCE_DIR": str(tmp_path / "instance"),
        "CONSOLE_DATABASE_URL": empty_db_url,
        "PYTHONPATH": str(REPO),
    }


@pytest.fixture
def migrated(env, empty_db_url) -> dict:
    upgrade(empty_db_url)
    return env


def _can_sign_in(db_url: str, email: str, password: str) -> bool:
    db = Database(db_url)
    try:
        with db.session() as s:
            return authenticate(session=s, email=email, password=password) is not None
    finally:
        db.dispose()


# --------------------------------------------------------------------------- db upgrade


def test_db_upgrade_names_the_revisions_it_applied_then_says_up_to_date(env, empty_db_url) -> None:
    first = console("db", "upgrade", env=env)
    assert first.returncode == 0 and first.stdout == ""
    assert first.stderr.strip().splitlines()[-1] == (
        "applied 0001_initial_schema, 0002_user_session_version, 0003_operations_list_index, "
        "0004_audit_target_index, 0005_dashboard_indexes, 0006_api_tokens, "
        "0007_search_and_dashboard_indexes, now at 0007"
    )
    again = console("db", "upgrade", env=env)
    assert again.returncode == 0 and again.stderr.strip().splitlines()[-1] == "database is up to date at 0007"


def test_db_upgrade_from_an_older_revision_lists_only_the_newer_ones(env, empty_db_url) -> None:
    upgrade(empty_db_url, "0001")
    r = console("db", "upgrade", env=env)
    assert r.stderr.strip().splitlines()[-1] == (
        "applied 0002_user_session_version, 0003_operations_list_index, 0004_audit_target_index, "
        "0005_dashboard_indexes, 0006_api_tokens, "
        "0007_search_and_dashboard_indexes, now at 0007"
    )


# --------------------------------------------------------------------------- users create


def test_users_create_reads_the_password_from_stdin(migrated, empty_db_url) -> None:
    r = console(
        "users",
        "create",
        "--email",
        "a@x.example",
        "--name",
        "A",
        "--password-stdin",
        env=migrated,
        stdin=PASSWORD + "\n",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().isdigit() and r.stdout.count("\n") == 1
    assert _can_sign_in(empty_db_url, "a@x.example", PASSWORD)
    assert not _can_sign_in(empty_db_url, "a@x.example", PASSWORD + "\n")

    # Only the first line counts; an empty line is refused (nothing created).
    r = console(
        "users", "create", "--email", "b@x.example", "--name", "B", "--password-stdin", env=migrated, stdin="\nlater\n"
    )
    assert r.returncode != 0 and r.stdout == "" and "held no password" in r.stderr
    assert not _can_sign_in(empty_db_url, "b@x.example", "later")


def test_users_create_refuses_without_a_password_when_stdin_is_not_a_terminal(migrated) -> None:
    r = console("users", "create", "--email", "c@x.example", "--name", "C", env=migrated)
    assert r.returncode != 0 and r.stdout == ""
    assert "--password-stdin" in r.stderr.strip().splitlines()[-1]
    both = console(
        "users", "create", "--email", "c@x.example", "--name", "C", "--password", PASSWORD, "--password-stdin",
        env=migrated, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert both.returncode != 0 and "not both" in both.stderr


def test_users_create_keeps_password_for_throwaway_scripts(migrated, empty_db_url) -> None:
    r = console("users", "create", "--email", "d@x.example", "--name", "D", "--password", PASSWORD, env=migrated)
    assert r.returncode == 0 and r.stdout.strip().isdigit()
    assert _can_sign_in(empty_db_url, "d@x.example", PASSWORD)


def _read_until(fd: int, needle: bytes, seen: bytearray, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while needle not in seen:
        assert time.monotonic() < deadline, f"no {needle!r} in {bytes(seen)!r}"
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen.extend(os.read(fd, 1024))
            except OSError:
                break


def test_users_create_on_a_terminal_prompts_twice_without_echo(migrated, empty_db_url) -> None:
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "users", "create", "--email", "e@x.example", "--name", "E"],
        env=migrated,
        cwd=REPO,
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
    )
    os.close(terminal)
    seen = bytearray()
    try:
        _read_until(controller, b"Password: ", seen)
        os.write(controller, PASSWORD.encode() + b"\n")
        _read_until(controller, b"Repeat for confirmation: ", seen)
        os.write(controller, PASSWORD.encode() + b"\n")
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        try:
            _read_until(controller, b"\n", seen, timeout=1)
        except AssertionError:
            pass
        os.close(controller)
    assert proc.returncode == 0, bytes(seen)
    assert out.decode().strip().isdigit()
    assert PASSWORD.encode() not in seen  # hidden: never echoed to the terminal
    assert _can_sign_in(empty_db_url, "e@x.example", PASSWORD)


# --------------------------------------------------------------------------- worker defaults


@pytest.mark.parametrize(
    "given,expected",
    [
        ([], ["--pool", "threads", "--concurrency", "4", "--loglevel", "INFO"]),
        (["--concurrency", "8"], ["--pool", "threads", "--loglevel", "INFO", "--concurrency", "8"]),
        (["-c", "2", "-Q", "q1"], ["--pool", "threads", "--loglevel", "INFO", "-c", "2", "-Q", "q1"]),
        (["--pool=prefork"], ["--concurrency", "4", "--loglevel", "INFO", "--pool=prefork"]),
        (["-lWARNING", "-P", "solo"], ["--concurrency", "4", "-lWARNING", "-P", "solo"]),
        (["-n", "w1@%h"], ["--pool", "threads", "--concurrency", "4", "--loglevel", "INFO", "-n", "w1@%h"]),
    ],
)
def test_worker_options_replace_only_their_own_default(given, expected) -> None:
    assert worker_args(given) == expected


def test_a_worker_given_one_option_still_runs_threads_at_info(migrated, tmp_path) -> None:
    """Before: `console worker --concurrency 2` dropped every default (prefork pool, WARNING log)."""
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "console", "worker", "--concurrency", "2", "--without-mingle", "--without-gossip"],
            env=migrated | {"PYTHONUNBUFFERED": "1"},
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while " ready." not in log_path.read_text(errors="replace"):  # an INFO line
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    banner = log_path.read_text()
    assert "concurrency: 2 (thread)" in banner, banner


# --------------------------------------------------------------------------- capabilities


def test_capabilities_lists_every_capability_once_with_what_it_allows(migrated) -> None:
    r = console("capabilities", env=migrated)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == list(all_capabilities())
    by_name = dict(zip(names, lines, strict=True))
    for spec in registry.specs():
        assert spec.type in by_name[spec.capability], (spec.type, by_name[spec.capability])
    assert "download" in by_name["review_pack.view"]
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_capabilities_follow_the_registry(migrated) -> None:
    """A type registered with a new capability shows up, naming the type it starts."""
    from click.testing import CliRunner

    from console.cli import main

    spec = registry.OperationSpec(
        type="tenant_audit_export",
        label="Audit export",
        progress="none",
        capability="audit.export",
        task="tasks.nothing",
        description="Export the audit log.",
    )
    with registry.registered(spec):
        out = CliRunner().invoke(main, ["capabilities"], env=migrated).output
    line = next(line for line in out.splitlines() if line.startswith("audit.export"))
    assert "tenant_audit_export" in line


# --------------------------------------------------------------------------- runs show: review pack


def test_a_pack_offers_its_download_path_only_when_ready() -> None:
    for status in ("queued", "generating", "failed", "expired"):
        assert pack_view(ReviewPack(id=7, status=status)) == {"id": 7, "status": status, "download_url": None}
    assert pack_view(ReviewPack(id=7, status="ready")) == {
        "id": 7,
        "status": "ready",
        "download_url": "/review-packs/7/download",
    }
    assert pack_view(None) is None


# --------------------------------------------------------------------------- doctor


def _lines(result: subprocess.CompletedProcess) -> dict[str, str]:
    return {line.split()[1]: line for line in result.stdout.splitlines()}


def test_doctor_passes_on_a_working_console_and_prints_one_line_per_check(migrated) -> None:
    r = console("doctor", env=migrated)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = _lines(r)
    assert list(lines) == ["settings", "database", "broker", "storage", "clock", "ratelimit"]
    assert lines["database"].startswith("ok") and "0007 (head)" in lines["database"]
    assert lines["broker"].startswith("ok") and lines["storage"].startswith("ok")
    # development is a warning with its fix, not a failure
    assert lines["settings"].startswith("warn") and "fix: set CONSOLE_ENV=production" in lines["settings"]


def test_doctor_fails_with_the_fix_for_each_broken_part(env, tmp_path) -> None:
    # an empty database, a broker nobody listens on, a production console with memory:// limits
    broken = env | {
        "CONSOLE_ENV": "production",
        "CONSOLE_SECRET_KEY": "s3cret-value",
        "CONSOLE_BROKER_URL": "redis://:hunter2@127.0.0.1:9/0",
        "CONSOLE_RATELIMIT_STORAGE_URL": "memory://",
    }
    r = console("doctor", env=broken)
    assert r.returncode != 0
    lines = _lines(r)
    assert lines["database"].startswith("FAIL") and "fix: run `console db upgrade`" in lines["database"]
    assert lines["broker"].startswith("FAIL") and "fix: start Redis or correct CONSOLE_BROKER_URL" in lines["broker"]
    assert lines["ratelimit"].startswith("warn") and "CONSOLE_RATELIMIT_STORAGE_URL=redis://" in lines["ratelimit"]
    assert "hunter2" not in r.stdout + r.stderr and "s3cret-value" not in r.stdout + r.stderr

    # unset, the limits live in the broker's Redis: unreachable there is a failure, password masked
    default_limits = console("doctor", env={k: v for k, v in broken.items() if k != "CONSOLE_RATELIMIT_STORAGE_URL"})
    ratelimit = _lines(default_limits)["ratelimit"]
    assert ratelimit.startswith("FAIL") and "127.0.0.1:9/0 unreachable" in ratelimit, ratelimit
    assert "the broker's Redis" in ratelimit and "hunter2" not in default_limits.stdout + default_limits.stderr

    missing_secret = console("doctor", env=env | {"CONSOLE_ENV": "production"})
    assert missing_secret.returncode != 0
    assert missing_secret.stdout.splitlines() == [
        "FAIL  settings    CONSOLE_SECRET_KEY is required when CONSOLE_ENV=production"
        " -- fix: set it in the environment file (docs/deployment.md)"
    ]


def test_doctor_fails_when_a_worker_heartbeat_comes_from_the_future(migrated, empty_db_url) -> None:
    db = Database(empty_db_url)
    from tests.factories import build_world

    with db.session() as s:
        world = build_world(s)
        run = OperationRun(
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_ids[0],
            type="inventory_sync",
            status="running",
            summary_counts={},
            context={},
            started_at=utcnow(),
            heartbeat_at=utcnow() + timedelta(seconds=90),
        )
        s.add(run)
        s.commit()
    db.dispose()
    r = console("doctor", env=migrated)
    assert r.returncode != 0
    clock = _lines(r)["clock"]
    assert clock.startswith("FAIL") and "future" in clock and "NTP" in clock


def test_doctor_storage_check_fails_when_packs_cannot_be_written(tmp_path) -> None:
    from console.cli.doctor import check_storage
    from console.config import load_settings

    settings = load_settings({"instance_dir": tmp_path / "instance"}, environ={})
    assert check_storage(settings).status == "ok"
    # root writes anywhere, so "not writable" is a path that cannot be a folder
    (tmp_path / "file").write_text("")
    broken = check_storage(settings.with_overrides(instance_dir=tmp_path / "file"))
    assert broken.status == "FAIL" and "CONSOLE_INSTANCE_DIR: cannot create" in broken.detail
    assert "CONSOLE_INSTANCE_DIR" in broken.fix


def test_the_operations_guide_lists_the_same_capabilities() -> None:
    guide = (REPO / "docs" / "operations-guide.md").read_text()
    section = guide.split("## Capability names", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^\| `([a-z_.]+)` \|", section, re.M) == list(all_capabilities())
