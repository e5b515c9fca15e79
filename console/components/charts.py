"""Plotly figures for the tenant dashboard: pure builders (rows in, figure out) and the Graph wrapper.

The builders take plain rows so they are unit-testable without a database or a browser;
tenant_dashboard.py reads the rows. Figures are plain plotly JSON dicts (no pandas, no
``go.Figure`` validation per request); the tests validate them with ``go.Figure(fig)``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from statistics import median
from typing import Any

import dash_bootstrap_components as dbc
import plotly.io as pio
from dash import dcc, html

from console.components.display import format_duration
from console.operations.constants import CANCELLED, FAILED, OUTCOME_LABELS, PARTIALLY_SUCCEEDED, SUCCEEDED
from console.operations.registry import type_label

RUNS_PER_DAY = "chart-runs-per-day"
DURATIONS = "chart-durations"

#: Stacking order and colours of the per-day buckets (Bootstrap's palette, so it matches the badges).
ACTIVE_BUCKET = "active"
UNKNOWN_BUCKET = "unknown"
BUCKETS: tuple[tuple[str, str, str], ...] = (
    (SUCCEEDED, OUTCOME_LABELS[SUCCEEDED], "#198754"),
    (PARTIALLY_SUCCEEDED, OUTCOME_LABELS[PARTIALLY_SUCCEEDED], "#fd7e14"),
    (FAILED, OUTCOME_LABELS[FAILED], "#dc3545"),
    (CANCELLED, OUTCOME_LABELS[CANCELLED], "#6c757d"),
    (ACTIVE_BUCKET, "In progress", "#0d6efd"),
    (UNKNOWN_BUCKET, "Unknown", "#adb5bd"),
)
_KNOWN_BUCKETS = frozenset(key for key, _, _ in BUCKETS)
GRAPH_CONFIG = {"displayModeBar": False, "responsive": True}


def bucket_of(status: str | None, outcome: str | None) -> str:
    """Which stacked series a run belongs to: its outcome once completed, 'active' while queued/running."""
    if status in ("queued", "running"):
        return ACTIVE_BUCKET
    if status == "completed" and outcome in _KNOWN_BUCKETS:
        return str(outcome)
    return UNKNOWN_BUCKET


def day_range(end: date, days: int) -> list[date]:
    """The ``days`` calendar days ending with ``end`` (oldest first)."""
    return [end - timedelta(days=offset) for offset in range(days - 1, -1, -1)]


#: plotly_white as JSON, built once: a ``go.Figure`` deep-copies and validates its template on
#: every construction (~40 ms per figure with plotly 6-7), which dominated the dashboard's build.
_TEMPLATE: dict[str, Any] = pio.templates["plotly_white"].to_plotly_json()

Figure = dict[str, Any]


def _base_layout(*, title: str, height: int = 320) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0, "y": 0.98, "yanchor": "top", "font": {"size": 15}},
        "template": _TEMPLATE,
        "height": height,
        # Transparent: the page's colour shows through in both themes (console.css colours the
        # text and grid lines for dark mode).
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "margin": {"l": 40, "r": 10, "t": 64, "b": 40},
        "legend": {
            "orientation": "h",
            "x": 0,
            "y": 1.0,
            "yanchor": "bottom",
            "xanchor": "left",
            "traceorder": "normal",
        },
    }


def _empty(layout: dict[str, Any], message: str) -> Figure:
    layout.update(
        annotations=[
            {
                "text": message,
                "showarrow": False,
                "x": 0.5,
                "y": 0.5,
                "xref": "paper",
                "yref": "paper",
                "font": {"color": "#6c757d"},
            }
        ],
        xaxis={"visible": False},
        yaxis={"visible": False},
    )
    return {"data": [], "layout": layout}


#: At most this many ticks on a count axis (the graph is 320 px high).
MAX_COUNT_TICKS = 8


def count_ticks(highest: int) -> dict[str, Any]:
    """Y-axis tick settings for counts: whole numbers only, one step of 1, 2, 5, 10, 20, 50, ...

    Left to itself plotly puts ticks at 0.5 when the largest bar is 1 to 4, and ``tickformat``
    alone would then print "0, 1, 1, 2"; a linear axis with an integer ``dtick`` cannot."""
    step = 1
    while highest / step > MAX_COUNT_TICKS:
        for factor in (2, 5 / 2, 2):  # 1 -> 2 -> 5 -> 10 -> 20 -> 50 ...
            step = int(step * factor)
            if highest / step <= MAX_COUNT_TICKS:
                break
    return {"tickmode": "linear", "tick0": 0, "dtick": step, "tickformat": "d"}


def runs_per_day_figure(
    rows: Iterable[tuple[date, str, int]], *, days: Sequence[date], shown_days: object = None
) -> Figure:
    """Stacked bars: runs created per day, split by outcome bucket. ``rows`` = (day, bucket, count).

    ``shown_days`` (the range control's value: 7, 14 or the whole window) sets the visible x range;
    anything else shows the whole window. The figure carries every choice's range in
    ``layout.meta.ranges`` so the control's clientside callback re-ranges it without a request."""
    counts: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    window = set(days)
    for day, bucket, n in rows:
        if day in window and n > 0:
            counts[bucket if bucket in _KNOWN_BUCKETS else UNKNOWN_BUCKET][day] += int(n)
    layout = _base_layout(title=f"Runs per day (last {len(days)} days)")
    if not counts:
        return _empty(layout, f"No runs in the last {len(days)} days")
    x = [d.isoformat() for d in days]
    data = [
        {"type": "bar", "name": label, "x": x, "y": [counts[key].get(d, 0) for d in days], "marker": {"color": colour}}
        for key, label, colour in BUCKETS
        if key in counts
    ]
    highest = max(sum(trace["y"][i] for trace in data) for i in range(len(days)))
    ranges = day_ranges(days)
    layout.update(
        barmode="stack",
        showlegend=True,  # Plotly hides a lone trace's legend: the colour would then say "Succeeded" alone
        yaxis={"title": {"text": "runs"}, "rangemode": "tozero", **count_ticks(highest)},
        xaxis={"type": "date", "range": ranges[str(shown_range(shown_days, len(days)))]},
        meta={"ranges": ranges},
    )
    return {"data": data, "layout": layout}


#: The runs-per-day chart's range choices (days back from the newest day); the whole window is
#: the last choice and the default.
RANGE_DAYS: tuple[int, ...] = (7, 14)
RUNS_RANGE = "chart-runs-range"


def range_choices(window_days: int) -> tuple[int, ...]:
    return (*(n for n in RANGE_DAYS if n < window_days), window_days)


def shown_range(value: object, window_days: int) -> int:
    """The control's value if it is one of the choices (a posted callback can say anything), else the window."""
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and value in range_choices(window_days)
        else window_days
    )


