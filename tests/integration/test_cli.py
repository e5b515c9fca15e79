"""The `console` command as an operator runs it: a real process, real database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from console.accounts.models import TenantGrant, WorkspaceMembership
from console.db import Database
from console.inventory.models import Policy


def console(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def cli_env(empty_db_url, tmp_path) -> dict:
    env = dict(os.environ, CONSOLE_INSTANCE_DIR=str(tmp_path / "instance"), CONSOLE_DATABASE_URL=empty_db_url)
    assert console("db", "upgrade", env=env).returncode == 0
    return env


def test_create_commands_print_only_the_new_id_and_grants_take_effect(cli_env, empty_db_url) -> None:
    ws = console("workspaces", "create", "--name", "Ops", env=cli_env)
    assert ws.returncode == 0 and ws.stdout.strip().isdigit() and ws.stdout.count("\n") == 1
    tenant = console("tenants", "create", "--workspace", ws.stdout.strip(), "--name", "Acme", env=cli_env)
    user = console(
        "users", "create", "--email", "op@x.example", "--password", "long-enough-pw", "--name", "Op", env=cli_env
    )
    assert tenant.stdout.strip().isdigit() and user.stdout.strip().isdigit()
    assert (
        console(
            "grant", "--email", "op@x.example", "--workspace", ws.stdout.strip(), "--role", "operator", env=cli_env
        ).returncode
        == 0
    )
    r = console(
        "grant",
        "--email",
        "op@x.example",
        "--tenant",
        tenant.stdout.strip(),
        "--capability",
        "inventory.sync",
        env=cli_env,
    )
    assert r.returncode == 0 and r.stdout == ""
    db = Database(empty_db_url)
    with db.session() as s:
        assert s.query(WorkspaceMembership).one().role == "operator"
        assert s.query(TenantGrant).one().capabilities == ["inventory.sync", "tenant.view"]
        # every tenant gets the built-in provider's dataset, so operations have real units
        assert s.query(Policy).filter_by(tenant_id=int(tenant.stdout)).count() >= 6
    db.dispose()


@pytest.mark.parametrize(
    "args,message",
    [
        (("users", "create", "--email", "bad", "--password", "long-enough-pw", "--name", "X"), "not an email"),
        (("tenants", "create", "--workspace", "999", "--name", "X"), "workspace 999"),
        (("grant", "--email", "nobody@x.example", "--workspace", "1", "--role", "owner"), "user nobody@x.example"),
        (("grant", "--email", "a@x.example", "--workspace", "1", "--role", "emperor"), "role must be one of"),
    ],
)
def test_errors_exit_non_zero_with_one_line_and_nothing_on_stdout(cli_env, args, message) -> None:
    r = console(*args, env=cli_env)
    assert r.returncode != 0 and r.stdout == ""
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last


def test_seed_demo_fills_an_empty_database_once(cli_env, empty_db_url) -> None:
    first = console("seed-demo", env=cli_env)
    assert first.returncode == 0 and "manager@demo.example" in first.stderr
    again = console("seed-demo", env=cli_env)
    assert "not empty" in again.stderr
    db = Database(empty_db_url)
    with db.session() as s:
        from console.operations.models import OperationRun
        from console.review_packs.models import ReviewPack
        from console.seed import DEMO_HISTORY

        runs = s.query(OperationRun).all()
        assert len(runs) == DEMO_HISTORY
        # the packs were written where the command's settings say (the instance folder)
        ready = [p for p in s.query(ReviewPack).all() if p.status == "ready"]
        assert ready and all(os.path.isfile(p.file_path) for p in ready)
        assert {r.outcome for r in runs} == {"succeeded", "partially_succeeded", "failed", "cancelled"}
        assert len({r.type for r in runs}) == 7
    db.dispose()
