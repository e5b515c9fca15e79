"""Pure view models of the tenant dashboard, review pack card, operations list and overview:
no database, no browser. Each test names the rule it holds the UI to."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import plotly.graph_objects as go
import plotly.io as pio
import pytest

from console.access import Principal
from console.accounts.models import Tenant
from console.components import charts
from console.components.operation_buttons import button_types, pending_type
from console.components.operations_table import (
    ALL,
    DEFAULT_SORT,
    MAX_BLOCK,
    RunFilters,
    format_time,
    parse_filters,
    parse_rows_request,
    progress_text,
    signature,
)
from console.components.overview import tenant_rows
from console.components.review_pack_card import format_size, pack_card_view
from console.components.tenant_dashboard import PackBrief, RunBrief, TenantHealth, kpis, needs_attention, success_rate
from console.errors import BadRequest, NotFound
from console.operations.progress import progress_view
from console.review_packs.models import ReviewPack

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def pack(status: str, **kw) -> ReviewPack:
    return ReviewPack(
        id=7, tenant_id=1, operation_run_id=42, status=status, options={}, created_at=NOW - timedelta(hours=1), **kw
    )


# --------------------------------------------------------------------------- review pack card


@pytest.mark.parametrize(
    "status, label, polls, active",
    [
        ("queued", "Queued", True, True),
        ("generating", "Generating", True, True),
        ("failed", "Failed", False, False),
        ("expired", "Expired", False, False),
    ],
)
def test_the_card_polls_at_10_s_only_while_the_pack_is_queued_or_generating(status, label, polls, active) -> None:
    view = pack_card_view(pack(status), now=NOW)
    assert (view.label, view.poll_interval, view.active) == (label, 10_000 if polls else None, active)
    assert view.download_href is None


def test_no_pack_yet_shows_that_and_does_not_poll() -> None:
    view = pack_card_view(None, now=NOW)
    assert (view.state, view.label, view.poll_interval, view.active, view.pack_id) == (
        "none",
        "No pack yet",
        None,
        False,
        None,
    )


def test_a_ready_pack_offers_its_download_link_size_and_times() -> None:
    view = pack_card_view(
        pack("ready", size=1536, ready_at=NOW - timedelta(minutes=30), expires_at=NOW + timedelta(days=14)), now=NOW
    )
    assert (view.label, view.download_href, view.size, view.poll_interval) == (
        "Ready",
        "/review-packs/7/download",
        "1.5 KB",
        None,
    )
    assert view.expires == "2026-12-09 12:00 UTC" and view.ready == "2026-11-25 11:30 UTC"


def test_a_ready_pack_past_its_expiry_already_reads_expired_without_a_link() -> None:
    view = pack_card_view(pack("ready", size=10, expires_at=NOW - timedelta(seconds=1)), now=NOW)
    assert (view.state, view.label, view.download_href, view.size) == ("expired", "Expired", None, "")


def test_a_failed_pack_shows_its_reason_or_a_generic_one() -> None:
    assert pack_card_view(pack("failed", error="provider timed out"), now=NOW).error == "provider timed out"
    assert pack_card_view(pack("failed"), now=NOW).error == "Generation failed."
    assert pack_card_view(pack("ready", expires_at=NOW + timedelta(days=1)), now=NOW).error is None


def test_a_status_this_version_does_not_know_reads_unknown_and_never_polls() -> None:
    view = pack_card_view(pack("archived"), now=NOW)
    assert (view.state, view.label, view.poll_interval, view.active, view.download_href) == (
        "unknown",
        "Unknown",
        None,
        False,
        None,
    )


@pytest.mark.parametrize(
    "size, text",
    [
        (None, ""),
        (-1, ""),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (5 * 1024 * 1024, "5.0 MB"),
        (3 * 1024**3, "3.0 GB"),
    ],
)
def test_sizes_read_like_a_file_manager(size, text) -> None:
    assert format_size(size) == text


# --------------------------------------------------------------------------- dashboard header and needs attention


def test_success_rate_is_floored_and_absent_without_completed_runs() -> None:
    assert success_rate(TenantHealth(10, 3, 2, 0, None)) == 66
    assert success_rate(TenantHealth(4, 0, 0, 4, None)) is None
    values = {k.id: k.value for k in kpis(TenantHealth(4, 0, 0, 4, None))}
    assert values == {
        "kpi-runs-30d": "4",
        "kpi-success-rate": "—",
        "kpi-active-runs": "4",
        "kpi-last-inventory-sync": "Never",
    }


def test_kpis_are_dashes_for_a_user_who_may_not_see_operations() -> None:
    assert [k.value for k in kpis(None)] == ["—"] * 4


def test_needs_attention_puts_silent_runs_first_labels_reaped_runs_stale_and_lists_expiring_packs() -> None:
    items = needs_attention(
        failed=[
            RunBrief(1, "inventory_sync", NOW - timedelta(days=2), "provider said no"),
            RunBrief(2, "baseline_compare", NOW - timedelta(hours=1), "stale: no heartbeat for 901 s (limit 900 s)"),
        ],
        silent=[RunBrief(3, "backup_set_restore", NOW - timedelta(minutes=20))],
        expiring=[PackBrief(9, NOW + timedelta(days=2)), PackBrief(8, NOW + timedelta(hours=5))],
        now=NOW,
        stale_after_seconds=900,
    )
    assert [(i.kind, i.href) for i in items] == [
        ("stale?", "/admin/operations/3"),
        ("stale", "/admin/operations/2"),
        ("failed", "/admin/operations/1"),
        ("expiring", None),
        ("expiring", None),
    ]
    assert items[0].text == "Backup restore #3 has sent no heartbeat for 20 min (limit 15 min)"
    assert items[2].text.endswith(": provider said no")
    assert "#8" in items[3].text and "in 5 h" in items[3].text  # soonest first


def test_nothing_to_report_is_an_empty_list() -> None:
    assert needs_attention(failed=[], silent=[], expiring=[], now=NOW, stale_after_seconds=900) == []


# --------------------------------------------------------------------------- operations list


@pytest.mark.parametrize(
    "kw, text",
    [
        (
            {"status": "running", "type": "inventory_sync", "summary_counts": {"total": 8, "processed": 3}},
            "3 / 8 · 37%",
        ),
        ({"status": "queued", "type": "inventory_sync", "summary_counts": {}}, "Waiting for a worker"),
        (
            {
                "status": "running",
                "type": "baseline_capture",
                "summary_counts": {},
                "context": {"phase": "Reading policies"},
            },
            "Reading policies",
        ),
        (
            {
                "status": "completed",
                "type": "inventory_sync",
                "summary_counts": {"total": 8, "processed": 8},
                "outcome": "succeeded",
            },
            "8 of 8 processed",
        ),
        (
            {"status": "completed", "type": "inventory_sync", "summary_counts": {"failed": 2}, "outcome": "failed"},
            "Failed before any unit was counted.",
        ),
        ({"status": "paused", "type": "inventory_sync", "summary_counts": {"total": 8, "processed": 3}}, "—"),
    ],
)
def test_the_progress_cell_is_words_and_never_a_percent_outside_counted(kw, text) -> None:
    assert progress_text(progress_view(**kw), kw["type"]) == text


def test_filters_accept_the_controls_values_and_all_means_no_filter() -> None:
    assert parse_filters(type=ALL, status="", outcome=None, tenant=ALL) == RunFilters()
    f = parse_filters(
        type="inventory_sync",
        status="completed",
        outcome="failed",
        tenant="12",
        date_from="2026-11-01",
        date_to="2026-11-25T00:00:00",
    )
    assert f == RunFilters("inventory_sync", "completed", "failed", 12, date(2026, 11, 1), date(2026, 11, 25))


@pytest.mark.parametrize(
    "kw",
    [
        {"type": "drop_tables"},
        {"status": "paused"},
        {"outcome": 1},
        {"status": ["queued"]},
        {"date_from": "11/01/2026"},
        {"date_from": "2026-02-30"},
        {"date_from": "2026-11-02", "date_to": "2026-11-01"},
        {"date_to": 20261101},
    ],
)
def test_anything_else_in_a_filter_is_a_bad_request(kw) -> None:
    with pytest.raises(BadRequest):
        parse_filters(**kw)


@pytest.mark.parametrize("tenant", ["a1", -3, 0, True, "9" * 19, 2**63, "\u0661", " 1", 1.0, {"id": 1}, [1]])
def test_a_malformed_tenant_filter_is_not_found_like_any_other_id(tenant) -> None:
    with pytest.raises(NotFound):
        parse_filters(tenant=tenant)


def test_grid_requests_are_bounded_and_sort_only_on_known_columns() -> None:
    assert parse_rows_request({"startRow": 0, "endRow": 25, "sortModel": []}).sort == DEFAULT_SORT
    req = parse_rows_request(
        {"startRow": 25, "endRow": 50, "sortModel": [{"colId": "tenant", "sort": "asc"}], "api": {}}
    )
    assert (req.start, req.end, req.sort) == (25, 50, (("tenant", "asc"),))
    for bad in (
        None,
        [],
        {"startRow": 0},
        {"startRow": 5, "endRow": 5},
        {"startRow": 0, "endRow": MAX_BLOCK + 1},
        {"startRow": 1.0, "endRow": 2},
        {"startRow": 0, "endRow": 2, "sortModel": [{"colId": "summary_counts", "sort": "asc"}]},
        {"startRow": 0, "endRow": 2, "sortModel": [{"colId": "id"}] * 4},
    ):
        with pytest.raises(BadRequest):
            parse_rows_request(bad)


def test_signatures_change_with_what_is_shown_and_only_then() -> None:
    assert signature([{"a": 1}, 2]) == signature([{"a": 1}, 2])
    assert signature([{"a": 1}, 2]) != signature([{"a": 2}, 2])


def test_times_are_shown_in_utc() -> None:
    assert format_time(datetime(2026, 11, 25, 13, 5, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-25 12:05 UTC"
    assert format_time(None) == ""


# --------------------------------------------------------------------------- buttons


def test_buttons_follow_startable_operations_in_a_fixed_order_without_the_review_pack() -> None:
    assert button_types(["baseline_compare", "review_pack_generate", "inventory_sync"]) == [
        "inventory_sync",
        "baseline_compare",
    ]
    assert button_types([]) == []
    assert pending_type("backup_set_restore") == "backup_set_restore"
    for forged in ("review_pack_generate", "", None, 3, ["inventory_sync"]):
        with pytest.raises(BadRequest):
            pending_type(forged)
    assert "review_pack_generate" not in button_types(["review_pack_generate", "inventory_sync"])


# --------------------------------------------------------------------------- charts


def test_runs_per_day_stacks_one_trace_per_bucket_with_zero_filled_days() -> None:
    days = charts.day_range(date(2026, 11, 25), 30)
    assert (len(days), days[0], days[-1]) == (30, date(2026, 10, 27), date(2026, 11, 25))
    fig = go.Figure(
        charts.runs_per_day_figure(  # go.Figure validates the dict against plotly's schema
            [
                (date(2026, 11, 25), "succeeded", 2),
                (date(2026, 11, 24), "failed", 1),
                (date(2026, 11, 25), "active", 1),
                (date(2025, 1, 1), "failed", 9),
            ],
            days=days,
        )
    )
    assert [t.name for t in fig.data] == ["Succeeded", "Failed", "In progress"]
    assert fig.layout.barmode == "stack"
    assert list(fig.data[0].y)[-1] == 2 and sum(fig.data[1].y) == 1  # the 2025 row is outside the window
    assert len(fig.data[0].x) == 30


def test_charts_without_data_say_so_instead_of_drawing_empty_axes() -> None:
    empty = go.Figure(charts.runs_per_day_figure([], days=charts.day_range(date(2026, 11, 25), 30)))
    assert empty.layout.annotations[0].text == "No runs in the last 30 days" and empty.layout.xaxis.visible is False
    no_durations = go.Figure(charts.duration_figure([]))
    assert (
        len(no_durations.data) == 0
        and no_durations.layout.annotations[0].text == "No completed runs in the last 30 days"
    )


def test_durations_get_one_box_per_type_slowest_first() -> None:
    fig = go.Figure(
        charts.duration_figure(
            [
                ("inventory_sync", 2.0),
                ("inventory_sync", 4.0),
                ("baseline_compare", 30.0),
                ("review_pack_generate", -1.0),
            ]
        )
    )
    boxes = [t for t in fig.data if t.type == "box"]
    assert [t.name for t in boxes] == ["Baseline compare", "Inventory sync"]  # negative durations are clock noise
    assert list(boxes[1].x) == [2.0, 4.0] and fig.layout.xaxis.title.text == "duration"


def test_figures_carry_the_plotly_white_template_in_full() -> None:
    """dcc.Graph gets JSON: plotly.js knows no template names, so the template travels whole."""
    fig = charts.duration_figure([("inventory_sync", 2.0)])
    assert fig["layout"]["template"] == pio.templates["plotly_white"].to_plotly_json()
    assert go.Figure(fig).layout.template.layout.plot_bgcolor == "white"


@pytest.mark.parametrize(
    "status, outcome, bucket",
    [
        ("queued", None, "active"),
        ("running", None, "active"),
        ("completed", "failed", "failed"),
        ("completed", None, "unknown"),
        ("paused", None, "unknown"),
    ],
)
def test_each_run_lands_in_exactly_one_bucket(status, outcome, bucket) -> None:
    assert charts.bucket_of(status, outcome) == bucket


# --------------------------------------------------------------------------- overview


def test_overview_rows_hide_what_the_capabilities_do_not_cover() -> None:
    t1, t2 = Tenant(id=1, workspace_id=10, name="a1"), Tenant(id=2, workspace_id=10, name="a2")
    viewer = Principal(
        user_id=5,
        roles={10: "viewer"},
        grants={1: frozenset({"tenant.view"}), 2: frozenset({"tenant.view", "operations.view", "review_pack.view"})},
    )
    rows = tenant_rows(
        tenants=[t1, t2], who=viewer, workspaces={10: "A"}, active={2: 1}, failed={1: 3}, last_pack={2: "ready"}
    )
    assert [(r.name, r.active, r.failed_7d, r.pack, r.health) for r in rows] == [
        ("a1", None, None, None, "ok"),
        ("a2", 1, 0, "Ready", "busy"),
    ]
    manager = Principal(user_id=6, roles={10: "manager"})
    (row,) = tenant_rows(tenants=[t1], who=manager, workspaces={10: "A"}, active={}, failed={1: 3}, last_pack={})
    assert (row.failed_7d, row.pack, row.health) == (3, "No pack yet", "attention")
