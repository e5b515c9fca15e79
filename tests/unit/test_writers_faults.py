"""Fault injection configuration: CONSOLE_PROVIDER_FAULTS and a run's context["faults"]."""

from __future__ import annotations

import threading
import time

import pytest

from console.providers import base
from console.providers.base import FAULTS_ENV, MAX_DELAY_SECONDS, Faults, InjectedCrash, ProviderError
from console.providers.builtin import run_faults


def test_env_and_context_faults_merge() -> None:
    env = {FAULTS_ENV: '{"fail_units": ["type:a*"], "not_found": ["x-1"], "delay_seconds": 0.01}'}
    faults = run_faults(
        {"faults": {"fail_units": ["item:7"], "crash_units": "entry:*", "delay_seconds": 0.02}}, environ=env
    )
    assert faults == Faults(
        fail_units=("type:a*", "item:7"), crash_units=("entry:*",), not_found=frozenset({"x-1"}), delay_seconds=0.02
    )


def test_context_faults_are_ignored_in_production_but_the_env_still_applies() -> None:
    env = {FAULTS_ENV: '{"not_found": ["x-1"]}'}
    faults = run_faults({"faults": {"fail_units": ["*"]}}, environ=env, production=True)
    assert faults == Faults(not_found=frozenset({"x-1"}))


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"fail_units": 5, "delay_seconds": "slow"}',
        '{"delay_seconds": -1}',
        '{"delay_seconds": true}',
    ],
)
def test_malformed_faults_are_ignored_never_fatal(raw: str) -> None:
    assert not run_faults({}, environ={FAULTS_ENV: raw})


def test_delay_is_capped() -> None:
    assert Faults.from_mapping({"delay_seconds": 10_000}).delay_seconds == MAX_DELAY_SECONDS


def test_apply_matches_unit_keys_by_glob_and_crash_wins() -> None:
    faults = Faults(fail_units=("type:*",), crash_units=("type:crash",))
    faults.apply("item:1")  # no match: nothing happens
    with pytest.raises(ProviderError, match="injected failure at unit type:x"):
        faults.apply("type:x")
    with pytest.raises(InjectedCrash):
        faults.apply("type:crash")


def test_hold_parses_a_file_and_unit_patterns_and_ignores_malformed_values() -> None:
    assert Faults.from_mapping({"hold": {"file": "/tmp/gate", "units": ["item:*"]}}) == Faults(
        hold_file="/tmp/gate", hold_units=("item:*",)
    )
    assert Faults.from_mapping({"hold": {"file": "/tmp/gate"}}).hold_units == ("*",)
    for bad in ("/tmp/gate", {"file": ""}, {"file": 3}, {"units": ["*"]}):
        assert not Faults.from_mapping({"hold": bad})


def test_hold_waits_while_the_file_exists_for_matching_units_only(tmp_path) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    faults = Faults(hold_file=str(gate), hold_units=("item:2",))
    faults.apply("item:1")  # not held: returns at once although the gate exists
    released = threading.Timer(0.3, gate.unlink)
    released.start()
    started = time.monotonic()
    faults.apply("item:2")
    assert time.monotonic() - started >= 0.25 and not gate.exists()


def test_a_forgotten_hold_gives_up_after_its_limit(tmp_path, monkeypatch, caplog) -> None:
    gate = tmp_path / "gate"
    gate.touch()
    monkeypatch.setattr(base, "MAX_HOLD_SECONDS", 0.2)
    Faults(hold_file=str(gate), hold_units=("*",)).apply("item:1")
    assert gate.exists() and "event=fault_hold_expired unit_key=item:1" in caplog.text
