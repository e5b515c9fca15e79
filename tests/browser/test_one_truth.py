"""One truth per page, in headless Chromium with a real Celery worker: while a review pack is
generated, every surface of the tenant dashboard that shows its run — the review pack card, the
navbar's activity shell, the Recent operations row and the terminal toast — is sampled every
250 ms in the page itself, and no two of them disagree about the run for more than one second.

"Disagree": two surfaces hold different run-level statuses (queued / running / completed) for
the run at the same sample. A surface's status: the card's pack queued -> queued, generating ->
running, ready/failed -> completed; a shell item's ``data-run-status``; after the shell has
shown the run, its absence from a shell that lists every active run -> completed; the Recent
operations row's ``data-status``; a *visible* terminal toast for the run -> completed."""

from __future__ import annotations

import json
import time

import pytest
from dash.testing.wait import until
from sqlalchemy import select, update

from console.app import create_app
from console.db import utcnow
from console.operations.models import OperationRun
from console.providers.builtin import seed_tenant_dataset
from console.review_packs.models import ReviewPack
from tests.factories import build_world
from tests.integration.worker import open_stack, wait_until
from tests.support.browser import (
    TENANT_PAGE,
    CallbackLog,
    browser_login,
    interval_state,
    make_run,
    set_visibility,
    text,
)

SAMPLE_MS = 250
MAX_DISAGREEMENT_S = 1.0
PACK_RUN_STATUS = {"queued": "queued", "generating": "running", "ready": "completed", "failed": "completed"}

DISPATCH_JS = (
    "document.dispatchEvent(new CustomEvent('run-updated', {detail: {run_id: arguments[0], status: arguments[1]}}));"
)

# Every 250 ms, in the page: what each surface says about every run it shows.
SAMPLER_JS = """
window.__samples = [];
window.__sampler = setInterval(function () {
    var s = {t: performance.now(), card: null, viewer: null, shell: {}, shellCount: null, rows: {}, toasts: []};
    var status = document.querySelector('#run-status[data-run-id]');
    if (status) { s.viewer = [status.getAttribute('data-run-id'), status.getAttribute('data-run-status')]; }
    var badge = document.querySelector('#review-pack-status');
    if (badge) { s.card = [badge.getAttribute('data-run-id'), badge.getAttribute('data-status')]; }
    document.querySelectorAll('#activity-shell .activity-item[data-run-id]').forEach(function (el) {
        s.shell[el.getAttribute('data-run-id')] = el.getAttribute('data-run-status');
    });
    var count = document.querySelector('#activity-shell [data-active-count]');
    s.shellCount = count ? parseInt(count.getAttribute('data-active-count'), 10) : null;
    document.querySelectorAll('#tenant-operations tr[data-run-id]').forEach(function (el) {
        s.rows[el.getAttribute('data-run-id')] = el.getAttribute('data-status');
    });
    document.querySelectorAll('#toast-area [data-toast-kind=terminal][data-run-id]').forEach(function (el) {
        if (el.offsetParent !== null) { s.toasts.push(el.getAttribute('data-run-id')); }
    });
    window.__samples.push(s);
}, SAMPLE_MS_VALUE);
""".replace("SAMPLE_MS_VALUE", str(SAMPLE_MS))


def opinions(samples: list[dict], run_id: int) -> list[tuple[float, dict[str, str]]]:
    """(seconds, {surface: status}) per sample, for the surfaces that said something about the run."""
    rid = str(run_id)
    shell_seen = False
    out = []
    for s in samples:
        said: dict[str, str] = {}
        if s["card"] and s["card"][0] == rid and s["card"][1] in PACK_RUN_STATUS:
            said["card"] = PACK_RUN_STATUS[s["card"][1]]
        if rid in s["shell"]:
            shell_seen = True
            said["shell"] = s["shell"][rid]
        elif shell_seen and s["shellCount"] is not None and s["shellCount"] == len(s["shell"]):
            said["shell"] = "completed"
        if s.get("viewer") and s["viewer"][0] == rid:
            said["viewer"] = s["viewer"][1]
        if rid in s["rows"]:
            said["row"] = s["rows"][rid]
        if rid in s["toasts"]:
            said["toast"] = "completed"
        out.append((s["t"] / 1000.0, said))
    return out


