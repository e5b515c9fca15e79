"""``/api/v1``: the routes. Each one translates input, calls an access check, a read model or a
use case (the same ones the buttons and the CLI call), and shapes the answer — no SQL here,
no access rule of its own. Errors are raised as the console's vocabulary and answered as
problem+json (console.web.problems)."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import RAISE

from console.access import require_pack, require_run
from console.audit.service import record_audit
from console.db import MAX_ID
from console.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UnknownOperationType,
    UnsupportedMediaType,
)
from console.operations import registry
from console.operations.launch import cancel_operation, retry_operation, start_operation
from console.operations.models import OperationRun
from console.operations.queries import runs_after, units_after
from console.operations.run_object import pack_object, packs_by_run, run_view, visible_run_view
from console.review_packs.service import pack_download
from console.review_packs.storage import StorageError, storage_for
from console.web.api import cursors, schemas
from console.web.api.auth import current_auth, require_token
from console.web.context import current_dispatcher, db_session, principal, settings
from console.web.downloads import pack_response

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
blp = Blueprint(
    "api_v1",
    __name__,
    url_prefix=PREFIX,
    description="Everything an operator does with buttons, over JSON, with the same rights.",
)

#: The largest request body the API reads (a start request is a few hundred bytes).
MAX_BODY_BYTES = 64 * 1024


@blp.before_request
def _token_first() -> None:
    require_token()


@blp.before_request
def _body_rules() -> None:
    """Before any body is read: at most MAX_BODY_BYTES, and JSON only."""
    request.max_content_length = MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the request body is larger than {MAX_BODY_BYTES} bytes")
    has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if has_body and request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as application/json")


_ID_DOC = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "schema": {"type": "string"},
    "description": "the ETag of an earlier answer: 304 while the run is unchanged",
}
_ZIP = {"application/zip": {"schema": {"type": "string", "format": "binary"}}}


def _path_id(raw: str, what: str) -> int:
    """A path id: not a number is a malformed request (400); a number no row can have, not found (404)."""
    if not (raw.isascii() and raw.isdigit()):
        raise BadRequest(f"{what} id must be a positive integer")
    if len(raw) > 18 or not 0 < int(raw) <= MAX_ID:
        raise NotFound(what)
    return int(raw)


#: One instance for every request (a marshmallow schema is costly to build, cheap to reuse).
_RUN = schemas.Run()


def _visible_view(run_id: int) -> dict[str, Any]:
    """The run object if the caller may see the run (one statement: the poll's cost)."""
    return _RUN.dump(visible_run_view(session=db_session(), principal=principal(), run_id=run_id))


def _audit(action: str, run_id: int, **details: Any) -> None:
    """An audit event for a state change made through the API, naming the token."""
    session = db_session()
    auth = current_auth()
    run = session.get(OperationRun, run_id)
    record_audit(
        session=session,
        action=action,
        target_type="operation_run",
        target_id=run_id,
        workspace_id=run.workspace_id if run else None,
        tenant_id=run.tenant_id if run else None,
        user_id=auth.user_id,
        details={"via": "api", "token_id": auth.token_id, "token_name": auth.token_name, **details},
    )
    session.commit()
    log.info("event=%s run_id=%s token_id=%s user_id=%s", action, run_id, auth.token_id, auth.user_id)


def _location(run_id: int) -> dict[str, str]:
    return {"Location": f"{PREFIX}/runs/{run_id}"}


@blp.route("/tenants", methods=["GET"])
@blp.response(200, schemas.TenantList)
def list_tenants() -> dict[str, Any]:
    """The tenants you see."""
    from console.access import visible_tenants

    tenants = visible_tenants(session=db_session(), principal=principal())
    return {"items": [{"id": t.id, "name": t.name, "workspace_id": t.workspace_id} for t in tenants]}


@blp.route("/runs", methods=["GET"])
@blp.arguments(schemas.RunListArgs, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, schemas.RunPage)
def list_runs(*, limit: int, cursor: str | None = None, tenant: int | None = None, **filters: Any) -> dict:
    """Runs you see, newest first, with the operations list's filters; ``next_cursor`` pages on."""
    from console.components.operations_table import parse_filters

    session, who = db_session(), principal()
    parsed = parse_filters(tenant=tenant, **filters)
    after = cursors.run_position(secret_key=settings().secret_key, user_id=who.user_id, cursor=cursor)
    runs = runs_after(session=session, principal=who, filters=parsed, after=after, limit=limit + 1)
    page, more = runs[:limit], len(runs) > limit
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = cursors.encode(
            secret_key=settings().secret_key,
            kind="runs",
            user_id=who.user_id,
            position=[last.created_at.isoformat(), last.id],
        )
    packs = packs_by_run(session, page)
    return {"items": [run_view(run, packs) for run in page], "next_cursor": next_cursor}


@blp.route("/runs", methods=["POST"])
@blp.arguments(schemas.StartRun)
@blp.response(202, schemas.Run, description="Started: the new run (Location names it)")
@blp.alt_response(200, schema=schemas.Run, description="An active run of that type and tenant exists: that run")
def start_run(body: dict[str, Any]) -> tuple[dict, int, dict]:
    """Start an operation (the buttons' rules: access, options, dedupe)."""
    if registry.find(body["type"]) is None:
        raise UnknownOperationType(f"unknown operation type (one of: {', '.join(registry.types())})")
    launch = start_operation(
        session=db_session(),
        principal=principal(),
        tenant_id=body["tenant_id"],
        operation_type=body["type"],
        options=body["options"],
        dispatcher=current_dispatcher(),
    )
    if launch.created:
        _audit("api.run_started", launch.run_id, type=body["type"])
    return _visible_view(launch.run_id), 202 if launch.created else 200, _location(launch.run_id)


def _etag(view: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:32]


@blp.route("/runs/<run_id>", methods=["GET"])
@blp.doc(parameters=[{"in": "path", "name": "run_id", "required": True, "schema": _ID_DOC}, _IF_NONE_MATCH])
@blp.response(200, schemas.Run, headers={"ETag": {"schema": {"type": "string"}}})
@blp.alt_response(304, description="Not modified: the run is as in the ETag you sent")
def get_run(run_id: str) -> Response:
    """One run, with an ETag: send it back in If-None-Match for a cheap poll (304 while unchanged)."""
    view = _visible_view(_path_id(run_id, "run"))
    response = Response(json.dumps(view), mimetype="application/json")
    response.set_etag(_etag(view))
    response.headers["Cache-Control"] = "private, no-cache"
    return response.make_conditional(request)


@blp.route("/runs/<run_id>/cancel", methods=["POST"])
@blp.doc(parameters=[{"in": "path", "name": "run_id", "required": True, "schema": _ID_DOC}])
@blp.response(200, schemas.Run)
def cancel_run(run_id: str) -> dict[str, Any]:
    """Cancel a queued or running run (409 once it has ended)."""
    rid = cancel_operation(
        session=db_session(),
        principal=principal(),
        run_id=_path_id(run_id, "run"),
        user_name=f"{current_auth().user_name} (API token {current_auth().token_name})",
    )
    _audit("api.run_cancelled", rid)
    return _visible_view(rid)


@blp.route("/runs/<run_id>/retry", methods=["POST"])
@blp.doc(parameters=[{"in": "path", "name": "run_id", "required": True, "schema": _ID_DOC}])
@blp.response(202, schemas.Run, description="The new run (Location names it)")
@blp.alt_response(200, schema=schemas.Run, description="This run was retried already: that retry")
def retry_run(run_id: str) -> tuple[dict, int, dict]:
    """Retry a failed, partially succeeded or cancelled run (409 otherwise)."""
    launch = retry_operation(
        session=db_session(), principal=principal(), run_id=_path_id(run_id, "run"), dispatcher=current_dispatcher()
    )
    if launch.created:
        _audit("api.run_retried", launch.run_id, retry_of=int(run_id))
    return _visible_view(launch.run_id), 202 if launch.created else 200, _location(launch.run_id)


@blp.route("/runs/<run_id>/units", methods=["GET"])
@blp.doc(parameters=[{"in": "path", "name": "run_id", "required": True, "schema": _ID_DOC}])
@blp.arguments(schemas.PageArgs, location="query", as_kwargs=True, unknown=RAISE)
@blp.response(200, schemas.UnitPage)
def list_units(run_id: str, *, limit: int, cursor: str | None = None) -> dict[str, Any]:
    """The run's unit ledger in the order units were recorded."""
    session, who = db_session(), principal()
    run = require_run(session=session, principal=who, run_id=_path_id(run_id, "run"))
    after = cursors.unit_position(secret_key=settings().secret_key, user_id=who.user_id, run_id=run.id, cursor=cursor)
    rows = units_after(session=session, run_id=run.id, after=after, limit=limit + 1)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = cursors.encode(
            secret_key=settings().secret_key, kind="units", user_id=who.user_id, position=[run.id, page[-1].id]
        )
    items = [{"unit_key": u.unit_key, "outcome": u.outcome, "error": u.error} for u in page]
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/review-packs/<pack_id>", methods=["GET"])
@blp.doc(parameters=[{"in": "path", "name": "pack_id", "required": True, "schema": _ID_DOC}])
@blp.response(200, schemas.ReviewPack)
def get_review_pack(pack_id: str) -> dict[str, Any]:
    """One review pack (the run object's review_pack.id)."""
    pack = require_pack(session=db_session(), principal=principal(), pack_id=_path_id(pack_id, "review pack"))
    return pack_object(pack)


@blp.route("/review-packs/<pack_id>/download", methods=["GET"])
@blp.doc(
    parameters=[{"in": "path", "name": "pack_id", "required": True, "schema": _ID_DOC}],
    responses={"200": {"description": "The ZIP", "content": _ZIP}},
)
def download_review_pack(pack_id: str) -> Response:
    """The ready pack's ZIP (404 until ready, 410 once expired)."""
    try:
        pack = pack_download(
            session=db_session(),
            principal=principal(),
            pack_id=_path_id(pack_id, "review pack"),
            storage=storage_for(settings()),
        )
    except StorageError as exc:
        log.error("event=review_pack_storage_unavailable pack_id=%s error=%s", pack_id, exc)
        raise Unavailable("review pack storage is unavailable; try again later") from exc
    return pack_response(pack)
