"""The built-in provider's dataset: deterministic policies of several types for every tenant.

There is no live tenant API here; the built-in provider reads these rows. The same tenant
id always yields the same dataset, so demos and tests are reproducible."""
from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.inventory.models import Policy

POLICY_TYPES = (
    "deviceCompliance",
    "deviceConfiguration",
    "conditionalAccess",
    "appProtection",
    "endpointSecurity",
    "updateRing",
)
_NAMES = {
    "deviceCompliance": ["Windows baseline compliance", "iOS minimum OS", "Android encryption", "macOS FileVault", "Jailbreak block"],
    "deviceConfiguration": ["Wi-Fi corporate", "VPN always-on", "BitLocker silent", "Edge homepage", "Kiosk mode", "Defender ASR"],
    "conditionalAccess": ["Require MFA for admins", "Block legacy auth", "Compliant device for Office", "Risky sign-in block"],
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
                    "settings": {"enabled": rng.random() > 0.1, "version": rng.randint(1, 9), "assignments": rng.randint(0, 40)},
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