def disagreements(timeline: list[tuple[float, dict[str, str]]]) -> list[tuple[float, float]]:
    """(start, seconds) of each stretch where surfaces disagreed, up to the first sample that agreed."""
    spans, start = [], None
    for t, said in timeline:
        split = len(set(said.values())) > 1
        if split and start is None:
            start = t
        elif not split and start is not None:
            spans.append((start, t - start))
            start = None
    if start is not None:
        spans.append((start, float("inf")))  # still disagreeing at the end
    return spans


def test_disagreements_are_measured_up_to_the_first_agreeing_sample() -> None:
    timeline = [
        (0.0, {"card": "queued", "shell": "queued"}),
        (0.25, {"card": "queued", "shell": "running"}),
        (0.5, {"card": "queued", "shell": "running", "row": "running"}),
        (0.75, {"card": "running", "shell": "running", "row": "running"}),
        (1.0, {"card": "completed", "shell": "running"}),
    ]
    assert disagreements(timeline) == [(0.25, 0.5), (1.0, float("inf"))]


@pytest.fixture
def worker_app(tmp_path):
    """The console on a real stack: migrated SQLite, the embedded broker and a Celery worker
    that takes ~0.6 s per pack entry (the run is running for a few seconds)."""
    stacks = open_stack("sqlite", "embedded", tmp_path, {"CONSOLE_PROVIDER_FAULTS": json.dumps({"delay_seconds": 0.6})})
    stack = next(stacks)
    try:
        app = create_app({**stack.settings_overrides(), "secret_key": "browser-secret", "dispatcher": stack.dispatcher})
        with stack.db.session() as s:
            app.world = build_world(s)
            seed_tenant_dataset(session=s, tenant_id=app.world.tenant_ids[0])
        app.stack = stack
        yield app
    finally:
        stacks.close()


def test_every_surface_of_the_dashboard_agrees_about_a_pack_run_within_a_second(dash_duo, worker_app) -> None:
    stack, a1 = worker_app.stack, worker_app.world.tenant_ids[0]
    dash_duo.start_server(worker_app, navigate=False)
    browser_login(dash_duo, "operator@test.example", path=TENANT_PAGE.format(a1))
    dash_duo.wait_for_text_to_equal("#review-pack-status", "No pack yet")
    dash_duo.driver.execute_script(SAMPLER_JS)

    dash_duo.find_element("#review-pack-generate").click()
    dash_duo.wait_for_element("#review-pack-modal #review-pack-confirm")
    dash_duo.find_element("#review-pack-confirm").click()

    def pack() -> tuple[str, int] | None:
        with stack.db.session() as s:
            row = s.execute(
                select(ReviewPack.status, ReviewPack.operation_run_id).where(ReviewPack.tenant_id == a1)
            ).first()
            return tuple(row) if row is not None else None

    wait_until(lambda: (p := pack()) is not None and p[0] == "ready", timeout=60, stack=stack, what="ready")
    run_id = pack()[1]
    toast = f"#toast-area [data-toast-kind=terminal][data-run-id='{run_id}']"
    until(
        lambda: dash_duo.driver.execute_script(
            f'var e = document.querySelector("{toast}"); return !!(e && e.offsetParent);'
        ),
        timeout=15,
    )
    time.sleep(1.5)  # samples after the end: nothing may fall out of line afterwards either
    samples = dash_duo.driver.execute_script("clearInterval(window.__sampler); return window.__samples;")

    timeline = opinions(samples, run_id)
    spans = disagreements(timeline)
    worst = max((d for _, d in spans), default=0.0)
    t0 = timeline[0][0]
    report = "\n".join(f"{t - t0:7.2f}s {said}" for t, said in timeline if said)
    print(f"\nrun #{run_id}: worst disagreement {worst:.2f} s over {len(spans)} stretch(es)\n{report}")
    assert worst <= MAX_DISAGREEMENT_S, report
    # The card was seen Generating (the run's running stretch), and every surface saw the end.
    card_states = [said.get("card") for _, said in timeline]
    assert "running" in card_states, report
    assert timeline[-1][1] == {"card": "completed", "shell": "completed", "row": "completed", "toast": "completed"}, (
        report
    )
    assert text(dash_duo, "#review-pack-status") == "Ready"
    assert dash_duo.get_logs() == []


