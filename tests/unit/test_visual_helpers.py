"""Pure helpers of #14 item 9: relative-time elements and the operations list's date presets."""

from __future__ import annotations

from datetime import UTC, date, datetime

from console.app import THEME_SCRIPT, with_theme
from console.components import display
from console.components.operations_table import date_presets


def test_relative_time_renders_the_absolute_utc_text_with_its_instant() -> None:
    el = display.relative_time(datetime(2026, 12, 6, 22, 45, 9))  # naive = UTC
    assert el.children == "2026-12-06 22:45 UTC" and el.title == "2026-12-06 22:45 UTC"
    assert el.dateTime == "2026-12-06T22:45:09Z" and el.className == display.RELATIVE_TIME
    assert display.relative_time(None) == "—"


def test_relative_time_of_parses_both_absolute_formats_and_passes_other_text_through() -> None:
    seconds = display.relative_time_of(display.format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)))
    assert seconds.dateTime == "2026-01-02T03:04:05Z" and seconds.children == "2026-01-02 03:04:05 UTC"
    minutes = display.relative_time_of("2026-01-02 03:04 UTC")
    assert minutes.dateTime == "2026-01-02T03:04:00Z"
    assert display.relative_time_of("—") == "—"
    assert display.relative_time_of("") == "—"
    assert display.relative_time_of("Never") == "Never"


def test_durations_read_as_minutes_and_seconds() -> None:
    assert display.format_duration(674) == "11 min 14 s"
    assert display.format_duration(60) == "1 min"
    assert display.format_duration(7800) == "2 h 10 min"


def test_date_presets_set_from_keep_other_filters_and_drop_to() -> None:
    values = {
        "tenant": "3",
        "type": "all",
        "status": "active",
        "outcome": "all",
        "q": "",
        "from": None,
        "to": "2026-12-01",
    }
    presets = date_presets(values, today=date(2026, 12, 6))
    assert [p.key for p in presets] == ["24h", "7d", "30d", "90d"]
    assert presets[0].href == "/admin/operations?tenant=3&status=active&from=2026-12-05"
    assert presets[1].href == "/admin/operations?tenant=3&status=active&from=2026-11-29"
    assert presets[3].href.endswith("from=2026-09-07")
    assert not any(p.active for p in presets)  # a `to` bound: no preset is what the URL says


def test_the_preset_matching_the_url_is_active() -> None:
    values = {
        "tenant": "all",
        "type": "all",
        "status": "all",
        "outcome": "all",
        "q": "",
        "from": "2026-11-06",
        "to": None,
    }
    assert [p.active for p in date_presets(values, today=date(2026, 12, 6))] == [False, False, True, False]


def test_the_theme_script_goes_in_the_head_before_the_stylesheets() -> None:
    page = with_theme("<html><head>{%metas%}{%css%}</head><body>{%app_entry%}</body></html>")
    assert page.index(THEME_SCRIPT) < page.index("{%css%}") < page.index("</head>")
