"""docs/api.md's examples, exactly as written: every ```bash tested block runs, in document
order, in ONE bash session (variables carry over; ``set -euo pipefail``), against a live
``console serve`` and a real worker on the embedded broker (SQLite), and — when
CONSOLE_TEST_DATABASE_URL and CONSOLE_TEST_BROKER_URL are set — against ``gunicorn
console.wsgi:server`` with 2 workers on PostgreSQL + Redis, as production runs it: create a
token, list tenants, start a review pack, poll it with If-None-Match, download the ZIP, cancel a
run, retry it.

The inventory sync the cancel example starts is held at its units (the ``hold`` fault on
``type:*``), so the cancel always meets an active run, whatever the machine's speed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.integration.worker import REPO, make_world, open_stack
from tests.support.db import BROKER_URL, PG_URL
from tests.support.servers import web_server

DOC = REPO / "docs" / "api.md"
FENCE = re.compile(r"^```bash( tested)?\n(.*?)^```$", re.M | re.S)
MARK = "__api_doc_block_done__"
#: (web server, database, broker): the development server always; production's shape when the
#: CI's PostgreSQL and Redis are there.
WEB_STACKS = [("serve", "sqlite", "embedded")] + (
    [("gunicorn", "postgresql", "redis")] if PG_URL and BROKER_URL else []
)


def _tested_blocks() -> list[str]:
    return [m.group(2) for m in FENCE.finditer(DOC.read_text()) if m.group(1)]


def test_the_doc_marks_the_examples_the_issue_asks_for() -> None:
    text = "\n".join(_tested_blocks())
    for needed in ("console tokens create", "/api/v1/tenants", "review_pack_generate", "If-None-Match", "/download"):
        assert needed in text, needed
    assert "/cancel" in text and "/retry" in text


@pytest.mark.parametrize(("server", "backend", "broker"), WEB_STACKS, ids=["-".join(p) for p in WEB_STACKS])
def test_every_tested_example_runs_against_a_live_console(tmp_path, server, backend, broker) -> None:
    gate = tmp_path / "hold-inventory"
    gate.touch()
    faults = json.dumps({"hold": {"file": str(gate), "units": ["type:*"]}})
    stack_gen = open_stack(backend, broker, tmp_path, {"CONSOLE_PROVIDER_FAULTS": faults})
    stack = next(stack_gen)
    exit_stack = ExitStack()
    try:
        world = make_world(stack, role="manager")
        env = stack.env | {"PATH": str(Path(sys.executable).parent) + ":" + stack.env.get("PATH", "/usr/bin:/bin")}
        web = exit_stack.enter_context(web_server(server, env, tmp_path))
        env |= {"CONSOLE_URL": web.url, "ADMIN_EMAIL": world.email, "PYTHONPATH": str(REPO)}
        script = "set -euo pipefail\n" + "".join(f"{block}\necho {MARK}\n" for block in _tested_blocks())
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        outputs = done.stdout.split(MARK + "\n")
        tenants, started, polled, listing, cancel_retry = outputs[:5]
        assert json.loads(tenants)["items"][0]["id"] == world.tenant_id
        assert started == ""
        assert polled.startswith("completed succeeded {'id': ") and "'status': 'ready'" in polled
        assert "manifest.json" in listing and "policies.csv" in listing
        cancelled, retried = (json.loads(line) for line in cancel_retry.strip().splitlines())
        assert (cancelled["status"], cancelled["outcome"]) == ("completed", "cancelled")
        assert retried["type"] == "inventory_sync" and retried["id"] != cancelled["id"]
        assert retried["status"] in ("queued", "running")
    finally:
        gate.unlink(missing_ok=True)
        exit_stack.close()
        stack_gen.close()
