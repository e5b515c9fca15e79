"""Every file the console serves or reads that is not a module ships in the wheel: each must match
a ``[tool.setuptools.package-data]`` pattern (.ci/wheel_smoke.py proves the installed wheel works;
this names the file that a new asset or template would leave behind)."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import console
from console.app import ASSETS_DIR

PACKAGE = Path(console.__file__).resolve().parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"


def test_every_data_file_of_the_package_matches_a_package_data_pattern() -> None:
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["console"]
    data = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*")
        if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts
    ]
    assert "assets/guards.js" in data and "assets/console.css" in data and "templates/login.html" in data
    missing = [f for f in data if not any(fnmatch(f, pattern) for pattern in patterns)]
    assert missing == [], f"not in the wheel: {missing} (add them to package-data in pyproject.toml)"


def test_dash_serves_the_assets_from_inside_the_package() -> None:
    assert ASSETS_DIR.resolve().parent == PACKAGE
