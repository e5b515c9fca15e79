"""axe-core in the browser tests: the engine comes from the npm package `.ci/test` installs
(``.ci/node/node_modules/axe-core/axe.min.js``), injected with ``execute_script`` — the
browser never fetches it. A missing engine FAILS the test (an audit that silently does not
run would report "no violations").

``audit(dash_duo, label)`` runs axe on the whole document with the WCAG 2.0/2.1 A and AA tags
plus best-practice (landmarks, one h1, heading order, dialog names) and returns readable
violation lines; ``assert_accessible`` asserts there are none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
AXE_VERSION = "4.14.1"
AXE_PATH = REPO / ".ci" / "node" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")
INSTALL_HINT = (
    f"axe-core is not installed at {AXE_PATH.relative_to(REPO)}: run `bash .ci/test` "
    f"(or `npm install --no-audit --no-fund --prefix .ci/node axe-core@{AXE_VERSION}`)"
)

_source: str | None = None


def axe_source() -> str:
    """The engine's text; fails the calling test (never skips) when it is not installed."""
    global _source
    if _source is None:
        if not AXE_PATH.is_file():
            pytest.fail(INSTALL_HINT, pytrace=False)
        _source = AXE_PATH.read_text(encoding="utf-8")
    return _source


_RUN_JS = """
var done = arguments[arguments.length - 1];
var options = {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]};
window.axe.run(document, options).then(function (result) {
    done({version: window.axe.version, violations: result.violations.map(function (v) {
        return {id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(function (n) {
            return {target: n.target.join(" "), summary: n.failureSummary, html: n.html.slice(0, 200)};
        })};
    })});
}).catch(function (err) { done({error: String(err)}); });
"""


def run_axe(dash_duo) -> dict[str, Any]:
    """axe's violations on the current document (the engine is injected when the page lacks it)."""
    driver = dash_duo.driver
    if not driver.execute_script("return !!window.axe;"):
        driver.execute_script(axe_source())
    driver.set_script_timeout(60)
    result = driver.execute_async_script(_RUN_JS, list(TAGS))
    if "error" in result:
        raise AssertionError(f"axe.run failed: {result['error']}")
    assert result["version"] == AXE_VERSION, f"axe-core {result['version']} injected, expected {AXE_VERSION}"
    return result


def violation_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for v in result["violations"]:
        for node in v["nodes"]:
            lines.append(f"{v['id']} ({v['impact']}): {v['help']} — {node['target']} — {node['html']}")
    return lines


def assert_accessible(dash_duo, label: str) -> None:
    """Zero axe violations on the page as it is now; the message lists every failing node."""
    lines = violation_lines(run_axe(dash_duo))
    assert not lines, f"axe-core violations on {label}:\n  " + "\n  ".join(lines)
