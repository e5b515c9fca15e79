"""Count axes show whole numbers only: no 0.5 runs, whatever the largest bar."""

from __future__ import annotations

from datetime import date

import plotly.graph_objects as go
import pytest

from console.components import charts

DAYS = charts.day_range(date(2026, 11, 25), 30)


@pytest.mark.parametrize("highest", [0, 1, 2, 3, 7, 8, 9, 16, 17, 41, 99, 1000, 123_456])
def test_count_ticks_are_whole_numbers_and_at_most_eight_steps(highest) -> None:
    ticks = charts.count_ticks(highest)
    assert ticks["tickmode"] == "linear" and ticks["tick0"] == 0 and ticks["tickformat"] == "d"
    step = ticks["dtick"]
    assert isinstance(step, int) and step >= 1
    assert highest / step <= charts.MAX_COUNT_TICKS
    assert str(step).strip("0") in ("1", "2", "5")  # 1, 2, 5 x 10^n


def test_a_day_with_one_or_two_runs_gets_ticks_at_0_1_2() -> None:
    """The case that showed 0.5: plotly's automatic ticks for a largest bar of 2."""
    fig = charts.runs_per_day_figure([(DAYS[-1], "succeeded", 1), (DAYS[-1], "failed", 1)], days=DAYS)
    yaxis = go.Figure(fig).layout.yaxis
    assert (yaxis.tickmode, yaxis.tick0, yaxis.dtick) == ("linear", 0, 1)


def test_the_step_follows_the_tallest_stacked_day() -> None:
    # 12 + 9 on one day stack to 21: a step of 5 (0, 5, 10, 15, 20, 25), not 2 (11 ticks).
    rows = [(DAYS[0], "succeeded", 12), (DAYS[0], "failed", 9), (DAYS[1], "succeeded", 3)]
    assert charts.runs_per_day_figure(rows, days=DAYS)["layout"]["yaxis"]["dtick"] == 5
