"""The download server (console.download_server) beside the console, as a deployment runs them:
the same settings, one browser. The session cookie the console issued at sign-in is copied into
the download server's test client (nginx sends both processes the same cookies), and every answer
is compared with the console's own route for the same request: the pack byte-identical with the
same headers, 401 / 404 / 410 the same, a signed-out or revoked session refused at once, the
security headers equal. One case on S3 (moto's server), one over a real gunicorn."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
from flask import Flask
from sqlalchemy import select, update
from werkzeug.middleware.proxy_fix import ProxyFix

from console.accounts.models import User
from console.app import create_app
from console.audit.models import AuditEvent
from console.db import utcnow
from console.download_server import create_download_server
from console.migrate import upgrade
from console.review_packs.models import ReviewPack
from console.review_packs.service import AUDIT_FILE_MISSING
from console.review_packs.storage import storage_for
from console.web import downloads as downloads_module
from tests.factories import World, build_world
from tests.integration.s3server import S3Endpoint, s3_endpoint  # noqa: F401 - fixture
from tests.support.faults import database_outage
from tests.support.servers import ACCESS_FORMAT, REPO, WebServer, _wait_ready, free_port
from tests.support.web import RecordingDispatcher, login

#: Differ between two answers by the clock alone.
CLOCK_HEADERS = {"Date", "Expires"}
CONTENT = b"PK\x03\x04" + bytes(range(256)) * 4096 + b"PK\x05\x06" + b"\x00" * 18  # ~1 MiB: more than one chunk
SESSION_COOKIE = "session"


@dataclass
class Pair:
    console: Flask
    downloads: Flask
    world: World
    settings: dict

    def clients(self, email: str | None = "operator@test.example"):
        """A console client signed in as ``email`` and a download-server client holding its cookie."""
        console = self.console.test_client()
        if email is not None:
            assert login(console, email).status_code == 302
        return console, self.with_cookie_of(console)

    def with_cookie_of(self, console):
        downloads = self.downloads.test_client()
        cookie = console.get_cookie(SESSION_COOKIE)
        if cookie is not None:
            downloads.set_cookie(SESSION_COOKIE, cookie.value)
        return downloads

    def pack(
        self,
        tenant_id: int,
        *,
        status: str = "ready",
        expires_in: timedelta = timedelta(days=1),
        content: bytes = CONTENT,
    ) -> int:
        settings = self.console.extensions["console.settings"]
        with self.console.extensions["console.db"].session() as s:
            pack = ReviewPack(
                tenant_id=tenant_id,
                status=status,
                options={},
                created_at=utcnow(),
                ready_at=utcnow(),
                expires_at=utcnow() + expires_in,
            )
            s.add(pack)
            s.flush()
            source = settings.instance_dir / f"upload-{pack.id}.zip"
            source.write_bytes(content)
            digest = hashlib.sha256(content).hexdigest()
            pack.file_path = storage_for(settings).save(
                f"review-pack-{pack.id}.zip", source, size=len(content), sha256=digest
            )
            pack.sha256, pack.size = digest, len(content)
            s.commit()
            return pack.id


@pytest.fixture
def make_pair(empty_db_url, tmp_path) -> Iterator:
    made: list[Pair] = []

    def make(**settings) -> Pair:
        upgrade(empty_db_url)
        settings = {
            "instance_dir": tmp_path / "instance",
            "database_url": empty_db_url,
            "secret_key": "test-secret",
            **settings,
        }
        console = create_app({**settings, "dispatcher": RecordingDispatcher()}).server
        downloads = create_download_server(settings)
        with console.extensions["console.db"].session() as s:
            world = build_world(s)
        made.append(Pair(console, downloads, world, settings))
        return made[-1]

    yield make
    for pair in made:
        for app in (pair.console, pair.downloads):
            app.extensions["console.db"].dispose()


@pytest.fixture
def pair(make_pair) -> Pair:
    return make_pair()


def without_clock(headers) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in CLOCK_HEADERS}


def csp_without_hashes(value: str) -> str:
    """The console's CSP lists the hashes of Dash's inline scripts; the download server serves no
    Dash page, so its CSP has none (stricter); every other directive is the same."""
    return re.sub(r" 'sha256-[A-Za-z0-9+/=]+'", "", value)


def assert_same_answer(console_response, download_response) -> None:
    assert download_response.status_code == console_response.status_code
    assert download_response.data == console_response.data
    mine, theirs = without_clock(download_response.headers), without_clock(console_response.headers)
    assert mine.pop("Content-Security-Policy") == csp_without_hashes(theirs.pop("Content-Security-Policy"))
    assert mine == theirs


def test_signed_in_on_the_console_the_download_server_streams_the_same_pack(pair: Pair) -> None:
    pack_id = pair.pack(pair.world.tenant_ids[0])
    console, downloads = pair.clients()
    url = f"/review-packs/{pack_id}/download"
    theirs, mine = console.get(url), downloads.get(url)
    assert mine.status_code == 200 and mine.mimetype == "application/zip" and mine.data == CONTENT
    assert mine.headers["Content-Length"] == str(len(CONTENT))
    assert mine.headers["ETag"] == f'"{hashlib.sha256(CONTENT).hexdigest()}"'
    assert mine.headers["Cache-Control"] == "private, no-cache" and mine.headers["Accept-Ranges"] == "bytes"
    assert "Set-Cookie" not in mine.headers  # the cookie is only read here
    assert_same_answer(theirs, mine)
    for headers in ({"Range": "bytes=10-99"}, {"If-None-Match": mine.headers["ETag"]}):
        ranged, mine_ranged = console.get(url, headers=headers), downloads.get(url, headers=headers)
        assert mine_ranged.status_code in (206, 304)
        assert_same_answer(ranged, mine_ranged)
    assert downloads.head(url).status_code == 200


def test_a_stream_in_progress_holds_no_database_connection(pair: Pair) -> None:
    pack_id = pair.pack(pair.world.tenant_ids[0])
    _, downloads = pair.clients()
    response = downloads.get(f"/review-packs/{pack_id}/download", buffered=False)
    try:
        assert response.status_code == 200
        first = next(iter(response.response))
        assert first == CONTENT[: len(first)]
        # The session was closed at teardown, before the body: a slow client holds a thread only.
        assert pair.downloads.extensions["console.db"].engine.pool.checkedout() == 0
    finally:
        response.close()


def test_without_a_session_it_is_401_like_the_console(pair: Pair) -> None:
    pack_id = pair.pack(pair.world.tenant_ids[0])
    console, downloads = pair.clients(email=None)
    url = f"/review-packs/{pack_id}/download"
    mine = downloads.get(url)
    assert (mine.status_code, mine.json) == (401, {"error": "authentication required"})
    assert_same_answer(console.get(url), mine)
    forged = pair.downloads.test_client()
    forged.set_cookie(SESSION_COOKIE, "eyJfdXNlcl9pZCI6IjEifQ.forged.signature")
    assert forged.get(url).status_code == 401


@pytest.mark.parametrize("accept", ["application/json", "text/html"])
def test_refusals_are_the_consoles_404_and_410_as_json_or_page(pair: Pair, accept: str) -> None:
    world = pair.world
    cases = {
        "ungranted tenant": (pair.pack(world.tenant_ids[1]), 404),
        "other workspace": (pair.pack(world.other_tenant_id), 404),
        "unknown": (999999, 404),
        "not ready": (pair.pack(world.tenant_ids[0], status="generating"), 404),
        "not a number": ("abc", 404),
        "expired": (pair.pack(world.tenant_ids[0], status="expired"), 410),
        "past its expiry": (pair.pack(world.tenant_ids[0], expires_in=timedelta(minutes=-1)), 410),
    }
    console, downloads = pair.clients()
    for name, (pack_id, status) in cases.items():
        url = f"/review-packs/{pack_id}/download"
        theirs = console.get(url, headers={"Accept": accept})
        mine = downloads.get(url, headers={"Accept": accept})
        assert mine.status_code == status, name
        assert mine.mimetype == ("text/html" if accept == "text/html" else "application/json"), name
        assert (mine.status_code, mine.data) == (theirs.status_code, theirs.data), name
        for header in ("X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"):
            assert mine.headers[header] == theirs.headers[header], (name, header)
        assert mine.headers["Content-Security-Policy"] == csp_without_hashes(theirs.headers["Content-Security-Policy"])
    assert downloads.get("/review-packs/1/../2/download").status_code == 404  # no page shell, no redirect


def test_after_sign_out_or_a_session_version_bump_the_old_cookie_is_refused(pair: Pair) -> None:
    pack_id = pair.pack(pair.world.tenant_ids[0])
    url = f"/review-packs/{pack_id}/download"
    console, downloads = pair.clients()
    assert downloads.get(url).status_code == 200
    token = console.get_cookie("_csrf_token").value
    assert console.post("/logout", data={"csrf_token": token}).status_code == 302
    assert downloads.get(url).status_code == 401  # the cookie it still holds was issued before the sign-out

    console, downloads = pair.clients()
    assert downloads.get(url).status_code == 200
    with pair.console.extensions["console.db"].session() as s:  # `console users revoke-sessions`, an admin
        s.execute(
            update(User).where(User.email == "operator@test.example").values(session_version=User.session_version + 1)
        )
        s.commit()
    assert downloads.get(url).status_code == 401
    assert console.get(url).status_code == 401


def test_a_database_outage_and_an_unexpected_error_answer_as_on_the_console(pair: Pair, monkeypatch) -> None:
    pack_id = pair.pack(pair.world.tenant_ids[0])
    url = f"/review-packs/{pack_id}/download"
    console, downloads = pair.clients()
    assert downloads.get(url).status_code == 200
    for app in (pair.console, pair.downloads):
        app.extensions["console.db"].engine.dispose()  # no open connection outlives the outage's start
    with database_outage(pair.settings["database_url"]):
        theirs, mine = console.get(url), downloads.get(url)
    assert (mine.status_code, mine.json) == (503, {"error": "the database is unreachable; try again shortly"})
    assert mine.headers["Retry-After"] == theirs.headers["Retry-After"] == "10"
    assert_same_answer(theirs, mine)

    def broken(**_kwargs):
        raise RuntimeError("SECRET-DETAIL")

    monkeypatch.setattr(downloads_module, "pack_download", broken)
    theirs, mine = console.get(url), downloads.get(url)
    assert (mine.status_code, mine.json) == (500, {"error": "internal error; it has been logged"})
    assert_same_answer(theirs, mine)


def test_behind_trusted_proxies_both_read_the_forwarded_headers_alike(make_pair) -> None:
    pair = make_pair(trusted_proxies=1)
    for app in (pair.console, pair.downloads):
        assert isinstance(app.wsgi_app, ProxyFix)
        assert (app.wsgi_app.x_for, app.wsgi_app.x_proto, app.wsgi_app.x_host) == (1, 1, 1)
    plain = create_download_server(pair.settings | {"trusted_proxies": 0})
    try:
        assert not isinstance(plain.wsgi_app, ProxyFix)  # no proxy: X-Forwarded-* are spoofable, ignored
    finally:
        plain.extensions["console.db"].dispose()


def test_healthz_answers_without_a_session_and_names_the_download_server(pair: Pair) -> None:
    r = pair.downloads.test_client().get("/healthz")
    assert (r.status_code, r.json) == (200, {"status": "ok", "database": "ok", "server": "downloads"})
    assert r.headers["X-Frame-Options"] == "DENY"
    unreachable = create_download_server({**pair.settings, "database_url": "sqlite:////nonexistent/folder/console.db"})
    try:
        r = unreachable.test_client().get("/healthz")
        assert (r.status_code, r.json["database"]) == (503, "error")
    finally:
        unreachable.extensions["console.db"].dispose()


def test_on_s3_the_pack_streams_identically_and_a_missing_object_is_audited(make_pair, s3_endpoint: S3Endpoint) -> None:  # noqa: F811
    bucket = s3_endpoint.new_bucket()
    pair = make_pair(storage_url=f"s3://{bucket}/review-packs", s3_endpoint_url=s3_endpoint.url)
    pack_id = pair.pack(pair.world.tenant_ids[0])
    console, downloads = pair.clients()
    url = f"/review-packs/{pack_id}/download"
    mine = downloads.get(url)
    assert mine.status_code == 200 and mine.data == CONTENT
    assert_same_answer(console.get(url), mine)
    assert_same_answer(
        console.get(url, headers={"Range": "bytes=5-"}), downloads.get(url, headers={"Range": "bytes=5-"})
    )

    [key] = s3_endpoint.keys(bucket)
    s3_endpoint.client().delete_object(Bucket=bucket, Key=key)  # lost behind the console's back
    missing = downloads.get(url)
    assert (missing.status_code, missing.json) == (404, {"error": "not found"})
    with pair.console.extensions["console.db"].session() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == AUDIT_FILE_MISSING)).all()
        assert [(e.user_id, e.target_id, e.details) for e in events] == [
            (pair.world.users["operator"], pack_id, {"reason": "missing"})
        ]


def test_over_gunicorn_the_download_server_streams_the_pack_for_the_consoles_cookie(pair: Pair, tmp_path) -> None:
    pack_id = pair.pack(pair.world.tenant_ids[0])
    console, _ = pair.clients()
    cookie = console.get_cookie(SESSION_COOKIE).value
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")}
    env |= {
        "PYTHONPATH": str(REPO),
        "CONSOLE_INSTANCE_DIR": str(pair.settings["instance_dir"]),
        "CONSOLE_DATABASE_URL": pair.settings["database_url"],
        "CONSOLE_SECRET_KEY": pair.settings["secret_key"],
    }
    access_log = tmp_path / "downloads-access.log"
    argv = [sys.executable, "-m", "gunicorn", "console.download_wsgi:server", "--workers", "1", "--threads", "4"]
    argv += ["--bind", f"127.0.0.1:{port}", "--access-logfile", str(access_log), "--access-logformat", ACCESS_FORMAT]
    log_path = tmp_path / "downloads.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = WebServer(f"http://127.0.0.1:{port}", proc, log_path, access_log)
    try:
        _wait_ready(server, 1)
        url = f"{server.url}/review-packs/{pack_id}/download"
        r = requests.get(url, cookies={SESSION_COOKIE: cookie}, timeout=30)
        assert r.status_code == 200 and r.content == CONTENT
        assert r.headers["Content-Length"] == str(len(CONTENT)) and r.headers["X-Content-Type-Options"] == "nosniff"
        assert requests.get(url, timeout=30).status_code == 401
        assert [(status, line.split()[1]) for _, status, line in server.answers() if "/review-packs/" in line] == [
            (200, f"/review-packs/{pack_id}/download"),
            (401, f"/review-packs/{pack_id}/download"),
        ]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
