"""Alembic migrations and the models describe the same schema on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from console.db import make_engine
from console.migrate import alembic_config, include_object, upgrade
from console.models import Base

CONTRACT_TABLES = {
    "workspaces",
    "users",
    "workspace_memberships",
    "tenants",
    "tenant_grants",
    "operation_runs",
    "operation_run_units",
    "review_packs",
    "evidence_snapshots",
    "policies",
    "inventory_items",
    "backup_sets",
    "baselines",
    "notifications",
    "audit_events",
    "api_tokens",
}


def test_upgrade_creates_every_contract_table_and_autogenerate_finds_no_drift(empty_db_url) -> None:
    upgrade(empty_db_url)
    upgrade(empty_db_url)  # idempotent
    engine = make_engine(empty_db_url)
    try:
        assert CONTRACT_TABLES <= set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
            diff = compare_metadata(context, Base.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_the_schema(empty_db_url) -> None:
    upgrade(empty_db_url)
    command.downgrade(alembic_config(empty_db_url), "base")
    engine = make_engine(empty_db_url)
    try:
        assert not CONTRACT_TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
