"""``GET /metrics``: Prometheus text format for a scraper holding CONSOLE_METRICS_TOKEN.

404 while the token is unset (the endpoint does not exist); with it set, 401 with
``WWW-Authenticate: Bearer`` unless the request carries ``Authorization: Bearer <token>``
(compared in constant time). Not behind the session login and never a page: served before the
session gate, GET/HEAD only, so it has no CSRF surface.

Where each figure comes from (docs/monitoring.md explains the choices):

* run state, units, durations, the reaper's actions — the database, at scrape time
  (``console.operations.figures``): workers, beat and every web process write it there, so
  any web process answers alike and a restart loses nothing. The figures (and the broker's
  queue lengths) are kept ``CACHE_SECONDS`` per process, so Prometheus servers scraping
  together cost one set of queries;
* the broker's queue lengths — asked of the broker (Redis: LLEN; embedded: a count on its
  SQLite file), through the dispatcher;
* poll answers — counted where they happen, in the web process: in this process's memory, or
  with ``PROMETHEUS_MULTIPROC_DIR`` set (several gunicorn workers) in prometheus-client's
  per-process files in that folder, summed over every worker by each scrape."""

from __future__ import annotations

import hmac
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from flask import Flask, Response, current_app, jsonify, request
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from console.components import poll_guard
from console.db import utcnow
from console.operations import registry
from console.operations.constants import ACTIVE_STATUSES, OUTCOMES
from console.operations.figures import DURATION_BUCKETS, DurationHistogram, RunFigures, SettledRuns, run_figures
from console.web import context

log = logging.getLogger(__name__)

ROUTE: Final = "/metrics"
#: Seconds one process reuses the figures it read (two Prometheus servers, one set of queries).
CACHE_SECONDS: Final = 5.0
#: prometheus-client's multiprocess mode: set (to an empty, writable folder) for several workers.
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
POLL_ANSWERS: Final = ("changed", "unchanged")
REAPER_ACTIONS: Final = ("resumed", "failed")
_STATE = "console.metrics"
_CALLBACK_PATH = "/_dash-update-component"
_BUILD_LOCK = threading.Lock()

#: Poll answers of this process. With PROMETHEUS_MULTIPROC_DIR set when prometheus_client is
#: first imported, the value lives in a file in that folder instead (read by every scrape).
POLLS = Counter(
    "console_poll_requests",
    "Guarded poll requests answered, by surface and whether anything had changed (204: unchanged).",
    ["surface", "answer"],
    registry=None,
)


@dataclass
class _State:
    """One app's scrape state: its registry, the settled runs and the cached figures."""

    registry: CollectorRegistry
    settled: SettledRuns = field(default_factory=SettledRuns)
    lock: threading.Lock = field(default_factory=threading.Lock)
    figures: RunFigures | None = None
    queues: dict[str, int] | None = None
    read_at: float = float("-inf")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def record_poll(surface: str, *, changed: bool) -> None:
    """Count one answered poll of ``surface``."""
    POLLS.labels(surface=surface, answer=POLL_ANSWERS[0] if changed else POLL_ANSWERS[1]).inc()


def clear_cache(server: Flask, *, settled: bool = False) -> None:
    """Forget the cached figures (the next scrape queries); with ``settled`` also the sums of
    settled runs (the next scrape costs what a fresh process's first one does)."""
    state = _state(server)
    with state.lock:
        state.figures, state.queues, state.read_at = None, None, float("-inf")
        if settled:
            state.settled = SettledRuns()


def _current(state: _State) -> tuple[RunFigures, dict[str, int] | None]:
    with state.lock:
        if state.figures is None or time.monotonic() - state.read_at >= CACHE_SECONDS:
            state.figures = run_figures(session=context.db_session(), settled=state.settled)
            state.queues = _queue_lengths()
            state.read_at = time.monotonic()
        return state.figures, state.queues


def _queue_lengths() -> dict[str, int] | None:
    """{queue: messages waiting}, or None when the broker cannot tell (or does not answer)."""
    ask = getattr(context.current_dispatcher(), "queue_lengths", None)
    if ask is None:
        return None
    try:
        return ask()
    except Exception as exc:  # the broker's own error types vary; a scrape must still answer
        log.warning("event=metrics_queue_length_failed error=%s", type(exc).__name__)
        return None


