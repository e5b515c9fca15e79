"""A bench-only task loaded into a real ``console worker`` (``--include bench.pack_worker``): it
uploads a large pack through the worker's own pack storage, inside the worker process, and
writes what that cost to a JSON file (the bench runs without a Celery result backend)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from console.config import load_settings
from console.review_packs.storage import file_digest, storage_for
from tasks import app


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


@app.task(name="bench.pack_upload")
def pack_upload(mb: int, result_path: str) -> None:
    """Stage an ``mb`` MiB pack as generation does, then ``save`` it: RSS before and peak of that save."""
    storage = storage_for(load_settings())  # the storage the worker's real pack task used
    name = f"review-pack-9000-{os.getpid():x}.zip"
    source = storage.temp_path(name)
    with source.open("wb") as fh:
        for _ in range(mb):
            fh.write(os.urandom(1 << 20))
    size, sha = file_digest(source)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the next peak is the save's
    before = rss_mb()
    started = time.perf_counter()
    ref = storage.save(name, source, size=size, sha256=sha)
    seconds = time.perf_counter() - started
    result = {"ref": ref, "size": size, "sha256": sha, "seconds": seconds, "rss_before": before}
    result["peak"] = rss_mb("VmHWM")
    Path(result_path).write_text(json.dumps(result))
