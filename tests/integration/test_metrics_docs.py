"""docs/monitoring.md and deploy/grafana-dashboard.json cannot drift from /metrics: every metric
name, label and label value their queries use is in a live scrape, and the rule file and the
scrape configuration are valid YAML of the right shape."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from console.app import create_app
from console.migrate import upgrade
from tests.support.web import RecordingDispatcher

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "docs" / "monitoring.md"
DASHBOARD = REPO / "deploy" / "grafana-dashboard.json"
TOKEN = "docs-token"
METRIC = re.compile(r"\bconsole_[a-z0-9_]+")
SELECTOR = re.compile(r"\b(console_[a-z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


class QueueDispatcher(RecordingDispatcher):
    def queue_lengths(self) -> dict[str, int]:
        return {"celery": 0}


@pytest.fixture(scope="module")
def exposition(tmp_path_factory) -> dict[str, dict[str, set[str]]]:
    """{sample or family name: {label: values seen}} of a scrape of a fresh console."""
    tmp = tmp_path_factory.mktemp("metrics-docs")
    url = f"sqlite:///{tmp / 'console.db'}"
    upgrade(url)
    app = create_app(
        {
            "instance_dir": tmp / "instance",
            "database_url": url,
            "secret_key": "x",
            "metrics_token": TOKEN,
            "dispatcher": QueueDispatcher(),
        }
    )
    try:
        r = app.server.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        found: dict[str, dict[str, set[str]]] = {}
        for family in text_string_to_metric_families(r.get_data(as_text=True)):
            found.setdefault(family.name, {})
            for sample in family.samples:
                for name in (family.name, sample.name):
                    labels = found.setdefault(name, {})
                    for key, val in sample.labels.items():
                        labels.setdefault(key, set()).add(val)
        return found
    finally:
        app.server.extensions["console.db"].dispose()


def _yaml_blocks() -> list[object]:
    return [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", MONITORING.read_text(), re.S)]


def _rules() -> list[dict]:
    (rule_file,) = [b for b in _yaml_blocks() if isinstance(b, dict) and "groups" in b]
    return [rule for group in rule_file["groups"] for rule in group["rules"]]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]


def check_expr(expr: str, exposition: dict[str, dict[str, set[str]]]) -> None:
    names = set(METRIC.findall(expr))
    assert names, f"no console metric in {expr!r}"
    for name in names:
        assert name in exposition, f"{name} (in {expr!r}) is not in /metrics"
    for name, inner in SELECTOR.findall(expr):
        for label, op, val in MATCHER.findall(inner):
            assert label in exposition[name], f"{name} has no label {label} ({expr!r})"
            if op == "=":
                assert val in exposition[name][label], f'{name}{{{label}="{val}"}} never appears ({expr!r})'
    known = {label for name in names for label in exposition[name]} | {"instance", "job"}
    for group in GROUPING.findall(expr):
        for label in filter(None, (g.strip() for g in group.split(","))):
            assert label in known, f"grouping by {label}, which {sorted(names)} do not have ({expr!r})"


def test_every_alert_rule_uses_only_exposed_metrics_and_labels(exposition) -> None:
    rules = _rules()
    assert {r["alert"] for r in rules} >= {
        "ConsoleRunActiveOverAnHour",
        "ConsoleRunFailureRate",
        "ConsoleReaperFailingRuns",
        "ConsoleQueueGrowing",
    }
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        check_expr(rule["expr"], exposition)


def test_every_dashboard_query_uses_only_exposed_metrics_and_labels(exposition) -> None:
    exprs = _dashboard_exprs()
    assert len(exprs) >= 8
    for expr in exprs:
        check_expr(expr, exposition)
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    # Every contracted metric has a panel.
    for family in (
        "console_runs_active",
        "console_runs_completed_total",
        "console_units_processed_total",
        "console_run_duration_seconds_bucket",
        "console_oldest_active_run_age_seconds",
        "console_reaper_actions_total",
        "console_poll_requests_total",
        "console_broker_queue_length",
    ):
        assert family in used, family


def test_the_scrape_config_sends_the_bearer_token_to_metrics() -> None:
    (config,) = [b for b in _yaml_blocks() if isinstance(b, dict) and "scrape_configs" in b]
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
    assert "credentials_file" in job["authorization"] or "credentials" in job["authorization"]


def test_every_metric_the_page_names_exists(exposition) -> None:
    for name in set(METRIC.findall(MONITORING.read_text())):
        assert name in exposition, name
