"""Fault: the database goes away while pages poll and while a fan-out restore runs — then returns.

The outage (``database_outage``, tests/support/faults.py) is real and scoped to the test's own database:

* PostgreSQL: ``ALTER DATABASE … ALLOW_CONNECTIONS false`` (superusers included) and
  ``pg_terminate_backend`` for every connection to it — what a restart or failover looks like
  to the app (open connections die, new ones are refused) — then ``ALLOW_CONNECTIONS true``.
* SQLite: the database path points nowhere (the volume is gone: "unable to open database
  file"), its WAL files are moved away; then everything is put back.

Expected: a poll answers 200 with the *lost* policy (the page shows "Connection lost —
retrying" and backs off) instead of a 500 stack; the first poll after the database returns
answers the surface's real policy again. During a fan-out restore the children retry, and at
the end processed == total == distinct ledger rows: no count lost, none doubled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from console.backups.models import BackupSetItem
from console.db import utcnow
from console.operations.models import OperationRun, OperationRunUnit
from console.operations.service import counts_of
from console.operations.summary import normalize_counts
from tests.integration.worker import (
    STACKS,
    Stack,
    closed_gate,
    load_run,
    make_world,
    open_stack,
    start,
    start_with_faults,
    wait_run,
    wait_until,
)
from tests.support.faults import database_outage
from tests.support.web import login, post_callback, real_app

pytestmark = pytest.mark.filterwarnings("ignore:.*noload.*")

# --------------------------------------------------------------------------- polling


@pytest.fixture
def console(empty_db_url, tmp_path) -> Iterator[Any]:
    """The real app (embedded broker, real dispatcher) on a fresh database of each backend."""
    with real_app(empty_db_url, tmp_path) as app:
        yield app


def callback(app, client, output_fragment: str, inputs, state, changed: str):
    return post_callback(client, app, output_fragment, inputs, state, [changed])


def run_poll(app, client, run_id: int, fingerprint: Any, policy: Any):
    return callback(
        app,
        client,
        "run-view.children",
        [("run-poll", "n_intervals", 5), ("run-viewer-run-kick", "data", None)],
        [("run-id", "data", run_id), ("run-fingerprint", "data", fingerprint), ("run-poll-policy", "data", policy)],
        "run-poll.n_intervals",
    )


def shell_poll(app, client, fingerprint: Any, policy: Any, seen: Any):
    return callback(
        app,
        client,
        "activity-shell.children",
        [
            ("_pages_location", "pathname", "/"),
            ("activity-poll", "n_intervals", 5),
            ("activity-kick", "data", None),
            ("activity-run-kick", "data", None),
        ],
        [
            ("activity-fingerprint", "data", fingerprint),
            ("activity-policy", "data", policy),
            ("activity-seen", "data", seen),
        ],
        "activity-poll.n_intervals",
    )


OPS_PAGE = {"startRow": 0, "endRow": 25, "sortModel": [], "filterModel": {}}


def tenant_polls(app, client, tenant_id: int, policy: Any) -> dict[str, Any]:
    """The review-pack card's, the tenant dashboard's and the operations list's polls, each sent
    with ``policy`` as the page's current policy (signatures: what an open page would hold)."""
    return {
        "review-pack-poll-policy": callback(
            app,
            client,
            "review-pack-body.children",
            [("review-pack-poll", "n_intervals", 5), ("review-pack-run-kick", "data", None)],
            [
                ("tenant-id", "data", tenant_id),
                ("review-pack-signature", "data", "shown"),
                ("review-pack-poll-policy", "data", policy),
            ],
            "review-pack-poll.n_intervals",
        ),
        "dashboard-poll-policy": callback(
            app,
            client,
            "tenant-kpis.children",
            [
                ("dashboard-poll", "n_intervals", 5),
                ("dashboard-refresh", "data", None),
                ("dashboard-run-kick", "data", None),
            ],
            [
                ("tenant-id", "data", tenant_id),
                ("dashboard-signature", "data", "shown"),
                ("dashboard-poll-policy", "data", policy),
            ],
            "dashboard-poll.n_intervals",
        ),
        "operations-poll-policy": callback(
            app,
            client,
            "operations-refresh.data",
            [("operations-poll", "n_intervals", 5), ("operations-run-kick", "data", None)],
            [
                ("operations-table", "getRowsRequest", OPS_PAGE),
                ("ops-filter-type", "value", ""),
                ("ops-filter-status", "value", ""),
                ("ops-filter-outcome", "value", ""),
                ("ops-filter-tenant", "value", ""),
                ("ops-filter-from", "value", None),
                ("ops-filter-to", "value", None),
                ("ops-filter-q", "value", ""),
                ("operations-signature", "data", "shown"),
                ("operations-poll-policy", "data", policy),
            ],
            "operations-poll.n_intervals",
        ),
    }


