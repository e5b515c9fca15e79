"""``GET /review-packs/<pack_id>/download``: stream a ready review pack to a user who may see its tenant.

404 for an invalid or unknown id, a pack whose tenant the user may not see, or a pack that is
not ready (nothing revealed); 410 once the pack expired; 401 without a session (auth gate)."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, send_file

from console.errors import NotFound
from console.review_packs.service import PackExpired, pack_download
from console.web.context import db_session, principal, settings

log = logging.getLogger(__name__)

ROUTE = "/review-packs/<pack_id>/download"


def download_pack(pack_id: str) -> Response | tuple[Response, int]:
    try:
        pack = pack_download(
            session=db_session(), principal=principal(), pack_id=pack_id, instance_dir=settings().instance_dir
        )
    except NotFound:
        return jsonify(error="not found"), 404
    except PackExpired:
        return jsonify(error="this review pack has expired; generate a new one"), 410
    log.info("event=review_pack_download pack_id=%s user_id=%s", pack_id, principal().user_id)
    response = send_file(
        pack.path,
        mimetype="application/zip",
        as_attachment=True,
        download_name=pack.filename,
        conditional=True,
        etag=pack.sha256 or True,
        max_age=0,
    )
    # Tenant data: a shared cache must never keep it.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def not_a_download(rest: str) -> tuple[Response, int]:
    # Without this, Dash's catch-all page route would answer e.g. /review-packs/../x/download
    # (a decoded %2F) with its 200 HTML shell.
    return jsonify(error="not found"), 404


def init_app(server: Flask) -> None:
    """Register the download route (behind the auth gate: no session -> 401)."""
    server.add_url_rule(ROUTE, "review_pack_download", download_pack, methods=["GET"])
    server.add_url_rule("/review-packs/<path:rest>", "review_pack_not_found", not_a_download)
