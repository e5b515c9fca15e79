"""Activity shell (navbar): the user's active runs in scope, plus the queued and terminal toasts.

Scope: on a tenant dashboard, that tenant's runs; elsewhere the user's first workspace
(lowest id). Always filtered by ``console.access.run_visibility_filter``: the path only
narrows the scope, it never grants anything. Child runs of a fan-out are not listed (their
parent is). Newest first, ``SHOWN`` items and "and N more".

Polling: ``activity-poll`` runs at ``shell_poll_interval`` (the youngest active run's
cadence) while anything is active and stops when nothing is. The ``run-enqueued`` DOM event
lands in the ``activity-kick`` store (assets/guards.js), which refreshes at once — that
starts polling — and shows the queued toast. Each refresh also looks for notifications
newer than the ones the page has seen: a run the user started reached a terminal state,
so it shows the terminal toast and updates the bell's count.

A running run whose worker has been silent for over twice the heartbeat interval
(``staleness.quiet``) says "No progress for N" in its item (``data-quiet="true"``); the
fingerprint holds that step, so the words follow the silence and leave when the heartbeat returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import dash
from dash import Input, Output, Patch, State, dcc, html

from console import ids
from console.access import Principal, require_run, require_tenant
from console.components import notifications, poll_guard
from console.components.display import (
    notification_header,
    render_progress,
    run_href,
    signature,
    toast,
)
from console.config import DEFAULT_STALE_AFTER_SECONDS
from console.db import utcnow
from console.errors import BadRequest, NotFound
from console.notifications.service import notification_marks, notifications_after
from console.operations import staleness
from console.operations.cadence import shell_poll_interval
from console.operations.progress import ProgressView, progress_view
from console.operations.queries import RunRow, active_runs
from console.operations.registry import type_label
from console.review_packs.service import download_url

ACTIVITY_POLICY = "activity-policy"
ACTIVITY_FINGERPRINT = "activity-fingerprint"
ACTIVITY_SEEN = "activity-seen"  # the newest notification id this page has accounted for
#: The shell's polite live region ("2 operations active") and the count it last announced.
ACTIVITY_LIVE = "activity-live"
ACTIVITY_ANNOUNCED = "activity-announced"
#: The shell's name as a run surface (assets/run_updates.js): its kick store is "activity-run-kick".
RUN_SURFACE = "activity"
#: Dash pages' own location component (dash.dash._ID_LOCATION).
PAGES_LOCATION = "_pages_location"

SHOWN: Final = 5
TOASTS_PER_REFRESH: Final = 5
_TENANT_PATH = re.compile(r"^/admin/tenants/([^/]+)/?$")


@dataclass(frozen=True)
class Scope:
    workspace_id: int | None
    tenant_id: int | None = None


#: The shell's name for a run row (its tests build them).
ActiveRun = RunRow


@dataclass(frozen=True)
class ShellItem:
    run_id: int
    label: str
    tenant_label: str
    progress: ProgressView
    quiet: staleness.Quiet | None = None
    status: str = "queued"  # the run's status (queued | running), for run_updates.js


@dataclass(frozen=True)
class ShellView:
    items: tuple[ShellItem, ...]
    more: int

    @property
    def active(self) -> int:
        return len(self.items) + self.more


# --------------------------------------------------------------------------- pure parts


def build_view(
    runs: list[RunRow], total_active: int, now: datetime, stale_after_seconds: int = DEFAULT_STALE_AFTER_SECONDS
) -> ShellView:
    """The first ``SHOWN`` runs (already newest first) with their progress and quiet state, and
    the rest as a count."""
    items = tuple(
        ShellItem(
            run_id=r.id,
            label=type_label(r.type),
            tenant_label=r.tenant_name or "workspace",
            progress=progress_view(
                status=r.status,
                type=r.type,
                summary_counts=r.summary_counts,
                context=r.context,
                started_at=r.started_at,
                now=now,
            ),
            quiet=staleness.quiet(r, now=now, stale_after_seconds=stale_after_seconds),
            status=r.status,
        )
        for r in runs[:SHOWN]
    )
    return ShellView(items=items, more=max(0, total_active - len(items)))


def shell_policy(runs: list[RunRow], now: datetime) -> dict | None:
    """Poll at the youngest active run's cadence; None once nothing is active."""
    return poll_guard.policy(shell_poll_interval(((r.status, r.created_at) for r in runs), now))


def fingerprint(view: ShellView) -> str:
    """What the shell shows (no time-derived text), to answer no_update when it is unchanged."""
    return signature(
        [
            [
                i.run_id,
                i.label,
                i.tenant_label,
                i.progress.mode,
                i.progress.status_label,
                i.progress.text,
                i.progress.percent,
                i.quiet.step if i.quiet is not None else None,
                i.status,
            ]
            for i in view.items
        ]
        + [view.more]
    )


def _hover_state(item: ShellItem) -> str:
    """The item's state in full for its title: the strip is narrow and cuts a phase label."""
    if item.quiet is not None:
        return f"{item.quiet.text} — the worker may be gone"
    if item.progress.mode == "phased" and item.progress.text:
        return item.progress.text
    return item.progress.status_label


