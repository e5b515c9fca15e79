"""Pacing for ``console demo``: the worker's built-in provider waits before every unit and phase,
so a run started in the demo is watched for a while instead of finishing in about a second.

With ``delay_seconds`` 3 and the demo tenants' datasets (16–18 active policies, 6 policy
types): a baseline capture or compare shows its three phases for ~9 s, a review pack counts 5
entries in ~15 s, an inventory sync 6 types in ~18 s, an evidence snapshot, backup or restore
16–18 units in ~50 s. The seeding is never paced (console.demo.history builds its own provider)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from console.providers.base import FAULTS_ENV

PACING_DELAY_SECONDS = 3.0
PACING_FAULTS = json.dumps({"delay_seconds": PACING_DELAY_SECONDS})


def demo_worker_env(environ: Mapping[str, str], *, pacing: bool) -> dict[str, str]:
    """The environment of ``console demo``'s worker: ``environ`` plus the pacing delay, unless
    pacing is off or the user set CONSOLE_PROVIDER_FAULTS themselves (theirs wins, untouched)."""
    env = dict(environ)
    if pacing and not env.get(FAULTS_ENV, "").strip():
        env[FAULTS_ENV] = PACING_FAULTS
    return env