def answer(r) -> dict[str, Any]:
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True)[:300])
    return r.get_json()["response"]


def test_polls_answer_connection_lost_while_the_database_is_down_and_recover_by_themselves(console, caplog) -> None:
    app, world = console, console.world
    with app.server.extensions["console.db"].session() as s:
        run = OperationRun(
            workspace_id=world.workspace_id,
            tenant_id=world.tenant_ids[0],
            type="inventory_sync",
            status="running",
            summary_counts={"total": 10, "processed": 3},
            context={},
            initiator_user_id=world.users["manager"],
            created_at=utcnow() - timedelta(seconds=30),
            started_at=utcnow() - timedelta(seconds=30),
        )
        s.add(run)
        s.commit()
        run_id = run.id
    client = app.server.test_client()
    login(client, "manager@test.example")
    first = answer(run_poll(app, client, run_id, None, None))
    fingerprint, policy = first["run-fingerprint"]["data"], first["run-poll-policy"]["data"]
    shell = answer(shell_poll(app, client, None, None, None))
    shell_fp, shell_policy, seen = (
        shell["activity-fingerprint"]["data"],
        shell["activity-policy"]["data"],
        shell["activity-seen"]["data"],
    )
    assert policy == {"interval": 5000} and shell_policy == {"interval": 5000}

    with database_outage(app.database_url):
        down_at = time.monotonic()
        lost = run_poll(app, client, run_id, fingerprint, policy)
        shell_lost = shell_poll(app, client, shell_fp, shell_policy, seen)
        # Each poll answers 200 with only its policy store: lost, nothing else touched (the
        # page keeps what it showed, under the banner).
        for response, store in ((lost, "run-poll-policy"), (shell_lost, "activity-policy")):
            body = answer(response)
            assert list(body) == [store] and body[store]["data"]["lost"] is True
        # The tenant pages' polls (review-pack card, dashboard, operations list) opt in too.
        for store, response in tenant_polls(app, client, world.tenant_ids[0], {"interval": 5000}).items():
            body = answer(response)
            assert list(body) == [store] and body[store]["data"]["lost"] is True, store
        lost_policy = answer(lost)["run-poll-policy"]["data"]
        # A second failed poll is again "lost" (the guard backs off further in the browser).
        again = answer(run_poll(app, client, run_id, fingerprint, lost_policy))["run-poll-policy"]["data"]
        assert again["lost"] is True and again["at"] >= lost_policy["at"]
        # Pages, health and buttons: 503 without a stack trace (never the generic 500).
        page = client.get(f"/admin/operations/{run_id}", headers={"Accept": "text/html"})
        assert (
            page.status_code == 503
            and page.headers["Retry-After"]
            and "cannot reach its database" in page.get_data(as_text=True)
        )
        health = client.get("/healthz")
        assert (health.status_code, health.get_json()["database"]) == (503, "error")
        press = callback(
            app,
            client,
            "op-confirm-modal.is_open",
            [("op-confirm", "n_clicks", 1)],
            [("op-pending", "data", "inventory_sync"), ("tenant-id", "data", world.tenant_ids[0])],
            "op-confirm.n_clicks",
        )
        assert press.status_code == 503 and press.get_json() == {
            "error": "the database is unreachable; try again shortly"
        }
        outage_s = time.monotonic() - down_at

    back_at = time.monotonic()
    recovered = answer(run_poll(app, client, run_id, fingerprint, again))
    # The same data (fingerprint unchanged), so only the real policy comes back: the guard hides
    # the banner and polls at the run's cadence again.
    assert recovered == {"run-poll-policy": {"data": {"interval": 5000}}}
    shell_back = answer(shell_poll(app, client, shell_fp, answer(shell_lost)["activity-policy"]["data"], seen))
    assert shell_back == {"activity-policy": {"data": {"interval": 5000}}}
    assert run_poll(app, client, run_id, fingerprint, {"interval": 5000}).status_code == 204  # and no churn after
    # The tenant pages recover too: their real policy replaces the lost one (the running run
    # makes the dashboard and the list poll; the card has no pack, so its policy is None).
    for store, response in tenant_polls(app, client, world.tenant_ids[0], lost_policy).items():
        body = answer(response)
        assert store in body and not (body[store]["data"] or {}).get("lost"), (store, body[store])
    print(
        f"\nFAULT database-down-polling db={make_url(app.database_url).get_backend_name()}: "
        f"polls answered 'lost' (200) during a {outage_s:.2f} s outage; "
        f"first poll after the database returned recovered in {time.monotonic() - back_at:.3f} s"
    )
    assert "Traceback" not in caplog.text
    assert "event=database_unreachable" in caplog.text


