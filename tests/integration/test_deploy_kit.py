"""The deploy kit (deploy/) as it runs in production, each file exercised:

* the systemd units pass ``systemd-analyze verify`` (with the venv path substituted, so every
  ExecStart command exists) and stop the way their comments say (KillMode=mixed, a stop timeout
  above the measured warm shutdown);
* the environment-file template lists every setting the code and the README name, in a form
  systemd reads, and loads as a valid production configuration once its placeholders are filled;
* Debian's nginx with the site file deploy/nginx/console.conf (a throw-away self-signed
  certificate; its own config, pid and log paths in a temp dir; unprivileged ports on 127.0.0.1)
  in front of gunicorn started with the web unit's own ExecStart (2 workers), the download server
  with the downloads unit's (1 worker; nginx sends it the download URLs only), a worker started with
  the worker unit's ExecStart, beat with the beat unit's: sign in over HTTPS, start a review pack
  with the button's callback, download it over HTTPS (answered by the download server: its access
  log has the request, the console's has not); then SIGTERM the worker mid-run and time
  its warm shutdown.

PostgreSQL + Redis when CONSOLE_TEST_DATABASE_URL / CONSOLE_TEST_BROKER_URL are set (CI), else
SQLite + the embedded broker."""

from __future__ import annotations

import configparser
import io
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from console.app import create_app
from console.config import embedded_broker_url, load_settings
from console.db import Database
from console.ids import REVIEW_PACK_CONFIRM
from console.operations.models import OperationRun
from console.review_packs.models import ReviewPack
from tests.integration.worker import REPO, flush_redis
from tests.support.db import BROKER_URL, PG_URL, fresh_database_url
from tests.support.web import CALLBACK, RecordingDispatcher

DEPLOY = REPO / "deploy"
UNITS = {name: DEPLOY / "systemd" / f"console-{name}.service" for name in ("web", "downloads", "worker", "beat")}
ENV_TEMPLATE = DEPLOY / "console.env.example"
SITE = DEPLOY / "nginx" / "console.conf"
VENV_BIN = Path(sys.executable).parent
INSTALLED_BIN = "/srv/console/venv/bin"
PASSWORD = "a long enough password"
PROVIDER_DELAY = 0.5  # seconds per unit, so the worker can be stopped mid-run


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read(path)
    return parser


def exec_start(name: str, runtime: Path | None = None) -> list[str]:
    """The unit's command with this checkout's venv; paths under /run (the unit's
    RuntimeDirectory, which systemd creates) moved under ``runtime`` when given."""
    argv = shlex.split(unit(UNITS[name])["Service"]["ExecStart"])
    assert argv[0].startswith(INSTALLED_BIN + "/"), argv[0]
    if runtime is not None:
        argv = [str(runtime / arg.removeprefix("/run/")) if arg.startswith("/run/") else arg for arg in argv]
    return [str(VENV_BIN / Path(argv[0]).name), *argv[1:]]


def control_socket(name: str) -> str:
    return control_socket_of(exec_start(name))


def control_socket_of(argv: list[str]) -> str:
    return argv[argv.index("--control-socket") + 1]


def stop_timeout(name: str) -> float:
    return float(unit(UNITS[name])["Service"]["TimeoutStopSec"])


def env_template() -> dict[str, str]:
    """KEY=value lines as systemd's EnvironmentFile reads them (comments and blanks skipped)."""
    values = {}
    for line in ENV_TEMPLATE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), line
            values[key] = value
    return values


# --------------------------------------------------------------------------- the files alone


def test_systemd_units_verify_and_stop_gracefully(tmp_path) -> None:
    assert shutil.which("systemd-analyze"), "systemd-analyze is part of Debian's systemd package"
    for name, path in UNITS.items():
        text = path.read_text().replace(INSTALLED_BIN, str(VENV_BIN))
        (tmp_path / path.name).write_text(text)
        service = unit(path)["Service"]
        for key in ("User", "EnvironmentFile", "ExecStart", "KillMode", "TimeoutStopSec", "Restart"):
            assert service.get(key), (name, key)
        assert service["KillMode"] == "mixed", name  # SIGTERM to the main process, SIGKILL the rest at the end
        assert service["EnvironmentFile"] == "/etc/console/console.env"
        assert Path(exec_start(name)[0]).exists()
    assert "console.wsgi:server" in exec_start("web")
    assert "console.download_wsgi:server" in exec_start("downloads")
    # Each gunicorn has its own control socket, in its own RuntimeDirectory (one shared default
    # path: the second gunicorn started took it over).
    for name in ("web", "downloads"):
        folder = unit(UNITS[name])["Service"]["RuntimeDirectory"]
        assert control_socket(name) == f"/run/{folder}/gunicorn.ctl", name
    assert control_socket("web") != control_socket("downloads")
    assert exec_start("worker")[1:3] == ["worker", "--without-mingle"]
    assert exec_start("beat")[1:] == ["beat"]
    r = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(p) for p in tmp_path.glob("*.service"))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # verify exits 0 even for unparsable values ("Failed to parse ..., ignoring"): no output at all.
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


