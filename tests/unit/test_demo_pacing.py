"""`console demo` paces its worker so progress can be watched; --no-pacing and an explicit
CONSOLE_PROVIDER_FAULTS turn that off or replace it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from console.cli import _pacing_line, main
from console.demo.pacing import PACING_DELAY_SECONDS, demo_worker_env
from console.providers.base import FAULTS_ENV, Faults


def test_the_demo_worker_gets_a_per_unit_delay_by_default() -> None:
    env = demo_worker_env({"PATH": "/usr/bin"}, pacing=True)
    assert env["PATH"] == "/usr/bin"
    faults = Faults.from_env(env)
    assert faults.delay_seconds == PACING_DELAY_SECONDS
    assert not (faults.fail_units or faults.crash_units or faults.not_found or faults.hold_file)


def test_the_delay_keeps_every_family_visible_for_9_to_60_seconds() -> None:
    """The shortest run has 3 units (a baseline's phases), the longest 18 (the largest demo
    tenant's active policies: evidence, backup, restore)."""
    assert 3 * PACING_DELAY_SECONDS >= 9 and 18 * PACING_DELAY_SECONDS <= 60


def test_no_pacing_leaves_the_environment_as_it_was() -> None:
    assert demo_worker_env({"PATH": "/usr/bin"}, pacing=False) == {"PATH": "/usr/bin"}


def test_an_explicit_fault_setting_wins_with_or_without_pacing() -> None:
    mine = json.dumps({"fail_units": ["type:appProtection"], "delay_seconds": 1})
    for pacing in (True, False):
        assert demo_worker_env({FAULTS_ENV: mine}, pacing=pacing)[FAULTS_ENV] == mine


def test_a_blank_fault_setting_counts_as_unset() -> None:
    assert Faults.from_env(demo_worker_env({FAULTS_ENV: "  "}, pacing=True)).delay_seconds == PACING_DELAY_SECONDS


def test_the_demo_says_how_it_is_paced() -> None:
    assert "--no-pacing" in _pacing_line(demo_worker_env({}, pacing=True))
    assert "full speed" in _pacing_line(demo_worker_env({}, pacing=False))
    assert "as given" in _pacing_line(demo_worker_env({FAULTS_ENV: '{"delay_seconds": 1}'}, pacing=True))


def test_the_demo_command_offers_no_pacing() -> None:
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0 and "--no-pacing" in result.output
