"""Pack storage on S3: a large pack uploaded by a real worker and downloaded through the console's
web process, with the memory of both; baseline: the same flow on a shared folder (file:///).

    .venv/bin/python -m bench.pack_storage [--mb 200] [--rounds 1]

``python -m bench.web_memory`` says where the web process's MiB go, by import.

Starts moto's S3 server (a real S3 HTTP endpoint), then per storage and round, on a scratch
SQLite database with the embedded broker:

* a real ``console worker`` (Celery, threads pool) that first generates a real review pack (the
  task imports and client a worker holds), then, through ``bench/pack_worker.py`` loaded with
  ``--include``, uploads an ``--mb`` MiB pack from its staging folder inside the same process;
* a real ``console serve``, then a real gunicorn worker (``console.wsgi:server``, gthread, 4
  threads), each of which signs a user in, renders the tenant dashboard (page, layout,
  dependencies), answers the activity and review-pack polls, downloads the small real pack,
  and only then — warm — streams the large pack to the bench;
* the download server (``gunicorn console.download_wsgi:server``, one gthread worker, 4 threads)
  beside its baseline, the console's gunicorn worker (order alternating by round): refuses a
  request without a session, serves the small pack three times with the console's session cookie,
  and only then — warm — streams the large pack.

Target (issue 17): the worker and the process serving the download stay below 100 MB (MiB here)
while a 200 MB pack goes through S3: the absolute peak RSS, not just the growth. With the download
server deployed that process is the download server; the console's own web process (which serves
downloads without it) is printed as the baseline. Printed per process: RSS after start, RSS at rest
once warm, peak during the transfer (VmHWM reset just before it), growth. Bounded: ~2 min.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.common import children_pids, free_port, machine_line, md_table, ratio

REPO = Path(__file__).resolve().parents[1]
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
TARGET_MB = 100
#: ``gunicorn console.download_wsgi:server``: the download server, one gthread worker (4 threads).
DOWNLOAD_SERVER = "download server"
#: The console's own web processes serving the download (without a download server): the baseline.
BASELINE_WEB = ("web (console serve)", "web (gunicorn)")
PASSWORD = "long-enough-pw"
EMAIL = "bench.packs@example.com"


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int | str = "self") -> None:
    """Linux: make VmHWM the current RSS, so the next peak is the work's alone."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def wait_for(predicate, what: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what}: gave up\n{tail}")
        time.sleep(0.2)


# --------------------------------------------------------------------------- one case


