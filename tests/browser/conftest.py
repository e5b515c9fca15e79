"""dash_duo in Debian's headless Chromium (never a downloaded browser or driver)."""

from __future__ import annotations

import os
import shutil

import pytest
from selenium.webdriver.chrome.options import Options

from console.app import create_app
from console.migrate import upgrade
from tests.factories import PASSWORD, build_world

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
    from tests.integration.conftest import RecordingDispatcher

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


def browser_login(dash_duo, email: str, password: str = PASSWORD, path: str = "/") -> None:
    """Drive the real login form, then wait for the Dash page to render."""
    dash_duo.driver.get(dash_duo.server.url.rstrip("/") + "/login?next=" + path)
    dash_duo.wait_for_element("input[name=email]").send_keys(email)
    dash_duo.find_element("input[name=password]").send_keys(password)
    dash_duo.find_element("#login-submit").click()
    dash_duo.wait_for_element("#_pages_content")


def text(dash_duo, selector: str) -> str | None:
    """The element's text read in one step (a re-render between find and read cannot go stale)."""
    return dash_duo.driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : null;", selector
    )


def attr(dash_duo, selector: str, name: str) -> str | None:
    """An attribute read in one step, like ``text``."""
    return dash_duo.driver.execute_script(
        "var e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;", selector, name
    )
