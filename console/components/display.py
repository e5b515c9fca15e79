"""Display helpers every surface shares, each defined once: URLs, labels, time and age texts,
the progress elements, the change digest and the not-found page.

Pure functions of plain values (no database, no request): page modules import from here, never
from each other."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote, urlencode

import dash_bootstrap_components as dbc
from dash import Patch, dcc, html

from console import ids
from console.operations import registry
from console.operations.constants import COMPLETED, QUEUED, STATUS_LABELS
from console.operations.progress import ACTIVITY, COUNTED, NONE, PHASED, ProgressView

# --------------------------------------------------------------------------- URLs

OPERATIONS_HREF: Final = "/admin/operations"
OVERVIEW_HREF: Final = "/"
#: The operations list as CSV (same filters, same access rules: console.web.exports).
OPERATIONS_CSV_HREF: Final = "/admin/operations.csv"


#: The operations list's query-string filters, in the order a URL lists them (a public contract:
#: ``tenant``, ``type``, ``status``, ``outcome``, ``q``; ``from``/``to`` are the created-date range).
FILTER_KEYS: Final = ("tenant", "type", "status", "outcome", "q", "from", "to")


def operations_query(filters: Mapping[str, object]) -> str:
    """``?tenant=3&status=running`` for the filters that are set ("" when none is): the one
    way every link into the list, the list's own URL and its CSV link are written."""
    pairs = [(k, str(filters[k])) for k in FILTER_KEYS if filters.get(k) not in (None, "", "all")]
    return "?" + urlencode(pairs, quote_via=quote) if pairs else ""


def operations_href(**filters: object) -> str:
    """The operations list filtered, e.g. ``operations_href(tenant=3, outcome="failed")``."""
    return OPERATIONS_HREF + operations_query(filters)


def run_href(run_id: int) -> str:
    return f"{OPERATIONS_HREF}/{run_id}"


def tenant_href(tenant_id: int) -> str:
    return f"/admin/tenants/{tenant_id}"


# --------------------------------------------------------------------------- labels

#: Review pack statuses as people read them (the card, the overview, the run viewer).
PACK_STATUS_LABELS: Final = {
    "queued": "Queued",
    "generating": "Generating",
    "ready": "Ready",
    "failed": "Failed",
    "expired": "Expired",
}

# --------------------------------------------------------------------------- time


