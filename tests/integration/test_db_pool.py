"""Connections are pooled on SQLite as on PostgreSQL: polls reuse them (no file open and three
PRAGMAs per request), threads share the pool safely, and a database file that is gone is still
an outage — a pooled connection is never used past it."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.pool import QueuePool

from console.db import Database, is_outage
from tests.integration.test_ui_callbacks_runs import _make_run, _response, run_poll
from tests.support.faults import database_outage
from tests.support.web import login


def _connects(engine) -> list[int]:
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_a: opened.append(1))
    return opened


def test_polls_reuse_pooled_connections(web_app, client, world) -> None:
    """SQLite and PostgreSQL alike: after the first requests, polls open no connection."""
    engine = web_app.server.extensions["console.db"].engine
    assert isinstance(engine.pool, QueuePool)
    run_id = _make_run(web_app, world)
    login(client, "manager@test.example")
    first = _response(run_poll(client, web_app, run_id))
    fingerprint, policy = first["run-fingerprint"]["data"], first["run-poll-policy"]["data"]
    opened = _connects(engine)
    for n in range(20):
        assert run_poll(client, web_app, run_id, fingerprint, policy, n=n + 2).status_code == 204
        assert client.get("/healthz").status_code == 200
    assert opened == [], f"{len(opened)} connections opened for 20 polls"


def test_sqlite_threads_share_the_pool_and_a_gone_file_is_an_outage(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n INTEGER)"))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                with db.engine.begin() as conn:
                    conn.execute(text("INSERT INTO t VALUES (1)"))
                with db.engine.connect() as conn:
                    conn.execute(text("SELECT count(*) FROM t")).scalar_one()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 150
    assert db.engine.pool.checkedin() >= 1  # connections kept for the next request

    with database_outage(url):
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM t")).scalar_one()
        except Exception as err:  # noqa: BLE001 - the assertion names it
            assert is_outage(err), err
        else:
            raise AssertionError("a pooled connection read a database whose file is gone")
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 150
    db.dispose()
