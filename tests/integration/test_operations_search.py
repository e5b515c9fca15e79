"""The operations list's free-text search (console.operations.search) finds the same runs on
SQLite and PostgreSQL — type label, initiator, failure text, ``#id``, letters outside ASCII,
``%`` and ``_`` taken literally — and on PostgreSQL it is answered from migration 0007's indexes
(or, where ``pg_trgm`` may not be installed, still answered, without the trigram index)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.engine import make_url

from console.access import load_principal
from console.accounts.models import User
from console.db import Database, utcnow
from console.migrate import TRIGRAM_DDL, upgrade
from console.operations import registry
from console.operations.models import OperationRun
from console.operations.queries import RowsRequest, RunFilters, run_page
from console.operations.search import search_clause
from tests.factories import build_world
from tests.support.db import PG_URL, fresh_database_url, scratch_postgres_database

#: (failure text, initiator role, type) of the runs every test searches.
RUNS = [
    ("Provider said 50% of QUOTA_used", "manager", "baseline_compare"),
    ("provider said 5 of quota-used", "operator", "inventory_sync"),
    ("Zeitüberschreitung beim ÄNDERN der Richtlinie", "owner", "backup_set_restore"),
    (None, "operator", "review_pack_generate"),
    ("timeout after 30 s (ticket 4711)", "manager", "evidence_snapshot_generate"),
]
QUERIES = [
    "quota_used",  # failure text, case folded; "_" literal: not "quota-used"
    "50%",  # "%" literal
    "5_%",
    "a_u",
    "zeitüber",  # letters outside ASCII, folded on both backends
    "ändern",
    "RICHTLINIE",
    "Ünicode",  # the initiator's name outside ASCII
    "operator",  # the initiator's name
    "backup restore",  # the type's label
    "Review",
    "inventory_sync",  # the type's name
    "4711",  # a number: the id or the text
    "timeout",
    "nothing like this",
]


Searched = tuple[Database, int, dict[int, tuple[str | None, str, str]]]


@pytest.fixture
def searched(empty_db_url) -> Iterator[Searched]:
    with seeded(empty_db_url) as value:
        yield value


@contextmanager
def seeded(url: str) -> Iterator[Searched]:
    """A migrated database with the world, the runs above in tenant a1 and one in workspace B;
    the manager's id and {run id: (failure text, initiator name, type)} of what the manager sees."""
    upgrade(url)
    db = Database(url)
    try:
        with db.session() as s:
            world = build_world(s)
            s.get(User, world.users["owner"]).name = "Zoë Ünicode"
            names = {role: s.get(User, uid).name for role, uid in world.users.items()}
            made: dict[int, tuple[str | None, str, str]] = {}
            for i, (failure, role, type_) in enumerate([*RUNS, ("QUOTA_used elsewhere", "manager", "inventory_sync")]):
                run = OperationRun(
                    workspace_id=world.workspace_id if i < len(RUNS) else world.other_workspace_id,
                    tenant_id=world.tenant_ids[0] if i < len(RUNS) else world.other_tenant_id,
                    type=type_,
                    status="completed",
                    outcome="failed" if failure else "succeeded",
                    summary_counts={},
                    context={},
                    failure_summary=failure,
                    initiator_user_id=world.users[role],
                    created_at=utcnow() - timedelta(minutes=i),
                )
                s.add(run)
                s.flush()
                if i < len(RUNS):
                    made[run.id] = (failure, names[role], type_)
            s.commit()
        yield db, world.users["manager"], made
    finally:
        db.dispose()


def expected(q: str, runs: dict[int, tuple[str | None, str, str]]) -> set[int]:
    """The search rule read plainly: what the clause must find."""
    text_ = q.strip()
    if text_.startswith("#") and text_[1:].isdigit():
        return {int(text_[1:])} & set(runs)
    needle = text_.lower()
    labels = {spec.type: spec.label.lower() for spec in registry.specs()}
    return {
        run_id
        for run_id, (failure, who, type_) in runs.items()
        if needle in (failure or "").lower()
        or needle in who.lower()
        or needle in labels.get(type_, "")
        or needle in type_
        or (text_.isdigit() and int(text_) == run_id)
    }


def found(db: Database, manager_id: int, q: str) -> set[int]:
    with db.session() as s:
        who = load_principal(session=s, user_id=manager_id)
        page = run_page(session=s, principal=who, filters=RunFilters(q=q), request=RowsRequest(0, 100, ()))
        return {r.id for r in page.rows}


def test_search_finds_exactly_what_the_rule_says_on_every_backend(searched) -> None:
    db, manager_id, runs = searched
    by_id = sorted(runs)
    for q in [*QUERIES, f"#{by_id[2]}", f" #{by_id[0]} ", str(by_id[1]), "#999999999"]:
        assert found(db, manager_id, q) == expected(q, runs), q
    # The rule itself, on the rows above (so the comparison is not vacuous):
    failures = {failure: run_id for run_id, (failure, _who, _type) in runs.items()}
    assert expected("quota_used", runs) == {failures["Provider said 50% of QUOTA_used"]}
    assert expected("5_%", runs) == set() and expected("a_u", runs) == {failures["Provider said 50% of QUOTA_used"]}
    assert expected("ändern", runs) == {failures["Zeitüberschreitung beim ÄNDERN der Richtlinie"]}
    assert expected("Ünicode", runs) == {failures["Zeitüberschreitung beim ÄNDERN der Richtlinie"]}
    assert len(expected("operator", runs)) == 2 and expected("nothing like this", runs) == set()


