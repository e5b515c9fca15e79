"""The built-in provider: a deterministic policy dataset per tenant, kept in the ``policies`` table.

There is no live tenant API here; ``BuiltinProvider`` reads (and, for restores, writes) these
rows. The same tenant id always yields the same dataset, so demos and tests are reproducible.
Faults (failures, slowness, not-found items) come from configuration: see ``console.providers.base``."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from console.db import utcnow
from console.inventory.models import Policy
from console.providers.base import Faults, PolicyNotFound, PolicyRecord, Provider

log = logging.getLogger(__name__)

POLICY_TYPES = (
    "deviceCompliance",
    "deviceConfiguration",
    "conditionalAccess",
    "appProtection",
    "endpointSecurity",
    "updateRing",
)
_NAMES = {
    "deviceCompliance": [
        "Windows baseline compliance",
        "iOS minimum OS",
        "Android encryption",
        "macOS FileVault",
        "Jailbreak block",
    ],
    "deviceConfiguration": [
        "Wi-Fi corporate",
        "VPN always-on",
        "BitLocker silent",
        "Edge homepage",
        "Kiosk mode",
        "Defender ASR",
    ],
    "conditionalAccess": [
        "Require MFA for admins",
        "Block legacy auth",
        "Compliant device for Office",
        "Risky sign-in block",
    ],
    "appProtection": ["Outlook data protection", "Teams copy/paste", "OneDrive save-as"],
    "endpointSecurity": ["Firewall domain profile", "Antivirus realtime", "Disk encryption report", "EDR onboarding"],
    "updateRing": ["Pilot ring", "Broad ring", "Critical servers ring"],
}


def dataset_for(tenant_id: int) -> list[dict]:
    """The deterministic policy list of a tenant (pure; used by seeding and tests)."""
    rng = random.Random(f"tenant-{tenant_id}")
    policies = []
    for ptype in POLICY_TYPES:
        names = _NAMES[ptype]
        for i in range(rng.randint(2, len(names))):
            policies.append(
                {
                    "external_id": f"{ptype}-{tenant_id}-{i + 1}",
                    "name": names[i],
                    "policy_type": ptype,
                    "settings": {
                        "enabled": rng.random() > 0.1,
                        "version": rng.randint(1, 9),
                        "assignments": rng.randint(0, 40),
                    },
                    "is_archived": rng.random() < 0.08,
                }
            )
    return policies


def seed_tenant_dataset(*, session: Session, tenant_id: int) -> int:
    """Insert the tenant's dataset (idempotent: existing external ids are kept); returns rows added."""
    existing = set(session.scalars(select(Policy.external_id).where(Policy.tenant_id == tenant_id)))
    added = 0
    for record in dataset_for(tenant_id):
        if record["external_id"] in existing:
            continue
        session.add(Policy(tenant_id=tenant_id, **record))
        added += 1
    session.commit()
    return added


def _record(policy: Policy) -> PolicyRecord:
    return PolicyRecord(
        external_id=policy.external_id,
        name=policy.name,
        policy_type=policy.policy_type,
        settings=dict(policy.settings or {}),
        is_archived=bool(policy.is_archived),
    )


class BuiltinProvider:
    """The Provider backed by the ``policies`` table. It never commits: the calling service does."""

    def __init__(self, *, session: Session, faults: Faults | None = None) -> None:
        self.session = session
        self.faults = faults or Faults()

    def begin_unit(self, unit_key: str) -> None:
        self.faults.apply(unit_key)

    def policy_types(self, *, tenant_id: int) -> list[str]:
        stmt = select(Policy.policy_type).where(Policy.tenant_id == tenant_id).distinct().order_by(Policy.policy_type)
        return list(self.session.scalars(stmt))

    def list_policies(self, *, tenant_id: int, policy_type: str | None = None) -> list[PolicyRecord]:
        stmt = select(Policy).where(Policy.tenant_id == tenant_id)
        if policy_type is not None:
            stmt = stmt.where(Policy.policy_type == policy_type)
        rows = self.session.scalars(stmt.order_by(Policy.policy_type, Policy.external_id))
        # Listings still show ``not_found`` ids (a stale index): fetching or restoring them fails.
        return [_record(p) for p in rows]

    def get_policy(self, *, tenant_id: int, external_id: str) -> PolicyRecord:
        if external_id in self.faults.not_found:
            raise PolicyNotFound(f"policy {external_id} not found at the provider")
        policy = self.session.scalar(
            select(Policy).where(Policy.tenant_id == tenant_id, Policy.external_id == external_id)
        )
        if policy is None:
            raise PolicyNotFound(f"policy {external_id} not found at the provider")
        return _record(policy)

    def restore_item(self, *, tenant_id: int, external_id: str, policy_type: str, payload: Mapping[str, Any]) -> None:
        if external_id in self.faults.not_found:
            raise PolicyNotFound(f"policy {external_id} not found at the provider")
        settings = payload.get("settings")
        name = payload.get("name")
        values: dict[str, Any] = {
            "settings": dict(settings) if isinstance(settings, Mapping) else {},
            "is_archived": False,
            "updated_at": utcnow(),
        }
        if isinstance(name, str) and name:
            values["name"] = name[:255]
        # One statement when the policy exists (the common case: a restore undoes drift).
        updated = self.session.execute(
            update(Policy)
            .where(Policy.tenant_id == tenant_id, Policy.external_id == external_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not updated:
            # Restoring a policy deleted at the source recreates it, as a tenant API would.
            self.session.add(
                Policy(
                    tenant_id=tenant_id,
                    external_id=external_id,
                    policy_type=policy_type,
                    name=str(name or external_id)[:255],
                    **{k: v for k, v in values.items() if k != "name"},
                )
            )
        self.session.flush()


def run_faults(context: object, *, environ: Mapping[str, str] | None = None, production: bool = False) -> Faults:
    """The faults for one run: the worker's CONSOLE_PROVIDER_FAULTS plus the run's context["faults"]."""
    faults = Faults.from_env(os.environ if environ is None else environ)
    raw = context.get("faults") if isinstance(context, Mapping) else None
    if raw is not None:
        if production:
            # Only tests and demos enqueue runs with faults; a production run never honours them.
            log.warning("event=faults_ignored source=run_context reason=production")
        else:
            faults = faults.merged(Faults.from_mapping(raw, source="run_context"))
    if faults:
        log.debug(
            "event=faults_active fail_units=%s crash_units=%s not_found=%s delay_seconds=%s",
            list(faults.fail_units),
            list(faults.crash_units),
            sorted(faults.not_found),
            faults.delay_seconds,
        )
    return faults


def provider_for_run(*, session: Session, context: object, production: bool = False) -> Provider:
    """The provider a service uses for one run (the built-in one; a real provider plugs in here)."""
    return BuiltinProvider(session=session, faults=run_faults(context, production=production))
