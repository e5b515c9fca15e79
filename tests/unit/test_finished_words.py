"""Words for finished runs: never "No counts yet" once a run is terminal; a counted run that
completed with nothing to do says its family's sentence (the registry's ``nothing_to_do``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dash import html

from console.components import run_viewer
from console.components.display import finished_text, progress_text
from console.operations import registry
from console.operations.progress import progress_view
from console.operations.queries import RunSnapshot

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _view(status: str, type_: str, counts: dict, outcome: str | None = None):
    return progress_view(status=status, type=type_, summary_counts=counts, outcome=outcome, now=NOW)


def test_every_counted_family_has_its_own_nothing_to_do_sentence() -> None:
    counted = [s for s in registry.specs() if s.progress == "counted"]
    assert counted and all(s.nothing_to_do and s.nothing_to_do.startswith("Nothing to") for s in counted)
    assert registry.nothing_to_do("backup_set_restore") == "Nothing to restore: the backup set has no items."
    assert registry.nothing_to_do("no_such_type") == registry.NOTHING_TO_DO


@pytest.mark.parametrize(
    "status, type_, counts, outcome, words",
    [
        (
            "completed",
            "backup_set_restore",
            {"total": 0, "processed": 0},
            "succeeded",
            "Nothing to restore: the backup set has no items.",
        ),
        ("completed", "inventory_sync", {}, "cancelled", "Cancelled before any unit was counted."),
        ("completed", "inventory_sync", {"failed": 1}, "failed", "Failed before any unit was counted."),
        ("completed", "inventory_sync", {}, "succeeded", "No units were counted."),
        ("completed", "baseline_capture", {}, "succeeded", "This kind of operation records no unit counts."),
        ("completed", "inventory_sync", {"total": 4, "processed": 4}, "succeeded", None),  # "4 of 4 processed"
        ("running", "inventory_sync", {}, None, None),  # active: not finished words
        ("queued", "inventory_sync", {}, None, None),
    ],
)
def test_finished_words(status, type_, counts, outcome, words) -> None:
    assert finished_text(_view(status, type_, counts, outcome), type_) == words


def test_the_list_cell_of_a_nothing_to_do_run_is_the_sentence() -> None:
    view = _view("completed", "backup_set_restore", {"total": 0, "processed": 0}, "succeeded")
    assert progress_text(view, "backup_set_restore") == "Nothing to restore: the backup set has no items."


def _snapshot(status: str, outcome: str | None, counts: dict, units: tuple | None = ()) -> RunSnapshot:
    return RunSnapshot(
        id=5,
        type="backup_set_restore",
        status=status,
        outcome=outcome,
        summary_counts=counts,
        context={},
        failure_summary=None,
        tenant_id=2,
        tenant_name="Contoso",
        initiator_name="Olive",
        created_at=NOW,
        started_at=NOW if status != "queued" else None,
        completed_at=NOW if status == "completed" else None,
        pack_id=None,
        pack_status=None,
        pack_downloadable=False,
        units=units,
    )


def _texts(tree) -> str:
    return str(tree if not hasattr(tree, "to_plotly_json") else tree.to_plotly_json())


def test_a_terminal_run_viewer_never_says_no_counts_yet_or_no_units_recorded_yet() -> None:
    done = run_viewer.build_view(_snapshot("completed", "succeeded", {"total": 0, "processed": 0}), NOW)
    body = _texts(html.Div(run_viewer.render(done)))
    assert "No counts yet" not in body and "recorded yet" not in body
    assert body.count("Nothing to restore: the backup set has no items.") >= 1

    active = run_viewer.build_view(_snapshot("running", None, {}), NOW)
    body = _texts(html.Div(run_viewer.render(active)))
    assert "No counts yet" in body and "No units recorded yet." in body
