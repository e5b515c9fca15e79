"""`console demo` paces its worker so progress can be watched; --no-pacing and an explicit
CONSOLE_PROVIDER_FAULTS turn that off or replace it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from console.backups.service import item_unit_key
from console.baselines.service import CAPTURE_PHASES, COMPARE_PHASES
from console.cli import _pacing_line, main
from console.demo.pacing import PACED_RANGE_SECONDS, PACING_DELAY_SECONDS, PACING_PHASE_SECONDS, demo_worker_env
from console.evidence.service import item_key as evidence_item_key
from console.inventory.service import unit_key as inventory_unit_key
from console.operations import registry
from console.providers.base import FAULTS_ENV, Faults, PolicyRecord
from console.providers.builtin import dataset_for
from console.review_packs.generate import entry_unit_key
from console.seed import TENANTS


def test_the_demo_worker_gets_a_per_unit_delay_by_default() -> None:
    env = demo_worker_env({"PATH": "/usr/bin"}, pacing=True)
    assert env["PATH"] == "/usr/bin"
    faults = Faults.from_env(env)
    assert faults.delay_seconds == PACING_DELAY_SECONDS
    assert not (faults.fail_units or faults.crash_units or faults.not_found or faults.hold_file)


def family_unit_keys(tenant_id: int) -> dict[str, list[list[str]]]:
    """Every unit key each family's run waits on for a demo tenant (its variants: a review pack
    with and without the operations list), built with the writers' own key functions from the
    tenant's demo dataset."""
    policies = [PolicyRecord(**p) for p in dataset_for(tenant_id)]
    active = [p for p in policies if not p.is_archived]
    pack_entries = ["manifest.json", "tenant-summary.json", "policies.csv", "evidence.json"]
    return {
        "baseline_capture": [[f"phase:{p}" for p in CAPTURE_PHASES]],
        "baseline_compare": [[f"phase:{p}" for p in COMPARE_PHASES]],
        "inventory_sync": [[inventory_unit_key(t) for t in sorted({p.policy_type for p in policies})]],
        "evidence_snapshot_generate": [[evidence_item_key(p) for p in active]],
        # Backups select the active policies by id; a restore restores the set's items (one per policy).
        "backup_set_add_policies": [[f"policy:{i}" for i, _ in enumerate(active, 1)]],
        "backup_set_restore": [[item_unit_key(i) for i, _ in enumerate(active, 1)]],
        "review_pack_generate": [
            [entry_unit_key(n) for n in pack_entries],
            [entry_unit_key(n) for n in [*pack_entries, "operations.csv"]],
        ],
    }


def test_every_paced_family_lasts_10_to_60_seconds_on_every_demo_tenant() -> None:
    """Computed from the pacing setting the demo's worker gets (not timed): each unit's delay
    summed over the units a run of that family waits on."""
    faults = Faults.from_env(demo_worker_env({}, pacing=True))
    low, high = PACED_RANGE_SECONDS
    assert (low, high) == (10.0, 60.0)
    durations: dict[str, list[float]] = {}
    for tenant_id in range(1, len(TENANTS) + 1):  # the demo's tenants, ids in seeding order
        for family, variants in family_unit_keys(tenant_id).items():
            durations.setdefault(family, []).extend(sum(faults.delay_for(k) for k in keys) for keys in variants)
    # Every family a newcomer can start with progress to watch (the registry's counted and phased types).
    assert set(durations) == {t for t in registry.types() if registry.is_counted(t) or registry.is_phased(t)}
    outside = {f: d for f, d in durations.items() if not all(low <= s <= high for s in d)}
    assert outside == {}, outside
    # The phased families were the short ones (3 phases x 3 s = 9 s): they now wait 5 s a phase.
    assert min(durations["baseline_capture"]) == 3 * PACING_PHASE_SECONDS


def test_unit_delays_override_the_default_delay_for_matching_units_only() -> None:
    faults = Faults.from_mapping({"delay_seconds": 1, "unit_delays": {"phase:*": 4, "phase:diff*": 6}})
    assert faults.delay_for("item:1") == 1
    assert faults.delay_for("phase:collecting") == 4
    assert faults.delay_for("phase:diffing") == 6  # the largest matching value
    assert Faults.from_mapping({"unit_delays": {"phase:*": 99}}).delay_for("phase:x") == 30.0  # the cap


def test_malformed_unit_delays_are_ignored_not_fatal() -> None:
    for raw in ({"unit_delays": ["phase:*"]}, {"unit_delays": {"phase:*": -1}}, {"unit_delays": {"x": "slow"}}):
        assert Faults.from_mapping(raw).unit_delays == ()


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
