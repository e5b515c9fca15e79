"""The download server's process carries no Dash, Plotly nor Celery: importing its WSGI entry point
(as gunicorn does) in a fresh interpreter loads none of their modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("dash", "plotly", "celery")


def test_importing_the_download_wsgi_entry_point_loads_no_dash_plotly_or_celery(tmp_path) -> None:
    code = (
        "import json, sys\n"
        "import console.download_wsgi as w\n"
        "assert w.server.url_map.bind('x').match('/review-packs/1/download')[0] == 'review_pack_download'\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")}
    env |= {"PYTHONPATH": str(REPO), "CONSOLE_INSTANCE_DIR": str(tmp_path / "instance")}
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    loaded = set(json.loads(r.stdout.strip().splitlines()[-1]))
    assert {"console", "flask", "flask_login", "sqlalchemy"} <= loaded  # it did import the app
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
