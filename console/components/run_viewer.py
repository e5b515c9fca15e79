"""Run viewer ``/admin/operations/<run_id>``: one run's state, progress and per-unit outcomes.

Three layers, so the rules are testable without a browser:

* ``load_snapshot`` reads what the page shows with ``console.operations.queries.run_snapshot``:
  **one** prebuilt SQL statement (run + tenant + initiator + review pack, plain columns), access
  re-checked with ``console.access.run_visible`` (``require_run``'s rule) on that row's values.
  The per-unit ledger is read only for counted runs and only when the run row changed; its
  units are named by the type's ``unit_labels`` hook ("Policy 'Baseline – Windows'").
* ``build_view`` turns a snapshot into a ``RunView`` with the progress contract's
  ``progress_for_run`` decisions (no progress maths here) and display texts.
* ``render`` turns a view into Dash components.

The poll callback compares a fingerprint of the snapshot with the one the page holds and
answers ``no_update`` (HTTP 204) when nothing changed; its cadence comes from
``run_poll_interval`` and is applied by the shared guard (console.components.polling).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from console import ids
from console.access import Principal, require_operation, require_run
from console.components import poll_guard
from console.components.display import (
    OVERVIEW_HREF,
    PACK_STATUS_LABELS,
    QUEUE_UNREACHABLE,
    append_toast,
    breadcrumbs,
    finished_text,
    format_duration,
    format_timestamp,
    modal_header,
    modal_title_id,
    relative_time_of,
    render_progress,
    run_href,
    signature,
    tenant_href,
    toast,
)
from console.components.display import not_found_page as not_found_layout
from console.db import utcnow
from console.errors import BadRequest, DispatchError, InvalidTransition, NotFound
from console.operations import registry, staleness
from console.operations.cadence import run_poll_interval
from console.operations.constants import ACTIVE_STATUSES, COMPLETED, RESUME_ATTEMPTS_KEY, RETRYABLE_OUTCOMES
from console.operations.launch import cancel_operation, retry_operation, retry_plan
from console.operations.progress import COUNTED, NONE, ProgressView, phase_label, progress_view
from console.operations.queries import RunSnapshot, TimelineEntry, UnitRow, run_snapshot, run_timeline, run_units
from console.operations.registry import type_label
from console.operations.staleness import Quiet
from console.review_packs.service import download_url

# Ids of this page beyond the public ones in console/ids.py (documented in docs/testing.md).
RUN_VIEWER = "run-viewer"
RUN_VIEW = "run-view"
#: The viewer's name as a run surface (assets/run_updates.js): its kick store is "run-viewer-run-kick".
RUN_SURFACE = "run-viewer"
RUN_POLL_POLICY = "run-poll-policy"
RUN_FINGERPRINT = "run-fingerprint"
RUN_TYPE = "run-type"
RUN_TENANT = "run-tenant"
RUN_INITIATOR = "run-initiator"
RUN_CREATED_AT = "run-created-at"
RUN_STARTED_AT = "run-started-at"
RUN_COMPLETED_AT = "run-completed-at"
RUN_ETA = "run-eta"
RUN_QUIET = "run-quiet"
RUN_TIMELINE = "run-timeline"
RUN_DURATION = "run-duration"
RUN_FAILURE = "run-failure"
RUN_RESUMED = "run-resumed"
RUN_ACTIONS = "run-actions"
RUN_CANCEL = ids.RUN_CANCEL
RUN_CANCEL_MODAL = ids.RUN_CANCEL_MODAL
RUN_CANCEL_CONFIRM = ids.RUN_CANCEL_CONFIRM
RUN_CANCEL_DISMISS = "run-cancel-dismiss"
RUN_RETRY = ids.RUN_RETRY
RUN_RETRY_MODAL = ids.RUN_RETRY_MODAL
RUN_RETRY_CONFIRM = ids.RUN_RETRY_CONFIRM
RUN_RETRY_DISMISS = "run-retry-dismiss"
RUN_RETRY_TEXT = "run-retry-text"
RUN_NAV = "run-nav"
RUN_UNITS = "run-units"
RUN_PACK = "run-pack"
RUN_PACK_DOWNLOAD = "run-pack-download"
#: The polite live region that announces a status change once, and the last status it announced.
RUN_LIVE = "run-live"
RUN_ANNOUNCED = "run-announced"

#: Runs whose units are worth listing one by one (a parent that fans out to one task per unit).
#: The ledger can be large; the page lists failures first and stops here.
UNITS_SHOWN: Final = 200
#: Bump when the snapshot's shape changes, so old fingerprints never match.
_FINGERPRINT_VERSION: Final = 1

COUNT_LABELS: Final = {
    "succeeded": "Succeeded",
    "failed": "Failed",
    "skipped": "Skipped",
    "created": "Created",
    "updated": "Updated",
    "deleted": "Deleted",
    "items": "Items",
    "warnings": "Warnings",
}
COUNT_COLORS: Final = {"succeeded": "success", "failed": "danger", "skipped": "secondary", "warnings": "warning"}
STATUS_COLORS: Final = {"Queued": "secondary", "Running": "primary", "Completed": "dark", "Unknown": "warning"}
OUTCOME_COLORS: Final = {
    "succeeded": "success",
    "partially_succeeded": "warning",
    "failed": "danger",
    "cancelled": "secondary",
}


# --------------------------------------------------------------------------- data


def load_snapshot(*, session: Any, principal: Principal, run_id: object, with_details: bool = True) -> RunSnapshot:
    """The run if the principal may see it (NotFound otherwise), in one statement; with its
    details (timeline, and units for counted runs) unless ``with_details`` is False."""
    snapshot = run_snapshot(session=session, principal=principal, run_id=run_id)
    return with_details_loaded(session, snapshot) if with_details else snapshot


def with_details_loaded(session: Any, snapshot: RunSnapshot) -> RunSnapshot:
    """The snapshot with its timeline (one statement) and, for a counted run, its ledger page
    (one more, + one if the type names its units)."""
    units = (
        run_units(
            session=session, run_id=snapshot.id, limit=UNITS_SHOWN, type_=snapshot.type, tenant_id=snapshot.tenant_id
        )
        if registry.is_counted(snapshot.type)
        else None
    )
    timeline = run_timeline(session=session, run_id=snapshot.id, started_at=snapshot.started_at)
    return replace(snapshot, units=units, timeline=timeline)


def fingerprint(snapshot: RunSnapshot, quiet: Quiet | None = None) -> str:
    """A digest of what the page shows, except time-derived text (ETA) and the unit list.

    The one time-derived part it holds is the quiet state's step ("No progress for 40 s",
    then whole minutes): a silent run re-renders when those words change, and again when the
    heartbeat returns (and the ETA with it).

    Units are left out on purpose: a unit is only ever added together with ``processed``
    (one transaction in record_unit), so the counts already change when the list does —
    and an unchanged poll can skip reading the ledger.
    """
    phase = phase_label(snapshot.context, snapshot.type) if "phase" in snapshot.context else None
    payload = [
        _FINGERPRINT_VERSION,
        snapshot.id,
        snapshot.type,
        snapshot.status,
        snapshot.outcome,
        snapshot.summary_counts,
        phase,
        snapshot.failure_summary,
        _iso(snapshot.created_at),
        _iso(snapshot.started_at),
        _iso(snapshot.completed_at),
        snapshot.tenant_id,
        snapshot.tenant_name,
        snapshot.initiator_name,
        snapshot.pack_id,
        snapshot.pack_status,
        snapshot.pack_downloadable,
        quiet.step if quiet is not None else None,
    ]
    return signature(payload)


def quiet_words(q: Quiet) -> str:
    """The run viewer's warning for a quiet run, with the reaper's deadline."""
    return (
        f"{q.text} — the worker may be gone. If it stays silent, the console resumes or fails this run "
        f"at {format_timestamp(q.reaper_at)}."
    )


def poll_policy(snapshot: RunSnapshot, now: datetime) -> dict | None:
    """The run-poll policy store value: the contract's interval by age, None when terminal/unknown."""
    return poll_guard.policy(run_poll_interval(status=snapshot.status, created_at=snapshot.created_at, now=now))


