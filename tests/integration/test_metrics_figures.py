"""console.operations.figures on SQLite (and PostgreSQL when configured): the per-process sums of
settled runs (what keeps a scrape cheap at 50,000 runs) always equal a full re-count, also when
runs appear below the horizon (ids visible out of order) or vanish (cascade deletes)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import delete, insert, update

from console.accounts.service import create_tenant, create_workspace
from console.db import utcnow
from console.operations.figures import RunFigures, SettledRuns, run_figures, tally_runs
from console.operations.models import OperationRun
from tests.support.db import queries, sql_statements


def _runs(session, tenant, rows: list[tuple[str, str | None]], **extra) -> list[int]:
    now = utcnow()
    ids = []
    for status, outcome in rows:
        started = now - timedelta(seconds=100) if status != "queued" else None
        ids.append(
            session.execute(
                insert(OperationRun)
                .values(
                    workspace_id=tenant.workspace_id,
                    tenant_id=tenant.id,
                    type="inventory_sync",
                    status=status,
                    outcome=outcome,
                    summary_counts={"total": 4, "processed": 4 if status == "completed" else 1},
                    context={},
                    created_at=now - timedelta(seconds=200),
                    started_at=started,
                    completed_at=now - timedelta(seconds=10) if status == "completed" else None,
                    **extra,
                )
                .returning(OperationRun.id)
            ).scalar_one()
        )
    session.commit()
    return ids


def _rounded(figures: RunFigures) -> RunFigures:
    """Sums of float seconds differ in the last bits with the order they were added in."""
    return replace(
        figures,
        durations={t: replace(h, total_seconds=round(h.total_seconds, 3)) for t, h in figures.durations.items()},
    )


def test_settled_sums_equal_a_full_count_while_runs_come_go_and_settle(database) -> None:
    with database.session() as s:
        ws = create_workspace(session=s, name="W")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="t")
        done = [("completed", "succeeded")] * 3
        first = _runs(s, tenant, done)
        (active,) = _runs(s, tenant, [("running", None)])
        later = _runs(s, tenant, done + [("completed", "failed")])
        settled = SettledRuns()

        def check(verify_seconds: float = 0.0) -> None:
            got = run_figures(session=s, settled=settled, verify_seconds=verify_seconds)
            assert _rounded(got) == _rounded(run_figures(session=s))

        check()
        assert settled.horizon == active - 1  # everything below the oldest active run is final
        assert settled.tally.runs == 3
        # Unchanged: only the tail is read again (runs above the horizon), never the settled part.
        with sql_statements(database.engine) as statements:
            check(verify_seconds=3600)
        tallies = [q for q in queries(statements) if "GROUP BY" in q]
        assert len(tallies) == 2  # the full count in check(), and the settled call's tail only
        assert not any(" AND id <= " in q for q in tallies)

        # The active run completes: the horizon moves past everything.
        s.execute(
            update(OperationRun)
            .where(OperationRun.id == active)
            .values(status="completed", outcome="succeeded", completed_at=utcnow())
        )
        s.commit()
        check()
        assert settled.horizon == later[-1]
        figures = run_figures(session=s, settled=settled)
        assert figures.completed[("inventory_sync", "succeeded")] == 7
        assert figures.units_processed["inventory_sync"] == 7 * 4 + 1  # the formerly active run processed 1

        # A run vanishes below the horizon (a tenant deleted with its runs): unseen until the
        # next check of the settled runs (at most VERIFY_SECONDS later), then counted again, lower.
        s.execute(delete(OperationRun).where(OperationRun.id == first[1]))
        s.commit()
        assert (
            run_figures(session=s, settled=settled, verify_seconds=3600).completed[("inventory_sync", "succeeded")] == 7
        )
        check()
        assert run_figures(session=s, settled=settled).completed[("inventory_sync", "succeeded")] == 6

        # A run becomes visible below the horizon (its id was handed out before a later commit):
        # queued, it is seen at once (the oldest active id falls below the horizon)...
        _runs(s, tenant, [("queued", None)], id=first[1])
        check(verify_seconds=3600)
        assert settled.horizon == first[1] - 1
        # ...already completed, at the next check of the settled runs.
        s.execute(delete(OperationRun).where(OperationRun.id == first[1]))
        s.commit()
        check()
        _runs(s, tenant, [("completed", "cancelled")], id=first[1])
        check()
        assert run_figures(session=s, settled=settled).completed[("inventory_sync", "cancelled")] == 1


def test_a_tally_over_an_id_range_reads_only_that_range(database) -> None:
    with database.session() as s:
        ws = create_workspace(session=s, name="W")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="t")
        ids = _runs(s, tenant, [("completed", "succeeded"), ("completed", "failed"), ("queued", None)])
        assert tally_runs(session=s, after_id=ids[0], upto_id=ids[1]).completed == {("inventory_sync", "failed"): 1}
        tail = tally_runs(session=s, after_id=ids[1])
        assert tail.active == {("inventory_sync", "queued"): 1} and tail.completed == {}
