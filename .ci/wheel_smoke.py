"""The wheel works: build it, install it with its dependencies (pinned by constraints.txt) into a
fresh venv outside the checkout, run ``console serve`` (embedded default: SQLite + embedded
broker) from a temporary folder, and check /healthz, the packaged JS and CSS, a sign-in and one
poll. Called by .ci/test after pytest; about a minute with a warm pip cache.

    .venv/bin/python .ci/wheel_smoke.py
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
EMAIL, PASSWORD = "smoke@example.test", "wheel-smoke-password-1"


def step(message: str) -> None:
    print(f"wheel smoke: {message}", file=sys.stderr, flush=True)


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=True, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE_LOG: list[Path] = []


def fail(message: str) -> None:
    for log in SERVE_LOG:
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
    print(f"wheel smoke FAILED: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)


def main() -> None:
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="console-wheel-smoke-"))
    # What building in the checkout leaves behind, removed afterwards unless it was there before.
    leftovers = [p for p in (REPO / "build", REPO / "tenant_operations_console.egg-info") if not p.exists()]
    server = None
    try:
        step("building the wheel")
        dist = tmp / "dist"
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "--no-deps",
                "--disable-pip-version-check",
                "-w",
                str(dist),
                str(REPO),
            ]
        )
        wheel = next(dist.glob("tenant_operations_console-*.whl"))

        step(f"installing {wheel.name} into a fresh venv (constraints.txt)")
        venv = tmp / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        py = venv / "bin" / "python"
        run(
            [
                str(py),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "-c",
                str(REPO / "constraints.txt"),
                str(wheel),
            ]
        )

        # Nothing from the checkout: another working folder, no PYTHONPATH.
        work = tmp / "run"
        work.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "PYTHON"))}
        env["CONSOLE_LOG_LEVEL"] = "WARNING"
        where = run(
            [str(py), "-c", "import console; print(console.__file__)"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        check(where.stdout.strip().startswith(str(venv)), f"console imported from {where.stdout.strip()}, not the venv")
        console = str(venv / "bin" / "console")
        run([console, "db", "upgrade"], cwd=work, env=env)
        run(
            [console, "users", "create", "--email", EMAIL, "--name", "Smoke", "--password-stdin"],
            cwd=work,
            env=env,
            input=PASSWORD + "\n",
            text=True,
            stdout=subprocess.DEVNULL,
        )

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        step(f"console serve on {base}")
        SERVE_LOG.append(tmp / "serve.log")
        log = open(tmp / "serve.log", "wb")  # closed with the process
        server = subprocess.Popen([console, "serve", "--port", str(port)], cwd=work, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(base + "/healthz", timeout=5)
                break
            except requests.ConnectionError:
                if server.poll() is not None or time.monotonic() > deadline:
                    fail("console serve did not answer /healthz")
                time.sleep(0.2)
        check(
            health.status_code == 200 and health.json()["status"] == "ok",
            f"/healthz: {health.status_code} {health.text}",
        )

        http = requests.Session()
        for asset, marker in (("guards.js", "visibilitychange"), ("console.css", "{")):
            r = http.get(f"{base}/assets/{asset}", timeout=10)
            check(r.status_code == 200 and marker in r.text, f"/assets/{asset}: {r.status_code}")

        form = http.get(base + "/login", timeout=10)
        check(form.status_code == 200 and 'name="csrf_token"' in form.text, f"/login: {form.status_code}")
        token = http.cookies.get("_csrf_token")
        check(bool(token), "no _csrf_token cookie on /login")
        signed_in = http.post(
            base + "/login",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
            headers={"Origin": base},
            allow_redirects=False,
            timeout=30,
        )
        check(signed_in.status_code == 302, f"sign-in: {signed_in.status_code} {signed_in.text[:300]}")
        page = http.get(base + "/", timeout=30)
        check(page.status_code == 200, f"/ after sign-in: {page.status_code}")
        check(
            "/assets/guards.js" in page.text and "/assets/console.css" in page.text, "the page does not load the assets"
        )

        # The poll's inputs and state come from the app's own dependency list, so a new input
        # (e.g. the run-kick stores) does not break the smoke: values are what a fresh page sends.
        deps = http.get(base + "/_dash-dependencies", timeout=30).json()
        spec = next(d for d in deps if "activity-shell.children" in d["output"])
        key = spec["output"]
        outputs = [{"id": p.rsplit(".", 1)[0], "property": p.rsplit(".", 1)[1]} for p in key.strip(".").split("...")]
        fresh = {("_pages_location", "pathname"): "/", ("activity-poll", "n_intervals"): 1}

        def values(items: list[dict]) -> list[dict]:
            return [{**item, "value": fresh.get((item["id"], item["property"]))} for item in items]

        poll = {
            "output": key,
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": values(spec["inputs"]),
            "state": values(spec["state"]),
            "changedPropIds": ["activity-poll.n_intervals"],
        }
        answer = http.post(
            base + "/_dash-update-component",
            data=json.dumps(poll),
            headers={"Content-Type": "application/json", "X-CSRFToken": http.cookies["_csrf_token"], "Origin": base},
            timeout=30,
        )
        check(
            answer.status_code == 200 and "activity-shell" in answer.text,
            f"poll: {answer.status_code} {answer.text[:300]}",
        )
        step(f"ok in {time.monotonic() - started:.0f} s")
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        for path in leftovers:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
