"""Where a web process's MiB go: ``python -m bench.web_memory``.

A child process builds the app as a web process does (``create_app()``, plus obstore's import as an
``s3://`` web process has) and lists the modules that brought in, in import order. A fresh process
then imports that list in the same order, adding each module's RSS growth to the group its
top-level package belongs to, then imports the console's own modules and calls ``create_app()``.
Nothing but the standard library is imported before the measurement starts, so the first row is
the bare interpreter. Order matters (a shared library lands in the group that loads it first); the
rows add up to the total. The bench's warm processes (bench/pack_storage.py) hold a few MiB more:
requests served, sessions, caches, the S3 store and its first requests.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


#: Top-level packages by what they are there for (anything else: the standard library and C extensions).
GROUPS = {
    "Dash + plotly + narwhals + pydantic + dbc + ag-grid": (
        "dash _plotly_utils plotly narwhals pydantic pydantic_core annotated_types typing_inspection"
        " dash_bootstrap_components dash_ag_grid retrying nest_asyncio typing_extensions"
    ),
    "SQLAlchemy + psycopg": "sqlalchemy psycopg psycopg_binary greenlet",
    "Flask, Werkzeug, Jinja2, click + extensions (login, WTF, Limiter, smorest, prometheus, argon2)": (
        "flask werkzeug jinja2 click itsdangerous markupsafe blinker flask_login flask_wtf wtforms"
        " flask_limiter limits flask_smorest marshmallow apispec webargs prometheus_client argon2"
        " _argon2_cffi_bindings cffi _cffi_backend deprecated wrapt ordered_set rich flask_bootstrap"
        " swagger_ui_bundle yaml packaging markdown_it mdurl pygments"
    ),
    "Celery + kombu (the dispatcher)": "celery kombu amqp vine billiard dateutil click_didyoumean click_repl"
    " click_plugins redis tzlocal tzdata six",
    "obstore (import)": "obstore",
}


def web_modules() -> list[str]:
    """Child: the modules a web process holds after create_app() and obstore's import, in import order."""
    before = set(sys.modules)
    from console.app import create_app

    create_app()
    import obstore.store  # noqa: F401 - what an s3:// web process adds

    return [m for m in sys.modules if m not in before and not m.startswith(("console", "tasks"))]


def where_the_mib_go() -> list[list[str]]:
    """RSS added by each group when a fresh process imports a web process's modules in their order,
    then the console's own modules and create_app(): every MiB of the import-time footprint."""
    env = {**os.environ, "CONSOLE_INSTANCE_DIR": tempfile.mkdtemp(prefix="bench-where-")}
    out = subprocess.run(
        [sys.executable, "-m", "bench.web_memory", "--child-modules"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    names = json.loads(out.stdout.strip().splitlines()[-1])
    os.environ["CONSOLE_INSTANCE_DIR"] = env["CONSOLE_INSTANCE_DIR"]
    owner = {top: label for label, tops in GROUPS.items() for top in tops.split()}
    added: dict[str, float] = {}
    interpreter = rss_mb()
    for name in names:
        label = owner.get(name.split(".")[0], "standard library + C extensions (libcrypto, sqlite3, asyncio, …)")
        start = rss_mb()
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S112 - a module some other import made in passing (platform-specific)
            continue
        added[label] = added.get(label, 0.0) + rss_mb() - start
    start = rss_mb()
    from console.app import create_app

    added["the console's own modules"] = rss_mb() - start
    start = rss_mb()
    create_app()
    added["create_app() (pages, layouts, callbacks, engine)"] = rss_mb() - start
    rows = [["Python interpreter", f"{interpreter:.1f}"]]
    rows += [[label, f"{mib:.1f}"] for label, mib in sorted(added.items(), key=lambda kv: -kv[1])]
    return [*rows, ["total", f"{rss_mb():.1f}"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child-modules", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_modules:
        print(json.dumps(web_modules()))
        return 0
    rows = where_the_mib_go()
    print("## Where a web process's MiB go (imports in its own order, then the console)\n")
    print("| what | MiB |\n|---|---|")
    for label, mib in rows:
        print(f"| {label} | {mib} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