def test_a_name_matching_more_users_than_the_limit_still_finds_their_runs(searched, monkeypatch) -> None:
    """Past MAX_INITIATORS matching users the initiator arm is a subquery again: same runs."""
    from console.operations import search

    db, manager_id, runs = searched
    monkeypatch.setattr(search, "MAX_INITIATORS", 0)
    assert found(db, manager_id, "operator") == expected("operator", runs) != set()


def search_plan(db: Database, q: str) -> tuple[str, str]:
    """The search clause alone (``SELECT id FROM operation_runs WHERE <clause>``) as the driver
    receives it, and its plan with sequential scans priced out: the question is whether an index
    *can* answer every arm of the ``OR`` (on a test-sized table a scan is cheapest anyway; which
    plan wins at 1,000,000 runs is bench/dashboard_render.py's figure)."""
    seen: list[tuple[str, object]] = []

    def _before(_conn, _cursor, statement, params, _context, _executemany):
        seen.append((statement, params))

    with db.session() as s:
        clause = search_clause(q, session=s)
        event.listen(db.engine, "before_cursor_execute", _before)
        try:
            s.execute(select(OperationRun.id).where(clause)).all()
        finally:
            event.remove(db.engine, "before_cursor_execute", _before)
    statement, params = seen[-1]
    if db.engine.dialect.name != "postgresql":
        return statement, ""
    raw = db.engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cur:
            cur.execute("SET LOCAL enable_seqscan = off")
            cur.execute("EXPLAIN " + statement, params)
            return statement, "\n".join(r[0] for r in cur.fetchall())
    finally:
        raw.driver_connection.rollback()
        raw.close()


def test_every_arm_of_the_search_can_be_answered_from_an_index_on_postgresql(searched) -> None:
    """PostgreSQL can reach the failure text through the trigram index and the initiator through
    its own index, so the ``OR`` is a BitmapOr of index scans (an ``IN (subquery)`` inside the
    ``OR`` could not be one). SQLite has the initiator index and folds case with ``console_lower``."""
    db, _manager_id, _runs = searched
    with db.engine.connect() as conn:
        indexes = {
            name: str(sql)
            for name, sql in conn.execute(
                text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'operation_runs'")
                if db.engine.dialect.name == "postgresql"
                else text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'operation_runs'")
            )
        }
    assert "(initiator_user_id)" in indexes["ix_operation_runs_initiator"]
    statement, plan = search_plan(db, "operator")  # a user's name, and (no) failure text
    if db.engine.dialect.name == "sqlite":
        assert "ix_operation_runs_failure_trgm" not in indexes
        assert "console_lower(operation_runs.failure_summary) LIKE" in statement
        return
    assert "gin_trgm_ops" in indexes["ix_operation_runs_failure_trgm"]
    assert "lower(failure_summary)" in indexes["ix_operation_runs_failure_trgm"]
    assert "BitmapOr" in plan, plan
    assert "ix_operation_runs_failure_trgm" in plan and "ix_operation_runs_initiator" in plan, plan


@contextmanager
def role_without_create_extension() -> Iterator[str]:
    """A scratch database and a login role that owns its ``public`` schema (so it can migrate)
    but holds no CREATE on the database, so it may not ``CREATE EXTENSION pg_trgm``; its URL."""
    role = f"console_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        with scratch_postgres_database(PG_URL, prefix="console_test") as url:
            owner = create_engine(url, isolation_level="AUTOCOMMIT")
            try:
                with owner.connect() as conn:
                    name = make_url(url).database
                    conn.execute(text(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC'))
                    conn.execute(text(f'ALTER SCHEMA public OWNER TO "{role}"'))
            finally:
                owner.dispose()
            yield make_url(url).set(username=role, password=None).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


@contextmanager
def no_trigram_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database where pg_trgm cannot be had: PostgreSQL as a role without the privilege; SQLite."""
    if backend == "postgresql":
        with role_without_create_extension() as url:
            yield url
    else:
        with fresh_database_url(backend, tmp_path) as url:
            yield url


def test_without_the_privilege_for_pg_trgm_the_migration_says_so_and_search_still_works(
    db_backend, tmp_path, caplog
) -> None:
    with no_trigram_database(db_backend, tmp_path) as url:
        with caplog.at_level(logging.WARNING, logger="console.migrations"):
            with seeded(url) as (db, manager_id, runs):
                indexes = {ix["name"] for ix in inspect(db.engine).get_indexes("operation_runs")}
                assert "ix_operation_runs_failure_trgm" not in indexes
                assert "ix_operation_runs_initiator" in indexes
                for q in ("quota_used", "zeitüber", "operator", "backup restore"):
                    assert found(db, manager_id, q) == expected(q, runs) != set(), q
    skipped = [r.getMessage() for r in caplog.records if r.name == "console.migrations"]
    if db_backend == "sqlite":  # nothing to skip there: no trigram index on SQLite, by design
        assert skipped == []
        return
    assert len(skipped) == 1, skipped
    assert "ix_operation_runs_failure_trgm state=skipped" in skipped[0]
    assert "may not CREATE EXTENSION pg_trgm" in skipped[0]


def test_the_deployment_runbook_gives_the_trigram_index_statement_the_migration_runs() -> None:
    """An operator who installs pg_trgm after migration 0007 ran creates exactly its index."""
    runbook = (Path(__file__).resolve().parents[2] / "docs" / "deployment.md").read_text()
    assert TRIGRAM_DDL + ";" in runbook
    assert "state=skipped" in runbook and "CREATE EXTENSION IF NOT EXISTS pg_trgm;" in runbook