def day_ranges(days: Sequence[date]) -> dict[str, list[str]]:
    """Each choice's x range, half a day beyond the first and last bars (a date axis centres a bar on its day)."""
    end = f"{days[-1].isoformat()} 12:00"
    return {str(n): [f"{(days[-n] - timedelta(days=1)).isoformat()} 12:00", end] for n in range_choices(len(days))}


def range_control(window_days: int, value: object = None) -> html.Fieldset:
    """The chart's range choice as real radio buttons (keyboard: Tab to the group, arrows to choose),
    named by a legend. Plotly's own range selector is SVG that neither Tab nor Enter reaches."""
    return html.Fieldset(
        [
            html.Legend("Days shown on the runs-per-day chart", className="visually-hidden"),
            dbc.RadioItems(
                id=RUNS_RANGE,
                options=[{"label": f"{n} d", "value": n} for n in range_choices(window_days)],
                value=shown_range(value, window_days),
                class_name="btn-group btn-group-sm",
                input_class_name="btn-check",
                label_class_name="btn btn-outline-secondary",
                label_checked_class_name="active",
            ),
        ],
        # Over the chart's top right corner, beside its title (the column is position-relative).
        className="chart-range position-absolute top-0 end-0 me-2",
    )


#: Re-ranges the runs chart in the browser when the range choice changes (no request): the
#: ranges were computed by the server into ``layout.meta.ranges``; the refresh callback reads the
#: choice too, so a re-render keeps it.
RANGE_JS = """
function (days, figure) {
    var meta = figure && figure.layout && figure.layout.meta;
    var range = meta && meta.ranges && meta.ranges[String(days)];
    if (!range) { return window.dash_clientside.no_update; }
    var xaxis = Object.assign({}, figure.layout.xaxis, {range: range, autorange: false});
    return Object.assign({}, figure, {layout: Object.assign({}, figure.layout, {xaxis: xaxis})});
}
"""


