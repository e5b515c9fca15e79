"""``console serve``, ``console worker`` and ``console beat`` refuse to start on unusable pack
storage settings: exit code 2, one ``error:`` line naming the setting, nothing started."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.integration.s3server import AWS_ENV, S3Endpoint, s3_endpoint  # noqa: F401 - fixture


def console(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture
def base_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "AWS_"))}
    return env | {"CONSOLE_INSTANCE_DIR": str(tmp_path / "instance"), "CONSOLE_SECRET_KEY": "x", **AWS_ENV}


def assert_refused(result: subprocess.CompletedProcess, message: str) -> None:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert (result.returncode, result.stdout, errors) == (2, "", [f"error: {message}"]), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["serve", "worker", "beat"])
def test_an_unknown_scheme_stops_every_process_at_start(command, base_env) -> None:
    result = console(command, env=base_env | {"CONSOLE_STORAGE_URL": "ftp://files/packs"})
    assert_refused(result, "CONSOLE_STORAGE_URL: unknown scheme 'ftp'; use file:///path or s3://bucket/prefix")


def test_a_folder_that_is_not_there_stops_the_worker(base_env, tmp_path) -> None:
    missing = tmp_path / "not-mounted"
    result = console("worker", env=base_env | {"CONSOLE_STORAGE_URL": f"file://{missing}"})
    assert_refused(result, f"CONSOLE_STORAGE_URL: folder {missing} does not exist (create it or mount the volume)")


def test_a_bucket_that_does_not_exist_stops_beat(base_env, s3_endpoint: S3Endpoint) -> None:  # noqa: F811
    env = base_env | {"CONSOLE_STORAGE_URL": "s3://absent-bucket/packs", "CONSOLE_S3_ENDPOINT_URL": s3_endpoint.url}
    result = console("beat", env=env)
    assert_refused(result, "CONSOLE_STORAGE_URL=s3://absent-bucket/packs: bucket 'absent-bucket' does not exist")


def test_missing_credentials_stop_serve(base_env, s3_endpoint: S3Endpoint) -> None:  # noqa: F811
    bucket = s3_endpoint.new_bucket()
    env = {k: v for k, v in base_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env |= {"CONSOLE_STORAGE_URL": f"s3://{bucket}", "CONSOLE_S3_ENDPOINT_URL": s3_endpoint.url}
    result = console("serve", "--port", "1", env=env)
    assert_refused(
        result,
        f"CONSOLE_STORAGE_URL=s3://{bucket}: no AWS credentials found"
        " (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
    )
