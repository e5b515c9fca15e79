"""The progress contract: one pure function turns a run's state into what every surface shows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Protocol

from console.db import utcnow
from console.operations import registry
from console.operations.constants import (
    COMPLETED,
    OUTCOME_LABELS,
    OUTCOMES,
    QUEUED,
    RUNNING,
    STATUS_LABELS,
    UNKNOWN_LABEL,
)
from console.operations.eta import eta_seconds, since_resume
from console.operations.summary import OUTCOME_COUNTER_KEYS, normalize_counts


class RunState(Protocol):
    """What the contract reads of a run: an ``OperationRun`` or a read model row (queries.RunRow)."""

    @property
    def status(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def summary_counts(self) -> object: ...
    @property
    def context(self) -> object: ...
    @property
    def started_at(self) -> datetime | None: ...
    @property
    def outcome(self) -> str | None: ...


COUNTED: Final = "counted"
ACTIVITY: Final = "activity"
PHASED: Final = "phased"
NONE: Final = "none"
MODES: Final = (COUNTED, ACTIVITY, PHASED, NONE)

DEFAULT_PHASE_LABEL: Final = "Working"
PHASE_LABEL_MAX: Final = 80
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class ProgressView:
    mode: str  # counted | activity | phased | none
    status_label: str  # Queued / Running / Completed / Unknown
    outcome: str | None
    outcome_label: str | None
    processed: int | None
    total: int | None
    percent: int | None  # only when counted; always 0..100
    text: str | None  # "N / M" counted, "N of M processed" terminal, phase label phased
    badges: tuple[tuple[str, int], ...]  # outcome counters > 0, never processed/total
    eta_seconds: int | None


def phase_label(context: object, type_: object = None) -> str:
    """``context.phase`` in words (the type's registered ``phases``, else as a sentence), made
    safe to show (one line, bounded), or the generic label."""
    phase = context.get("phase") if isinstance(context, dict) else None
    if not isinstance(phase, str):
        return DEFAULT_PHASE_LABEL
    text = " ".join(_CONTROL.sub(" ", phase).split())
    if not text:
        return DEFAULT_PHASE_LABEL
    text = registry.phase_words(type_, text)
    if len(text) > PHASE_LABEL_MAX:
        text = text[: PHASE_LABEL_MAX - 1].rstrip() + "…"
    return text


def progress_view(
    *,
    status: str,
    type: str,  # noqa: A002 - the contract's field name
    summary_counts: object,
    context: object | None = None,
    started_at: datetime | None = None,
    now: datetime | None = None,
    outcome: str | None = None,
) -> ProgressView:
    """Apply the progress contract (docs/polling-and-progress.md) to one run's state."""
    counts = normalize_counts(summary_counts)
    badges = tuple((key, counts[key]) for key in OUTCOME_COUNTER_KEYS if counts.get(key, 0) > 0)
    processed = counts.get("processed")
    total = counts.get("total")

    if status == COMPLETED:
        known = outcome if outcome in OUTCOMES else None
        label = OUTCOME_LABELS[known] if known else (UNKNOWN_LABEL if outcome else None)
        text = f"{processed} of {total} processed" if processed is not None and total else None
        return ProgressView(NONE, STATUS_LABELS[COMPLETED], known, label, processed, total, None, text, badges, None)

    if status not in (QUEUED, RUNNING):
        # A status this version does not know (rolling deploy): show nothing live, stop polling.
        return ProgressView(NONE, UNKNOWN_LABEL, None, None, None, None, None, None, badges, None)

    status_label = STATUS_LABELS[status]
    if status == RUNNING and registry.is_phased(type):
        phase = phase_label(context, type)
        return ProgressView(PHASED, status_label, None, None, None, None, None, phase, badges, None)

    trustworthy = (
        status == RUNNING
        and registry.is_counted(type)
        and total is not None
        and total > 0
        and processed is not None
        and 0 <= processed <= total
    )
    if not trustworthy:
        # Writers never invent totals, and neither do readers: no number without processed/total.
        return ProgressView(ACTIVITY, status_label, None, None, None, None, None, None, badges, None)

    assert processed is not None and total is not None
    percent = (100 * processed) // total
    # The rate since the reaper's last resume (over the units done since), else since the start.
    base, since = since_resume(context, processed, now) or (0, started_at)
    eta = eta_seconds(processed=processed - base, total=total - base, started_at=since, now=now)
    return ProgressView(
        COUNTED, status_label, None, None, processed, total, percent, f"{processed} / {total}", badges, eta
    )


def progress_for_run(run: RunState, now: datetime | None = None) -> ProgressView:
    """progress_view for a loaded run or a run row (``now`` defaults to the current time, for the ETA)."""
    return progress_view(
        status=run.status,
        type=run.type,
        summary_counts=run.summary_counts,
        context=run.context,
        started_at=run.started_at,
        now=now if now is not None else utcnow(),
        outcome=run.outcome,
    )