def test_the_environment_template_lists_every_setting_and_loads_in_production(tmp_path) -> None:
    text = ENV_TEMPLATE.read_text()
    listed = set(re.findall(r"^#?([A-Z][A-Z0-9_]*)=", text, re.M))
    read_by_code = {
        name
        for folder in ("console", "tasks")
        for path in (REPO / folder).rglob("*.py")
        for name in re.findall(r"\bCONSOLE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text())
    }
    in_readme = set(re.findall(r"^\| `(CONSOLE_[A-Z0-9_]+)`", (REPO / "README.md").read_text(), re.M))
    contract = {
        "CONSOLE_FANOUT_CHUNK_SIZE",
        "CONSOLE_RESUME_ATTEMPTS",
        "CONSOLE_STORAGE_URL",
        "CONSOLE_S3_ENDPOINT_URL",
        "CONSOLE_METRICS_TOKEN",
        "CONSOLE_API_RATE_LIMIT",
    }
    missing = (read_by_code | in_readme | contract) - listed
    assert not missing, f"not in {ENV_TEMPLATE.name}: {sorted(missing)}"
    values = env_template()
    assert values["CONSOLE_ENV"] == "production" and values["CONSOLE_TRUSTED_PROXIES"] == "1"
    assert values["CONSOLE_RATELIMIT_STORAGE_URL"].startswith("redis://")
    assert all(not v.startswith(('"', "'")) and v == v.strip() for v in values.values())
    filled = values | {"CONSOLE_SECRET_KEY": "x" * 64, "CONSOLE_INSTANCE_DIR": str(tmp_path)}
    settings = load_settings(environ=filled)
    assert settings.production and settings.trusted_proxies == 1
    placeholders = [k for k, v in values.items() if "<" in v]
    assert sorted(placeholders) == ["CONSOLE_DATABASE_URL", "CONSOLE_SECRET_KEY"]


# --------------------------------------------------------------------------- the running stack


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def nginx_config(
    folder: Path, *, https_port: int, http_port: int, upstream_port: int, downloads_port: int, cert: Path, key: Path
) -> Path:
    """deploy/nginx/console.conf with test ports and certificate, inside a main config whose
    pid, logs and temp paths all live in ``folder``."""
    site = SITE.read_text()
    replacements = [
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("server 127.0.0.1:8050;", f"server 127.0.0.1:{upstream_port};"),
        ("server 127.0.0.1:8051;", f"server 127.0.0.1:{downloads_port};"),
        ("server 127.0.0.1:8050 backup;", f"server 127.0.0.1:{upstream_port} backup;"),
        ("/etc/ssl/console/fullchain.pem", str(cert)),
        ("/etc/ssl/console/privkey.pem", str(key)),
        ("server_name console.example.com;", "server_name localhost;"),
    ]
    for old, new in replacements:
        assert old in site, old
        site = site.replace(old, new)
    site = re.sub(r"^\s*listen \[::\]:.*$", "", site, flags=re.M)  # IPv6 may be off in CI containers
    (folder / "site.conf").write_text(site)
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = f"""
{"user root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{ worker_connections 64; }}
http {{
    access_log {folder / "access.log"};
    default_type application/octet-stream;
{temp}
    include {folder / "site.conf"};
}}
"""
    conf = folder / "nginx.conf"
    conf.write_text(main)
    return conf


class Proc:
    """A subprocess whose output goes to a log file."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path, logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.proc.poll() is None, f"{self.name} exited {self.proc.returncode}:\n{self.log()[-3000:]}"
            assert time.monotonic() < deadline, f"{self.name}: no {text!r} after {timeout} s:\n{self.log()[-3000:]}"
            time.sleep(0.1)

    def terminate(self, timeout: float) -> float:
        """SIGTERM (what systemd sends first); the seconds until the process exited."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                raise AssertionError(f"{self.name} ignored SIGTERM for {timeout} s:\n{self.log()[-3000:]}") from None
        self._log.close()
        return time.monotonic() - started


@pytest.fixture
def deployment(tmp_path) -> Iterator[dict]:
    """Database, broker and the environment file's settings, filled in for this test."""
    backend = "postgresql" if PG_URL else "sqlite"
    with fresh_database_url(backend, tmp_path) as database_url:
        instance = tmp_path / "var-lib-console"
        instance.mkdir()
        broker = BROKER_URL or embedded_broker_url(instance)
        if BROKER_URL:
            flush_redis(BROKER_URL)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "AWS_"))}
        env |= env_template() | {
            "CONSOLE_SECRET_KEY": "deploy-kit-test-secret-" + "x" * 40,
            "CONSOLE_DATABASE_URL": database_url,
            "CONSOLE_BROKER_URL": broker,
            "CONSOLE_INSTANCE_DIR": str(instance),
            # one Redis for everything in CI; per process without it (one web test client)
            "CONSOLE_RATELIMIT_STORAGE_URL": BROKER_URL or "memory://",
            "CONSOLE_PROVIDER_FAULTS": json.dumps({"delay_seconds": PROVIDER_DELAY}),
            # the worktree's code, whatever the venv was installed from
            "PYTHONPATH": str(REPO),
            "PYTHONUNBUFFERED": "1",
        }
        yield {"env": env, "database_url": database_url, "instance": instance, "backend": backend}
        if BROKER_URL:
            flush_redis(BROKER_URL)


