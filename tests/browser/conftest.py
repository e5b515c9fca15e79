"""dash_duo in Debian's headless Chromium (never a downloaded browser or driver), and the
``console_app`` fixture. The browser helpers (browser_login, text, attr, ...) are in
tests/support/browser.py."""

from __future__ import annotations

import os
import shutil

import pytest
from selenium.webdriver.chrome.options import Options

from console.app import create_app
from console.migrate import upgrade
from tests.factories import build_world
from tests.support.web import RecordingDispatcher

CHROMIUM = os.environ.get("DASH_TEST_CHROMEPATH", "/usr/bin/chromium")


def pytest_setup_options():
    options = Options()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-first-run",
        "--disable-extensions",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-component-update",
        "--window-size=1280,900",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
    ):
        options.add_argument(arg)
    return options


@pytest.fixture(scope="session", autouse=True)
def _browser_available() -> None:
    # Without these, dash_duo retries the driver start for 30 s per test and then fails obscurely.
    missing = [
        name
        for name, path in (("chromedriver", shutil.which("chromedriver")), ("chromium", shutil.which(CHROMIUM)))
        if not path
    ]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: "
            "run `bash .ci/test` (it installs Debian's chromium and chromium-driver)",
            pytrace=False,
        )


@pytest.fixture
def console_app(tmp_path):
    """A fresh console on a migrated SQLite file, with the test world (see tests/factories.py)."""
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade(url)
    app = create_app(
        {
            "instance_dir": tmp_path / "instance",
            "database_url": url,
            "secret_key": "browser-secret",
            "dispatcher": RecordingDispatcher(),
        }
    )
    with app.server.extensions["console.db"].session() as s:
        app.world = build_world(s)
    yield app
    app.server.extensions["console.db"].dispose()
