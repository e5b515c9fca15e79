"""What assistive technology is told, as pure functions (no browser): the progressbar ARIA of
each progress mode, the accessible names, <html lang>, and modals named by their titles."""

from __future__ import annotations

from datetime import UTC, datetime

import dash
import pytest

from console.app import with_lang
from console.components.display import progress_indicator, progress_name, render_progress
from console.operations.progress import progress_view

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def view(**over):
    args = dict(
        status="running", type="inventory_sync", summary_counts={"total": 31, "processed": 12}, context={}, now=NOW
    )
    args.update(over)
    return progress_view(started_at=None, **args)


def props_of(component) -> dict:
    return component.to_plotly_json()["props"]


def progressbars(node) -> list[dict]:
    """The props of every role=progressbar element in a component tree."""
    found = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
            continue
        if item is None or isinstance(item, (str, int, float)):
            continue
        props = props_of(item)
        if props.get("role") == "progressbar":
            found.append(props)
        stack.append(props.get("children"))
    return found


def test_counted_bar_has_the_shown_percent_as_valuenow_and_names_the_run() -> None:
    v = view()
    (bar,) = progressbars(render_progress(v, label="Inventory sync"))
    assert bar["aria-valuenow"] == str(v.percent) == "38"
    assert (bar["aria-valuemin"], bar["aria-valuemax"]) == ("0", "100")
    assert bar["aria-label"] == "Inventory sync — 12 of 31 processed"
    assert "aria-valuetext" not in bar


@pytest.mark.parametrize(
    ("over", "valuetext"),
    [
        ({"status": "queued", "summary_counts": {}}, "Waiting for a worker"),
        ({"summary_counts": {"processed": 3}}, "In progress"),  # no total: activity
        ({"type": "baseline_capture", "summary_counts": {}, "context": {"phase": "Comparing"}}, "Comparing"),
        ({"type": "baseline_capture", "summary_counts": {}}, "Working"),  # the generic phase label
    ],
)
def test_indeterminate_modes_claim_no_value(over, valuetext) -> None:
    v = view(**over)
    (bar,) = progressbars(render_progress(v, label="Run"))
    assert "aria-valuenow" not in bar and "aria-valuemin" not in bar and "aria-valuemax" not in bar
    assert bar["aria-valuetext"] == valuetext
    assert bar["aria-label"] == f"Run — {valuetext}"


@pytest.mark.parametrize("over", [{"status": "completed", "outcome": "failed"}, {"status": "teleporting"}])
def test_terminal_and_unknown_runs_have_no_progressbar(over) -> None:
    assert progressbars(render_progress(view(**over), label="Run")) == []


def test_table_cells_follow_the_same_rules() -> None:
    counted = progressbars(progress_indicator(mode="counted", text="12 / 31", percent=38, name="Run #1 — x"))
    assert counted[0]["aria-valuenow"] == "38" and counted[0]["aria-label"] == "Run #1 — x"
    activity = progressbars(progress_indicator(mode="activity", text=None, percent=None, queued=True, name="n"))
    assert "aria-valuenow" not in activity[0] and activity[0]["aria-valuetext"] == "Waiting for a worker"
    assert progressbars(progress_indicator(mode="none", text="3 of 3 processed", percent=None)) == []


def test_a_progress_name_without_a_label_still_names_the_bar() -> None:
    assert progress_name(view(), None) == "Progress — 12 of 31 processed"


def test_every_dash_page_declares_its_language() -> None:
    assert '<html lang="en">' in with_lang(dash.dash._default_index)
    with pytest.raises(ValueError):
        with_lang("<!doctype html><html data-x><body></body></html>")


def test_every_modal_is_named_by_its_own_title() -> None:
    from console.components import notifications, operation_buttons, review_pack_card, run_viewer

    modals = [
        notifications.modal(),
        operation_buttons.actions(["inventory_sync"]).children[1],
        review_pack_card.options_modal(),
        *run_viewer.action_modals()[:2],
    ]
    for modal in modals:
        props = props_of(modal)
        title_ids = [c.id for c in _walk(props["children"]) if type(c).__name__ == "ModalTitle"]
        assert props["labelledby"] in title_ids, props["id"]


def _walk(node):
    if isinstance(node, (list, tuple)):
        for child in node:
            yield from _walk(child)
        return
    if node is None or isinstance(node, (str, int, float)):
        return
    yield node
    yield from _walk(getattr(node, "children", None))
