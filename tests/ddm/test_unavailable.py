"""A storage that does not answer is StorageUnavailable (retry later), within the configured bounds."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pandawms.bench.storageservers import S3Server, free_port
from pandawms.ddm.base import NotFound, StorageUnavailable
from pandawms.ddm.s3 import S3Backend, S3Config
from tests.storageservers import s3_config

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_s3_endpoint_that_does_not_answer_is_unavailable() -> None:
    url = "s3://bucket/key"
    backend = S3Backend(
        S3Config(f"http://127.0.0.1:{free_port()}", "k", "s", connect_timeout=1, max_attempts=1)
    )

    with pytest.raises(StorageUnavailable, match="s3://bucket/key") as info:
        backend.stat(url)
    assert info.value.url == url


def test_s3_missing_bucket_is_not_found(s3_server: S3Server, tmp_path: Path) -> None:
    (tmp_path / "in").write_bytes(b"x")
    with pytest.raises(NotFound, match="NoSuchBucket"):
        S3Backend(s3_config(s3_server)).upload(tmp_path / "in", "s3://no-such-bucket/key")


def test_xrootd_server_that_does_not_answer_is_unavailable_within_the_window() -> None:
    # XrdCl's connection settings are process-wide: try in a separate process so the session keeps its own
    script = (
        "import sys\n"
        "from pandawms.ddm.base import StorageUnavailable\n"
        "from pandawms.ddm.xrootd import XRootDBackend, XRootDConfig\n"
        "backend = XRootDBackend(XRootDConfig(connection_window=1, connection_retry=1))\n"
        "try:\n"
        f"    backend.stat('root://127.0.0.1:{free_port()}//x')\n"
        "except StorageUnavailable as exc:\n"
        "    print(type(exc).__name__, exc.url)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env={"PYTHONPATH": SRC}
    )

    assert done.stdout.startswith("StorageUnavailable root://127.0.0.1:"), done.stdout + done.stderr
    assert time.monotonic() - started < 20
