"""Page URLs (a public contract) and the HTTP status a page URL answers for a user.

Dash serves one HTML shell for every path with 200; this gate makes unknown URLs and
objects the user may not see answer a real HTTP 404 (the shell then renders the
console's not-found page)."""

from __future__ import annotations

import re

from console.access import require_run, require_tenant
from console.errors import NotFound
from console.web.context import db_session, principal

OVERVIEW = "/"
OPERATIONS = "/admin/operations"
OPERATIONS_CSV = "/admin/operations.csv"  # a Flask route, not a page (console.components.operations_csv)
RUN_VIEWER = "/admin/operations/<run_id>"
TENANT_DASHBOARD = "/admin/tenants/<tenant_id>"

_RUN = re.compile(r"^/admin/operations/([^/]+)/?$")
_TENANT = re.compile(r"^/admin/tenants/([^/]+)/?$")
NOT_PAGES = (
    "/_dash-",
    "/assets/",
    "/vendor/",
    "/login",
    "/healthz",
    "/review-packs/",
    "/_favicon",
    OPERATIONS_CSV,
    "/api/",
)


from console.ids import ACCOUNT_TOKENS_HREF  # noqa: E402


def is_page_path(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


def page_status(path: str) -> int:
    """200 when the page exists for this user, else 404 (nothing revealed)."""
    if path in (OVERVIEW, OPERATIONS, OPERATIONS + "/", ACCOUNT_TOKENS_HREF):
        return 200
    try:
        if m := _RUN.match(path):
            require_run(session=db_session(), principal=principal(), run_id=m.group(1))
            return 200
        if m := _TENANT.match(path):
            require_tenant(session=db_session(), principal=principal(), tenant_id=m.group(1))
            return 200
    except NotFound:
        return 404
    return 404
