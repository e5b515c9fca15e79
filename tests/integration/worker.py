"""A real Celery worker for integration tests, and the stack (database + broker + worker) it serves.

``Worker`` starts ``python -m celery -A tasks worker --pool threads --concurrency 4`` as a
subprocess (cwd = the repository, so ``tasks`` imports) with CONSOLE_DATABASE_URL,
CONSOLE_INSTANCE_DIR and CONSOLE_BROKER_URL, waits for its "ready." log line and stops it
afterwards. ``stack_fixture()`` builds a module-scoped, parametrized fixture: one fresh
migrated database per backend (SQLite always, PostgreSQL when CONSOLE_TEST_DATABASE_URL is
set) times one broker (the embedded ``sqla+sqlite`` broker in the instance folder always,
Redis when CONSOLE_TEST_BROKER_URL is set — that Redis db is flushed first), each with its
own worker. Test modules share that worker; tests isolate themselves by making their own
workspace, tenant and user (``make_world``).
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from console.access import load_principal
from console.accounts.service import create_tenant, create_user, create_workspace, grant_role
from console.config import embedded_broker_url, load_settings
from console.db import Database
from console.dispatch import CeleryDispatcher
from console.migrate import upgrade
from console.operations.launch import start_operation, validate_options
from console.operations.models import OperationRun
from console.operations.registry import TASK_NAMES
from console.operations.service import enqueue_run, get_run
from console.providers.builtin import seed_tenant_dataset
from tests.support.db import BROKER_URL, DB_BACKENDS, fresh_database_url

REPO = Path(__file__).resolve().parents[2]
BROKERS = ["embedded"] + (["redis"] if BROKER_URL else [])
STACKS = list(itertools.product(DB_BACKENDS, BROKERS))
READY_TIMEOUT = 60
RUN_TIMEOUT = 60


class Worker:
    """One ``celery -A tasks worker`` subprocess; its output goes to ``log_path``."""

    def __init__(self, *, env: dict[str, str], log_path: Path, concurrency: int = 4) -> None:
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = READY_TIMEOUT) -> Worker:
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tasks",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "INFO",
            "--hostname",
            f"test-{uuid.uuid4().hex[:8]}@%h",
            "--without-mingle",
            "--without-gossip",
        ]
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited with {self.proc.returncode}:\n{self.tail()}")
            if " ready." in self.log():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"celery worker not ready after {timeout} s:\n{self.tail()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, *, timeout: float = 20) -> None:
        """Warm shutdown (SIGTERM): running tasks finish first. With the embedded broker this
        takes ~5 s (Celery's synchronous loop waits out its poll timeouts)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close()

    def kill(self) -> None:
        """SIGKILL: the worker dies mid-task, as on a crashed host (and as a fast test teardown)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        self._log.close()
        self.proc = None


@dataclass
class Stack:
    """A migrated database, a broker and a worker serving both."""

    backend: str
    broker: str
    database_url: str
    broker_url: str
    instance_dir: Path
    db: Database
    dispatcher: CeleryDispatcher
    worker: Worker
    env: dict[str, str] = field(default_factory=dict)

    def settings_overrides(self) -> dict[str, Any]:
        return {"instance_dir": self.instance_dir, "database_url": self.database_url, "broker_url": self.broker_url}


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def open_stack(backend: str, broker: str, tmp: Path, extra_env: dict[str, str] | None = None) -> Iterator[Stack]:
    """Yield a running Stack; everything (worker, database, Redis keys) is cleaned up after."""
    with fresh_database_url(backend, tmp) as database_url:
        upgrade(database_url)
        instance_dir = tmp / "instance"
        instance_dir.mkdir(parents=True, exist_ok=True)
        if broker == "redis":
            assert BROKER_URL
            broker_url = BROKER_URL
            flush_redis(broker_url)
        else:
            broker_url = embedded_broker_url(instance_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")} | {
            "CONSOLE_DATABASE_URL": database_url,
            "CONSOLE_INSTANCE_DIR": str(instance_dir),
            "CONSOLE_BROKER_URL": broker_url,
            "CONSOLE_SECRET_KEY": "test-secret",
            "CONSOLE_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        settings = load_settings(
            {
                "instance_dir": instance_dir,
                "database_url": database_url,
                "broker_url": broker_url,
                "secret_key": "test-secret",
            },
            environ={},
        )
        worker = Worker(env=env, log_path=tmp / "worker.log").start()
        db = Database(database_url)
        dispatcher = CeleryDispatcher(settings)
        stack = Stack(backend, broker, database_url, broker_url, instance_dir, db, dispatcher, worker, env)
        try:
            yield stack
        finally:
            # Every test waited for its runs, so nothing is left to finish: no warm shutdown needed.
            # A test may have replaced the worker (a kill test): the current one is stopped.
            worker.kill()
            stack.worker.kill()
            dispatcher.client.close()
            db.dispose()
            if broker == "redis":
                flush_redis(broker_url)


def stack_fixture(**extra_env: str) -> Callable[..., Iterator[Stack]]:
    """A module-scoped fixture over every (database, broker) pair; use as ``stack = stack_fixture()``."""

    @pytest.fixture(scope="module", params=STACKS, ids=[f"{d}-{b}" for d, b in STACKS])
    def stack(request, tmp_path_factory) -> Iterator[Stack]:
        backend, broker = request.param
        yield from open_stack(backend, broker, tmp_path_factory.mktemp(f"stack-{backend}-{broker}"), extra_env)

    return stack


# --------------------------------------------------------------------------- data and polling


@dataclass(frozen=True)
class World:
    workspace_id: int
    tenant_id: int
    user_id: int
    email: str
    tag: str


def make_world(stack: Stack, *, role: str = "manager", seed: bool = True, name: str = "Patty Private") -> World:
    """A workspace with one tenant (with the provider dataset unless ``seed=False``) and a user."""
    tag = uuid.uuid4().hex[:10]
    with stack.db.session() as s:
        ws = create_workspace(session=s, name=f"ws-{tag}")
        tenant = create_tenant(session=s, workspace_id=ws.id, name=f"Tenant {tag}")
        email = f"patty.{tag}@pii.example"
        user = create_user(session=s, email=email, password="long-enough-pw", name=name)
        grant_role(session=s, email=email, workspace_id=ws.id, role=role)
        if seed:
            seed_tenant_dataset(session=s, tenant_id=tenant.id)
        return World(ws.id, tenant.id, user.id, email, tag)


def start(stack: Stack, world: World, operation_type: str, options: dict[str, Any] | None = None) -> int:
    """Start an operation exactly as the buttons do (access, dedupe, dispatch); the run id."""
    with stack.db.session() as s:
        principal = load_principal(session=s, user_id=world.user_id)
        return start_operation(
            session=s,
            principal=principal,
            tenant_id=world.tenant_id,
            operation_type=operation_type,
            options=options,
            dispatcher=stack.dispatcher,
        ).run_id


def closed_gate(tmp_path: Path, units: list[str] | None = None) -> tuple[Path, dict[str, Any]]:
    """A ``hold`` fault whose gate is closed: (the gate file — delete it to let the units go,
    the faults to start the run with). ``units``: glob patterns of the held units (default all)."""
    gate = tmp_path / "hold"
    gate.touch()
    return gate, {"hold": {"file": str(gate), **({"units": units} if units is not None else {})}}


def start_with_faults(
    stack: Stack, world: World, operation_type: str, faults: dict[str, Any], options: dict[str, Any] | None = None
) -> int:
    """Like ``start`` but with ``context["faults"]`` (what a demo or test may inject)."""
    with stack.db.session() as s:
        clean = validate_options(session=s, tenant_id=world.tenant_id, operation_type=operation_type, options=options)
        run, created = enqueue_run(
            session=s,
            type=operation_type,
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            initiator_user_id=world.user_id,
            context={"options": clean, "faults": faults},
        )
        assert created
        if operation_type == "review_pack_generate":
            from console.review_packs.service import ensure_pack_for_run

            ensure_pack_for_run(session=s, run_id=run.id, tenant_id=world.tenant_id, options=clean)
        run_id = run.id
    stack.dispatcher.send(TASK_NAMES[operation_type], run_id)
    return run_id


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float = RUN_TIMEOUT,
    interval: float = 0.1,
    stack: Stack | None = None,
    what: str = "condition",
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    tail = f"\n--- worker log ---\n{stack.worker.tail()}" if stack is not None else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{tail}")


def load_run(stack: Stack, run_id: int) -> OperationRun:
    with stack.db.session() as s:
        run = get_run(session=s, run_id=run_id)
        s.expunge(run)
        return run


def wait_run(stack: Stack, run_id: int, *, timeout: float = RUN_TIMEOUT) -> OperationRun:
    """Poll the database until the run is completed; the completed run."""

    def done() -> OperationRun | None:
        run = load_run(stack, run_id)
        return run if run.status == "completed" else None

    return wait_until(done, timeout=timeout, stack=stack, what=f"run {run_id} to complete")
