"""A real database outage, scoped to one test's own database.

* PostgreSQL: ``ALTER DATABASE … ALLOW_CONNECTIONS false`` (superusers included) and
  ``pg_terminate_backend`` for every connection to it — what a restart or failover looks like
  to the app (open connections die, new ones are refused) — then ``ALLOW_CONNECTIONS true``.
* SQLite: the database path points nowhere (the volume is gone: "unable to open database
  file"), its WAL files are moved away; then everything is put back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


@contextmanager
def database_outage(database_url: str) -> Iterator[None]:
    """The database is unreachable inside the block (see the module docstring for how)."""
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
        name = url.database
        try:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
            yield
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            admin.dispose()
        return
    # SQLite: the path atomically becomes a dangling symlink (opening it fails: "unable to open
    # database file"); connections already open keep their files. Every swap is one rename, so
    # no connection can ever create a fresh empty database at the path in between.
    path = Path(url.database)
    away = path.with_name(path.name + ".away")
    blocker = path.with_name(path.name + ".blocker")
    os.link(path, away)
    blocker.symlink_to(path.parent / "gone" / path.name)
    os.replace(blocker, path)
    journals = [(p, p.with_name(p.name + ".away")) for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    for src, dst in journals:
        os.replace(src, dst)
    try:
        yield
    finally:
        for src, dst in journals:  # the WAL first: whoever opens the database next must see it
            os.replace(dst, src)
        os.replace(away, path)
