"""XRootD copies run in XrdCl's C++ buffers, which tracemalloc cannot see: measure the process's peak
resident memory (VmHWM) in a fresh process instead. A copy that held the file would grow by its size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pandawms.bench.storageservers import XRootDServer

SRC = str(Path(__file__).resolve().parents[2] / "src")
SIZE = 128 * 1024 * 1024
BOUND = 96 * 1024 * 1024  # 2 x chunk_size x parallel_chunks (32 MiB) plus slack, well under SIZE

PROBE = """
import sys
from pathlib import Path
from pandawms.ddm.xrootd import XRootDBackend

def peak() -> int:
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) * 1024

url, src, tiny, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
backend = XRootDBackend()
backend.upload(tiny, url + ".tiny")  # XrdCl's threads and buffers exist from here on
backend.download(url + ".tiny", out.with_suffix(".tiny"))
before = peak()
backend.upload(src, url)
backend.download(url, out)
print(peak() - before)
"""


def test_xrootd_upload_and_download_stream_in_bounded_memory(
    xrootd_server: XRootDServer, tmp_path: Path
) -> None:
    src, tiny = tmp_path / "big.dat", tmp_path / "tiny.dat"
    with src.open("wb") as fh:
        for _ in range(SIZE // 2**20):
            fh.write(os.urandom(2**20))
    tiny.write_bytes(b"x")
    url = f"{xrootd_server.url}/memory/big.dat"

    done = subprocess.run(
        [sys.executable, "-c", PROBE, url, str(src), str(tiny), str(tmp_path / "back.dat")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": SRC},
    )

    assert done.returncode == 0, done.stderr
    growth = int(done.stdout)
    assert growth < BOUND, f"peak RSS grew {growth / 2**20:.0f} MiB copying a {SIZE // 2**20} MiB file"
    assert (tmp_path / "back.dat").stat().st_size == SIZE