class RunCollector:
    """Run-state metrics from the database (via the cached figures)."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def collect(self) -> Iterable[Metric]:
        figures, queues = _current(self.state)
        now = utcnow()
        types = sorted(
            set(registry.types())
            | {t for t, _ in figures.active}
            | {t for t, _ in figures.completed}
            | set(figures.units_processed)
        )

        active = GaugeMetricFamily(
            "console_runs_active", "Runs queued or running now, by type and status.", labels=["type", "status"]
        )
        for type_ in types:
            for status in sorted(ACTIVE_STATUSES):
                active.add_metric([type_, status], figures.active.get((type_, status), 0))
        yield active

        completed = CounterMetricFamily(
            "console_runs_completed", "Runs completed, by type and outcome.", labels=["type", "outcome"]
        )
        outcomes = sorted(set(OUTCOMES) | {o for _, o in figures.completed})
        for type_ in types:
            for outcome in outcomes:
                completed.add_metric([type_, outcome], figures.completed.get((type_, outcome), 0))
        yield completed

        units = CounterMetricFamily(
            "console_units_processed", "Units processed by runs (summary_counts.processed), by type.", labels=["type"]
        )
        for type_ in types:
            units.add_metric([type_], figures.units_processed.get(type_, 0))
        yield units

        durations = HistogramMetricFamily(
            "console_run_duration_seconds",
            "Start-to-completion seconds of completed runs that started, by type.",
            labels=["type"],
        )
        for type_ in types:
            hist = figures.durations.get(type_)
            if hist is None:
                durations.add_metric([type_], [(le, 0) for le, _ in _empty_buckets()], 0.0)
            else:
                durations.add_metric([type_], hist.cumulative(), hist.total_seconds)
        yield durations

        oldest = figures.oldest_active_created_at
        yield GaugeMetricFamily(
            "console_oldest_active_run_age_seconds",
            "Age of the oldest queued or running run (0 when none is active).",
            value=max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0,
        )

        reaper = CounterMetricFamily(
            "console_reaper_actions", "Stale runs the reaper resumed or failed.", labels=["action"]
        )
        reaper.add_metric(["resumed"], figures.reaper_resumed)
        reaper.add_metric(["failed"], figures.reaper_failed)
        yield reaper

        if queues is not None:
            queue = GaugeMetricFamily(
                "console_broker_queue_length", "Task messages waiting in the broker, by queue.", labels=["queue"]
            )
            for name, length in sorted(queues.items()):
                queue.add_metric([name], length)
            yield queue


def _empty_buckets() -> list[tuple[str, int]]:
    return DurationHistogram((0,) * (len(DURATION_BUCKETS) + 1), 0.0).cumulative()


def _build_registry(server: Flask) -> _State:
    reg = CollectorRegistry(auto_describe=False)
    state = _State(registry=reg)
    reg.register(RunCollector(state))
    path = multiprocess_dir()
    if path:
        MultiProcessCollector(reg, path=path)
    else:
        reg.register(POLLS)
    # Every surface's series exist from the start (0), so rate() and alerts see them at once.
    for surface in poll_guard.surfaces(server):
        for answer in POLL_ANSWERS:
            POLLS.labels(surface=surface, answer=answer)
    return state


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _serve() -> Any:
    """Answers /metrics before the session gate; any other path goes on (None)."""
    if request.path != ROUTE:
        return None
    token = context.settings().metrics_token
    if not token:
        return jsonify(error="not found"), 404
    if request.method not in ("GET", "HEAD"):
        return jsonify(error="method not allowed"), 405, {"Allow": "GET, HEAD"}
    supplied = _bearer(request.headers.get("Authorization"))
    if supplied is None or not hmac.compare_digest(supplied.encode(), token.encode()):
        return jsonify(error="a valid bearer token is required"), 401, {"WWW-Authenticate": 'Bearer realm="metrics"'}
    # The format the scraper asks for (Prometheus: OpenMetrics first), as prometheus-client's own app does.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(_state(current_app).registry), headers={"Content-Type": content_type})


def _count_polls(response: Response) -> Response:
    if request.path == _CALLBACK_PATH and response.status_code in (200, 204):
        surface = poll_guard.polled_surface(current_app, request.get_json(silent=True))
        if surface is not None:
            record_poll(surface, changed=response.status_code == 200)
    return response


def _state(server: Flask) -> _State:
    """The app's scrape state, built on first use (by then every poll surface is registered)."""
    state = server.extensions.get(_STATE)
    if state is None:
        with _BUILD_LOCK:
            state = server.extensions.get(_STATE)
            if state is None:
                state = server.extensions[_STATE] = _build_registry(server)
    return state


def init_app(server: Flask) -> None:
    """Serve /metrics and count poll answers; install before the session gate (auth.init_app)."""
    server.before_request(_serve)
    server.after_request(_count_polls)
