"""Starting an operation: the one use case behind every button, `console runs start` and the API.

Access is checked here (NotFound / Forbidden), options are validated by the type's registry
entry (BadRequest), the run is enqueued with dedupe, the type's artefact is prepared (e.g. the
review pack row), and the task is sent through the dispatcher (a protocol: this module imports
no Celery). A broker that does not take the message leaves no run queued forever: the run is
completed as failed with reason ``dispatch_failed`` (and the type's ``on_fail`` hook marks its
artefact failed), then DispatchError is re-raised."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from console.access import Principal, require_operation, require_run
from console.accounts.models import Tenant
from console.errors import DispatchError, Forbidden, InvalidTransition
from console.operations import registry
from console.operations.constants import COMPLETED, RETRYABLE_OUTCOMES
from console.operations.models import OperationRun
from console.operations.service import cancel_run, counts_of, enqueue_run, fail_run, merge_run_context

log = logging.getLogger(__name__)

DISPATCH_FAILED = "dispatch_failed: the task queue did not accept the job; nothing was started"


class Dispatcher(Protocol):
    """What the web layer, the CLI and this use case need of the task queue
    (console.dispatch.CeleryDispatcher; tests pass fakes)."""

    def send(self, task_name: str, *args: Any) -> None: ...

    def ping(self) -> bool: ...


@dataclass(frozen=True)
class Launch:
    run_id: int
    created: bool
    pack_id: int | None = None


def validate_options(
    *, session: Session, tenant_id: int, operation_type: str, options: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The options an operation accepts, typed; unknown keys or bad values are BadRequest."""
    return registry.get(operation_type).validate_options(session=session, tenant_id=tenant_id, options=options)


def start_operation(
    *,
    session: Session,
    principal: Principal,
    tenant_id: object,
    operation_type: str,
    options: Mapping[str, Any] | None,
    dispatcher: Dispatcher,
) -> Launch:
    """Check access, enqueue (deduplicated) and dispatch; returns the run to show."""
    tenant = require_operation(session=session, principal=principal, tenant_id=tenant_id, operation_type=operation_type)
    spec = registry.get(operation_type)
    clean = spec.validate_options(session=session, tenant_id=tenant.id, options=options)
    return _launch(
        session=session,
        principal=principal,
        tenant=tenant,
        spec=spec,
        context={"options": clean},
        dispatcher=dispatcher,
    )


def _launch(
    *,
    session: Session,
    principal: Principal,
    tenant: Tenant,
    spec: registry.OperationSpec,
    context: dict[str, Any],
    dispatcher: Dispatcher,
) -> Launch:
    """Enqueue (deduplicated), prepare the type's artefact, dispatch; a refused dispatch fails the run."""
    run, created = enqueue_run(
        session=session,
        type=spec.type,
        workspace_id=tenant.workspace_id,
        tenant_id=tenant.id,
        initiator_user_id=principal.user_id,
        context=context,
    )
    artefact_id = None
    if spec.prepare:
        prepared = registry.hook(spec.prepare)(
            session=session, run_id=run.id, tenant_id=tenant.id, options=run.context.get("options", {})
        )
        artefact_id = prepared.id
    if created:
        try:
            dispatcher.send(spec.task, run.id)
        except DispatchError:
            fail_run(session=session, run_id=run.id, reason=DISPATCH_FAILED)
            registry.clean_up_failed(
                spec.type,
                session=session,
                run_id=run.id,
                reason="the task queue was unreachable; nothing was generated. Try again.",
            )
            session.commit()
            raise
    log.info("event=operation_started run_id=%s type=%s tenant_id=%s created=%s", run.id, spec.type, tenant.id, created)
    return Launch(run_id=run.id, created=created, pack_id=artefact_id)


# --------------------------------------------------------------------------- cancel and retry


def _run_and_spec(
    *, session: Session, principal: Principal, run_id: object
) -> tuple[OperationRun, registry.OperationSpec]:
    """The run (NotFound unless visible) and its type, when the principal may act on it
    (the capability that starts the type; Forbidden otherwise)."""
    run = require_run(session=session, principal=principal, run_id=run_id)
    spec = registry.find(run.type)
    if spec is None or run.tenant_id is None:
        raise Forbidden("that starts this run's type (a workspace-level or unknown type: no one can act on it here)")
    require_operation(session=session, principal=principal, tenant_id=run.tenant_id, operation_type=run.type)
    return run, spec


def cancel_operation(*, session: Session, principal: Principal, run_id: object, user_name: str) -> int:
    """Cancel a queued or running run (Conflict once it ended); returns its id."""
    run, _spec = _run_and_spec(session=session, principal=principal, run_id=run_id)
    return cancel_run(session=session, run_id=run.id, user_id=principal.user_id, user_name=user_name).id


def retry_plan(run: OperationRun) -> str:
    """What a retry of ``run`` will do, in words (the retry modal and the CLI say it)."""
    spec = registry.get(run.type)
    counts = counts_of(run)
    if spec.progress == "counted" and spec.retry_units and "total" in counts:
        left = max(0, counts["total"] - counts.get("succeeded", 0))
        return f"Retry the {left} unit{'s' if left != 1 else ''} that did not succeed"
    return f"Run {spec.label.lower()} again"


def retry_operation(*, session: Session, principal: Principal, run_id: object, dispatcher: Dispatcher) -> Launch:
    """Start the retry of a failed, partially succeeded or cancelled run (Conflict otherwise).

    Same type, tenant and options (the backup set the old run resolved included);
    ``context.retry_of`` names the old run, whose ``context.retried_as`` names the new one, so
    a second request (a double click) answers the same retry instead of starting another."""
    old, spec = _run_and_spec(session=session, principal=principal, run_id=run_id)
    if old.status != COMPLETED or old.outcome not in RETRYABLE_OUTCOMES:
        state = f"{old.status} ({old.outcome})" if old.outcome else old.status
        raise InvalidTransition(
            f"run {old.id} is {state}: only a failed, partially succeeded or cancelled run can be retried"
        )
    context = old.context if isinstance(old.context, dict) else {}
    earlier = context.get("retried_as")
    if isinstance(earlier, int) and not isinstance(earlier, bool):
        return Launch(run_id=earlier, created=False)
    options = dict(context.get("options") or {})
    declared = {o.name for o in spec.options}
    if "backup_set_id" in declared and isinstance(context.get("backup_set_id"), int):
        options["backup_set_id"] = context["backup_set_id"]
    tenant = require_operation(session=session, principal=principal, tenant_id=old.tenant_id, operation_type=old.type)
    launch = _launch(
        session=session,
        principal=principal,
        tenant=tenant,
        spec=spec,
        context={"options": options, "retry_of": old.id},
        dispatcher=dispatcher,
    )
    if launch.created:
        merge_run_context(session=session, run_id=old.id, values={"retried_as": launch.run_id})
    return launch
