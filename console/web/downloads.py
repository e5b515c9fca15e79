"""``GET /review-packs/<pack_id>/download``: stream a ready review pack to a user who may see its tenant.

404 for an invalid or unknown id, a pack whose tenant the user may not see, a pack that is not
ready, or one whose file is missing from the storage (audited; nothing revealed); 410 once the
pack expired; 503 while the storage does not answer; 401 without a session (auth gate).

The file always comes through the console from the pack storage (instance folder, shared folder
or S3), in 1 MiB chunks with its Content-Length: no public bucket, no presigned URL, so the
console's access rules are the only way to a pack.

A browser (its request prefers ``text/html``) gets those refusals as the console's own HTML page
(``templates/download_error.html``, ``#download-error[data-status]``) with the same status; a
script (``Accept: application/json`` or ``*/*``, e.g. curl) gets ``{"error": …}``."""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.wsgi import FileWrapper

from console.errors import NotFound
from console.review_packs.service import PackExpired, PackFile, pack_download
from console.review_packs.storage import StorageError, storage_for
from console.web.context import db_session, principal, settings

log = logging.getLogger(__name__)

ROUTE = "/review-packs/<pack_id>/download"
CHUNK_BYTES = 1 << 20


#: status -> (the page's title, what to do), for browsers; scripts get the JSON error.
PAGES = {
    404: ("Review pack not found", "This review pack does not exist, is not ready, or is not yours to see."),
    410: ("Review pack expired", "This review pack has expired. Generate a new one from the tenant's dashboard."),
    503: ("Review pack storage unavailable", "The review pack storage does not answer right now. Try again later."),
}


def refuse(status: int, error: str) -> tuple[Response | str, int]:
    """The refusal as the console's HTML page for a browser, as JSON otherwise (same status)."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        title, message = PAGES[status]
        return render_template("download_error.html", status=status, title=title, message=message), status
    return jsonify(error=error), status


def download_pack(pack_id: str) -> Response | tuple[Response | str, int]:
    try:
        pack = pack_download(
            session=db_session(), principal=principal(), pack_id=pack_id, storage=storage_for(settings())
        )
    except NotFound:
        return refuse(404, "not found")
    except PackExpired:
        return refuse(410, "this review pack has expired; generate a new one")
    except StorageError as exc:
        log.error("event=review_pack_storage_unavailable pack_id=%s error=%s", pack_id, exc)
        return refuse(503, "review pack storage is unavailable; try again later")
    log.info("event=review_pack_download pack_id=%s user_id=%s", pack_id, principal().user_id)
    return pack_response(pack)


def pack_response(pack: PackFile) -> Response:
    """The pack's file as a download: streamed, with its length, ETag (sha256) and ranges."""
    # What send_file would answer for a file on disk (headers, 304 and ranges), from any storage.
    response = Response(
        FileWrapper(pack.stored.stream, CHUNK_BYTES), mimetype="application/zip", direct_passthrough=True
    )
    response.headers.set("Content-Disposition", "attachment", filename=pack.filename)
    response.content_length = pack.size
    if pack.stored.modified is not None:
        response.last_modified = pack.stored.modified
    response.cache_control.max_age = 0
    response.expires = int(time.time())
    if pack.sha256:
        response.set_etag(pack.sha256)
    response = response.make_conditional(request.environ, accept_ranges=True, complete_length=pack.size)
    if response.status_code == 304 or request.method == "HEAD":
        pack.stored.close()  # no body goes out, so nothing would close it
    # Tenant data: a shared cache must never keep it.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def not_a_download(rest: str) -> tuple[Response | str, int]:
    # Without this, Dash's catch-all page route would answer e.g. /review-packs/../x/download
    # (a decoded %2F) with its 200 HTML shell.
    return refuse(404, "not found")


def init_app(server: Flask) -> None:
    """Register the download route (behind the auth gate: no session -> 401)."""
    server.add_url_rule(ROUTE, "review_pack_download", download_pack, methods=["GET"])
    server.add_url_rule("/review-packs/<path:rest>", "review_pack_not_found", not_a_download)
