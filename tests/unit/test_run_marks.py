"""One truth per page, the server's half: what each surface tells assets/run_updates.js about the
runs it shows (data-run-surface / data-run-kick on the container, data-run-id + data-run-status
on each run), and the terminal toast rendered held until the page agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from console.components import activity_shell, poll_guard, review_pack_card, tenant_dashboard
from console.operations.queries import RunRow
from console.review_packs.queries import PackRow

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def walk(node: Any):
    """Every component under ``node`` (lists and children included)."""
    if isinstance(node, list | tuple):
        for item in node:
            yield from walk(item)
        return
    if node is None or isinstance(node, str | int | float):
        return
    yield node
    yield from walk(getattr(node, "children", None))


def marked(node: Any) -> list[tuple[str, str]]:
    """(data-run-id, data-run-status) of every element that reports a run."""
    out = []
    for c in walk(node):
        props = c.to_plotly_json()["props"]
        if "data-run-status" in props:
            out.append((props["data-run-id"], props["data-run-status"]))
    return out


def run_row(run_id: int, status: str) -> RunRow:
    return RunRow(
        id=run_id,
        type="inventory_sync",
        status=status,
        summary_counts={"total": 5, "processed": 3} if status != "queued" else {},
        context={},
        created_at=NOW - timedelta(seconds=5),
        started_at=NOW - timedelta(seconds=4) if status != "queued" else None,
        tenant_name="a1",
        outcome="succeeded" if status == "completed" else None,
        completed_at=NOW if status == "completed" else None,
    )


def test_run_marks_name_only_statuses_a_page_can_order() -> None:
    assert poll_guard.run_marks(7, "running") == {"data-run-id": "7", "data-run-status": "running"}
    assert poll_guard.run_marks(7, "rebooting") == {}  # an unknown status is nobody's news
    assert poll_guard.run_marks(None, "queued") == {}
    assert poll_guard.status_of_label("Completed") == "completed" and poll_guard.status_of_label("Unknown") is None


@pytest.mark.parametrize(
    "pack_status, run_status",
    [("queued", "queued"), ("generating", "running"), ("ready", "completed"), ("failed", "completed")],
)
def test_the_card_reports_its_pack_as_its_runs_status(pack_status: str, run_status: str) -> None:
    pack = PackRow(7, 1, 42, pack_status, NOW - timedelta(minutes=1), None, None, None, None)
    view = review_pack_card.pack_card_view(pack, now=NOW)
    card = review_pack_card.card(view, can_generate=False)
    assert card.to_plotly_json()["props"]["data-run-kick"] == "review-pack-run-kick"
    assert marked(card) == [("42", run_status)]
    assert "review-pack-run-kick" in [getattr(c, "id", None) for c in walk(card)]


def test_shell_items_report_their_status_and_a_status_change_is_a_new_fingerprint() -> None:
    queued = activity_shell.build_view([run_row(3, "queued")], 1, NOW)
    running = activity_shell.build_view([run_row(3, "running")], 1, NOW)
    assert marked(activity_shell.render(running)) == [("3", "running")]
    assert activity_shell.fingerprint(queued) != activity_shell.fingerprint(running)


def test_recent_rows_keep_their_ids_and_report_the_run_status() -> None:
    rows = [
        tenant_dashboard.recent_row(run_row(3, "running"), NOW),
        tenant_dashboard.recent_row(run_row(2, "completed"), NOW),
    ]
    table = tenant_dashboard.recent_table(rows)
    assert marked(table) == [("3", "running"), ("2", "completed")]
    trs = [c for c in walk(table) if c.to_plotly_json()["props"].get("data-status")]
    assert [c.to_plotly_json()["props"]["data-status"] for c in trs] == ["running", "completed"]


def test_a_terminal_toast_is_held_until_the_page_agrees_and_a_queued_toast_is_not() -> None:
    terminal = activity_shell.terminal_toast(
        notification_id=9, run_id=3, title="Inventory sync succeeded", body=None, kind="run_succeeded"
    )
    props = terminal.to_plotly_json()["props"]
    assert (props["id"], props["data-held"], props["className"]) == (
        "toast-notification-9-wrap",
        "true",
        "console-toast d-none",
    )
    queued = activity_shell.queued_toast(run_id=3, run_type="inventory_sync", status="queued").to_plotly_json()["props"]
    assert "data-held" not in queued and queued["className"] == "console-toast"