# --------------------------------------------------------------------------- view model


@dataclass(frozen=True)
class Badge:
    key: str
    label: str
    count: int
    color: str


@dataclass(frozen=True)
class RunView:
    run_id: int
    title: str
    type_label: str
    tenant_id: int | None
    tenant_label: str
    initiator_label: str
    created_at: str
    started_at: str
    completed_at: str
    progress: ProgressView
    status_color: str
    outcome_text: str
    outcome_key: str
    outcome_color: str
    eta_text: str | None  # counted runs only
    duration_text: str | None  # terminal runs with a start time
    badges: tuple[Badge, ...]
    failure_summary: str | None
    units: tuple[UnitRow, ...] | None
    units_more: int
    pack_status_label: str | None
    pack_href: str | None
    resumed_text: str | None = None  # "Resumed after the worker was lost" (the reaper's resume)
    can_cancel: bool = False  # active, and the viewer holds the capability that starts the type
    can_retry: bool = False  # failed / partially succeeded / cancelled, and the viewer may
    retry_of: int | None = None  # "Retry of #N"
    retried_as: int | None = None  # "Retried as #M"
    finished_text: str | None = None  # a terminal run without "N of M processed": why (display.finished_text)
    quiet_text: str | None = None  # "No progress for 2 min — the worker may be gone …" (replaces the ETA)
    timeline: tuple[TimelineEntry, ...] = ()  # what happened to the run, oldest first


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def format_eta(seconds: int | None) -> str:
    """What the ETA line says; None means the rate is not yet meaningful."""
    if seconds is None:
        return "Estimating time left…"
    if seconds <= 0:
        return "Finishing…"
    return f"About {format_duration(seconds)} left"