def console(*args: str, env: dict, stdin: str | None = None) -> str:
    r = subprocess.run(
        [str(VENV_BIN / "console"), *args], env=env, cwd=REPO, input=stdin, capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def review_pack_confirm_body(database_url: str, instance: Path, tenant_id: int) -> dict:
    """The request dash-renderer sends for the review pack modal's confirm button."""
    app = create_app(
        {"instance_dir": instance / "client", "database_url": database_url, "dispatcher": RecordingDispatcher()}
    )
    try:
        [key] = [k for k, v in app.callback_map.items() if v["inputs"][0]["id"] == REVIEW_PACK_CONFIRM]
        spec = app.callback_map[key]
    finally:
        app.server.extensions["console.db"].dispose()
    values = {"review-pack-include-operations": True, "review-pack-include-pii": False}
    state = [{"id": d["id"], "property": d["property"], "value": values.get(d["id"], tenant_id)} for d in spec["state"]]
    assert [s["value"] for s in state] == [True, False, tenant_id], state
    return {
        "output": key,
        "outputs": [
            {"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1].split("@")[0]} for p in key[2:-2].split("...")
        ],
        "inputs": [{"id": REVIEW_PACK_CONFIRM, "property": "n_clicks", "value": 1}],
        "state": state,
        "changedPropIds": [f"{REVIEW_PACK_CONFIRM}.n_clicks"],
    }


def wait_for(predicate, *, timeout: float = 90, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def pack_of(db: Database, run_id: int) -> tuple[OperationRun, ReviewPack]:
    with db.session() as s:
        run = s.get(OperationRun, run_id)
        pack = s.query(ReviewPack).filter_by(operation_run_id=run_id).one()
        s.expunge_all()
        return run, pack


def test_nginx_tls_in_front_of_gunicorn_a_worker_and_beat(deployment, tmp_path, capsys) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).exists(), "nginx is installed by .ci/test (Debian's nginx package)"
    env, instance = deployment["env"], deployment["instance"]
    logs = tmp_path / "logs"
    logs.mkdir()

    # The runbook's steps: schema, then a workspace, a tenant and a user (password on stdin).
    console("db", "upgrade", env=env)
    workspace = console("workspaces", "create", "--name", "Deploy", env=env)
    tenant = console("tenants", "create", "--workspace", workspace, "--name", "Acme", env=env)
    email = "admin@deploy.example"
    console("users", "create", "--email", email, "--name", "Admin", "--password-stdin", env=env, stdin=PASSWORD + "\n")
    console("grant", "--email", email, "--workspace", workspace, "--role", "manager", env=env)

    gunicorn_port, https_port, http_port, downloads_port = free_port(), free_port(), free_port(), free_port()
    runtime = tmp_path / "run"  # systemd's /run, where each unit's RuntimeDirectory is made
    web_argv = exec_start("web", runtime)
    web_argv[web_argv.index("--workers") + 1] = "2"
    web_argv[web_argv.index("--bind") + 1] = f"127.0.0.1:{gunicorn_port}"
    downloads_argv = exec_start("downloads", runtime)
    downloads_argv[downloads_argv.index("--workers") + 1] = "1"
    downloads_argv[downloads_argv.index("--bind") + 1] = f"127.0.0.1:{downloads_port}"
    procs: list[Proc] = []
    cert, key = self_signed_cert(tmp_path)
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    conf = nginx_config(
        nginx_dir,
        https_port=https_port,
        http_port=http_port,
        upstream_port=gunicorn_port,
        downloads_port=downloads_port,
        cert=cert,
        key=key,
    )
    nginx_argv = [nginx, "-c", str(conf), "-p", str(nginx_dir), "-e", str(nginx_dir / "error.log")]
    checked = subprocess.run([*nginx_argv, "-t"], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr
    db = Database(deployment["database_url"])
    try:
        web = Proc("web", web_argv, env=env, cwd=instance, logs=logs)
        procs.append(web)
        downloads = Proc("downloads", downloads_argv, env=env, cwd=instance, logs=logs)
        procs.append(downloads)
        worker = Proc("worker", exec_start("worker"), env=env, cwd=instance, logs=logs)
        procs.append(worker)
        beat = Proc("beat", exec_start("beat"), env=env, cwd=instance, logs=logs)
        procs.append(beat)
        proxy = Proc("nginx", [*nginx_argv, "-g", "daemon off;"], env=env, cwd=nginx_dir, logs=logs)
        procs.append(proxy)
        base = f"https://127.0.0.1:{https_port}"
        https = requests.Session()
        # trust_env off: REQUESTS_CA_BUNDLE (set on many hosts) would override `verify`.
        https.trust_env = False
        https.verify = str(cert)
        plain_http = requests.Session()
        plain_http.trust_env = False

        def healthy() -> bool:
            try:
                return https.get(base + "/healthz", timeout=10).status_code == 200
            except requests.exceptions.SSLError:
                raise  # a certificate problem does not go away by waiting
            except (requests.ConnectionError, requests.Timeout):
                return False  # gunicorn's workers still importing (nginx: 502 or a slow answer)

        wait_for(healthy, timeout=90, what="/healthz over HTTPS")
        downloads.wait_for("Booting worker")
        wait_for(
            lambda: (
                plain_http.get(f"http://127.0.0.1:{downloads_port}/healthz", timeout=10).json()["server"] == "downloads"
            ),
            what="the download server's /healthz",
        )
        # Both gunicorns keep their own control socket (gunicornc -s <path> reaches each).
        sockets = [Path(control_socket_of(web_argv)), Path(control_socket_of(downloads_argv))]
        wait_for(lambda: all(p.is_socket() for p in sockets), timeout=10, what=f"control sockets {sockets}")
        worker.wait_for(" ready.")
        beat.wait_for("beat: Starting")

        # Plain HTTP on the proxy only redirects to HTTPS.
        redirect = plain_http.get(f"http://127.0.0.1:{http_port}/login", allow_redirects=False, timeout=10)
        assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")
        # gunicorn reached over plain HTTP (no proxy saying https): the sign-in says why it fails.
        plain = plain_http.post(
            f"http://127.0.0.1:{gunicorn_port}/login", data={"email": email, "password": PASSWORD}, timeout=10
        )
        assert plain.status_code == 400 and "needs HTTPS" in plain.text and "docs/deployment.md" in plain.text

        # Sign in over HTTPS as a browser does (the form's token, a same-origin Referer).
        page = https.get(base + "/login", timeout=10)
        assert page.headers["Strict-Transport-Security"].startswith("max-age=63072000")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        signed_in = https.post(
            base + "/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token, "next": "/"},
            headers={"Referer": base + "/login", "Origin": base},
            allow_redirects=False,
            timeout=30,
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        assert all("Secure" in c for c in signed_in.raw.headers.getlist("Set-Cookie"))
        assert https.get(base + "/", timeout=10).status_code == 200

        # Start a review pack with the modal's confirm button (a Dash callback POST).
        def press() -> int:
            r = https.post(
                base + CALLBACK,
                data=json.dumps(review_pack_confirm_body(deployment["database_url"], instance, int(tenant))),
                headers={
                    "Content-Type": "application/json",
                    "X-CSRFToken": https.cookies["_csrf_token"],
                    "Referer": base + f"/admin/tenants/{tenant}",
                    "Origin": base,
                },
                timeout=30,
            )
            assert r.status_code == 200, r.text[:500]
            with db.session() as s:
                return max(s.query(OperationRun.id).filter_by(type="review_pack_generate").all())[0]

        run_id = press()
        run, pack = wait_for(
            lambda: (lambda rp: rp if rp[1].status == "ready" else None)(pack_of(db, run_id)),
            what=f"the review pack to be ready\n{worker.log()[-3000:]}",
        )
        download = https.get(base + f"/review-packs/{pack.id}/download", timeout=30)
        assert download.status_code == 200 and download.headers["Content-Type"] == "application/zip"
        assert download.headers["Strict-Transport-Security"].startswith("max-age=")
        entries = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
        assert len(entries) == run.summary_counts["total"] > 0
        # nginx sent the download to the download server (its access log has it, the console's
        # has not), and everything else to the console.
        request_line = f'"GET /review-packs/{pack.id}/download HTTP/1.1" 200'
        wait_for(lambda: request_line in downloads.log(), timeout=10, what="the download server's access log line")
        assert f"/review-packs/{pack.id}/download" not in web.log()
        assert '"GET / HTTP/1.1" 200' in web.log() and '"GET / HTTP' not in downloads.log()
        assert "POST /login" not in downloads.log()

        # Stop the worker mid-run, as `systemctl stop` does (SIGTERM to the main process):
        # the warm shutdown finishes the run well within the unit's TimeoutStopSec.
        second = press()
        assert second != run_id
        wait_for(
            lambda: (pack_of(db, second)[0].summary_counts or {}).get("processed", 0) >= 1,
            what="the second pack's first unit",
        )
        left = pack_of(db, second)[0].summary_counts
        warm = worker.terminate(timeout=stop_timeout("worker"))
        run, pack = pack_of(db, second)
        assert (run.status, run.outcome, pack.status) == ("completed", "succeeded", "ready"), worker.log()[-3000:]
        beat_stop = beat.terminate(timeout=stop_timeout("beat"))
        with capsys.disabled():
            print(
                f"\n[deploy kit {deployment['backend']}] warm shutdown of the worker with "
                f"{left['total'] - left['processed']} of {left['total']} units left at {PROVIDER_DELAY} s each: "
                f"{warm:.1f} s (TimeoutStopSec={stop_timeout('worker'):.0f}); beat stopped in {beat_stop:.1f} s "
                f"(TimeoutStopSec={stop_timeout('beat'):.0f})"
            )
        assert warm < stop_timeout("worker") and beat_stop < stop_timeout("beat")
        assert downloads.terminate(timeout=stop_timeout("downloads")) < stop_timeout("downloads")
        # The download server is optional: with it stopped (or never installed), nginx sends the
        # download to the console itself (the upstream's backup server), which serves it as before.
        fallback = https.get(base + f"/review-packs/{pack.id}/download", timeout=30)
        assert fallback.status_code == 200 and fallback.headers["Content-Type"] == "application/zip"
        assert zipfile.ZipFile(io.BytesIO(fallback.content)).namelist()
        wait_for(
            lambda: f'"GET /review-packs/{pack.id}/download HTTP/1.1" 200' in web.log(),
            timeout=10,
            what="the console's access log line for the fallback download",
        )
        web_stop = web.terminate(timeout=stop_timeout("web"))
        assert web_stop < stop_timeout("web")
    finally:
        # SIGTERM first: nginx's master stops its workers on it (a SIGKILLed master leaves them behind).
        for proc in reversed(procs):
            if proc.proc.poll() is None:
                proc.proc.terminate()
                try:
                    proc.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.proc.kill()
                    proc.proc.wait(timeout=10)
        db.dispose()
