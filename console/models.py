"""Every model, imported once so Alembic and create_all see the whole schema."""

from console.accounts.models import Tenant, TenantGrant, User, Workspace, WorkspaceMembership
from console.api_tokens.models import ApiToken
from console.audit.models import AuditEvent
from console.backups.models import BackupSet, BackupSetItem
from console.baselines.models import Baseline, BaselineSnapshot
from console.db import Base
from console.evidence.models import EvidenceSnapshot, EvidenceSnapshotItem
from console.inventory.models import InventoryItem, Policy
from console.notifications.models import Notification
from console.operations.models import OperationRun, OperationRunUnit
from console.review_packs.models import ReviewPack

__all__ = [
    "ApiToken",
    "AuditEvent",
    "BackupSet",
    "BackupSetItem",
    "Base",
    "Baseline",
    "BaselineSnapshot",
    "EvidenceSnapshot",
    "EvidenceSnapshotItem",
    "InventoryItem",
    "Notification",
    "OperationRun",
    "OperationRunUnit",
    "Policy",
    "ReviewPack",
    "Tenant",
    "TenantGrant",
    "User",
    "Workspace",
    "WorkspaceMembership",
]
