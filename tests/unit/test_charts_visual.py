"""One visual language on the charts (#14 item 9): durations read as durations, the runs-per-day
chart has a range selector, and figures are transparent so both colour themes show through."""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go

from console.components import charts

DAYS = charts.day_range(date(2026, 11, 25), 30)


def test_duration_axis_ticks_read_as_durations() -> None:
    ticks = charts.duration_ticks(674)  # 11 min 14 s
    assert ticks["tickvals"] == [0, 300, 600, 900]
    assert ticks["ticktext"] == ["0 s", "5 min", "10 min", "15 min"]
    assert charts.duration_ticks(40)["ticktext"][:3] == ["0 s", "10 s", "20 s"]
    assert charts.duration_ticks(5400)["ticktext"][:3] == ["0 s", "30 min", "1 h"]


def test_duration_hover_says_the_median_in_words_not_raw_seconds() -> None:
    fig = go.Figure(
        charts.duration_figure([("inventory_sync", 674.0), ("inventory_sync", 60.0), ("inventory_sync", 1200.0)])
    )
    box, summary = fig.data
    assert box.type == "box" and box.hoverinfo == "skip"
    assert summary.type == "scatter" and summary.hoverinfo == "text"
    assert list(summary.hovertext) == ["median 11 min 14 s · 3 runs · 1 min – 20 min"]
    assert list(summary.y) == ["Inventory sync"] and list(summary.x) == [674.0]
    assert fig.layout.xaxis.ticktext[1] == "5 min"


def test_runs_per_day_has_a_7_14_30_day_range_selector() -> None:
    fig = go.Figure(charts.runs_per_day_figure([(DAYS[-1], "succeeded", 2)], days=DAYS))
    buttons = fig.layout.xaxis.rangeselector.buttons
    assert [b.label for b in buttons] == ["7 d", "14 d", "30 d"]
    assert [(b.count, b.step, b.stepmode) for b in buttons[:2]] == [(7, "day", "backward"), (14, "day", "backward")]
    assert buttons[2].step == "all"


def test_figures_are_transparent_for_both_themes() -> None:
    for fig in (charts.runs_per_day_figure([(DAYS[-1], "failed", 1)], days=DAYS), charts.duration_figure([])):
        assert fig["layout"]["paper_bgcolor"] == "rgba(0,0,0,0)"
        assert fig["layout"]["plot_bgcolor"] == "rgba(0,0,0,0)"
