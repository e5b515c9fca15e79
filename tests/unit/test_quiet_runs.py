"""A running run whose worker went silent tells the truth (issue #20 item 5): once its last
sign of life is older than twice the heartbeat interval the run viewer and the activity shell
hide the ETA and say "No progress for N — the worker may be gone" with the reaper's deadline,
and the ETA returns with the heartbeat."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from console.components import activity_shell
from console.components.run_viewer import RUN_ETA, RUN_QUIET, build_view, fingerprint, render
from console.operations import staleness
from console.operations.queries import RunRow, RunSnapshot
from tests.unit.test_view_models_runs import walk

NOW = datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC)
LIMIT = 120


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def quiet_after(silent: float, **over):
    args = dict(status="running", heartbeat_at=ago(silent), started_at=ago(600), created_at=ago(700))
    args.update(over)
    return staleness.quiet(SimpleNamespace(**args), now=NOW, stale_after_seconds=LIMIT)


def quiet_of(run, now: datetime = NOW):
    return staleness.quiet(run, now=now, stale_after_seconds=LIMIT)


def test_the_threshold_is_twice_the_heartbeat_interval() -> None:
    assert staleness.QUIET_AFTER_SECONDS == 2 * staleness.HEARTBEAT_SECONDS == 20
    assert quiet_after(20) is None
    q = quiet_after(21)
    assert q is not None and q.silent_seconds == 21


@pytest.mark.parametrize(
    ("silent", "words"),
    [(21, "No progress for 20 s"), (39, "No progress for 30 s"), (59, "No progress for 50 s"),
     (60, "No progress for 1 min"), (119, "No progress for 1 min"), (600, "No progress for 10 min")],
)  # fmt: skip
def test_the_words_move_in_steps(silent, words) -> None:
    q = quiet_after(silent)
    assert q is not None and q.text == words


def test_the_reaper_deadline_is_the_last_sign_of_life_plus_the_limit() -> None:
    q = quiet_after(50)
    assert q is not None and q.reaper_at == ago(50) + timedelta(seconds=LIMIT)
    # No heartbeat yet: the start counts, else the creation (the reaper's own rule).
    q = quiet_after(0, heartbeat_at=None, started_at=ago(40))
    assert q is not None and q.silent_seconds == 40 and q.reaper_at == ago(40) + timedelta(seconds=LIMIT)
    q = quiet_after(0, heartbeat_at=None, started_at=None, created_at=ago(90))
    assert q is not None and q.silent_seconds == 90


@pytest.mark.parametrize("status", ["queued", "completed", "paused"])
def test_only_running_runs_are_quiet(status) -> None:
    assert quiet_after(3600, status=status) is None


def test_naive_timestamps_from_sqlite_are_utc() -> None:
    q = quiet_after(0, heartbeat_at=ago(45).replace(tzinfo=None))
    assert q is not None and q.silent_seconds == 45


# --------------------------------------------------------------------------- run viewer


def snap(**over) -> RunSnapshot:
    base = dict(
        id=7,
        type="inventory_sync",
        status="running",
        outcome=None,
        summary_counts={"total": 10, "processed": 5, "succeeded": 5},
        context={},
        failure_summary=None,
        created_at=ago(100),
        started_at=ago(100),
        completed_at=None,
        tenant_id=1,
        tenant_name="a1",
        initiator_name="Manager",
        heartbeat_at=ago(5),
    )
    base.update(over)
    return RunSnapshot(**base)


def ids_in(node) -> dict:
    return {c.id: c for c in walk(node) if getattr(c, "id", None)}


def test_run_viewer_swaps_the_eta_for_the_warning_and_back() -> None:
    alive = snap()
    view = build_view(alive, NOW, quiet_of(alive))
    assert view.eta_text == "About 1 min 40 s left" and view.quiet_text is None
    shown = ids_in(render(view))
    assert RUN_ETA in shown and RUN_QUIET not in shown

    silent = replace(alive, heartbeat_at=ago(150))
    q = quiet_of(silent)
    view = build_view(silent, NOW, q)
    assert view.eta_text is None
    assert view.quiet_text == (
        "No progress for 2 min — the worker may be gone. If it stays silent, the console resumes or fails "
        "this run at 2026-12-06 11:59:30 UTC."
    )
    shown = ids_in(render(view))
    assert RUN_ETA not in shown and shown[RUN_QUIET].children == view.quiet_text
    # The progress bar itself still shows the trusted counts: only the estimate was a guess.
    assert view.progress.percent == 50


def test_run_viewer_fingerprint_follows_the_quiet_steps_only() -> None:
    def digest(silent: float) -> str:
        s = snap(heartbeat_at=ago(silent))
        return fingerprint(s, quiet_of(s))

    assert digest(3) == digest(19)  # heard from: the ETA's clock is not a change
    assert digest(19) != digest(25)  # went quiet: re-render once
    assert digest(25) == digest(29)  # same words
    assert digest(29) != digest(31)
    assert digest(61) == digest(119)  # "1 min" for a minute
    assert digest(119) != digest(121)


# --------------------------------------------------------------------------- activity shell


def row(**over) -> RunRow:
    base = dict(
        id=3,
        type="inventory_sync",
        status="running",
        summary_counts={"total": 10, "processed": 5},
        context={},
        created_at=ago(100),
        started_at=ago(100),
        tenant_name="a1",
        heartbeat_at=ago(5),
    )
    base.update(over)
    return RunRow(**base)


def item_attrs(tree) -> list[tuple[str, str, str]]:
    props = [(c, c.to_plotly_json()["props"]) for c in walk(tree)]
    return [(p["data-run-id"], p["data-quiet"], str(c.to_plotly_json())) for c, p in props if p.get("data-run-id")]


def test_shell_item_says_no_progress_when_quiet_and_not_otherwise() -> None:
    view = activity_shell.build_view([row(id=1), row(id=2, heartbeat_at=ago(200))], 2, NOW, LIMIT)
    (one, one_quiet, one_text), (two, two_quiet, two_text) = item_attrs(activity_shell.render(view))
    assert (one, one_quiet) == ("1", "false") and "No progress" not in one_text
    assert (two, two_quiet) == ("2", "true") and "No progress for 3 min" in two_text
    assert "the worker may be gone" in two_text  # the link's title says why


def test_shell_fingerprint_changes_when_a_run_goes_quiet_and_when_it_recovers() -> None:
    def digest(silent: float) -> str:
        return activity_shell.fingerprint(activity_shell.build_view([row(heartbeat_at=ago(silent))], 1, NOW, LIMIT))

    assert digest(2) == digest(15)
    assert digest(15) != digest(45)
    assert digest(45) != digest(2)


def test_a_phased_shell_item_names_its_whole_phase_on_hover() -> None:
    """The strip's item is narrow: a phase label ("Comparing settings with the baseline") is cut
    at 1280 and 1440 px, so the link's title carries it whole."""
    phased = row(id=4, type="baseline_compare", summary_counts={}, context={"phase": "diffing"})
    view = activity_shell.build_view([phased], 1, NOW, LIMIT)
    links = [c.to_plotly_json()["props"] for c in walk(activity_shell.render(view))]
    titles = [p["title"] for p in links if "activity-link" in str(p.get("className"))]
    label = view.items[0].progress.text
    assert len(titles) == 1 and label and titles[0].endswith(" · " + label), (titles, label)
