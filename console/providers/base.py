"""The provider interface: where tenant data comes from, and the faults a provider can be told to inject.

There is no live tenant API (Microsoft Graph or similar) here. Services talk to a ``Provider``
only, so a real one can replace the built-in provider (``console.providers.builtin``) without
touching them.

Fault injection (for tests and demos) is configuration, never code:

* the ``CONSOLE_PROVIDER_FAULTS`` environment variable of the worker (applies to every run), and
* ``context["faults"]`` of one run (set by whoever enqueues the run; ignored in production),

both JSON objects of the same shape, merged (lists are joined, the larger delay wins)::

    {"fail_units":  ["type:conditionalAccess", "item:*"],  # glob patterns of unit keys: that unit fails
     "crash_units": ["entry:policies.csv"],               # glob patterns: the task raises (unexpected error)
     "not_found":   ["deviceCompliance-3-1"],             # external ids whose fetch/restore says "not found"
     "delay_seconds": 0.05,                               # sleep before every unit (slowness), <= 30 s
     "unit_delays": {"phase:*": 5},                       # glob -> seconds: this delay instead, for matching units
     "hold": {"file": "/tmp/gate", "units": ["item:*"]}}  # matching units wait while the file exists

``hold`` makes a test deterministic where a delay would only make it likely: start a run with
the file present, act while its units are held, then delete the file (a held unit gives up
waiting after ``MAX_HOLD_SECONDS``, so a forgotten file never wedges a worker).
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

FAULTS_ENV = "CONSOLE_PROVIDER_FAULTS"
MAX_DELAY_SECONDS = 30.0
MAX_HOLD_SECONDS = 120.0
HOLD_POLL_SECONDS = 0.02


class ProviderError(Exception):
    """The provider could not do one unit of work; the unit fails, the run goes on."""


class PolicyNotFound(ProviderError):
    """The provider does not know the policy (deleted at the source); the unit is skipped."""


class InjectedCrash(RuntimeError):
    """An unexpected error on purpose (``crash_units``): the task's failure path must handle it."""


@dataclass(frozen=True)
class PolicyRecord:
    """One policy as the provider reports it."""

    external_id: str
    name: str
    policy_type: str
    settings: dict[str, Any]
    is_archived: bool = False

    def payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "policy_type": self.policy_type,
            "settings": dict(self.settings),
            "is_archived": self.is_archived,
        }