def build_view(snapshot: RunSnapshot, now: datetime, quiet: Quiet | None = None) -> RunView:
    """Apply the progress contract and word everything the page shows (``quiet``: staleness.quiet)."""
    progress = progress_view(
        status=snapshot.status,
        type=snapshot.type,
        summary_counts=snapshot.summary_counts,
        context=snapshot.context,
        started_at=snapshot.started_at,
        now=now,
        outcome=snapshot.outcome,
    )
    badges = tuple(
        Badge(key, COUNT_LABELS.get(key, key.title()), count, COUNT_COLORS.get(key, "info"))
        for key, count in progress.badges
    )
    duration = None
    if snapshot.completed_at is not None:
        start = snapshot.started_at or snapshot.created_at
        duration = format_duration((snapshot.completed_at - start).total_seconds())
    units_more = 0
    if snapshot.units is not None:
        units_more = max(0, snapshot.summary_counts.get("processed", len(snapshot.units)) - len(snapshot.units))
    outcome_key = progress.outcome or ""
    tlabel = type_label(snapshot.type)
    return RunView(
        run_id=snapshot.id,
        title=f"{tlabel} · run #{snapshot.id}",
        type_label=tlabel,
        tenant_id=snapshot.tenant_id,
        tenant_label=snapshot.tenant_name if snapshot.tenant_id is not None else "— (workspace-level run)",
        initiator_label=snapshot.initiator_name or "System",
        created_at=format_timestamp(snapshot.created_at),
        started_at=format_timestamp(snapshot.started_at),
        completed_at=format_timestamp(snapshot.completed_at),
        progress=progress,
        status_color=STATUS_COLORS.get(progress.status_label, "secondary"),
        outcome_text=progress.outcome_label or "—",
        outcome_key=outcome_key,
        outcome_color=OUTCOME_COLORS.get(outcome_key, "light"),
        eta_text=format_eta(progress.eta_seconds) if progress.mode == COUNTED and quiet is None else None,
        duration_text=duration,
        badges=badges,
        failure_summary=snapshot.failure_summary,
        units=snapshot.units,
        units_more=units_more,
        pack_status_label=PACK_STATUS_LABELS.get(snapshot.pack_status or "", None)
        if snapshot.pack_id is not None
        else None,
        pack_href=download_url(snapshot.pack_id)
        if snapshot.pack_downloadable and snapshot.pack_id is not None
        else None,
        resumed_text=resumed_text(snapshot.context),
        can_cancel=snapshot.may_act and snapshot.status in ACTIVE_STATUSES,
        can_retry=snapshot.may_act and snapshot.status == COMPLETED and snapshot.outcome in RETRYABLE_OUTCOMES,
        retry_of=_run_ref(snapshot.context.get("retry_of")),
        retried_as=_run_ref(snapshot.context.get("retried_as")),
        finished_text=finished_text(progress, snapshot.type),
        quiet_text=quiet_words(quiet) if quiet is not None else None,
        timeline=snapshot.timeline or (),
    )


