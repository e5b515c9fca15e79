"""Pack storage on S3: a large pack uploaded by one process and downloaded through the console's
web process, with the peak memory of both; baseline: the same file through a local folder.

    .venv/bin/python -m bench.pack_storage [--mb 200]

Starts moto's S3 server (a real S3 HTTP endpoint) and ``console serve`` on 127.0.0.1, on a
scratch SQLite database; nothing else needed. Target (issue 17): moving the pack adds less than
100 MB to the peak RSS of the uploading process and of the web process serving the download (the
file is never held in memory). Both the growth and the absolute peak are printed: the web process
already sits above 100 MB at rest (Dash + boto3), so the growth is the figure the target is about.
Bounded: about a minute for 200 MB.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.common import free_port, machine_line, md_table, ratio

REPO = Path(__file__).resolve().parents[1]
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}
TARGET_MB = 100
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


# --------------------------------------------------------------------------- child: one upload


def upload_child(url: str, endpoint: str | None, mb: int, work: Path) -> dict[str, float]:
    """In a fresh process: write a ``mb`` MiB pack into the staging folder, then save it."""
    from console.review_packs.storage import build_storage, file_digest

    storage = build_storage(instance_dir=work / "instance", storage_url=url, s3_endpoint_url=endpoint)
    name = f"review-pack-1-{os.getpid():x}.zip"
    # The folder baseline copies from another folder (as across filesystems): S3 uploads from staging.
    source = (work / "elsewhere" / name) if url.startswith("file:") else storage.temp_path(name)
    source.parent.mkdir(parents=True, exist_ok=True)
    with source.open("wb") as fh:
        for _ in range(mb):
            fh.write(os.urandom(1 << 20))
    size, sha = file_digest(source)
    if endpoint:
        storage.check()  # builds the client (imports boto3's models) before the peak is reset
    reset_peak()
    before = rss_mb()
    started = time.perf_counter()
    ref = storage.save(name, source, size=size, sha256=sha)
    seconds = time.perf_counter() - started
    return {
        "ref": ref,
        "size": size,
        "sha256": sha,
        "seconds": seconds,
        "rss_before": before,
        "peak": rss_mb(field="VmHWM"),
    }


def run_upload(url: str, endpoint: str | None, mb: int, work: Path) -> dict:
    env = {**os.environ, **AWS_ENV}
    out = subprocess.run(
        [sys.executable, "-m", "bench.pack_storage", "--child-upload", url, endpoint or "", str(mb), str(work)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the web process


def seed(database_url: str, instance: Path, pack: dict) -> int:
    from console.accounts.service import create_tenant, create_user, create_workspace, grant_role
    from console.db import Database, utcnow
    from console.migrate import upgrade
    from console.review_packs.models import ReviewPack

    upgrade(database_url)
    db = Database(database_url)
    with db.session() as s:
        ws = create_workspace(session=s, name="Bench")
        tenant = create_tenant(session=s, workspace_id=ws.id, name="Big")
        create_user(session=s, email=EMAIL, password=PASSWORD, name="Bench")
        grant_role(session=s, email=EMAIL, workspace_id=ws.id, role="manager")
        row = ReviewPack(
            tenant_id=tenant.id,
            status="ready",
            options={},
            file_path=pack["ref"],
            size=pack["size"],
            sha256=pack["sha256"],
            ready_at=utcnow(),
            expires_at=utcnow() + timedelta(days=1),
        )
        s.add(row)
        s.commit()
        pack_id = row.id
    db.dispose()
    return pack_id


def serve_and_download(url: str, endpoint: str | None, pack: dict, work: Path) -> dict:
    import requests

    instance = work / "web-instance"
    database_url = f"sqlite:///{work / 'console.db'}"
    pack_id = seed(database_url, instance, pack)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSOLE_")} | AWS_ENV
    env |= {
        "CONSOLE_DATABASE_URL": database_url,
        "CONSOLE_INSTANCE_DIR": str(instance),
        "CONSOLE_SECRET_KEY": "bench",
        "CONSOLE_STORAGE_URL": url,
        "CONSOLE_LOG_LEVEL": "WARNING",
    }
    if endpoint:
        env["CONSOLE_S3_ENDPOINT_URL"] = endpoint
    log = (work / "serve.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "serve", "--port", str(port)], cwd=REPO, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        http = requests.Session()
        deadline = time.monotonic() + 60
        while True:
            try:
                http.get(base + "/login", timeout=2)
                break
            except requests.RequestException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((work / "serve.log").read_text(errors="replace")[-2000:]) from None
                time.sleep(0.2)
        token = http.cookies.get("_csrf_token")
        r = http.post(base + "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token})
        r.raise_for_status()
        http.get(base + "/", timeout=30)  # the first page warms the app up (Dash layouts, imports)
        reset_peak(proc.pid)
        before = rss_mb(proc.pid)
        digest, received = hashlib.sha256(), 0
        started = time.perf_counter()
        with http.get(f"{base}/review-packs/{pack_id}/download", stream=True, timeout=120) as response:
            response.raise_for_status()
            length = int(response.headers["Content-Length"])
            for block in response.iter_content(1 << 20):
                digest.update(block)
                received += len(block)
        seconds = time.perf_counter() - started
        assert (received, length, digest.hexdigest()) == (pack["size"], pack["size"], pack["sha256"]), "corrupt"
        return {"seconds": seconds, "rss_before": before, "peak": rss_mb(proc.pid, "VmHWM")}
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


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
    parser.add_argument("--child-upload", nargs=4, metavar=("URL", "ENDPOINT", "MB", "WORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_upload:
        url, endpoint, mb, work = args.child_upload
        print(json.dumps(upload_child(url, endpoint or None, int(mb), Path(work))))
        return 0

    rows, ok = [], True
    with tempfile.TemporaryDirectory(prefix="bench-pack-storage-") as tmp:
        work = Path(tmp)
        moto, endpoint = start_moto(work)
        try:
            results = {}
            for label, url, ep in (
                ("S3 (moto server)", "s3://bench-packs/review-packs", endpoint),
                ("local folder (baseline)", f"file://{work / 'folder'}", None),
            ):
                case = work / re.sub(r"\W+", "-", label)
                case.mkdir()
                (work / "folder").mkdir(exist_ok=True)
                up = run_upload(url, ep, args.mb, case)
                down = serve_and_download(url, ep, up, case)
                results[label] = (up, down)
        finally:
            moto.terminate()
            moto.wait(timeout=20)
    s3_up, s3_down = results["S3 (moto server)"]
    local_up, local_down = results["local folder (baseline)"]
    for label, (up, down) in results.items():
        for what, fig in (("upload (save)", up), ("download (web)", down)):
            growth = fig["peak"] - fig["rss_before"]
            within = growth < TARGET_MB
            ok &= within or label != "S3 (moto server)"
            rows.append(
                [
                    label,
                    what,
                    f"{fig['seconds']:.2f}",
                    f"{args.mb / fig['seconds']:.0f}",
                    f"{fig['rss_before']:.0f}",
                    f"{fig['peak']:.0f}",
                    f"{growth:.0f}",
                    "yes" if within else "NO",
                ]
            )
    print(f"## Pack storage: a {args.mb} MiB pack through S3 vs a local folder\n")
    print(machine_line() + "\n")
    headers = ["storage", "step", "seconds", "MiB/s", "RSS at rest (MiB)", "peak (MiB)", "growth (MiB)", "growth < 100"]
    print(md_table(headers, rows))
    print(
        f"\n- S3 / local folder time: upload {ratio(s3_up['seconds'], local_up['seconds'])}, "
        f"download {ratio(s3_down['seconds'], local_down['seconds'])}."
    )
    verdict = "met" if ok else "MISSED"
    print(f"- Target (moving the pack adds < {TARGET_MB} MB to either process's peak, on S3): {verdict}.")
    print(
        "- 'RSS at rest': the process with its imports (the web process: Flask, Dash, SQLAlchemy and, on S3,"
        " boto3's service model); 'growth': what moving the file added to its peak (VmHWM reset first)."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
