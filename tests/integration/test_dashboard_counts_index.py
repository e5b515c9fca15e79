"""The tenant dashboard's runs per day (and the KPIs summed from them) are counted from migration
0007's index alone — no read of the runs table — on SQLite and PostgreSQL, and count right."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import event

from console.db import Database, utcnow
from console.migrate import upgrade
from console.operations.models import OperationRun
from console.operations.queries import runs_per_day
from tests.factories import build_world

INDEX = "ix_operation_runs_tenant_created_status"


def test_runs_per_day_are_counted_from_the_covering_index(empty_db_url) -> None:
    upgrade(empty_db_url)
    db = Database(empty_db_url)
    try:
        now = utcnow()
        with db.session() as s:
            world = build_world(s)
            tenant, other = world.tenant_ids
            outcomes = ["succeeded", "failed", "succeeded", None]
            for i in range(40):
                s.add(
                    OperationRun(
                        workspace_id=world.workspace_id,
                        tenant_id=tenant if i % 4 else other,
                        type="inventory_sync",
                        status="running" if outcomes[i % 4] is None else "completed",
                        outcome=outcomes[i % 4],
                        summary_counts={},
                        context={},
                        created_at=now - timedelta(days=i),
                    )
                )
            s.commit()
        seen: list[tuple[str, object]] = []

        def _before(_conn, _cursor, statement, params, _context, _executemany):
            seen.append((statement, params))

        event.listen(db.engine, "before_cursor_execute", _before)
        try:
            with db.session() as s:
                counted = runs_per_day(session=s, tenant_id=tenant, since=now - timedelta(days=30, hours=1))
        finally:
            event.remove(db.engine, "before_cursor_execute", _before)
        # What it counts: the tenant's runs of the last 30 days (days 0..30: 23 of them, the
        # other tenant's every fourth left out), by status and outcome.
        by_bucket: Counter[tuple[str, str | None]] = Counter()
        for day in counted:
            by_bucket[(day.status, day.outcome)] += day.count
        assert by_bucket == Counter({("completed", "succeeded"): 8, ("completed", "failed"): 8, ("running", None): 7})
        statement, params = next((st, p) for st, p in seen if "GROUP BY" in st)
        plan = _plan(db, statement, params)
        if db.engine.dialect.name == "sqlite":
            assert f"USING COVERING INDEX {INDEX}" in plan, plan
        else:
            assert f"Index Only Scan using {INDEX}" in plan, plan
    finally:
        db.dispose()


def _plan(db: Database, statement: str, params: object) -> str:
    """The plan of ``statement``; on PostgreSQL with the table vacuumed (so the visibility map lets
    an index-only scan skip the table) and other scans priced out (the table is test-sized)."""
    raw = db.engine.raw_connection()
    try:
        if db.engine.dialect.name == "sqlite":
            cur = raw.driver_connection.cursor()
            cur.execute("EXPLAIN QUERY PLAN " + statement, params)
            return "\n".join(str(row[-1]) for row in cur.fetchall())
        pg = raw.driver_connection
        pg.autocommit = True
        with pg.cursor() as cur:
            cur.execute("VACUUM ANALYZE operation_runs")
            cur.execute("SET enable_seqscan = off")
            cur.execute("SET enable_bitmapscan = off")
            cur.execute("EXPLAIN " + statement, params)
            plan = "\n".join(r[0] for r in cur.fetchall())
            cur.execute("RESET ALL")
        pg.autocommit = False
        return plan
    finally:
        raw.close()