def _run_ref(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def resumed_text(context: object) -> str | None:
    """The reaper's resumes, in words (``context.resume_attempts``, written by ``resume_stale``)."""
    attempts = context.get(RESUME_ATTEMPTS_KEY) if isinstance(context, dict) else None
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts <= 0:
        return None
    times = "" if attempts == 1 else f" ({attempts} times)"
    return f"Resumed after the worker was lost{times}: the units already counted were not done again."


# --------------------------------------------------------------------------- rendering


def render_badges(badges: tuple[Badge, ...], *, finished: bool = False) -> html.Div:
    """Outcome counters as badges (never as a bar); without any: "No counts yet" only while the
    run is active (a finished run's progress line already says why it has no number)."""
    empty: list[Any] = [] if finished else [html.Span("No counts yet", className="text-muted small")]
    return html.Div(
        [
            html.Span(
                [b.label, " ", html.Strong(str(b.count))],
                className=f"badge text-bg-{b.color} me-1",
                **{"data-count-key": b.key, "data-count": str(b.count)},
            )
            for b in badges
        ]
        or empty,
        id=ids.RUN_COUNTS,
        className="run-counts",
    )


def _units_table(view: RunView) -> html.Div | None:
    if view.units is None:
        return None
    rows = [
        html.Tr(
            [
                html.Td(u.label or u.unit_key, title=u.unit_key if u.label else None),
                html.Td(u.outcome.replace("_", " ").capitalize(), className=f"unit-outcome-{u.outcome}"),
                html.Td(u.error or ""),
            ],
            **{"data-unit-key": u.unit_key, "data-unit-outcome": u.outcome},
        )
        for u in view.units
    ]
    body: list[Any] = [
        html.H2("Units", className="h5"),
        html.Table(
            [html.Thead(html.Tr([html.Th("Unit"), html.Th("Outcome"), html.Th("Error")])), html.Tbody(rows)],
            id=RUN_UNITS,
            className="table table-sm table-hover",
        )
        if rows
        else html.P(
            (view.finished_text or "No units were recorded.")
            if view.progress.mode == NONE
            else "No units recorded yet.",
            id=RUN_UNITS,
            className="text-muted",
        ),
    ]
    if view.units_more:
        body.append(html.P(f"and {view.units_more} more (failures are listed first)", className="text-muted small"))
    return html.Div(body, className="mt-4")


def _dt(label: str, value: Any, element_id: str) -> list:
    return [html.Dt(label, className="col-sm-3"), html.Dd(value, id=element_id, className="col-sm-9")]


def render(view: RunView) -> list:
    """The page body (everything the poll may replace)."""
    p = view.progress
    tenant: Any = (
        dcc.Link(view.tenant_label, href=tenant_href(view.tenant_id))
        if view.tenant_id is not None
        else view.tenant_label
    )
    details = html.Dl(
        [
            *_dt("Type", view.type_label, RUN_TYPE),
            *_dt("Tenant", tenant, RUN_TENANT),
            *_dt("Started by", view.initiator_label, RUN_INITIATOR),
            *_dt("Created", relative_time_of(view.created_at), RUN_CREATED_AT),
            *_dt("Started", relative_time_of(view.started_at), RUN_STARTED_AT),
            *_dt("Completed", relative_time_of(view.completed_at), RUN_COMPLETED_AT),
        ],
        className="row mb-0",
    )
    state = html.Div(
        [
            html.Div(
                [
                    html.Span("Status ", className="text-muted me-1"),
                    html.Span(
                        p.status_label,
                        id=ids.RUN_STATUS,
                        className=f"badge text-bg-{view.status_color} me-3",
                        **poll_guard.run_marks(view.run_id, poll_guard.status_of_label(p.status_label)),
                    ),
                    html.Span("Outcome ", className="text-muted me-1"),
                    html.Span(
                        view.outcome_text,
                        id=ids.RUN_OUTCOME,
                        className=f"badge text-bg-{view.outcome_color}",
                        **{"data-outcome": view.outcome_key},
                    ),
                    html.Span(f"took {view.duration_text}", id=RUN_DURATION, className="text-muted small ms-3")
                    if view.duration_text
                    else None,
                ],
                className="mb-3",
            ),
            # A finished run without "N of M processed" says why in the same place (display.finished_text).
            render_progress(replace(p, text=view.finished_text) if view.finished_text else p, label=view.type_label),
            html.Div(view.eta_text, id=RUN_ETA, className="text-muted small mt-1") if view.eta_text else None,
            html.Div(view.quiet_text, id=RUN_QUIET, className="alert alert-warning small mt-2 mb-0")
            if view.quiet_text
            else None,
            html.Div(
                render_badges(view.badges, finished=p.mode == NONE),
                className="mt-3",
            ),
        ]
    )
    trail: list[tuple[str, str | None]] = [("Overview", OVERVIEW_HREF)]
    if view.tenant_id is not None:
        trail.append((view.tenant_label, tenant_href(view.tenant_id)))
    trail.append((f"Run #{view.run_id}", None))
    parts: list[Any] = [
        breadcrumbs(trail),
        html.H1(view.title, className="h3"),
        render_actions(view),
        dbc_card([details]),
        dbc_card([state]),
    ]
    if view.resumed_text:
        parts.append(html.Div(view.resumed_text, id=RUN_RESUMED, className="alert alert-info", role="status"))
    if view.failure_summary:
        parts.append(
            html.Div(
                [html.Strong("Failure: "), view.failure_summary],
                id=RUN_FAILURE,
                className="alert alert-danger",
                role="alert",
            )
        )
    if view.pack_status_label is not None:
        pack_children: list[Any] = [
            html.Span("Review pack: "),
            html.Span(view.pack_status_label, className="fw-semibold"),
        ]
        if view.pack_href:
            pack_children += [" · ", html.A("Download", id=RUN_PACK_DOWNLOAD, href=view.pack_href)]
        parts.append(html.Div(pack_children, id=RUN_PACK, className="mb-3"))
    units = _units_table(view)
    if units is not None:
        parts.append(units)
    if view.timeline:
        parts.append(render_timeline(view.timeline))
    return parts


#: Timeline event -> its words (an unknown audit action shows as itself).
TIMELINE_WORDS: Final = {
    "queued": "Queued",
    "started": "Started by a worker",
    "resumed": "Resumed after the worker was lost",
    "cancelled": "Cancel requested",
    "completed": "Completed",
}


def timeline_text(entry: TimelineEntry) -> str:
    """``Queued by Maria Manager``, ``Completed: Failed``, ``Resumed … (attempt 1 of 3)``."""
    words = TIMELINE_WORDS.get(entry.event, entry.event)
    if entry.who:
        words += f" by {entry.who}"
    if entry.detail:
        words += f" ({entry.detail})" if entry.event == "resumed" else f": {entry.detail}"
    return words


def render_timeline(entries: tuple[TimelineEntry, ...]) -> html.Div:
    """``#run-timeline``: one ``li[data-event]`` per event, its UTC time first."""
    items = [
        html.Li(
            [html.Span(format_timestamp(e.at), className="text-muted me-2 font-monospace small"), timeline_text(e)],
            **{"data-event": e.event},
        )
        for e in entries
    ]
    return html.Div(
        [html.H2("Timeline", className="h5"), html.Ol(items, id=RUN_TIMELINE, className="list-unstyled mb-0")]
    )


def status_key(status_label: str, outcome_text: str) -> str:
    """What the live region compares: the status and outcome as shown (not counts, not times)."""
    return f"{status_label}|{outcome_text}"


# A re-rendered body brings new run-status / run-outcome texts; the live region speaks only
# when they differ from what it last announced — never on a poll that changed counts only, and
# without a server round trip.
_ANNOUNCE_JS = """
function(status, outcome, announced) {
    var nu = window.dash_clientside.no_update;
    if (!status) { return [nu, nu]; }
    var key = status + "|" + (outcome || "");
    if (key === announced) { return [nu, nu]; }
    var words = "Status: " + status + ".";
    if (outcome && outcome !== "\u2014") { words += " Outcome: " + outcome + "."; }
    return [words, key];
}
"""


def render_actions(view: RunView) -> html.Div:
    """Cancel / Retry (only for users who may) and the links between a run and its retry."""
    items: list[Any] = []
    if view.can_cancel:
        items.append(
            dbc.Button("Cancel run…", id=RUN_CANCEL, color="danger", outline=True, size="sm", className="me-2")
        )
    if view.can_retry:
        items.append(dbc.Button("Retry…", id=RUN_RETRY, color="primary", outline=True, size="sm", className="me-2"))
    if view.retry_of is not None:
        items.append(dcc.Link(f"Retry of #{view.retry_of}", href=run_href(view.retry_of), className="me-3"))
    if view.retried_as is not None:
        items.append(dcc.Link(f"Retried as #{view.retried_as}", href=run_href(view.retried_as), className="me-3"))
    return html.Div(items, id=RUN_ACTIONS, className="mb-3")


def action_modals(*, open_cancel: bool = False) -> list[Any]:
    """The confirm modals (outside the re-rendered body, so a poll never closes them)."""
    return [
        dbc.Modal(
            [
                modal_header(RUN_CANCEL_MODAL, "Cancel this run?"),
                dbc.ModalBody(
                    "Units already done stay done and counted; the run stops before its next unit "
                    "(within a few seconds) and ends Cancelled. A unit in progress finishes first.",
                ),
                dbc.ModalFooter(
                    [
                        dbc.Button("Keep running", id=RUN_CANCEL_DISMISS, color="secondary", outline=True),
                        dbc.Button("Cancel run", id=RUN_CANCEL_CONFIRM, color="danger"),
                    ]
                ),
            ],
            id=RUN_CANCEL_MODAL,
            labelledby=modal_title_id(RUN_CANCEL_MODAL),
            is_open=open_cancel,
            centered=True,
        ),
        dbc.Modal(
            [
                modal_header(RUN_RETRY_MODAL, "Retry this run?"),
                dbc.ModalBody(id=RUN_RETRY_TEXT),
                dbc.ModalFooter(
                    [
                        dbc.Button("Close", id=RUN_RETRY_DISMISS, color="secondary", outline=True),
                        dbc.Button("Retry", id=RUN_RETRY_CONFIRM, color="primary"),
                    ]
                ),
            ],
            id=RUN_RETRY_MODAL,
            labelledby=modal_title_id(RUN_RETRY_MODAL),
            is_open=False,
            centered=True,
        ),
        dcc.Location(id=RUN_NAV, refresh="callback-nav"),
    ]


def dbc_card(children: list) -> html.Div:
    return html.Div(html.Div(children, className="card-body"), className="card mb-3")


def layout(run_id: object = None, **_query: object) -> html.Div:
    """The page: the rendered run plus its poll Interval, policy and fingerprint stores."""
    from console.web.context import db_session, principal

    try:
        snapshot = load_snapshot(session=db_session(), principal=principal(), run_id=run_id)
    except NotFound:
        return not_found_layout()
    now = utcnow()
    q = _quiet(snapshot, now)
    view = build_view(snapshot, now, q)
    return html.Div(
        [
            *poll_guard.poll_components(ids.RUN_POLL, RUN_POLL_POLICY, poll_policy(snapshot, now)),
            dcc.Store(id=ids.RUN_ID_STORE, data=snapshot.id),
            dcc.Store(id=RUN_FINGERPRINT, data=fingerprint(snapshot, q)),
            html.Div(render(view), id=RUN_VIEW),
            # Outside the re-rendered body, present from the start (a live region must exist
            # before its text changes to be announced); written only when the status changes.
            html.Div("", id=RUN_LIVE, role="status", className="visually-hidden", **{"aria-live": "polite"}),
            dcc.Store(id=RUN_ANNOUNCED, data=status_key(view.progress.status_label, view.outcome_text)),
            *action_modals(open_cancel=view.can_cancel and _query.get("action") == "cancel"),
            poll_guard.run_kick_store(RUN_SURFACE),
        ],
        id=RUN_VIEWER,
        **{"data-run-id": str(snapshot.id), **poll_guard.run_surface(RUN_SURFACE)},
    )


# --------------------------------------------------------------------------- callbacks


def refresh(run_id: object, known_fingerprint: object, known_policy: object) -> tuple[Any, Any, Any]:
    """One poll: re-check access, then send only what changed (all no_update -> HTTP 204)."""
    from console.web.context import db_session, principal

    if known_fingerprint is not None and not isinstance(known_fingerprint, str):
        raise BadRequest("fingerprint must be a string")
    session = db_session()
    snapshot = load_snapshot(session=session, principal=principal(), run_id=run_id, with_details=False)
    now = utcnow()
    new_policy = poll_policy(snapshot, now)
    policy_out = poll_guard.changed_policy(new_policy, known_policy)
    q = _quiet(snapshot, now)
    digest = fingerprint(snapshot, q)
    if digest == known_fingerprint:
        return dash.no_update, dash.no_update, policy_out
    snapshot = with_details_loaded(session, snapshot)
    return render(build_view(snapshot, now, q)), digest, policy_out


def _quiet(snapshot: RunSnapshot, now: datetime) -> Quiet | None:
    from console.web.context import settings

    return staleness.quiet(snapshot, now=now, stale_after_seconds=settings().stale_after_seconds)


def register_callbacks(app: dash.Dash) -> None:
    @app.callback(
        Output(RUN_VIEW, "children"),
        Output(RUN_FINGERPRINT, "data"),
        Output(RUN_POLL_POLICY, "data"),
        Input(ids.RUN_POLL, "n_intervals"),
        Input(poll_guard.run_kick_id(RUN_SURFACE), "data"),
        State(ids.RUN_ID_STORE, "data"),
        State(RUN_FINGERPRINT, "data"),
        State(RUN_POLL_POLICY, "data"),
        prevent_initial_call=True,
    )
    def _run_poll(_n_intervals, _run_kick, run_id, known_fingerprint, known_policy):
        return poll_guard.unless_all_unchanged(refresh(run_id, known_fingerprint, known_policy))

    poll_guard.register_guard(app, interval_id=ids.RUN_POLL, policy_id=RUN_POLL_POLICY)

    app.clientside_callback(
        _ANNOUNCE_JS,
        Output(RUN_LIVE, "children"),
        Output(RUN_ANNOUNCED, "data"),
        Input(ids.RUN_STATUS, "children"),
        Input(ids.RUN_OUTCOME, "children"),
        State(RUN_ANNOUNCED, "data"),
    )

    @app.callback(
        Output(RUN_CANCEL_MODAL, "is_open"),
        Input(RUN_CANCEL, "n_clicks"),
        Input(RUN_CANCEL_DISMISS, "n_clicks"),
        prevent_initial_call=True,
    )
    def _cancel_modal(opened, _dismissed):
        return ctx.triggered_id == RUN_CANCEL and bool(opened)

    @app.callback(
        Output(RUN_CANCEL_MODAL, "is_open", allow_duplicate=True),
        Output(RUN_VIEW, "children", allow_duplicate=True),
        Output(RUN_FINGERPRINT, "data", allow_duplicate=True),
        Output(RUN_POLL_POLICY, "data", allow_duplicate=True),
        Output(ids.TOAST_AREA, "children", allow_duplicate=True),
        Input(RUN_CANCEL_CONFIRM, "n_clicks"),
        State(ids.RUN_ID_STORE, "data"),
        prevent_initial_call=True,
    )
    def _cancel_confirm(n_clicks, run_id):
        if not n_clicks:
            raise PreventUpdate
        return cancel_and_show(run_id)

    @app.callback(
        Output(RUN_RETRY_MODAL, "is_open"),
        Output(RUN_RETRY_TEXT, "children"),
        Input(RUN_RETRY, "n_clicks"),
        Input(RUN_RETRY_DISMISS, "n_clicks"),
        State(ids.RUN_ID_STORE, "data"),
        prevent_initial_call=True,
    )
    def _retry_modal(opened, _dismissed, run_id):
        if ctx.triggered_id != RUN_RETRY or not opened:
            return False, dash.no_update
        return True, retry_text(run_id)

    @app.callback(
        Output(RUN_RETRY_MODAL, "is_open", allow_duplicate=True),
        Output(RUN_NAV, "href"),
        Output(poll_guard.RUN_ENQUEUED, "data", allow_duplicate=True),
        Output(ids.TOAST_AREA, "children", allow_duplicate=True),
        Input(RUN_RETRY_CONFIRM, "n_clicks"),
        State(ids.RUN_ID_STORE, "data"),
        prevent_initial_call=True,
    )
    def _retry_confirm(n_clicks, run_id):
        if not n_clicks:
            raise PreventUpdate
        return retry_and_go(run_id)


# --------------------------------------------------------------------------- actions


def _acting() -> tuple[Any, Principal, str]:
    from console.web.context import current_user_name, db_session, principal

    return db_session(), principal(), current_user_name()


def cancel_and_show(run_id: object) -> tuple[Any, ...]:
    """Cancel (access re-checked; a run that ended meanwhile is a toast, not an error) and
    render the run as it now is, so the page shows Cancelled without waiting for a poll."""
    session, who, name = _acting()
    refused: Any = dash.no_update
    try:
        cancel_operation(session=session, principal=who, run_id=run_id, user_name=name)
    except InvalidTransition as exc:
        refused = append_toast(
            toast(
                kind="cancel-refused",
                run_id=None,
                header="Run already ended",
                body=f"Nothing was cancelled: {exc}.",
                color="info",
            )
        )
    snapshot = load_snapshot(session=session, principal=who, run_id=run_id)
    now = utcnow()
    policy = poll_policy(snapshot, now)
    q = _quiet(snapshot, now)
    return False, render(build_view(snapshot, now, q)), fingerprint(snapshot, q), policy, refused


def retry_text(run_id: object) -> str:
    """What the retry will run (access re-checked: the modal says nothing about runs one may not retry)."""
    session, who, _name = _acting()
    run = require_run(session=session, principal=who, run_id=run_id)
    tenant = require_operation(session=session, principal=who, tenant_id=run.tenant_id, operation_type=run.type)
    return f"{retry_plan(run)} on {tenant.name}."


def retry_and_go(run_id: object) -> tuple[Any, ...]:
    """Start the retry, then go to its viewer and tell the activity shell (run-enqueued)."""
    from console.web.context import current_dispatcher

    session, who, _name = _acting()
    try:
        launch = retry_operation(session=session, principal=who, run_id=run_id, dispatcher=current_dispatcher())
    except InvalidTransition as exc:
        box = toast(
            kind="retry-refused",
            run_id=None,
            header="Cannot retry",
            body=f"Nothing was started: {exc}.",
            color="warning",
        )
        return False, dash.no_update, dash.no_update, append_toast(box)
    except DispatchError:
        box = toast(kind="error", run_id=None, header="Could not retry", body=QUEUE_UNREACHABLE, color="danger")
        return False, dash.no_update, dash.no_update, append_toast(box)
    enqueued = {"run_id": launch.run_id} if launch.created else dash.no_update
    return False, run_href(launch.run_id), enqueued, dash.no_update
