"""View models of the run viewer, activity shell and bell: pure functions, no browser, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import dash
import pytest
from dash import dcc, html

from console.components import activity_shell, notifications, poll_guard, run_viewer
from console.components.run_viewer import (
    RunSnapshot,
    UnitRow,
    build_view,
    fingerprint,
    format_duration,
    format_eta,
    poll_policy,
    render,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def snap(**over) -> RunSnapshot:
    base = dict(
        id=7,
        type="inventory_sync",
        status="running",
        outcome=None,
        summary_counts={"total": 10, "processed": 3, "succeeded": 2, "failed": 1},
        context={},
        failure_summary=None,
        created_at=NOW - timedelta(seconds=20),
        started_at=NOW - timedelta(seconds=20),
        completed_at=None,
        tenant_id=1,
        tenant_name="a1",
        initiator_name="Manager",
    )
    base.update(over)
    return RunSnapshot(**base)


def walk(node):
    """Every component in a tree (children lists, nested components)."""
    if isinstance(node, (list, tuple)):
        for child in node:
            yield from walk(child)
        return
    if node is None or isinstance(node, (str, int, float)):
        return
    yield node
    yield from walk(getattr(node, "children", None))


def by_id(tree, component_id: str):
    found = [c for c in walk(tree) if getattr(c, "id", None) == component_id]
    assert len(found) <= 1
    return found[0] if found else None


def text_of(node) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, (int, float)):
        return str(node)
    if isinstance(node, (list, tuple)):
        return " ".join(text_of(c) for c in node)
    if node is None:
        return ""
    return text_of(getattr(node, "children", None))


def classes(tree) -> list[str]:
    return [getattr(c, "className", "") or "" for c in walk(tree)]


def has_bar(tree) -> bool:
    return any("progress-bar" in c.split() or "progress" in c.split() for c in classes(tree))


def attr(component, name: str):
    return getattr(component, name.replace("-", "_"), None) or component.to_plotly_json()["props"].get(name)


# ------------------------------------------------------------------ run viewer


def test_counted_running_run_shows_a_bar_with_n_of_m_and_floor_percent() -> None:
    tree = render(build_view(snap(summary_counts={"total": 3, "processed": 2}), NOW))
    progress = by_id(tree, "run-progress")
    assert attr(progress, "data-progress-mode") == "counted"
    assert has_bar(progress)
    assert "2 / 3" in text_of(progress) and "66%" in text_of(progress)  # floor(66.67)
    assert by_id(tree, "run-eta") is not None


@pytest.mark.parametrize(
    ("over", "mode"),
    [
        ({"status": "queued", "summary_counts": {}}, "activity"),
        ({"summary_counts": {"processed": 3}}, "activity"),  # no total: writers never invent one
        ({"summary_counts": {"total": 0, "processed": 0}}, "activity"),
        ({"summary_counts": {"total": 5, "processed": 9}}, "activity"),
        ({"summary_counts": {"total": "10", "processed": "3"}}, "activity"),  # strings are never counts
        ({"type": "some_future_type"}, "activity"),
        ({"type": "baseline_capture", "context": {"phase": "Reading policies"}}, "phased"),
        ({"status": "completed", "outcome": "failed"}, "none"),
        ({"status": "completed", "outcome": "succeeded"}, "none"),
        ({"status": "teleporting"}, "none"),
    ],
)
def test_only_counted_runs_get_a_bar_or_a_percentage(over, mode) -> None:
    tree = render(build_view(snap(**over), NOW))
    progress = by_id(tree, "run-progress")
    assert attr(progress, "data-progress-mode") == mode
    assert not has_bar(tree)
    assert "%" not in text_of(tree)
    assert by_id(tree, "run-eta") is None


def test_activity_mode_claims_no_number() -> None:
    progress = by_id(render(build_view(snap(status="queued", summary_counts={}), NOW)), "run-progress")
    assert "indeterminate" in classes(progress)
    assert not any(ch.isdigit() for ch in text_of(progress))


def test_phased_run_shows_its_phase_and_the_generic_label_without_one() -> None:
    with_phase = by_id(
        render(build_view(snap(type="baseline_compare", context={"phase": "Comparing\nsettings"}), NOW)), "run-progress"
    )
    assert "Comparing settings" in text_of(with_phase)
    without = by_id(render(build_view(snap(type="baseline_compare"), NOW)), "run-progress")
    assert "Working" in text_of(without)


def test_terminal_run_shows_outcome_counts_as_text_and_the_failure() -> None:
    view = build_view(
        snap(
            status="completed",
            outcome="failed",
            failure_summary="stale: no heartbeat for 900 s",
            completed_at=NOW,
            summary_counts={"total": 10, "processed": 4, "failed": 4},
        ),
        NOW,
    )
    tree = render(view)
    assert text_of(by_id(tree, "run-status")) == "Completed"
    assert text_of(by_id(tree, "run-outcome")) == "Failed"
    assert "4 of 10 processed" in text_of(by_id(tree, "run-progress"))
    assert "stale" in text_of(by_id(tree, "run-failure"))
    assert text_of(by_id(tree, "run-duration")) == "took 20 s"


@pytest.mark.parametrize(
    "context,expected",
    [
        ({}, None),
        ({"resume_attempts": 0}, None),
        ({"resume_attempts": "2"}, None),
        ({"resume_attempts": True}, None),
        ({"resume_attempts": 1}, "Resumed after the worker was lost: "),
        ({"resume_attempts": 3}, "Resumed after the worker was lost (3 times): "),
    ],
)
def test_a_run_the_reaper_resumed_says_so(context, expected) -> None:
    tree = render(build_view(snap(context=context), NOW))
    note = [c for c in walk(tree) if getattr(c, "id", None) == "run-resumed"]
    if expected is None:
        assert note == []
    else:
        assert text_of(note[0]).startswith(expected)


def test_unknown_status_reads_unknown_and_stops_polling() -> None:
    s = snap(status="archived")
    assert text_of(by_id(render(build_view(s, NOW)), "run-status")) == "Unknown"
    assert poll_policy(s, NOW) is None


def test_outcome_counters_are_badges_never_a_bar() -> None:
    counts = by_id(
        render(
            build_view(
                snap(
                    type="baseline_compare", summary_counts={"succeeded": 5, "failed": 2, "warnings": 1, "processed": 7}
                ),
                NOW,
            )
        ),
        "run-counts",
    )
    keys = [attr(c, "data-count-key") for c in walk(counts) if attr(c, "data-count-key")]
    assert keys == ["succeeded", "failed", "warnings"]  # never processed/total
    assert not has_bar(counts)


@pytest.mark.parametrize(
    ("age", "interval"), [(0, 1000), (9.9, 1000), (10, 5000), (59, 5000), (60, 10000), (3600, 10000), (-30, 1000)]
)
def test_poll_policy_by_age(age, interval) -> None:
    s = snap(created_at=NOW - timedelta(seconds=age))
    assert poll_policy(s, NOW) == {"interval": interval}
    assert poll_policy(replace(s, status="queued"), NOW) == {"interval": interval}
    assert poll_policy(replace(s, status="completed", outcome="succeeded"), NOW) is None


def test_fingerprint_ignores_time_but_not_data() -> None:
    s = snap()
    assert fingerprint(s) == fingerprint(replace(s))
    # The ETA changes with the clock; the fingerprint must not (no churn while nothing happens).
    assert build_view(s, NOW).eta_text != build_view(s, NOW + timedelta(seconds=30)).eta_text
    assert fingerprint(s) == fingerprint(
        replace(s, units=(UnitRow("a", "succeeded", None),))
    )  # units follow the counts
    for changed in (
        replace(s, summary_counts={**s.summary_counts, "processed": 4}),
        replace(s, status="completed", outcome="succeeded"),
        replace(s, context={"phase": "Two"}),
        replace(s, failure_summary="x"),
        replace(s, pack_id=3, pack_status="ready"),
    ):
        assert fingerprint(changed) != fingerprint(s)


def test_fan_out_units_table_lists_unit_outcome_and_error_with_a_count_of_the_rest() -> None:
    units = (UnitRow("policy-b", "failed", "locked"), UnitRow("policy-a", "succeeded", None))
    tree = render(
        build_view(snap(type="backup_set_restore", units=units, summary_counts={"total": 9, "processed": 5}), NOW)
    )
    table = by_id(tree, "run-units")
    rows = [c for c in walk(table) if isinstance(c, html.Tr) and attr(c, "data-unit-key")]
    assert [attr(r, "data-unit-key") for r in rows] == ["policy-b", "policy-a"]
    assert "locked" in text_of(rows[0])
    assert "and 3 more" in text_of(tree)
    assert by_id(render(build_view(snap(), NOW)), "run-units") is None  # not a fan-out


def test_pack_download_link_only_when_ready_and_permitted() -> None:
    ready = by_id(
        render(
            build_view(snap(type="review_pack_generate", pack_id=4, pack_status="ready", pack_downloadable=True), NOW)
        ),
        "run-pack-download",
    )
    assert ready.href == "/review-packs/4/download"
    assert (
        by_id(
            render(
                build_view(
                    snap(type="review_pack_generate", pack_id=4, pack_status="ready", pack_downloadable=False), NOW
                )
            ),
            "run-pack-download",
        )
        is None
    )
    generating = render(build_view(snap(type="review_pack_generate", pack_id=4, pack_status="generating"), NOW))
    assert by_id(generating, "run-pack-download") is None and "Generating" in text_of(by_id(generating, "run-pack"))


def test_tenantless_run_and_missing_initiator_read_sensibly() -> None:
    tree = render(build_view(snap(tenant_id=None, tenant_name=None, initiator_name=None), NOW))
    assert "workspace-level" in text_of(by_id(tree, "run-tenant"))
    assert text_of(by_id(tree, "run-initiator")) == "System"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "Estimating time left…"),
        (0, "Finishing…"),
        (42, "About 42 s left"),
        (125, "About 2 min 5 s left"),
        (3600, "About 1 h left"),
        (7260, "About 2 h 1 min left"),
    ],
)
def test_eta_wording(seconds, text) -> None:
    assert format_eta(seconds) == text


def test_duration_wording() -> None:
    assert [format_duration(s) for s in (0, 0.2, 59, 60, 61, 3599, 3600)] == [
        "0 s",
        "1 s",
        "59 s",
        "1 min",
        "1 min 1 s",
        "59 min 59 s",
        "1 h",
    ]


def test_a_refresh_where_nothing_changed_is_prevented_so_dash_answers_204() -> None:
    import dash
    from dash.exceptions import PreventUpdate

    with pytest.raises(PreventUpdate):
        poll_guard.unless_all_unchanged((dash.no_update, dash.no_update, dash.no_update))
    assert poll_guard.unless_all_unchanged((dash.no_update, None)) == (dash.no_update, None)  # None is a value


def test_not_found_layout_carries_the_contract_id() -> None:
    assert by_id(run_viewer.not_found_layout(), "not-found") is not None


# ------------------------------------------------------------------ activity shell


def active(i: int, **over) -> activity_shell.ActiveRun:
    base = dict(
        id=i,
        type="inventory_sync",
        status="queued",
        summary_counts={},
        context={},
        created_at=NOW - timedelta(seconds=100 - i),
        started_at=None,
        tenant_name="a1",
    )
    base.update(over)
    return activity_shell.ActiveRun(**base)


def test_shell_shows_five_and_counts_the_rest() -> None:
    runs = [active(i) for i in range(9, 2, -1)]  # newest first, as the query returns them
    view = activity_shell.build_view(runs[:5], total_active=7, now=NOW)
    assert [i.run_id for i in view.items] == [9, 8, 7, 6, 5]
    assert view.more == 2 and view.active == 7
    tree = activity_shell.render(view)
    assert "and 2 more" in text_of(tree)
    items = [c for c in walk(tree) if attr(c, "data-run-id")]
    assert [attr(c, "data-run-id") for c in items] == ["9", "8", "7", "6", "5"]
    links = [c for c in walk(tree) if isinstance(c, dcc.Link)]
    assert [link.href for link in links] == [f"/admin/operations/{i}" for i in (9, 8, 7, 6, 5)]


def test_shell_items_carry_their_progress_mode() -> None:
    runs = [
        active(1, status="running", summary_counts={"total": 4, "processed": 1}),
        active(2, status="running", type="baseline_capture", context={"phase": "Reading"}),
        active(3),
    ]
    tree = activity_shell.render(activity_shell.build_view(runs, total_active=3, now=NOW))
    modes = {attr(c, "data-run-id"): attr(c, "data-progress-mode") for c in walk(tree) if attr(c, "data-run-id")}
    assert modes == {"1": "counted", "2": "phased", "3": "activity"}
    assert "1 / 4" in text_of(tree) and "Reading" in text_of(tree)
    assert all(getattr(c, "id", None) is None for c in walk(tree))  # no duplicate ids with the run viewer


def test_shell_policy_follows_the_youngest_run_and_stops_when_none_is_active() -> None:
    assert activity_shell.shell_policy([], NOW) is None
    old = active(1, created_at=NOW - timedelta(minutes=5))
    young = active(2, created_at=NOW - timedelta(seconds=3))
    assert activity_shell.shell_policy([old], NOW) == {"interval": 10000}
    assert activity_shell.shell_policy([young, old], NOW) == {"interval": 1000}


def test_shell_fingerprint_changes_with_progress_not_with_time() -> None:
    runs = [
        active(
            1,
            status="running",
            summary_counts={"total": 4, "processed": 1},
            started_at=NOW - timedelta(seconds=30),
            heartbeat_at=NOW - timedelta(seconds=2),
        )
    ]
    a = activity_shell.fingerprint(activity_shell.build_view(runs, 1, NOW))
    # Heard from 2 s and 17 s ago: not quiet either time, so the same fingerprint.
    assert a == activity_shell.fingerprint(activity_shell.build_view(runs, 1, NOW + timedelta(seconds=15)))
    progressed = [replace(runs[0], summary_counts={"total": 4, "processed": 2})]
    assert a != activity_shell.fingerprint(activity_shell.build_view(progressed, 1, NOW))
    assert a != activity_shell.fingerprint(activity_shell.build_view(runs, 2, NOW))  # "and 1 more"


def test_empty_shell_renders_a_zero_count_and_no_items() -> None:
    tree = activity_shell.render(activity_shell.build_view([], 0, NOW))
    assert [attr(c, "data-active-count") for c in walk(tree) if attr(c, "data-active-count")] == ["0"]
    assert not [c for c in walk(tree) if attr(c, "data-run-id")]


def test_toasts_link_to_their_run() -> None:
    queued = activity_shell.queued_toast(run_id=12, run_type="inventory_sync", status="queued")
    assert attr(queued, "data-toast-kind") == "queued" and attr(queued, "data-run-id") == "12"
    assert "Inventory sync started" in str(queued.to_plotly_json())
    assert [c.href for c in walk(queued) if isinstance(c, dcc.Link)] == ["/admin/operations/12"]
    terminal = activity_shell.terminal_toast(
        notification_id=3, run_id=12, title="Inventory sync failed", body="stale", kind="run_failed"
    )
    assert attr(terminal, "data-toast-kind") == "terminal"
    assert [c.href for c in walk(terminal) if isinstance(c, dcc.Link)] == ["/admin/operations/12"]


@pytest.mark.parametrize("status", ["queued", "running", "completed"])
def test_a_new_run_is_announced_as_started_never_as_already_running(status: str) -> None:
    """run-enqueued fires only for a run the click created: a quick worker changes the body, not the claim."""
    text = str(activity_shell.queued_toast(run_id=12, run_type="inventory_sync", status=status).to_plotly_json())
    assert "Inventory sync started" in text and "already" not in text.replace("Already finished", "")


def test_only_a_deduplicated_start_says_already_running() -> None:
    from console.components import operation_buttons

    toast, enqueued = operation_buttons.started_feedback(7, "inventory_sync", created=True)
    assert toast is dash.no_update and enqueued == {"run_id": 7}
    toast = operation_buttons.deduplicated_toast(run_id=7, operation_type="inventory_sync")
    _, enqueued = operation_buttons.started_feedback(7, "inventory_sync", created=False)
    assert enqueued is dash.no_update
    text = str(toast.to_plotly_json())
    assert "Inventory sync is already running" in text and "view run #7" in text and "/admin/operations/7" in text


def test_scope_is_the_first_workspace_unless_on_a_visible_tenant_dashboard() -> None:
    from console.access import Principal

    who = Principal(user_id=1, roles={5: "viewer", 3: "owner"})
    assert activity_shell.scope_for_path(
        session=None, principal=who, pathname="/admin/operations/9"
    ) == activity_shell.Scope(3)
    assert activity_shell.scope_for_path(session=None, principal=who, pathname=None) == activity_shell.Scope(3)
    assert activity_shell.scope_for_path(
        session=None, principal=Principal(user_id=2), pathname="/"
    ) == activity_shell.Scope(None)


# ------------------------------------------------------------------ notifications


def test_notification_list_marks_unread_and_links_runs() -> None:
    rows = [
        SimpleNamespace(id=2, title="Inventory sync failed", body="stale", run_id=9, read_at=None, created_at=NOW),
        SimpleNamespace(id=1, title="Backup restore succeeded", body=None, run_id=None, read_at=NOW, created_at=NOW),
    ]
    tree = notifications.render_list(rows)
    items = [c for c in walk(tree) if attr(c, "data-notification-id")]
    assert [(attr(i, "data-notification-id"), attr(i, "data-unread")) for i in items] == [("2", "true"), ("1", "false")]
    assert [c.href for c in walk(tree) if isinstance(c, dcc.Link)] == ["/admin/operations/9"]
    assert "No notifications" in text_of(notifications.render_list([]))


def test_bell_count_is_text_and_the_badge_quiets_at_zero() -> None:
    bell = notifications.bell(3)
    count = by_id(bell, "notifications-count")
    assert count.children == "3" and "text-bg-danger" in count.className
    assert "text-bg-secondary" in notifications.count_class(0)