class Case:
    """One storage, one round: a database, an instance folder, a worker, a web process."""

    def __init__(self, work: Path, url: str, endpoint: str | None, mb: int, round_: int = 0) -> None:
        self.work, self.url, self.endpoint, self.mb, self.round = work, url, endpoint, mb, round_
        self.database_url = f"sqlite:///{work / 'console.db'}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "AWS_"))} | AWS_ENV
        self.env |= {
            "CONSOLE_DATABASE_URL": self.database_url,
            "CONSOLE_INSTANCE_DIR": str(work / "instance"),
            "CONSOLE_SECRET_KEY": "bench",
            "CONSOLE_STORAGE_URL": url,
            "CONSOLE_LOG_LEVEL": "WARNING",
            "TMPDIR": str(work),  # the S3 staging folder: this case's own
        }
        if endpoint:
            self.env["CONSOLE_S3_ENDPOINT_URL"] = endpoint

    def seed(self) -> int:
        from console.accounts.service import create_tenant, create_user, create_workspace, grant_role
        from console.db import Database
        from console.migrate import upgrade

        upgrade(self.database_url)
        db = Database(self.database_url)
        with db.session() as s:
            ws = create_workspace(session=s, name="Bench")
            tenant = create_tenant(session=s, workspace_id=ws.id, name="Big")
            create_user(session=s, email=EMAIL, password=PASSWORD, name="Bench")
            grant_role(session=s, email=EMAIL, workspace_id=ws.id, role="manager")
            s.commit()
            tenant_id = tenant.id
        db.dispose()
        return tenant_id

    def pack(self, pack_id: int | None = None):
        from sqlalchemy import select

        from console.db import Database
        from console.review_packs.models import ReviewPack

        db = Database(self.database_url)
        try:
            with db.session() as s:
                query = select(ReviewPack).order_by(ReviewPack.id.desc()).limit(1)
                if pack_id is not None:
                    query = select(ReviewPack).where(ReviewPack.id == pack_id)
                row = s.scalars(query).first()
                return None if row is None else (row.id, row.status, row.file_path, row.error)
        finally:
            db.dispose()

    def add_ready_pack(self, tenant_id: int, up: dict) -> int:
        from console.db import Database, utcnow
        from console.review_packs.models import ReviewPack

        db = Database(self.database_url)
        with db.session() as s:
            row = ReviewPack(
                tenant_id=tenant_id,
                status="ready",
                options={},
                file_path=up["ref"],
                size=up["size"],
                sha256=up["sha256"],
                ready_at=utcnow(),
                expires_at=utcnow() + timedelta(days=1),
            )
            s.add(row)
            s.commit()
            pack_id = row.id
        db.dispose()
        return pack_id

    def start(self, name: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log = self.work / f"{name}.log"
        with log.open("ab") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "console", *args], cwd=REPO, env=self.env, stdout=fh, stderr=fh
            )
        return proc, log

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "console", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode:
            raise RuntimeError(f"console {' '.join(args)}: {out.stderr[-2000:]}")
        return out.stdout.strip()

    def run_worker(self, tenant_id: int) -> dict:
        """A real worker: one real review pack, then the big upload inside the same process."""
        from console.config import load_settings
        from console.dispatch import CeleryDispatcher

        proc, log = self.start("worker", "worker", "--include", "bench.pack_worker", "--loglevel", "INFO")
        try:
            wait_for(lambda: log.exists() and " ready." in log.read_text(errors="replace"), "worker", 90, proc, log)
            started_rss = rss_mb(proc.pid)
            self.cli("runs", "start", "review_pack_generate", "--tenant", str(tenant_id), "--as", EMAIL)
            small = wait_for(
                lambda: (lambda p: p if p and p[1] in ("ready", "failed") else None)(self.pack()),
                "the real review pack",
                180,
                proc,
                log,
            )
            if small[1] != "ready":
                raise RuntimeError(f"the real review pack failed: {small[3]}")
            result = self.work / "upload.json"
            settings = load_settings(
                {"instance_dir": self.work / "instance", "database_url": self.database_url, "secret_key": "bench"},
                environ={k: v for k, v in self.env.items() if k.startswith("CONSOLE_")},
            )
            dispatcher = CeleryDispatcher(settings)
            try:
                dispatcher.send("bench.pack_upload", self.mb, str(result))
            finally:
                dispatcher.client.close()
            wait_for(result.exists, "the big upload", 600, proc, log)
            time.sleep(0.2)  # the file is written in one call; let it land whole
            up = json.loads(result.read_text())
            return {**up, "rss_start": started_rss, "small_pack_id": small[0]}
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def start_gunicorn(self, port: int, app: str = "console.wsgi:server") -> tuple[subprocess.Popen, Path]:
        """Production's web process: one gthread worker (4 threads) of ``gunicorn console.wsgi:server``
        (or of the download server, ``console.download_wsgi:server``)."""
        log = self.work / f"gunicorn-{app.split('.')[1].split(':')[0]}.log"
        argv = [sys.executable, "-m", "gunicorn", app, "--workers", "1"]
        argv += ["--worker-class", "gthread", "--threads", "4", "--bind", f"127.0.0.1:{port}"]
        with log.open("ab") as fh:
            proc = subprocess.Popen(argv, cwd=REPO, env=self.env, stdout=fh, stderr=fh)
        return proc, log

    def run_web(
        self, server: str, tenant_id: int, small_pack_id: int, big_pack_id: int, big: dict, cookies: dict
    ) -> dict:
        """``cookies``: filled with the signed-in session by a console, used by the download server."""
        import requests

        port = free_port()
        if server == "gunicorn":
            proc, log = self.start_gunicorn(port)
        elif server == DOWNLOAD_SERVER:
            proc, log = self.start_gunicorn(port, "console.download_wsgi:server")
        else:
            proc, log = self.start("serve", "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        try:
            http = requests.Session()

            def answers() -> bool:
                try:
                    return http.get(base + "/healthz", timeout=2).status_code in (200, 503)
                except requests.RequestException:
                    return False

            wait_for(answers, server, 60, proc, log)
            # gunicorn: the worker (the master only forks and watches); serve: the process itself.
            pid = children_pids(proc.pid)[0] if server != "console serve" else proc.pid
            started_rss = rss_mb(pid)
            if server == DOWNLOAD_SERVER:
                warm_up_downloads(http, base, small_pack_id, cookies)
            else:
                warm_up(http, base, tenant_id, small_pack_id)
                cookies.setdefault("session", http.cookies["session"])
            reset_peak(pid)
            before = rss_mb(pid)
            digest, received = hashlib.sha256(), 0
            started = time.perf_counter()
            with http.get(f"{base}/review-packs/{big_pack_id}/download", stream=True, timeout=300) as response:
                response.raise_for_status()
                length = int(response.headers["Content-Length"])
                for block in response.iter_content(1 << 20):
                    digest.update(block)
                    received += len(block)
            seconds = time.perf_counter() - started
            if (received, length, digest.hexdigest()) != (big["size"], big["size"], big["sha256"]):
                raise RuntimeError("the download is not the pack that was uploaded")
            peak = rss_mb(pid, "VmHWM")
            return {"seconds": seconds, "rss_start": started_rss, "rss_before": before, "peak": peak}
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def run(self) -> dict[str, dict]:
        tenant_id = self.seed()
        up = self.run_worker(tenant_id)
        big_pack_id = self.add_ready_pack(tenant_id, up)
        figures = {"worker (console worker): upload": up}
        cookies: dict[str, str] = {}  # the first console's sign-in, for the download server
        # The download server beside its baseline, the console's gunicorn worker: order alternating.
        pair = ["gunicorn", DOWNLOAD_SERVER] if self.round % 2 == 0 else [DOWNLOAD_SERVER, "gunicorn"]
        for server in ["console serve", *pair]:
            figures[f"web ({server}): download"] = self.run_web(
                server, tenant_id, up["small_pack_id"], big_pack_id, up, cookies
            )
        return figures


def warm_up_downloads(http, base: str, small_pack_id: int, cookies: dict) -> None:
    """The download server's first minute: a refused request (no session), then a few downloads
    with the session cookie a console issued."""
    if http.get(f"{base}/review-packs/{small_pack_id}/download", timeout=30).status_code != 401:
        raise RuntimeError("the download server answered without a session")
    http.cookies.update(cookies)
    for _ in range(3):
        with http.get(f"{base}/review-packs/{small_pack_id}/download", timeout=60) as small:
            small.raise_for_status()


def warm_up(http, base: str, tenant_id: int, small_pack_id: int) -> None:
    """What a user's first minute does: sign in, the tenant dashboard, its polls, a small download."""
    http.get(base + "/login", timeout=30)
    token = http.cookies.get("_csrf_token")
    r = http.post(base + "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token}, timeout=30)
    r.raise_for_status()
    page = f"/admin/tenants/{tenant_id}"
    http.get(base + page, timeout=30).raise_for_status()
    http.get(base + "/_dash-layout", timeout=30).raise_for_status()
    deps = http.get(base + "/_dash-dependencies", timeout=30).json()
    fresh = {("_pages_location", "pathname"): page, ("activity-poll", "n_intervals"): 1}
    fresh |= {("review-pack-poll", "n_intervals"): 1, ("tenant-id", "data"): tenant_id}

    def values(items: list[dict]) -> list[dict]:
        return [{**item, "value": fresh.get((item["id"], item["property"]))} for item in items]

    polled = 0
    for spec in deps:
        trigger = next((i for i in spec["inputs"] if i["property"] == "n_intervals"), None)
        if trigger is None or trigger["id"] not in ("activity-poll", "review-pack-poll"):
            continue
        key = spec["output"]
        outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in key.strip(".").split("...")]
        body = {
            "output": key,
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": values(spec["inputs"]),
            "state": values(spec.get("state", [])),
            "changedPropIds": [f"{trigger['id']}.n_intervals"],
        }
        answer = http.post(
            base + "/_dash-update-component",
            data=json.dumps(body),
            headers={"Content-Type": "application/json", "X-CSRFToken": http.cookies["_csrf_token"], "Origin": base},
            timeout=30,
        )
        if answer.status_code not in (200, 204):
            raise RuntimeError(f"poll {key}: {answer.status_code} {answer.text[:300]}")
        polled += 1
    if polled < 2:
        raise RuntimeError(f"the tenant dashboard's polls were not found ({polled})")
    with http.get(f"{base}/review-packs/{small_pack_id}/download", timeout=60) as small:
        small.raise_for_status()


# --------------------------------------------------------------------------- main


def start_moto(work: Path) -> tuple[subprocess.Popen, str]:
    import boto3

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=(work / "moto.log").open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **AWS_ENV},
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in AWS_ENV.items() if "KEY" in k})
    deadline = time.monotonic() + 60
    while True:
        try:
            client.create_bucket(Bucket="bench-packs")
            return proc, endpoint
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1, help="S3 and folder cases, interleaved")
    args = parser.parse_args(argv)
    if args.mb < 1 or args.rounds < 1:
        parser.error("--mb and --rounds must be at least 1")

    machine_before = machine_line()
    results: dict[str, list[dict[str, dict]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-pack-storage-") as tmp:
        work = Path(tmp)
        moto, endpoint = start_moto(work)
        try:
            for n in range(args.rounds):
                cases = [("S3 (moto server)", "s3://bench-packs/review-packs", endpoint)]
                cases.append(("shared folder (baseline)", f"file://{work / f'folder-{n}'}", None))
                for label, url, ep in cases if n % 2 == 0 else reversed(cases):
                    case = work / f"case-{'s3' if ep else 'folder'}-{n}"
                    case.mkdir()
                    (work / f"folder-{n}").mkdir(exist_ok=True)
                    results.setdefault(label, []).append(Case(case, url, ep, args.mb, n).run())
        finally:
            moto.terminate()
            moto.wait(timeout=20)

    ok, rows = True, []
    for label, runs in results.items():
        for n, figures in enumerate(runs):
            for process, fig in figures.items():
                within = fig["peak"] < TARGET_MB
                # The target holds for the processes a pack goes through when the download server
                # runs (the worker, the download server); the console's own web process is the baseline.
                ok &= within or not label.startswith("S3") or process.startswith(BASELINE_WEB)
                rows.append(
                    [
                        label,
                        n + 1,
                        process,
                        f"{fig['seconds']:.2f}",
                        f"{args.mb / fig['seconds']:.0f}",
                        f"{fig['rss_start']:.0f}",
                        f"{fig['rss_before']:.0f}",
                        f"{fig['peak']:.0f}",
                        f"{fig['peak'] - fig['rss_before']:.0f}",
                        "yes" if within else "NO",
                    ]
                )
    print(f"## Pack storage: a {args.mb} MiB pack through S3 vs a shared folder\n")
    print(f"before: {machine_before}\n\nafter: {machine_line()}\n")
    headers = ["storage", "round", "process: step", "seconds", "MiB/s", "RSS started", "RSS warm, at rest"]
    headers += ["peak", "growth", f"peak < {TARGET_MB}"]
    print(md_table(headers, rows))
    s3, local = results["S3 (moto server)"], results["shared folder (baseline)"]
    served = "web (console serve): download"
    down_s3, down_local = (sorted(r[served]["seconds"] for r in x)[len(x) // 2] for x in (s3, local))
    # No upload ratio: on the shared folder the pack is staged in the folder itself, so "saving" it
    # is a rename (milliseconds), while S3 sends every byte.
    print(f"\n- S3 / shared folder download time (median): {ratio(down_s3, down_local)}.")
    gunicorn, dl = "web (gunicorn): download", f"web ({DOWNLOAD_SERVER}): download"
    for what, key in (("peak", "peak"), ("warm, at rest", "rss_before")):
        mine, base = (sorted(r[k][key] for r in s3)[len(s3) // 2] for k in (dl, gunicorn))
        print(f"- S3, {what}: download server / console's gunicorn worker (median): {ratio(mine, base)}.")
    verdict = "met" if ok else "MISSED"
    print(
        f"- Target (peak RSS < {TARGET_MB} MiB while the pack moves through S3, for the worker and the"
        f" download server, which serves the downloads when deployed): {verdict}. The console's own web"
        " process (console serve, gunicorn) is the baseline: it serves downloads only without a download server."
    )
    print(
        "- MiB throughout. 'RSS started': the process ready to serve; 'warm, at rest': after a real review"
        " pack (worker) or a sign-in, the tenant dashboard, its polls and a small download (web);"
        " 'peak': VmHWM during the transfer, reset just before it."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
