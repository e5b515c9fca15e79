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

from console.access import Principal, require_operation
from console.errors import DispatchError
from console.operations import registry
from console.operations.service import enqueue_run, fail_run

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
    run, created = enqueue_run(
        session=session,
        type=operation_type,
        workspace_id=tenant.workspace_id,
        tenant_id=tenant.id,
        initiator_user_id=principal.user_id,
        context={"options": clean},
    )
    artefact_id = None
    if spec.prepare:
        prepared = registry.hook(spec.prepare)(
            session=session, run_id=run.id, tenant_id=tenant.id, options=run.context.get("options", clean)
        )
        artefact_id = prepared.id
    if created:
        try:
            dispatcher.send(spec.task, run.id)
        except DispatchError:
            fail_run(session=session, run_id=run.id, reason=DISPATCH_FAILED)
            if spec.on_fail:
                registry.hook(spec.on_fail)(
                    session=session,
                    run_id=run.id,
                    reason="the task queue was unreachable; nothing was generated. Try again.",
                )
                session.commit()
            raise
    log.info(
        "event=operation_started run_id=%s type=%s tenant_id=%s created=%s", run.id, operation_type, tenant.id, created
    )
    return Launch(run_id=run.id, created=created, pack_id=artefact_id)