def duration_ticks(highest_seconds: float) -> dict[str, Any]:
    """A duration axis in seconds labelled as people read durations ("30 s", "5 min", "1 h 30 min"):
    about five ticks on a 1-2-5-like step of seconds, minutes or hours."""
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
    highest = max(float(highest_seconds), 1.0)
    step = next((s for s in steps if highest / s <= 5), steps[-1])
    values = [step * i for i in range(int(highest // step) + 2)]
    return {"tickmode": "array", "tickvals": values, "ticktext": [format_duration(v) for v in values]}


def duration_figure(rows: Iterable[tuple[str, float]]) -> Figure:
    """Box plot of completed runs' durations (seconds) per operation type. ``rows`` = (type, seconds)."""
    by_type: dict[str, list[float]] = defaultdict(list)
    for type_, seconds in rows:
        if seconds is not None and seconds >= 0:
            by_type[type_].append(float(seconds))
    layout = _base_layout(title="Duration by operation type (completed, last 30 days)")
    if not by_type:
        return _empty(layout, "No completed runs in the last 30 days")
    # Slowest types first: what an operator looks for.
    order = sorted(by_type, key=lambda t: (-median(by_type[t]), t))
    data: list[dict[str, Any]] = [
        {
            "type": "box",
            "name": type_label(type_),
            "x": by_type[type_],
            "orientation": "h",
            "boxpoints": "outliers",
            # Plotly would print raw seconds ("median: 674"): the invisible marker below says it in words.
            "hoverinfo": "skip",
        }
        for type_ in order
    ]
    # One invisible marker per type at its median: hovering the box says it in words.
    data.append(
        {
            "type": "scatter",
            "mode": "markers",
            "name": "median",
            "x": [median(by_type[t]) for t in order],
            "y": [type_label(t) for t in order],
            "marker": {"size": 24, "opacity": 0},
            "hoverinfo": "text",
            "hovertext": [duration_summary(by_type[t]) for t in order],
        }
    )
    highest = max(max(v) for v in by_type.values())
    layout.update(
        showlegend=False,
        hovermode="closest",
        xaxis={"title": {"text": "duration"}, "rangemode": "tozero", **duration_ticks(highest)},
    )
    return {"data": data, "layout": layout}


def duration_summary(seconds: Sequence[float]) -> str:
    """The hover text of one type's box: "median 11 min 14 s · 12 runs · 2 min 5 s – 20 min"."""
    runs = f"{len(seconds)} run" + ("" if len(seconds) == 1 else "s")
    spread = f"{format_duration(min(seconds))} – {format_duration(max(seconds))}"
    return f"median {format_duration(median(seconds))} · {runs} · {spread}"


def graph(graph_id: str, figure: Figure) -> dcc.Graph:
    """A dashboard graph: no mode bar (no toolbar clutter, no outside requests)."""
    return dcc.Graph(id=graph_id, figure=figure, config=GRAPH_CONFIG, className="console-chart")