def render(view: ShellView) -> list:
    """Children of ``activity-shell``: a count, one link per run, and "and N more"."""
    children: list[Any] = [
        html.Span(
            f"{view.active} active",
            className="activity-count badge rounded-pill text-bg-info",
            **{"data-active-count": str(view.active)},
        )
    ]
    for item in view.items:
        children.append(
            html.Div(
                dcc.Link(
                    [
                        html.Span(item.label, className="activity-type"),
                        html.Span(item.tenant_label, className="activity-tenant"),
                        render_progress(
                            item.progress,
                            element_id=None,
                            compact=True,
                            label=f"{item.label} on {item.tenant_label}",
                        ),
                        html.Span(item.quiet.text, className="activity-quiet") if item.quiet is not None else None,
                    ],
                    href=run_href(item.run_id),
                    className="activity-link",
                    title=f"{item.label} · {item.tenant_label} · " + _hover_state(item),
                ),
                className="activity-item",
                **{
                    "data-run-id": str(item.run_id),
                    **poll_guard.run_marks(item.run_id, item.status),
                    "data-progress-mode": item.progress.mode,
                    "data-quiet": "true" if item.quiet is not None else "false",
                },
            )
        )
    if view.more:
        children.append(html.Span(f"and {view.more} more", className="activity-more"))
    return children


def started_body(status: str) -> str:
    """Where the new run is by the time the shell looks (a quick worker may already be on it)."""
    return {"queued": "Queued.", "running": "Running."}.get(status, "Already finished.")


def queued_toast(*, run_id: int, run_type: str, status: str) -> html.Div:
    """Shown when the page fires run-enqueued (the queued toast is ephemeral: nothing is stored).

    run-enqueued is fired only for a run the click created, so the header is always
    "<Type> started" — never "already running", even when the worker picked it up at once."""
    return toast(
        kind="queued",
        run_id=run_id,
        header=f"{type_label(run_type)} started",
        body=started_body(status),
        color="primary",
    )


def terminal_toast(
    *,
    notification_id: int,
    run_id: int | None,
    title: str,
    body: str | None,
    kind: str,
    tenant_name: str | None = None,
    ready_pack_id: int | None = None,
) -> html.Div:
    """Shown for a persisted notification: a run the user started reached a terminal state. It
    names the tenant and links to the run (and to the pack download when the pack is ready)."""
    return toast(
        kind="terminal",
        run_id=run_id,
        header=notification_header(title, tenant_name),
        body=body,
        color="danger" if kind == "run_failed" else "success",
        key=f"toast-notification-{notification_id}",
        held=True,
        pack_href=download_url(ready_pack_id) if ready_pack_id is not None else None,
    )


def scope_for_path(*, session: Any, principal: Principal, pathname: str | None) -> Scope:
    """A tenant dashboard narrows the shell to its tenant; anywhere else: the first workspace."""
    match = _TENANT_PATH.match(pathname or "")
    if match:
        try:
            tenant = require_tenant(session=session, principal=principal, tenant_id=match.group(1))
            return Scope(tenant.workspace_id, tenant.id)
        except NotFound:
            pass  # the page itself answers 404; the shell falls back to the default scope
    return Scope(min(principal.roles) if principal.roles else None)


# --------------------------------------------------------------------------- layout and callback


def layout() -> html.Div:
    """The navbar part: the shell (filled by the refresh callback) and its polling pieces."""
    return html.Div(
        [
            *poll_guard.poll_components(ids.ACTIVITY_POLL, ACTIVITY_POLICY, None),
            dcc.Store(id=ACTIVITY_FINGERPRINT, data=None),
            dcc.Store(id=ACTIVITY_SEEN, data=None),
            dcc.Store(id=ACTIVITY_ANNOUNCED, data=None),
            poll_guard.run_kick_store(RUN_SURFACE),
            html.Div("", id=ACTIVITY_LIVE, role="status", className="visually-hidden", **{"aria-live": "polite"}),
            # role=group: an aria-label on a plain div names nothing (axe: aria-allowed-attr / ARIA 1.2).
            html.Div(
                [],
                id=ids.ACTIVITY_SHELL,
                className="activity-shell",
                role="group",
                **{"aria-label": "Active operations", **poll_guard.run_surface(RUN_SURFACE)},
            ),
        ],
        className="activity-shell-wrap",
    )


def _optional(value: object, kind: type | tuple[type, ...], name: str) -> Any:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise BadRequest(f"{name} has the wrong type")
    return value


