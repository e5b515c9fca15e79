"""Statuses and outcomes: the vocabulary every surface shares (operation types: registry.py)."""

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

STATUS_LABELS: Final[dict[str, str]] = {QUEUED: "Queued", RUNNING: "Running", COMPLETED: "Completed"}
UNKNOWN_LABEL: Final = "Unknown"

OUTCOME_LABELS: Final[dict[str, str]] = {
    SUCCEEDED: "Succeeded",
    PARTIALLY_SUCCEEDED: "Partially succeeded",
    FAILED: "Failed",
    CANCELLED: "Cancelled",
}

#: Outcomes a retry may follow (a succeeded run has nothing left to do).
RETRYABLE_OUTCOMES: Final = frozenset({FAILED, PARTIALLY_SUCCEEDED, CANCELLED})

#: ``context`` key counting how often the reaper resumed a run (the run viewer shows it).
RESUME_ATTEMPTS_KEY: Final = "resume_attempts"
#: ``context`` keys the reaper writes with each resume: when, and how many units were processed
#: then. The ETA measures the rate from there: the silent minutes before are no rate.
RESUMED_AT_KEY: Final = "resumed_at"
PROCESSED_AT_RESUME_KEY: Final = "processed_at_resume"