def test_run_updated_refreshes_only_surfaces_showing_the_run_and_waits_while_the_tab_is_hidden(
    dash_duo, console_app
) -> None:
    """The budgets hold: an event about a run no surface shows sends nothing; one that arrives
    while the tab is hidden sends nothing until the tab is visible, then the lagging surfaces
    catch up."""
    log = CallbackLog().install(console_app)
    a1 = console_app.world.tenant_ids[0]
    run_id = make_run(console_app, tenant=a1, status="queued", age_s=120)  # old: 10 s polling, quiet here
    dash_duo.start_server(console_app, navigate=False)
    browser_login(dash_duo, "manager@test.example", path=TENANT_PAGE.format(a1))
    row = f"#tenant-operations tr[data-run-id='{run_id}']"
    dash_duo.wait_for_element(f"{row}[data-run-status='queued']")
    dash_duo.wait_for_element(f"#activity-shell [data-run-id='{run_id}'][data-run-status='queued']")
    with console_app.server.extensions["console.db"].session() as s:
        s.execute(update(OperationRun).where(OperationRun.id == run_id).values(status="running", started_at=utcnow()))
        s.commit()

    t0 = time.monotonic()
    dash_duo.driver.execute_script(DISPATCH_JS, 999_999, "running")  # shown nowhere on this page
    time.sleep(1.0)
    assert [e for e in log.since(t0) if any("run-kick" in p for p in e[2])] == []

    set_visibility(dash_duo, "hidden")
    until(lambda: interval_state(dash_duo, "dashboard-poll")[0] is True, timeout=2)
    t_hidden = time.monotonic()
    dash_duo.driver.execute_script(DISPATCH_JS, run_id, "running")
    time.sleep(1.5)
    assert log.since(t_hidden) == []  # 0 requests from a hidden page
    assert dash_duo.find_element(f"{row}").get_attribute("data-run-status") == "queued"

    t_visible = time.monotonic()
    set_visibility(dash_duo, "visible")
    dash_duo.wait_for_element(f"{row}[data-run-status='running']", timeout=3)
    dash_duo.wait_for_element(f"#activity-shell [data-run-id='{run_id}'][data-run-status='running']", timeout=3)
    kicked = {p.split(".")[0] for e in log.since(t_visible) for p in e[2] if "run-kick" in p}
    assert kicked == {"dashboard-run-kick", "activity-run-kick"}  # the card shows no pack of this run
    assert dash_duo.get_logs() == []


def test_the_run_viewer_and_the_shell_agree_about_an_inventory_sync_within_a_second(dash_duo, worker_app) -> None:
    """The same measure on the run viewer (viewer, shell, terminal toast) for a counted run."""
    stack, a1 = worker_app.stack, worker_app.world.tenant_ids[0]
    dash_duo.start_server(worker_app, navigate=False)
    browser_login(dash_duo, "operator@test.example", path=TENANT_PAGE.format(a1))
    dash_duo.find_element("#op-start-inventory_sync").click()
    dash_duo.wait_for_element("#op-confirm-modal #op-confirm").click()
    queued = dash_duo.wait_for_element("#toast-area [data-toast-kind=queued][data-run-id]", timeout=5)
    run_id = int(queued.get_attribute("data-run-id"))
    dash_duo.driver.execute_script(
        "window.history.pushState({}, '', arguments[0]); "
        "window.dispatchEvent(new CustomEvent('_dashprivate_pushstate'));",
        f"/admin/operations/{run_id}",
    )
    dash_duo.wait_for_element(f"#run-viewer[data-run-id='{run_id}'] #run-status")
    dash_duo.driver.execute_script(SAMPLER_JS)

    def status() -> str:
        with stack.db.session() as s:
            return s.scalar(select(OperationRun.status).where(OperationRun.id == run_id))

    wait_until(lambda: status() == "completed", timeout=60, stack=stack, what="completed")
    toast = f"#toast-area [data-toast-kind=terminal][data-run-id='{run_id}']"
    until(
        lambda: dash_duo.driver.execute_script(
            f'var e = document.querySelector("{toast}"); return !!(e && e.offsetParent);'
        ),
        timeout=15,
    )
    time.sleep(1.5)
    samples = dash_duo.driver.execute_script("clearInterval(window.__sampler); return window.__samples;")
    timeline = opinions(samples, run_id)
    spans = disagreements(timeline)
    worst = max((d for _, d in spans), default=0.0)
    t0 = timeline[0][0]
    report = "\n".join(f"{t - t0:7.2f}s {said}" for t, said in timeline if said)
    print(f"\nrun #{run_id}: worst disagreement {worst:.2f} s over {len(spans)} stretch(es)\n{report}")
    assert worst <= MAX_DISAGREEMENT_S, report
    assert "running" in [said.get("viewer") for _, said in timeline], report
    assert timeline[-1][1] == {"viewer": "completed", "shell": "completed", "toast": "completed"}, report
    assert dash_duo.get_logs() == []