def format_time(value: datetime | None) -> str:
    """A timestamp as 'YYYY-MM-DD HH:MM UTC' ('' when missing)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_timestamp(value: datetime | None) -> str:
    """Absolute UTC time to the second (relative times would change a page on every poll); '—' when missing."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 10 min``."""
    total = max(0, int(math.ceil(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def format_age(seconds: float) -> str:
    """A coarse age: ``45 s``, ``12 min``, ``5 h``, ``3 d``."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


#: The class assets/relative-time.js looks for (with a ``datetime`` attribute).
RELATIVE_TIME: Final = "relative-time"


def iso_utc(value: datetime) -> str:
    """``2026-12-06T22:45:00Z``: the machine-readable instant of a ``<time datetime>``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def relative_time(value: datetime | None, *, absolute: str | None = None, missing: str = "—") -> html.Time | str:
    """A timestamp the browser shows relative ("3 min ago", "in 2 days") with the absolute UTC
    time on hover (``title``). The server renders only the absolute text (``absolute``, default
    'YYYY-MM-DD HH:MM UTC'): what a poll returns never changes with the clock."""
    if value is None:
        return missing
    text = absolute if absolute is not None else format_time(value)
    return html.Time(text, dateTime=iso_utc(value), title=text, className=RELATIVE_TIME)


_ABSOLUTE_FORMATS: Final = ("%Y-%m-%d %H:%M:%S UTC", "%Y-%m-%d %H:%M UTC")


def relative_time_of(text: str, *, missing: str = "—") -> html.Time | str:
    """:func:`relative_time` for a view model's absolute text (``format_time`` / ``format_timestamp``
    output): view models and their change digests keep plain strings; the layout decides how a
    time reads. Text that is no timestamp ("", "—", "Never") comes back as it is (or ``missing``)."""
    for fmt in _ABSOLUTE_FORMATS:
        try:
            value = datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except (TypeError, ValueError):
            continue
        return relative_time(value, absolute=text)
    return text or missing


# --------------------------------------------------------------------------- change digests


def signature(payload: object) -> str:
    """A short digest of what a surface shows: equal digests mean a refresh can answer no_update."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


# --------------------------------------------------------------------------- progress


def finished_text(view: ProgressView, run_type: str) -> str | None:
    """Words for a finished run where no "N of M processed" can be shown (None otherwise).

    Never "No counts yet" on a terminal run: a counted run that completed with ``total`` 0 says
    its family's sentence ("Nothing to restore: the backup set has no items"); a run that never
    counted says why there is no number."""
    if view.mode != NONE or view.status_label != STATUS_LABELS[COMPLETED] or view.text:
        return None
    if not registry.is_counted(run_type):
        return "This kind of operation records no unit counts."
    if view.total == 0 and view.outcome in ("succeeded", None):
        return registry.nothing_to_do(run_type)
    if view.outcome == "cancelled":
        return "Cancelled before any unit was counted."
    if view.outcome == "failed":
        return "Failed before any unit was counted."
    if view.total == 0:
        return registry.nothing_to_do(run_type)
    return "No units were counted."


def progress_text(view: ProgressView, run_type: str | None = None) -> str:
    """The progress cell in words: "N / M · P%" while counted, the phase, "Waiting for a worker",
    "N of M processed" or the finished run's sentence (the mode itself is ``data-progress-mode``)."""
    if view.mode == COUNTED:
        return f"{view.text} · {view.percent}%"
    if view.mode in (ACTIVITY, PHASED):
        if view.text:
            return view.text
        return "Waiting for a worker" if view.status_label == STATUS_LABELS[QUEUED] else "Working"
    if view.text:
        return view.text
    return (finished_text(view, run_type) if run_type is not None else None) or "—"


def progress_name(view: ProgressView, label: str | None) -> str:
    """The progress element's accessible name: the run, and where it is ("Inventory sync — 12 of 31
    processed"). ``label`` names the run (its type label; None: the page's heading already does)."""
    if view.mode == COUNTED:
        where = f"{view.processed} of {view.total} processed"
    elif view.mode == PHASED:
        where = view.text or "In progress"
    else:
        where = "Waiting for a worker" if view.status_label == STATUS_LABELS[QUEUED] else "In progress"
    return f"{label} — {where}" if label else f"Progress — {where}"


def counted_bar(*, percent: int, name: str, class_name: str = "progress progress-counted") -> html.Div:
    """A determinate bar: ``aria-valuenow`` is the percent shown, and the name says "N of M processed"."""
    return html.Div(
        html.Div(
            className="progress-bar",
            role="progressbar",
            style={"width": f"{percent}%"},
            **{
                "aria-valuenow": str(percent),
                "aria-valuemin": "0",
                "aria-valuemax": "100",
                "aria-label": name,
            },
        ),
        className=class_name,
    )


def indeterminate(name: str, valuetext: str = "In progress") -> html.Div:
    """An animated indicator that claims no number (activity and phased modes): a progressbar
    without ``aria-valuenow`` (assistive technology reads it as indeterminate) and with words
    instead (``aria-valuetext``: "In progress", "Waiting for a worker" or the phase)."""
    return html.Div(
        html.Div(className="indeterminate-bar"),
        className="indeterminate",
        role="progressbar",
        **{"aria-label": name, "aria-valuetext": valuetext},
    )


def _valuetext(view: ProgressView) -> str:
    if view.mode == PHASED:
        return view.text or "In progress"
    return "Waiting for a worker" if view.status_label == STATUS_LABELS[QUEUED] else "In progress"


def progress_indicator(
    *, mode: str, text: str | None, percent: int | None, queued: bool = False, name: str | None = None
) -> html.Div:
    """A compact progress element for table cells (data-progress-mode carries the contract's mode).

    ``name`` is the bar's accessible name (the run: "Run #12 inventory sync — 3 of 8 processed")."""
    label = name or "Progress"
    if mode == COUNTED:
        body: list[Any] = [
            counted_bar(percent=percent or 0, name=label, class_name="progress console-progress"),
            html.Small(f"{text} · {percent}%", className="text-muted"),
        ]
    elif mode == NONE:
        body = [html.Small(text or "", className="text-muted")]
    else:
        # activity / phased: indeterminate, never a number (not even aria-valuenow)
        words = text or ("Waiting for a worker" if queued else "In progress")
        body = [
            indeterminate(label, words),
            html.Small(text or ("Waiting for a worker" if queued else "Working"), className="text-muted"),
        ]
    return html.Div(body, className="console-progress-cell", **{"data-progress-mode": mode})


def render_progress(
    progress: ProgressView,
    *,
    element_id: str | None = ids.RUN_PROGRESS,
    compact: bool = False,
    label: str | None = None,
) -> html.Div:
    """The progress element for any surface: ``data-progress-mode`` says which contract mode applies.

    ``label`` names the run for assistive technology (e.g. its type label): the bar's accessible
    name is "<label> — 12 of 31 processed" (counted) or "<label> — <phase>" (phased)."""
    mode = progress.mode
    name = progress_name(progress, label)
    children: list[Any]
    if mode == COUNTED:
        children = [
            counted_bar(percent=progress.percent or 0, name=name),
            html.Div(
                [
                    html.Span(progress.text, className="progress-text"),
                    html.Span(f"{progress.percent}%", className="progress-percent"),
                ],
                className="progress-caption",
                **{"aria-hidden": "true"},  # the bar's name and value already say it
            ),
        ]
    elif mode == ACTIVITY:
        waiting = progress.status_label == "Queued"
        children = [
            indeterminate(name, _valuetext(progress)),
            html.Span("Waiting for a worker…" if waiting else "Working…", className="progress-text"),
        ]
        if compact:
            children = children[:1]
    elif mode == PHASED:
        children = [
            indeterminate(name, _valuetext(progress)),
            html.Span(progress.text, className="progress-phase"),
        ]
    else:  # none: never a bar, live or stale
        children = [html.Span(progress.text, className="progress-text")] if progress.text else []
    kwargs: dict[str, Any] = {"data-progress-mode": mode}
    if element_id:
        kwargs["id"] = element_id
    return html.Div(children, className=f"run-progress run-progress-{mode}" + (" compact" if compact else ""), **kwargs)


# --------------------------------------------------------------------------- dialogs


def modal_title_id(modal_id: str) -> str:
    return f"{modal_id}-title"


def modal_header(modal_id: str, title: str) -> dbc.ModalHeader:
    """A modal's header whose title names the dialog (the modal passes ``labelledby=modal_title_id(id)``):
    an ``h2`` styled as before, so headings stay in order inside the dialog."""
    return dbc.ModalHeader(dbc.ModalTitle(title, id=modal_title_id(modal_id), tag="h2", className="h5"))


# --------------------------------------------------------------------------- notifications


def notification_header(title: str, tenant_name: str | None) -> str:
    """A notification names its tenant: "Inventory sync failed · Contoso" (a workspace-level run: the title)."""
    return f"{title} · {tenant_name}" if tenant_name else title


# --------------------------------------------------------------------------- navigation


def breadcrumbs(items: Sequence[tuple[str, str | None]]) -> html.Nav:
    """``Overview › Tenant › Run #N``: each (label, href) a link, the last (href None) the page itself."""
    crumbs: list[Any] = []
    for i, (label, href) in enumerate(items):
        last = i == len(items) - 1
        crumbs.append(
            html.Li(
                dcc.Link(label, href=href) if href and not last else label,
                className="breadcrumb-item" + (" active" if last else ""),
                **({"aria-current": "page"} if last else {}),
            )
        )
    return html.Nav(
        html.Ol(crumbs, className="breadcrumb small mb-1"), id=ids.BREADCRUMBS, **{"aria-label": "breadcrumb"}
    )


# --------------------------------------------------------------------------- toasts

TOAST_MS: Final = 8_000


def toast(
    *,
    kind: str,
    run_id: int | None,
    header: str,
    body: str | None,
    color: str,
    key: str | None = None,
    pack_href: str | None = None,
    held: bool = False,
) -> html.Div:
    """A toast for the page's toast area (``data-toast-kind`` says which; a run link when there
    is a run, and the review pack's download link when it is ready)."""
    content: list[Any] = [html.Div(body)] if body else []
    if run_id is not None:
        content.append(dcc.Link(f"View run #{run_id}", href=run_href(run_id), className="toast-run-link"))
    if pack_href is not None:
        content.append(html.A("Download review pack", href=pack_href, className="toast-pack-link ms-3", download=""))
    # A held toast stays hidden until assets/run_updates.js sees every surface showing its run
    # agree (it needs the wrapper's id to show it with set_props).
    held = held and key is not None
    return html.Div(
        dbc.Toast(
            content,
            header=header,
            icon=color,
            duration=TOAST_MS,
            dismissable=True,
            is_open=True,
            **({"id": key} if key else {}),
        ),
        className="console-toast d-none" if held else "console-toast",
        **({"id": f"{key}-wrap", "data-held": "true"} if held else {}),
        **{"data-toast-kind": kind, "data-run-id": str(run_id) if run_id is not None else ""},
    )


# --------------------------------------------------------------------------- pages

NOT_FOUND: Final = "not-found"


def not_found_page() -> html.Div:
    """The console's not-found page (the HTTP status is set by web.routing's gate)."""
    return html.Div(
        [
            html.H1("Not found", id=NOT_FOUND, className="h2"),
            html.P("This page does not exist, or you do not have access to it."),
            dcc.Link("Back to the overview", href=OVERVIEW_HREF),
        ]
    )


QUEUE_UNREACHABLE = "The task queue is unreachable; nothing was started. Try again in a minute."


def append_toast(toast: html.Div) -> Patch:
    """Add a toast to toast-area without replacing the ones other surfaces put there."""
    patch = Patch()
    patch.append(toast)
    return patch