@dataclass(frozen=True)
class Faults:
    """What to break on purpose; the empty value breaks nothing."""

    fail_units: tuple[str, ...] = ()
    crash_units: tuple[str, ...] = ()
    not_found: frozenset[str] = field(default_factory=frozenset)
    delay_seconds: float = 0.0
    #: (glob, seconds) pairs: a matching unit sleeps the largest matching value instead of delay_seconds.
    unit_delays: tuple[tuple[str, float], ...] = ()
    hold_file: str | None = None
    hold_units: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, raw: object, *, source: str = "faults") -> Faults:
        """Parse the documented JSON shape; anything malformed is ignored (and logged), never fatal."""
        if raw is None or raw == {}:
            return cls()
        if not isinstance(raw, Mapping):
            log.warning("event=faults_ignored source=%s reason=not_an_object", source)
            return cls()

        def patterns(key: str, where: Mapping[str, Any] = raw) -> tuple[str, ...]:
            value = where.get(key, ())
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)):
                log.warning("event=faults_ignored source=%s key=%s reason=not_a_list", source, key)
                return ()
            return tuple(str(v) for v in value if isinstance(v, (str, int)) and not isinstance(v, bool))

        delay = raw.get("delay_seconds", 0)
        if not _seconds(delay):
            log.warning("event=faults_ignored source=%s key=delay_seconds reason=not_a_non_negative_number", source)
            delay = 0.0
        raw_delays = raw.get("unit_delays", {})
        if not isinstance(raw_delays, Mapping) or not all(_seconds(v) for v in raw_delays.values()):
            log.warning("event=faults_ignored source=%s key=unit_delays reason=not_globs_to_seconds", source)
            raw_delays = {}
        hold = raw.get("hold")
        hold_file, hold_units = None, ()
        if hold is not None:
            if isinstance(hold, Mapping) and isinstance(hold.get("file"), str) and hold["file"]:
                hold_file = hold["file"]
                hold_units = patterns("units", hold) if "units" in hold else ("*",)
            else:
                log.warning("event=faults_ignored source=%s key=hold reason=not_an_object_with_a_file", source)
        return cls(
            fail_units=patterns("fail_units"),
            crash_units=patterns("crash_units"),
            not_found=frozenset(patterns("not_found")),
            delay_seconds=min(float(delay), MAX_DELAY_SECONDS),
            unit_delays=tuple((str(k), min(float(v), MAX_DELAY_SECONDS)) for k, v in raw_delays.items()),
            hold_file=hold_file,
            hold_units=hold_units,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Faults:
        raw = environ.get(FAULTS_ENV, "").strip()
        if not raw:
            return cls()
        try:
            return cls.from_mapping(json.loads(raw), source=FAULTS_ENV)
        except ValueError:
            log.warning("event=faults_ignored source=%s reason=invalid_json", FAULTS_ENV)
            return cls()

    def merged(self, other: Faults) -> Faults:
        return Faults(
            fail_units=self.fail_units + other.fail_units,
            crash_units=self.crash_units + other.crash_units,
            not_found=self.not_found | other.not_found,
            delay_seconds=max(self.delay_seconds, other.delay_seconds),
            unit_delays=self.unit_delays + other.unit_delays,
            hold_file=other.hold_file or self.hold_file,
            hold_units=other.hold_units if other.hold_file else self.hold_units,
        )

    def __bool__(self) -> bool:
        delays = self.delay_seconds or self.unit_delays
        return bool(self.fail_units or self.crash_units or self.not_found or delays or self.hold_file)

    def delay_for(self, unit_key: str) -> float:
        """Seconds to sleep before ``unit_key``: the largest matching ``unit_delays`` value, else ``delay_seconds``."""
        matching = [seconds for pattern, seconds in self.unit_delays if fnmatch.fnmatchcase(unit_key, pattern)]
        return max(matching) if matching else self.delay_seconds

    def apply(self, unit_key: str) -> None:
        """Before a unit's work: sleep, wait out a hold, then raise ProviderError / InjectedCrash
        when the key matches."""
        delay = self.delay_for(unit_key)
        if delay:
            time.sleep(delay)
        if self.hold_file and _matches(unit_key, self.hold_units):
            self._wait_out_hold(unit_key)
        if _matches(unit_key, self.crash_units):
            raise InjectedCrash(f"injected crash at unit {unit_key}")
        if _matches(unit_key, self.fail_units):
            raise ProviderError(f"injected failure at unit {unit_key}")

    def _wait_out_hold(self, unit_key: str) -> None:
        assert self.hold_file is not None
        deadline = time.monotonic() + MAX_HOLD_SECONDS
        while os.path.exists(self.hold_file):
            if time.monotonic() >= deadline:
                log.warning("event=fault_hold_expired unit_key=%s file=%s", unit_key, self.hold_file)
                return
            time.sleep(HOLD_POLL_SECONDS)


def _seconds(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value >= 0


def _matches(unit_key: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(unit_key, p) for p in patterns)


class Provider(Protocol):
    """Tenant data as a service sees it. Every method may raise ProviderError for one unit."""

    def begin_unit(self, unit_key: str) -> None:
        """Called once before the work of each unit (a real provider may throttle here)."""

    def policy_types(self, *, tenant_id: int) -> list[str]:
        """The policy types the tenant has, sorted (inventory sync attempts each)."""

    def list_policies(self, *, tenant_id: int, policy_type: str | None = None) -> list[PolicyRecord]:
        """The tenant's policies (of one type, or all), sorted by type and external id."""

    def get_policy(self, *, tenant_id: int, external_id: str) -> PolicyRecord:
        """One policy; PolicyNotFound when the provider does not know it."""

    def restore_item(self, *, tenant_id: int, external_id: str, policy_type: str, payload: Mapping[str, Any]) -> None:
        """Write a backed-up policy back to the tenant (creates it when it is gone); PolicyNotFound, ProviderError."""
