"""Statuses, outcomes and operation types: the vocabulary every surface shares."""

from __future__ import annotations

from typing import Final

QUEUED: Final = "queued"
RUNNING: Final = "running"
COMPLETED: Final = "completed"
STATUSES: Final = frozenset({QUEUED, RUNNING, COMPLETED})
ACTIVE_STATUSES: Final = frozenset({QUEUED, RUNNING})

SUCCEEDED: Final = "succeeded"
PARTIALLY_SUCCEEDED: Final = "partially_succeeded"
FAILED: Final = "failed"
CANCELLED: Final = "cancelled"
OUTCOMES: Final = frozenset({SUCCEEDED, PARTIALLY_SUCCEEDED, FAILED, CANCELLED})

#: What one unit of a counted run can end as (each is also a summary-count key).
SKIPPED: Final = "skipped"
UNIT_OUTCOMES: Final = frozenset({SUCCEEDED, FAILED, SKIPPED})

#: Counted families write ``total`` once and ``processed`` once per unit.
COUNTED_TYPES: Final = frozenset(
    {
        "inventory_sync",
        "review_pack_generate",
        "evidence_snapshot_generate",
        "backup_set_add_policies",
        "backup_set_restore",
    }
)
#: Phased families are never counted: indeterminate while active, labelled by ``context.phase``.
PHASED_TYPES: Final = frozenset({"baseline_capture", "baseline_compare"})
OPERATION_TYPES: Final = COUNTED_TYPES | PHASED_TYPES

TYPE_LABELS: Final[dict[str, str]] = {
    "inventory_sync": "Inventory sync",
    "review_pack_generate": "Review pack generation",
    "evidence_snapshot_generate": "Evidence snapshot",
    "backup_set_add_policies": "Backup policies",
    "backup_set_restore": "Backup restore",
    "baseline_capture": "Baseline capture",
    "baseline_compare": "Baseline compare",
}

STATUS_LABELS: Final[dict[str, str]] = {QUEUED: "Queued", RUNNING: "Running", COMPLETED: "Completed"}
UNKNOWN_LABEL: Final = "Unknown"

OUTCOME_LABELS: Final[dict[str, str]] = {
    SUCCEEDED: "Succeeded",
    PARTIALLY_SUCCEEDED: "Partially succeeded",
    FAILED: "Failed",
    CANCELLED: "Cancelled",
}


def type_label(type_: str) -> str:
    """The human label of an operation type; unknown types get a readable fallback."""
    if type_ in TYPE_LABELS:
        return TYPE_LABELS[type_]
    text = str(type_).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "Operation"
