"""Fault injection configuration: CONSOLE_PROVIDER_FAULTS and a run's context["faults"]."""
from __future__ import annotations

import pytest

from console.providers.base import FAULTS_ENV, MAX_DELAY_SECONDS, Faults, InjectedCrash, ProviderError
from console.providers.builtin import run_faults


def test_env_and_context_faults_merge() -> None:
    env = {FAULTS_ENV: '{"fail_units": ["type:a*"], "not_found": ["x-1"], "delay_seconds": 0.01}'}
    faults = run_faults({"faults": {"fail_units": ["item:7"], "crash_units": "entry:*", "delay_seconds": 0.02}}, environ=env)
    assert faults == Faults(fail_units=("type:a*", "item:7"), crash_units=("entry:*",), not_found=frozenset({"x-1"}), delay_seconds=0.02)


def test_context_faults_are_ignored_in_production_but_the_env_still_applies() -> None:
    env = {FAULTS_ENV: '{"not_found": ["x-1"]}'}
    faults = run_faults({"faults": {"fail_units": ["*"]}}, environ=env, production=True)
    assert faults == Faults(not_found=frozenset({"x-1"}))


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", '{"fail_units": 5, "delay_seconds": "slow"}', '{"delay_seconds": -1}', '{"delay_seconds": true}'],
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
