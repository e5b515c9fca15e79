"""One visual language on the charts (#14 item 9): durations read as durations, the runs-per-day
chart shows a chosen range (7, 14 or 30 days), and figures are transparent so both colour themes show through."""

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


def test_runs_per_day_carries_its_7_14_30_day_ranges_and_shows_the_chosen_one() -> None:
    fig = charts.runs_per_day_figure([(DAYS[-1], "succeeded", 2)], days=DAYS, shown_days=7)
    go.Figure(fig)  # valid plotly
    ranges = fig["layout"]["meta"]["ranges"]
    # Half a day beyond the first and the last bar: a date axis centres each bar on its day.
    assert ranges == {
        "7": ["2026-11-18 12:00", "2026-11-25 12:00"],
        "14": ["2026-11-11 12:00", "2026-11-25 12:00"],
        "30": ["2026-10-26 12:00", "2026-11-25 12:00"],
    }
    assert fig["layout"]["xaxis"]["range"] == ranges["7"]
    assert "rangeselector" not in fig["layout"]["xaxis"]  # Plotly's SVG buttons: no keyboard
    assert fig["layout"]["showlegend"] is True  # one bucket still has its word, not its colour alone
    for value in (None, 30, 9, "7", True, 7.0):
        shown = charts.runs_per_day_figure([(DAYS[-1], "succeeded", 2)], days=DAYS, shown_days=value)
        assert shown["layout"]["xaxis"]["range"] == ranges["30"], value


def test_the_range_control_is_a_named_radio_group_offering_only_ranges_shorter_than_the_window() -> None:
    control = charts.range_control(30, value=14)
    legend, radios = control.children
    assert legend.children == "Days shown on the runs-per-day chart"
    assert radios.id == charts.RUNS_RANGE and radios.value == 14
    assert [o["value"] for o in radios.options] == [7, 14, 30]
    assert [o["value"] for o in charts.range_control(10).children[1].options] == [7, 10]
    assert charts.range_control(30, value="x").children[1].value == 30


def test_figures_are_transparent_for_both_themes() -> None:
    for fig in (charts.runs_per_day_figure([(DAYS[-1], "failed", 1)], days=DAYS), charts.duration_figure([])):
        assert fig["layout"]["paper_bgcolor"] == "rgba(0,0,0,0)"
        assert fig["layout"]["plot_bgcolor"] == "rgba(0,0,0,0)"
