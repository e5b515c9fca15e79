"""The API's shapes, declared once (marshmallow): they validate requests and, through
flask-smorest/apispec, are the OpenAPI document — the document cannot drift from the code.

The run object's fields are those of ``console.operations.run_object.run_view`` (the object
``console runs show --json`` prints); a test compares the two key sets."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from console.db import MAX_ID
from console.operations import registry
from console.operations.constants import OUTCOMES, STATUSES, UNIT_OUTCOMES
from console.operations.queries import ACTIVE_FILTER

LIMIT_MAX = 200
LIMIT_DEFAULT = 50
CURSOR_MAX = 500
Q_MAX = 200


class Strict(Schema):
    class Meta:
        # An unknown field or query parameter is a mistake worth a 422 (a misspelt filter would
        # otherwise silently list everything), not something to drop.
        unknown = RAISE


class Problem(Schema):
    """RFC 9457 problem details: every error answer."""

    type = fields.String(required=True, metadata={"example": "urn:console:problem:not-found"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)


class Progress(Schema):
    mode = fields.String(required=True, validate=validate.OneOf(["counted", "activity", "phased", "none"]))
    processed = fields.Integer(required=True, allow_none=True)
    total = fields.Integer(required=True, allow_none=True)
    percent = fields.Integer(required=True, allow_none=True)


class RunPack(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    download_url = fields.String(required=True, allow_none=True)


class Run(Schema):
    """The run object (the one ``console runs show --json`` prints)."""

    id = fields.Integer(required=True)
    type = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "queued | running | completed (others may appear)"})
    outcome = fields.String(required=True, allow_none=True)
    workspace_id = fields.Integer(required=True)
    tenant_id = fields.Integer(required=True, allow_none=True)
    summary_counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    progress = fields.Nested(Progress, required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    started_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    heartbeat_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    completed_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    review_pack = fields.Nested(
        RunPack, allow_none=True, metadata={"description": "review_pack_generate runs only (null: the pack is gone)"}
    )


class RunPage(Schema):
    items = fields.List(fields.Nested(Run), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class Tenant(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    workspace_id = fields.Integer(required=True)


class TenantList(Schema):
    items = fields.List(fields.Nested(Tenant), required=True)


class Unit(Schema):
    unit_key = fields.String(required=True)
    outcome = fields.String(required=True, metadata={"enum": sorted(UNIT_OUTCOMES)})
    error = fields.String(required=True, allow_none=True)


class UnitPage(Schema):
    items = fields.List(fields.Nested(Unit), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class ReviewPack(Schema):
    id = fields.Integer(required=True)
    tenant_id = fields.Integer(required=True)
    operation_run_id = fields.Integer(required=True, allow_none=True)
    status = fields.String(required=True, metadata={"enum": ["queued", "generating", "ready", "failed", "expired"]})
    size = fields.Integer(required=True, allow_none=True)
    sha256 = fields.String(required=True, allow_none=True)
    ready_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    expires_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class PageArgs(Strict):
    limit = fields.Integer(
        load_default=LIMIT_DEFAULT, validate=validate.Range(1, LIMIT_MAX), metadata={"description": "page size"}
    )
    cursor = fields.String(
        validate=validate.Length(1, CURSOR_MAX),
        metadata={"description": "next_cursor of the previous page (opaque; bound to your user)"},
    )


class RunListArgs(PageArgs):
    tenant = fields.Integer(validate=validate.Range(1, MAX_ID), metadata={"description": "a tenant id"})
    type = fields.String(validate=validate.OneOf(list(registry.types())))
    status = fields.String(validate=validate.OneOf(sorted(STATUSES | {ACTIVE_FILTER})))
    outcome = fields.String(validate=validate.OneOf(sorted(OUTCOMES)))
    q = fields.String(
        validate=validate.Length(max=Q_MAX),
        metadata={"description": "a run id (42 or #42), or text in the type label, initiator name or failure"},
    )


class StartRun(Strict):
    type = fields.String(
        required=True,
        validate=validate.Length(1, 100),
        metadata={"enum": list(registry.types()), "example": registry.types()[0]},
    )
    tenant_id = fields.Integer(required=True, strict=True, validate=validate.Range(1, MAX_ID))
    options = fields.Dict(
        keys=fields.String(),
        load_default=dict,
        metadata={"description": 'the type\'s options, e.g. {"include_pii": false} for review_pack_generate'},
    )
