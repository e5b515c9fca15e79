"""The operation-type registry is the one list of types: a throw-away type registered in a
test shows up in access checks, on the tenant dashboard and in the CLI, with nothing else
edited; and no other module of the package spells a type's name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from console import ids
from console.access import Principal, all_capabilities, require_operation, startable_operations
from console.accounts.models import Tenant
from console.accounts.service import grant_capabilities
from console.cli.runs import runs
from console.errors import BadRequest, Forbidden, NotFound
from console.operations import registry
from console.operations.launch import start_operation
from console.operations.progress import progress_for_run
from console.operations.registry import OperationSpec, Option
from tests.support.web import login, page

WIDGETS = OperationSpec(
    type="widget_polish",
    label="Widget polish",
    progress="counted",
    capability="widget.polish",
    task="tasks.widgets.polish",
    description="Polish every widget of the tenant.",
    options=(Option("shine", "flag", False),),
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def widgets():
    with registry.registered(WIDGETS) as spec:
        yield spec
    assert registry.find("widget_polish") is None


def test_a_registered_type_is_known_to_access_checks(widgets, web_app, world) -> None:
    a1 = world.tenant_ids[0]
    assert "widget.polish" in all_capabilities()
    with web_app.server.extensions["console.db"].session() as s:
        tenant = s.get(Tenant, a1)
        manager = Principal(user_id=1, roles={world.workspace_id: "manager"})
        assert "widget_polish" in startable_operations(manager, tenant)
        assert require_operation(session=s, principal=manager, tenant_id=a1, operation_type="widget_polish").id == a1
        operator = Principal(
            user_id=2, roles={world.workspace_id: "operator"}, grants={a1: frozenset({"tenant.view", "widget.polish"})}
        )
        assert startable_operations(operator, tenant) == ["widget_polish"]
        no_grant = Principal(user_id=3, roles={world.workspace_id: "operator"}, grants={a1: frozenset({"tenant.view"})})
        with pytest.raises(Forbidden):
            require_operation(session=s, principal=no_grant, tenant_id=a1, operation_type="widget_polish")
        with pytest.raises(NotFound):
            require_operation(session=s, principal=manager, tenant_id=a1, operation_type="widget_paint")
        # The capability can be granted like any other (console grant validates against the registry).
        grant = grant_capabilities(
            session=s, email="operator@test.example", tenant_id=a1, capabilities=["widget.polish"]
        )
        assert "widget.polish" in grant.capabilities


def test_a_registered_type_gets_a_button_and_starts_with_its_own_task(widgets, web_app, client, world, dispatcher):
    a1 = world.tenant_ids[0]
    login(client, "manager@test.example")
    html = page(client, f"/admin/tenants/{a1}")
    assert f'"{ids.op_start("widget_polish")}"' in html and "Polish every widget of the tenant." in html
    with web_app.server.extensions["console.db"].session() as s:
        manager = Principal(user_id=world.users["manager"], roles={world.workspace_id: "manager"})
        with pytest.raises(BadRequest, match="shine must be true or false"):
            start_operation(
                session=s,
                principal=manager,
                tenant_id=a1,
                operation_type="widget_polish",
                options={"shine": "very"},
                dispatcher=dispatcher,
            )
        launch = start_operation(
            session=s,
            principal=manager,
            tenant_id=a1,
            operation_type="widget_polish",
            options={"shine": "yes"},
            dispatcher=dispatcher,
        )
        assert dispatcher.sent == [("tasks.widgets.polish", (launch.run_id,))]
        from console.operations.service import get_run, mark_running, set_total

        mark_running(session=s, run_id=launch.run_id)
        set_total(session=s, run_id=launch.run_id, total=4)
        run = get_run(session=s, run_id=launch.run_id)
        assert run.context["options"] == {"shine": True}
        assert progress_for_run(run).mode == "counted"  # the registry's progress family decides


def test_the_cli_starts_and_shows_a_registered_type(widgets, web_app, world, tmp_path) -> None:
    env = {
        "CONSOLE_INSTANCE_DIR": str(tmp_path / "cli-instance"),
        "CONSOLE_DATABASE_URL": web_app.server.extensions["console.db"].engine.url.render_as_string(
            hide_password=False
        ),
        "CONSOLE_SECRET_KEY": "x",
    }
    runner = CliRunner()
    a1 = str(world.tenant_ids[0])
    started = runner.invoke(runs, ["start", "widget_polish", "--tenant", a1, "--as", "manager@test.example"], env=env)
    assert started.exit_code == 0, started.stderr
    run_id = int(started.stdout.strip())
    shown = runner.invoke(runs, ["show", str(run_id), "--json"], env=env)
    view = json.loads(shown.stdout)
    assert (view["type"], view["status"], view["progress"]["mode"]) == ("widget_polish", "queued", "activity")
    unknown = runner.invoke(runs, ["start", "widget_paint", "--tenant", a1, "--as", "manager@test.example"], env=env)
    assert unknown.exit_code != 0 and "widget_polish" in unknown.stderr  # the list of types names it


def test_no_module_but_the_registry_spells_a_type_name() -> None:
    names = "|".join(re.escape(t) for t in registry.types())
    literal = re.compile(rf"""["']({names})["']""")
    offenders = []
    for path in sorted([*(REPO / "console").rglob("*.py"), *(REPO / "tasks").rglob("*.py")]):
        if path.name == "registry.py" or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if literal.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []
