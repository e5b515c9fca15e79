"""Run-state figures for /metrics: whole-console aggregates read from the database at scrape time.

Every process (web workers, Celery workers, beat's reaper) writes run state to the database, so
reading the figures there makes every process's work count once, whichever web process
answers the scrape. One aggregate statement over ``operation_runs`` (GROUP BY type, status,
outcome and duration bucket): about 400 result rows whatever the number of runs, no run row
ever reaches Python.

Counters derived here only grow while runs are kept: nothing in the console deletes runs, but
deleting a tenant or workspace cascades to its runs, and then a counter drops (Prometheus
reads a drop as a counter reset — docs/monitoring.md)."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import text
from sqlalchemy.orm import Session

from console.operations.constants import ACTIVE_STATUSES, COMPLETED, FAILED, QUEUED, RESUME_ATTEMPTS_KEY, RUNNING
from console.operations.staleness import STALE_PREFIX

#: What every reason the reaper writes starts with ("stale: no heartbeat…", "stale: never started…");
#: the colon keeps a provider's own "Stale…" message out (LIKE is case-insensitive on SQLite).
REAPED_LIKE: Final = f"{STALE_PREFIX}:%"
#: Upper bounds (seconds) of the run-duration histogram: a 1 s fetch to a 6 h restore.
DURATION_BUCKETS: Final = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0)


@dataclass(frozen=True)
class DurationHistogram:
    """Per bucket (same order as DURATION_BUCKETS, then +Inf) the runs in it — not cumulative."""

    buckets: tuple[int, ...]
    total_seconds: float

    @property
    def count(self) -> int:
        return sum(self.buckets)

    def cumulative(self) -> list[tuple[str, int]]:
        """``[(le, runs ≤ le), …, ("+Inf", all)]`` as Prometheus exposes them."""
        out, running = [], 0
        for bound, n in zip((*(_le(b) for b in DURATION_BUCKETS), "+Inf"), self.buckets, strict=True):
            running += n
            out.append((bound, running))
        return out


def _le(bound: float) -> str:
    return repr(float(bound))


@dataclass(frozen=True)
class RunFigures:
    #: (type, status) -> runs queued or running now
    active: dict[tuple[str, str], int] = field(default_factory=dict)
    #: (type, outcome) -> runs completed so far
    completed: dict[tuple[str, str], int] = field(default_factory=dict)
    #: type -> units processed so far (``summary_counts.processed`` summed over every run)
    units_processed: dict[str, int] = field(default_factory=dict)
    #: type -> start-to-completion seconds of completed runs that started
    durations: dict[str, DurationHistogram] = field(default_factory=dict)
    #: creation time of the oldest queued or running run; None when nothing is active
    oldest_active_created_at: datetime | None = None
    #: times the reaper gave a stale run another worker (``context.resume_attempts`` summed)
    reaper_resumed: int = 0
    #: runs the reaper failed (outcome failed, failure summary starting "stale")
    reaper_failed: int = 0


def _statement(dialect: str, *, bounded: bool) -> str:
    if dialect == "postgresql":
        duration = "GREATEST(EXTRACT(EPOCH FROM (completed_at - started_at)), 0)"
        processed = (
            "CASE WHEN jsonb_typeof(summary_counts -> 'processed') = 'number' "
            "THEN (summary_counts ->> 'processed')::numeric ELSE 0 END"
        )
        resumed = (
            f"CASE WHEN jsonb_typeof(context -> '{RESUME_ATTEMPTS_KEY}') = 'number' "
            f"THEN (context ->> '{RESUME_ATTEMPTS_KEY}')::numeric ELSE 0 END"
        )
    elif dialect == "sqlite":
        duration = "MAX((julianday(completed_at) - julianday(started_at)) * 86400.0, 0)"
        processed = (
            "CASE WHEN json_type(summary_counts, '$.processed') IN ('integer', 'real') "
            "THEN json_extract(summary_counts, '$.processed') ELSE 0 END"
        )
        resumed = (
            f"CASE WHEN json_type(context, '$.{RESUME_ATTEMPTS_KEY}') = 'integer' "
            f"THEN json_extract(context, '$.{RESUME_ATTEMPTS_KEY}') ELSE 0 END"
        )
    else:  # pragma: no cover - the console runs on these two
        raise NotImplementedError(f"run figures support postgresql and sqlite, not {dialect}")
    # One CASE picks the bucket index (NULL: not a completed run that started); the duration is
    # computed once per row in the inner select.
    bucket = "CASE " + " ".join(f"WHEN d <= {b!r} THEN {i}" for i, b in enumerate(DURATION_BUCKETS))
    bucket += f" WHEN d IS NOT NULL THEN {len(DURATION_BUCKETS)} END"
    return f"""
        SELECT type, status, outcome, {bucket} AS bucket, COUNT(*) AS runs, SUM(processed) AS processed,
               SUM(resumed) AS resumed, SUM(reaped) AS reaped, SUM(d) AS seconds, MIN(created) AS oldest
        FROM (
            SELECT type, status, outcome, created_at AS created,
                   {processed} AS processed,
                   {resumed} AS resumed,
                   CASE WHEN outcome = :failed AND failure_summary LIKE :stale THEN 1 ELSE 0 END AS reaped,
                   CASE WHEN status = :completed AND started_at IS NOT NULL AND completed_at IS NOT NULL
                        THEN {duration} END AS d
            FROM operation_runs
            WHERE id > :lo{" AND id <= :hi" if bounded else ""}
        ) AS runs
        GROUP BY type, status, outcome, bucket
    """


class RunTally:
    """Mergeable sums over a set of runs (what one aggregate statement over an id range returns)."""

    def __init__(self) -> None:
        self.runs = 0
        self.active: dict[tuple[str, str], int] = defaultdict(int)
        self.completed: dict[tuple[str, str], int] = defaultdict(int)
        self.units: dict[str, int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = {}
        self.seconds: dict[str, float] = defaultdict(float)
        self.oldest_active: datetime | None = None
        self.resumed = 0
        self.reaped = 0

    def add_row(self, type_: str, status: str, outcome: str | None, bucket: object, runs: int, *rest: object) -> None:
        processed, resumed, reaped, seconds, created = rest
        self.runs += runs
        self.units[type_] += int(processed or 0)
        self.resumed += int(resumed or 0)
        self.reaped += int(reaped or 0)
        if status in ACTIVE_STATUSES:
            self.active[(type_, status)] += runs
            self._older(_as_datetime(created))
        elif status == COMPLETED:
            self.completed[(type_, outcome or "unknown")] += runs
            if bucket is not None:
                self.buckets.setdefault(type_, [0] * (len(DURATION_BUCKETS) + 1))[int(bucket)] += runs  # type: ignore[call-overload]
                self.seconds[type_] += float(seconds or 0.0)  # type: ignore[arg-type]

    def _older(self, created: datetime | None) -> None:
        if created is not None and (self.oldest_active is None or created < self.oldest_active):
            self.oldest_active = created

    def merge(self, other: RunTally) -> RunTally:
        """Add ``other`` into this tally (in place); returns self."""
        self.runs += other.runs
        for mine, theirs in (
            (self.active, other.active),
            (self.completed, other.completed),
            (self.units, other.units),
            (self.seconds, other.seconds),
        ):
            for key, value in theirs.items():
                mine[key] += value  # type: ignore[index]
        for type_, counts in other.buckets.items():
            row = self.buckets.setdefault(type_, [0] * (len(DURATION_BUCKETS) + 1))
            for i, n in enumerate(counts):
                row[i] += n
        self.resumed += other.resumed
        self.reaped += other.reaped
        self._older(other.oldest_active)
        return self

    def copy(self) -> RunTally:
        return RunTally().merge(self)

    def figures(self) -> RunFigures:
        return RunFigures(
            active=dict(self.active),
            completed=dict(self.completed),
            units_processed=dict(self.units),
            durations={t: DurationHistogram(tuple(b), self.seconds[t]) for t, b in self.buckets.items()},
            oldest_active_created_at=self.oldest_active,
            reaper_resumed=self.resumed,
            reaper_failed=self.reaped,
        )


def tally_runs(*, session: Session, after_id: int = 0, upto_id: int | None = None) -> RunTally:
    """The sums over runs with ``after_id < id <= upto_id`` (no upper bound when None)."""
    dialect = session.get_bind().dialect.name
    params = {"failed": FAILED, "stale": REAPED_LIKE, "completed": COMPLETED, "lo": after_id, "hi": upto_id}
    tally = RunTally()
    for row in session.execute(text(_statement(dialect, bounded=upto_id is not None)), params):
        tally.add_row(*row)
    return tally


#: Seconds between two checks that the settled runs are still what was summed (a COUNT over
#: them: ~15 ms at 50,000 runs, so not on every scrape).
VERIFY_SECONDS: Final = 60.0


@dataclass
class SettledRuns:
    """Runs that can no longer change, summed once per process: every run with ``id <= horizon``.

    Completed is terminal (cancel, the reaper and the writers only complete queued or running
    runs; a retry is a new run), so once every run up to an id has completed, their sums are
    final. The horizon is the id below the oldest active run; each scrape adds only the runs
    that settled since the last one and re-reads the rest (the tail: the runs created since the
    oldest active run), so a scrape costs about the same at 50,000 runs as at 500.

    A run below the horizon can still appear (PostgreSQL hands out ids before the commit, so an
    id may become visible after higher ones) or vanish (a tenant's runs cascade-deleted with
    it). An active run appearing there is seen at once (the oldest active id falls below the
    horizon); otherwise the number of runs up to the horizon, checked every ``VERIFY_SECONDS``,
    differs from ``tally.runs``. Either way everything is summed again."""

    horizon: int = 0
    tally: RunTally = field(default_factory=RunTally)
    verified_at: float = float("-inf")


def _bounds(session: Session) -> tuple[int, int | None]:
    """(largest id, smallest active id or None) — two index look-ups in one round trip."""
    stmt = text(
        "SELECT (SELECT MAX(id) FROM operation_runs), "
        # id + 0: the status index finds the few active runs; MIN(id) alone walks the primary key
        # from the oldest run on PostgreSQL until it meets an active one (18 ms at 50,000 runs).
        "(SELECT MIN(id + 0) FROM operation_runs WHERE status IN (:queued, :running))"
    )
    max_id, min_active = session.execute(stmt, {"queued": QUEUED, "running": RUNNING}).one()
    return int(max_id or 0), (int(min_active) if min_active is not None else None)


def _settled_count(session: Session, horizon: int) -> int:
    return int(session.scalar(text("SELECT COUNT(*) FROM operation_runs WHERE id <= :h"), {"h": horizon}) or 0)


def run_figures(
    *, session: Session, settled: SettledRuns | None = None, verify_seconds: float = VERIFY_SECONDS
) -> RunFigures:
    """Every figure /metrics reports about runs. With ``settled`` (kept between calls by one
    process) only runs that may still change, and those that settled since, are read."""
    if settled is None:
        return tally_runs(session=session).figures()
    max_id, min_active = _bounds(session)
    now = time.monotonic()
    stale = min_active is not None and min_active <= settled.horizon
    if not stale and settled.horizon and now - settled.verified_at >= verify_seconds:
        stale = _settled_count(session, settled.horizon) != settled.tally.runs
        settled.verified_at = now
    if stale:  # runs appeared or vanished below the horizon: start over
        settled.horizon, settled.tally, settled.verified_at = 0, RunTally(), now
    horizon = (min_active - 1) if min_active is not None else max_id
    if horizon > settled.horizon:
        settled.tally.merge(tally_runs(session=session, after_id=settled.horizon, upto_id=horizon))
        settled.horizon = horizon
    tail = tally_runs(session=session, after_id=settled.horizon)
    return settled.tally.copy().merge(tail).figures()


def _as_datetime(value: object) -> datetime | None:
    """MIN() over a UTC column comes back untyped on SQLite (a string): the aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return None
