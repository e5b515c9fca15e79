"""Pacing for ``console demo``: the worker's built-in provider waits before every unit and phase,
so a run started in the demo is watched for 10–60 s instead of finishing in about a second.

With 3 s per unit, 5 s per phase and the demo tenants' datasets (16–18 active policies, 6
policy types): a baseline capture or compare shows its three phases for ~15 s, a review pack
counts 4–5 entries in 12–15 s, an inventory sync 6 types in ~18 s, an evidence snapshot, backup
or restore 16–18 units in 48–54 s (tests/unit/test_demo_pacing.py computes each family's
duration from these settings). The seeding is never paced (console.demo.history builds its own
provider)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from console.providers.base import FAULTS_ENV

PACING_DELAY_SECONDS = 3.0
#: A phased family has only three phases: 3 s each would be 9 s, too short to watch.
PACING_PHASE_SECONDS = 5.0
PACING_FAULTS = json.dumps({"delay_seconds": PACING_DELAY_SECONDS, "unit_delays": {"phase:*": PACING_PHASE_SECONDS}})
#: How long a paced run of any family lasts (issue 14: a newcomer sees its progress).
PACED_RANGE_SECONDS = (10.0, 60.0)


def demo_worker_env(environ: Mapping[str, str], *, pacing: bool) -> dict[str, str]:
    """The environment of ``console demo``'s worker: ``environ`` plus the pacing delay, unless
    pacing is off or the user set CONSOLE_PROVIDER_FAULTS themselves (theirs wins, untouched)."""
    env = dict(environ)
    if pacing and not env.get(FAULTS_ENV, "").strip():
        env[FAULTS_ENV] = PACING_FAULTS
    return env