def test_a_wrong_query_is_still_a_500_not_a_connection_lost(console) -> None:
    """The banner is for outages only: SQLite reports a missing table as OperationalError too,
    and that must stay a loud 500 (logged with its traceback), never a silent retry loop."""
    app = console
    client = app.server.test_client()
    login(client, "manager@test.example")
    with app.server.extensions["console.db"].engine.begin() as conn:
        conn.execute(text("DROP TABLE notifications"))  # a broken migration, say
    r = shell_poll(app, client, None, None, None)
    assert r.status_code == 500 and "lost" not in r.get_data(as_text=True)


# --------------------------------------------------------------------------- fan-out


@pytest.fixture(scope="module", params=STACKS, ids=[f"{d}-{b}" for d, b in STACKS])
def stack(request, tmp_path_factory) -> Iterator[Stack]:
    backend, broker = request.param
    yield from open_stack(backend, broker, tmp_path_factory.mktemp(f"faults-db-{backend}-{broker}"))


def test_cutting_the_database_mid_fan_out_loses_and_doubles_no_count(stack: Stack, tmp_path: Path) -> None:
    world = make_world(stack)
    add = wait_run(stack, start(stack, world, "backup_set_add_policies"))
    with stack.db.session() as s:
        item_ids = list(
            s.scalars(
                select(BackupSetItem.id)
                .where(BackupSetItem.backup_set_id == add.context["backup_set_id"])
                .order_by(BackupSetItem.id)
            )
        )
    items = len(item_ids)
    observer = create_engine(stack.database_url, poolclass=NullPool)

    def processed(run_id: int) -> int:
        with observer.connect() as conn:
            return normalize_counts(
                conn.execute(select(OperationRun.summary_counts).where(OperationRun.id == run_id)).scalar_one()
            ).get("processed", 0)

    # Three children restore; the rest wait at a gate that opens once the database is gone, so
    # they meet the outage whatever the machine's speed.
    gate, held = closed_gate(tmp_path, [f"item:{i}" for i in item_ids[3:]])
    run_id = start_with_faults(stack, world, "backup_set_restore", held)
    wait_until(lambda: processed(run_id) >= 3, stack=stack, what="restore under way", interval=0.02)
    observer.dispose()
    with database_outage(stack.database_url):
        gate.unlink()
        time.sleep(1.5)  # children fail, back off and retry (0.5 s, 1 s, 2 s)
    back_at = time.monotonic()
    run = wait_run(stack, run_id, timeout=60)
    recovered = time.monotonic() - back_at

    with stack.db.session() as s:
        keys = list(s.scalars(select(OperationRunUnit.unit_key).where(OperationRunUnit.run_id == run_id)))
    counts = counts_of(run)
    retries = stack.worker.log().count(f"event=restore_item_retry run_id={run_id} ")
    print(
        f"\nFAULT database-cut-fan-out db={stack.backend} broker={stack.broker}: "
        f"1.5 s outage, {retries} child retries, run completed {recovered:.1f} s after the database returned; "
        f"processed {counts['processed']} of {counts['total']}"
    )
    assert retries >= 1  # the outage really hit the children
    assert (run.status, run.outcome) == ("completed", "succeeded")
    assert counts["processed"] == counts["total"] == counts["succeeded"] == items == len(keys) == len(set(keys))
    assert load_run(stack, run_id).completed_at == run.completed_at
