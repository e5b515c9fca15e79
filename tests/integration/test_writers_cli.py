"""``console runs start|show|list`` as an operator runs them: real processes, a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime

import pytest
from click.testing import CliRunner

from console.accounts.service import create_user, grant_capabilities, grant_role
from console.cli.runs import runs
from console.db import Database
from console.migrate import upgrade
from console.operations.models import OperationRun
from console.operations.service import enqueue_run, fail_run
from console.review_packs.models import ReviewPack
from tests.integration.worker import REPO, Stack, load_run, make_world, stack_fixture, wait_run

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

stack = stack_fixture()
SHOW_KEYS = [
    "id",
    "type",
    "status",
    "outcome",
    "workspace_id",
    "tenant_id",
    "summary_counts",
    "progress",
    "created_at",
    "started_at",
    "heartbeat_at",
    "completed_at",
]


def console(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "console", *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )


def refused(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode != 0, result
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and fragment in last, last


def test_runs_start_prints_only_the_run_id_and_show_prints_the_contract_object(stack: Stack) -> None:
    world = make_world(stack)
    started = console(
        "runs", "start", "inventory_sync", "--tenant", str(world.tenant_id), "--as", world.email, env=stack.env
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().isdigit() and started.stdout.count("\n") == 1
    run_id = int(started.stdout)
    run = wait_run(stack, run_id)
    assert (run.initiator_user_id, run.tenant_id, run.outcome) == (world.user_id, world.tenant_id, "succeeded")

    shown = console("runs", "show", str(run_id), "--json", env=stack.env)
    assert shown.returncode == 0
    view = json.loads(shown.stdout)
    assert list(view) == SHOW_KEYS
    total = run.summary_counts["total"]
    assert view["id"] == run_id and view["type"] == "inventory_sync"
    assert (view["status"], view["outcome"], view["workspace_id"], view["tenant_id"]) == (
        "completed",
        "succeeded",
        world.workspace_id,
        world.tenant_id,
    )
    assert view["summary_counts"]["processed"] == view["summary_counts"]["total"] == total
    assert view["progress"] == {"mode": "none", "processed": total, "total": total, "percent": None}
    for key in ("created_at", "started_at", "heartbeat_at", "completed_at"):
        assert datetime.fromisoformat(view[key]).utcoffset().total_seconds() == 0

    text = console("runs", "show", str(run_id), env=stack.env)
    assert text.returncode == 0 and f"{total} of {total} processed" in text.stdout and "Completed" in text.stdout

    # Options pass through the same validation as the buttons.
    pack = console(
        "runs",
        "start",
        "review_pack_generate",
        "--tenant",
        str(world.tenant_id),
        "--as",
        world.email,
        "--option",
        "include_pii=false",
        "--option",
        "include_operations=false",
        env=stack.env,
    )
    assert pack.returncode == 0, pack.stderr
    pack_run = wait_run(stack, int(pack.stdout))
    assert pack_run.context["options"] == {"include_operations": False, "include_pii": False}
    assert pack_run.summary_counts["total"] == 4
    # A review pack run carries its pack; the download path appears once the pack is ready.
    pack_view = json.loads(console("runs", "show", pack.stdout.strip(), "--json", env=stack.env).stdout)
    assert list(pack_view) == [*SHOW_KEYS, "review_pack"]
    with stack.db.session() as s:
        pack_id, pack_status = s.query(ReviewPack.id, ReviewPack.status).filter_by(operation_run_id=pack_run.id).one()
    assert pack_status == "ready"
    assert pack_view["review_pack"] == {
        "id": pack_id,
        "status": "ready",
        "download_url": f"/review-packs/{pack_id}/download",
    }
    # runs list --json items are the same objects.
    listed = json.loads(console("runs", "list", "--json", env=stack.env).stdout)
    assert pack_view in listed and view in listed


def test_runs_start_deduplicates_and_list_filters_active_runs(stack: Stack) -> None:
    world = make_world(stack)
    with stack.db.session() as s:
        active, _ = enqueue_run(
            session=s,
            type="evidence_snapshot_generate",
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_id,
            initiator_user_id=world.user_id,
            context={"options": {}},
        )
    try:
        again = console(
            "runs",
            "start",
            "evidence_snapshot_generate",
            "--tenant",
            str(world.tenant_id),
            "--as",
            world.email,
            env=stack.env,
        )
        assert (again.returncode, again.stdout) == (0, f"{active.id}\n")

        listed = json.loads(console("runs", "list", "--json", "--limit", "10000", env=stack.env).stdout)
        active_only = json.loads(
            console("runs", "list", "--active", "--json", "--limit", "10000", env=stack.env).stdout
        )
        assert all(
            list(item) == SHOW_KEYS + ["review_pack"] * (item["type"] == "review_pack_generate") for item in listed
        )
        assert active.id in {item["id"] for item in listed} and active.id in {item["id"] for item in active_only}
        assert all(item["status"] in ("queued", "running") for item in active_only)
        assert any(item["status"] == "completed" for item in listed) or len(listed) == len(active_only)
        queued = next(item for item in active_only if item["id"] == active.id)
        assert queued["progress"] == {"mode": "activity", "processed": None, "total": None, "percent": None}
        created = [datetime.fromisoformat(item["created_at"]) for item in listed]
        assert created == sorted(created, reverse=True)  # newest first
    finally:
        with stack.db.session() as s:
            fail_run(session=s, run_id=active.id, reason="test cleanup")
    assert load_run(stack, active.id).status == "completed"


# ---------------------------------------------------------------- refused starts (no worker needed)


@pytest.fixture
def cli_world(empty_db_url, tmp_path):
    upgrade(empty_db_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")} | {
        "CONSOLE_INSTANCE_DIR": str(tmp_path / "instance"),
        "CONSOLE_DATABASE_URL": empty_db_url,
        "CONSOLE_SECRET_KEY": "x",
    }
    db = Database(empty_db_url)
    from console.accounts.service import create_tenant, create_workspace

    with db.session() as s:
        ws = create_workspace(session=s, name="W")
        other = create_workspace(session=s, name="Other")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="T")
        foreign = create_tenant(session=s, workspace_id=other.id, name="F")
        create_user(session=s, email="viewer@x.example", password="long-enough-pw", name="V")
        grant_role(session=s, email="viewer@x.example", workspace_id=ws.id, role="viewer")
        grant_capabilities(session=s, email="viewer@x.example", tenant_id=tenant.id, capabilities=["operations.view"])
        create_user(session=s, email="manager@x.example", password="long-enough-pw", name="M")
        grant_role(session=s, email="manager@x.example", workspace_id=ws.id, role="manager")
        ids = {"tenant": tenant.id, "foreign": foreign.id}
    yield env, db, ids
    db.dispose()


def test_refused_starts_exit_non_zero_with_one_line_and_nothing_on_stdout(cli_world) -> None:
    env, db, ids = cli_world
    t = str(ids["tenant"])
    # One real process (stdout and stderr really apart), the other cases in-process (fast).
    refused(
        console("runs", "start", "inventory_sync", "--tenant", t, "--as", "viewer@x.example", env=env),
        "lacks the capability",
    )
    runner = CliRunner()

    def invoke(*args: str) -> subprocess.CompletedProcess:
        result = runner.invoke(runs, list(args), env=env)
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

    cases = [
        (("inventory_sync", "--tenant", "999999", "--as", "manager@x.example"), "not found: tenant"),
        (("inventory_sync", "--tenant", str(ids["foreign"]), "--as", "manager@x.example"), "not found: tenant"),
        (("inventory_sync", "--tenant", "abc", "--as", "manager@x.example"), "not found"),
        (
            ("inventory_sync", "--tenant", t, "--as", "viewer@x.example"),
            "not allowed: viewer@x.example lacks the capability inventory.sync",
        ),
        (("inventory_sync", "--tenant", t, "--as", "nobody@x.example"), "no active user nobody@x.example"),
        (("teleport", "--tenant", t, "--as", "manager@x.example"), "unknown operation type 'teleport'"),
        (
            ("review_pack_generate", "--tenant", t, "--as", "manager@x.example", "--option", "include_pii=maybe"),
            "bad request: option include_pii must be true or false",
        ),
        (
            ("inventory_sync", "--tenant", t, "--as", "manager@x.example", "--option", "colour=blue"),
            "bad request: unknown option(s)",
        ),
        (
            ("inventory_sync", "--tenant", t, "--as", "manager@x.example", "--option", "novalue"),
            "--option must look like key=value",
        ),
    ]
    for args, fragment in cases:
        refused(invoke("start", *args), fragment)
    refused(invoke("show", "424242"), "run 424242 not found")
    refused(invoke("show", "x", "--json"), "run x not found")
    with db.session() as s:
        assert s.query(OperationRun).count() == 0  # nothing was enqueued by a refused start


def test_an_unreachable_broker_refuses_the_start_and_fails_the_run(cli_world) -> None:
    env, db, ids = cli_world
    # A broker that cannot be reached (an unreachable Redis behaves the same, only slower:
    # redis-py backs off for ~6 s before giving up).
    down = {**env, "CONSOLE_BROKER_URL": "sqla+sqlite:////nonexistent-dir/broker.sqlite"}
    refused(
        console(
            "runs",
            "start",
            "review_pack_generate",
            "--tenant",
            str(ids["tenant"]),
            "--as",
            "manager@x.example",
            env=down,
        ),
        "not started: the task queue is unreachable",
    )
    with db.session() as s:
        run = s.query(OperationRun).one()
        assert (run.status, run.outcome) == ("completed", "failed") and run.failure_summary.startswith(
            "dispatch_failed"
        )
        from console.review_packs.models import ReviewPack

        assert s.query(ReviewPack).one().status == "failed"


def test_runs_cancel_and_retry_print_ids_and_refuse_with_one_line(cli_world) -> None:
    env, db, ids = cli_world
    runner = CliRunner()

    def invoke(*args: str) -> subprocess.CompletedProcess:
        result = runner.invoke(runs, list(args), env=env)
        return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)

    t, manager, viewer = str(ids["tenant"]), "manager@x.example", "viewer@x.example"
    started = invoke("start", "inventory_sync", "--tenant", t, "--as", manager)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    refused(invoke("retry", run_id, "--as", manager), "only a failed, partially succeeded or cancelled run")
    refused(invoke("cancel", run_id, "--as", viewer), f"not allowed: {viewer}")
    cancelled = invoke("cancel", run_id, "--as", manager)
    assert (cancelled.returncode, cancelled.stdout.strip()) == (0, run_id)
    refused(invoke("cancel", run_id, "--as", manager), "only a queued or running run can be cancelled")
    retried = invoke("retry", run_id, "--as", manager)
    assert retried.returncode == 0 and retried.stdout.strip().isdigit() and retried.stdout.strip() != run_id
    again = invoke("retry", run_id, "--as", manager)  # the same retry, not a second one
    assert again.stdout.strip() == retried.stdout.strip()
    refused(invoke("cancel", "424242", "--as", manager), "not found")
    refused(invoke("retry", "x", "--as", manager), "not found")
    with db.session() as s:
        rows = {r.id: (r.status, r.outcome, r.context.get("retry_of")) for r in s.query(OperationRun)}
    assert rows == {int(run_id): ("completed", "cancelled", None), int(retried.stdout): ("queued", None, int(run_id))}