def refresh(
    *,
    triggered: set[str],
    pathname: object,
    kick: object,
    known_fingerprint: object,
    known_policy: object,
    seen: object,
) -> tuple:
    """One shell refresh; returns the six outputs, no_update where nothing changed."""
    from console.web.context import db_session, principal, settings

    pathname = _optional(pathname, str, "pathname")
    kick = _optional(kick, dict, "activity-kick")
    known_fingerprint = _optional(known_fingerprint, str, "fingerprint")
    seen = _optional(seen, int, "seen")
    if seen is not None and seen < 0:
        raise BadRequest("seen must not be negative")
    session, who = db_session(), principal()
    now = utcnow()

    toasts: list[html.Div] = []
    if poll_guard.ACTIVITY_KICK in triggered and kick is not None and kick.get("run_id") is not None:
        # A forged or stale id reveals nothing: require_run answers 404 for what the user may not see.
        run = require_run(session=session, principal=who, run_id=kick.get("run_id"))
        toasts.append(queued_toast(run_id=run.id, run_type=run.type, status=run.status))

    scope = scope_for_path(session=session, principal=who, pathname=pathname)
    runs, total = (
        active_runs(
            session=session, principal=who, workspace_id=scope.workspace_id, tenant_id=scope.tenant_id, limit=SHOWN
        )
        if scope.workspace_id is not None
        else ([], 0)
    )
    view = build_view(runs, total, now, settings().stale_after_seconds)
    digest = fingerprint(view)
    new_policy = shell_policy(runs, now)

    seen_out: Any = dash.no_update
    count_out: Any = dash.no_update
    count_class: Any = dash.no_update
    if who.user_id:
        unread, newest = notification_marks(session=session, user_id=who.user_id)
        if seen is None:
            # First refresh of this page: older notifications are the bell's business, not toasts.
            seen_out, count_out, count_class = newest, str(unread), notifications.count_class(unread)
        elif newest > seen:
            for n in notifications_after(session=session, user_id=who.user_id, after_id=seen, limit=TOASTS_PER_REFRESH):
                toasts.append(
                    terminal_toast(
                        notification_id=n.id,
                        run_id=n.run_id,
                        title=n.title,
                        body=n.body,
                        kind=n.kind,
                        tenant_name=n.tenant_name,
                        ready_pack_id=n.ready_pack_id,
                    )
                )
            seen_out, count_out, count_class = newest, str(unread), notifications.count_class(unread)

    toast_out: Any = dash.no_update
    if toasts:
        toast_out = Patch()
        for item in toasts:
            toast_out.append(item)
    changed = digest != known_fingerprint
    return (
        render(view) if changed else dash.no_update,
        digest if changed else dash.no_update,
        dash.no_update if new_policy == known_policy else new_policy,
        seen_out,
        count_out,
        count_class,
        toast_out,
    )


# The shell's count as rendered (its first child's data-active-count): announced when it
# changes, never on a refresh that changed progress only, and not for the page's first render
# (that count is the page's content, not news).
_ANNOUNCE_JS = """
function(children, announced) {
    var nu = window.dash_clientside.no_update;
    var first = Array.isArray(children) && children.length ? children[0] : null;
    var raw = first && first.props ? first.props["data-active-count"] : null;
    if (raw === null || raw === undefined) { return [nu, nu]; }
    var count = parseInt(raw, 10);
    if (announced === null || announced === undefined) { return [nu, count]; }
    if (count === announced) { return [nu, nu]; }
    var words = count === 0 ? "No operations active." :
        (count === 1 ? "1 operation active." : count + " operations active.");
    return [words, count];
}
"""


def register_callbacks(app: dash.Dash) -> None:
    app.clientside_callback(
        _ANNOUNCE_JS,
        Output(ACTIVITY_LIVE, "children"),
        Output(ACTIVITY_ANNOUNCED, "data"),
        Input(ids.ACTIVITY_SHELL, "children"),
        State(ACTIVITY_ANNOUNCED, "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.ACTIVITY_SHELL, "children"),
        Output(ACTIVITY_FINGERPRINT, "data"),
        Output(ACTIVITY_POLICY, "data"),
        Output(ACTIVITY_SEEN, "data"),
        Output(ids.NOTIFICATIONS_COUNT, "children"),
        Output(ids.NOTIFICATIONS_COUNT, "className"),
        Output(ids.TOAST_AREA, "children"),
        Input(PAGES_LOCATION, "pathname"),
        Input(ids.ACTIVITY_POLL, "n_intervals"),
        Input(poll_guard.ACTIVITY_KICK, "data"),
        Input(poll_guard.run_kick_id(RUN_SURFACE), "data"),
        State(ACTIVITY_FINGERPRINT, "data"),
        State(ACTIVITY_POLICY, "data"),
        State(ACTIVITY_SEEN, "data"),
        # The location fires on every page load and navigation: that is the first refresh.
        prevent_initial_call=True,
    )
    def _activity_refresh(pathname, _n_intervals, kick, _run_kick, known_fingerprint, known_policy, seen):
        return poll_guard.unless_all_unchanged(
            refresh(
                triggered={str(p).split(".")[0] for p in dash.ctx.triggered_prop_ids},
                pathname=pathname,
                kick=kick,
                known_fingerprint=known_fingerprint,
                known_policy=known_policy,
                seen=seen,
            )
        )

    poll_guard.register_guard(app, interval_id=ids.ACTIVITY_POLL, policy_id=ACTIVITY_POLICY)
