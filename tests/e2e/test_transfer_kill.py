"""The transfer agent of a real ``panda server`` process is SIGKILLed in the middle of a rule's copies,
the server is started again on the same task buffer, and every file arrives exactly once: the right
adler32 at the destination, one available replica row and one done request per file, nothing
half-written registered.

One source file is a named pipe the test writes: the first server's copy of it reads half the bytes
and then waits for the rest, so the kill always lands with that copy in flight (a kill timed by
polling the summary missed the few milliseconds a local copy is in flight on a loaded machine); the
restarted server claims it again once its lease expires, and its copy reads the whole file."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx

from pandawms.ddm.base import is_temporary_name
from tests.e2e.conftest import PANDA, free_port, wait_healthy

N_FILES = 120
SIZE = 512 * 1024
PIPE = 30  # the file whose source is a named pipe
SLOW_AGENT = {  # a few files per cycle, so the kill lands mid-rule; a short lease so a restart resumes soon
    "PANDA_TRANSFERS_INTERVAL": "0.3",
    "PANDA_TRANSFERS_BATCH_SIZE": "5",
    "PANDA_TRANSFERS_CONCURRENCY": "3",
    "PANDA_TRANSFERS_LEASE_SECONDS": "3",
    # the restarted server is a new holder of the agents' lease: it runs them once the killed one's expires
    "PANDA_LEASE_TTL": "3",
    "PANDA_LEASE_RENEW_INTERVAL": "1",
}


def start(data: Path, log_name: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [*PANDA, "server", "--port", str(port), "--data-dir", str(data), "--log-level", "warning"]
    log = (data / log_name).open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **SLOW_AGENT})
    api = f"http://127.0.0.1:{port}/api/v1"
    if not wait_healthy(api):
        proc.kill()
        raise RuntimeError((data / log_name).read_text())
    return proc, api


def call(api: str, method: str, path: str, **kw: Any) -> Any:
    resp = httpx.request(method, api + path, timeout=30, **kw)
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def content(i: int) -> bytes:
    return (f"file {i:04d} ".encode() * (SIZE // 10 + 1))[:SIZE]


def register(api: str, root: Path) -> None:
    entries = []
    for i in range(N_FILES):
        name = f"f.{i:04d}.root"
        path = root / "SRC" / "user.e2e" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if i == PIPE:
            os.mkfifo(path)
        else:
            path.write_bytes(content(i))
        guid = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        entries.append(
            {
                "scope": "user.e2e",
                "name": name,
                "bytes": SIZE,
                "adler32": f"{zlib.adler32(content(i)):08x}",
                "guid": guid,
            }
        )
    rses = [
        {"name": "SRC_DISK", "site": "A", "prefix": (root / "SRC").as_uri()},
        {"name": "DST_DISK", "site": "B", "prefix": (root / "DST").as_uri()},
    ]
    call(api, "POST", "/rse/upsert", json={"rses": rses})
    call(api, "POST", "/scope/add", json={"scope": "user.e2e"})
    call(api, "POST", "/did/add", json={"dids": [{"scope": "user.e2e", "name": "data"}]})
    call(
        api, "POST", "/did/add_files", json={"dataset": "user.e2e:data", "files": entries, "rse": "SRC_DISK"}
    )


def done_count(api: str) -> int:
    return int(sum(p["done"] for p in call(api, "GET", "/transfer/summary")))


def copying_after_20(api: str) -> bool:
    """At least 20 files done and a batch claimed (its copies running): the moment to kill."""
    pairs = call(api, "GET", "/transfer/summary")
    return bool(sum(p["done"] for p in pairs) >= 20 and sum(p["submitted"] for p in pairs) > 0)


class PipeWriter(threading.Thread):
    """Writes the named pipe to the next copy that opens it: ``limit`` bytes of the file, then (if that
    is not all of it) waits until ``release`` with the pipe held open, so the copy stays mid-file."""

    def __init__(self, path: Path, limit: int, timeout: float) -> None:
        super().__init__(daemon=True)
        self.path, self.limit, self.timeout = path, limit, timeout
        self.written, self.release = threading.Event(), threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            fd = self._open()
            try:
                data = memoryview(content(PIPE)[: self.limit])
                while data:
                    data = data[os.write(fd, data) :]
                self.written.set()
                if self.limit < SIZE:  # the copy has not seen the end of the file: it waits, mid-file
                    self.release.wait(self.timeout)
            finally:
                os.close(fd)
        except OSError as exc:  # the reader was killed mid-file: expected for the first writer only
            self.error = exc

    def _open(self) -> int:
        """The write end, once a copy holds the read end (a non-blocking open fails until then)."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
                continue
            os.set_blocking(fd, True)
            return fd


def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"not {what} after {timeout} s")


def test_sigkilled_transfer_agent_resumes_and_every_file_arrives_once(tmp_path: Path) -> None:
    data, storage = tmp_path / "server", tmp_path / "storage"
    data.mkdir()
    pipe = storage / "SRC" / "user.e2e" / f"f.{PIPE:04d}.root"
    half, whole = PipeWriter(pipe, SIZE // 2, 60), PipeWriter(pipe, SIZE, 120)
    first, api = start(data, "server-1.log")
    try:
        register(api, storage)
        rule = call(api, "POST", "/rule/add", json={"did": "user.e2e:data", "rse": "DST_DISK"})
        half.start()
        wait(lambda: half.written.is_set() and copying_after_20(api), 60, "20 files copied, one half")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        half.release.set()
        half.join(10)
    whole.start()
    second, api = start(data, "server-2.log")
    try:
        killed_at = done_count(api)
        assert 20 <= killed_at < N_FILES, "the kill must land in the middle of the rule"
        wait(lambda: call(api, "GET", "/rule/get", params={"id": rule["id"]})["state"] == "ok", 120, "ok")
        requests = call(api, "GET", "/transfer/list", params={"rule_id": rule["id"], "limit": 1000})["items"]
        replicas = call(api, "GET", "/replica/list", params={"did": "user.e2e:data", "limit": 1000})["items"]
    finally:
        second.terminate()
        second.wait(20)
        whole.release.set()
        whole.join(10)
    assert whole.error is None, f"the restarted server's copy of the pipe: {whole.error}"
    piped = next(r for r in requests if r["did"] == f"user.e2e:f.{PIPE:04d}.root")
    assert piped["attempt"] == 2, "the copy in flight at the kill is claimed again after its lease"
    assert len(requests) == N_FILES and {r["state"] for r in requests} == {"done"}
    assert sorted(r["did"] for r in requests) == [f"user.e2e:f.{i:04d}.root" for i in range(N_FILES)]
    at_dst = [r for r in replicas if r["rse"] == "DST_DISK"]
    assert len(at_dst) == N_FILES and {r["state"] for r in at_dst} == {"available"}
    assert not any(".part" in r["url"] for r in replicas)
    names = sorted(p.name for p in (storage / "DST" / "user.e2e").iterdir())
    arrived = [n for n in names if not is_temporary_name(n)]  # a killed copy's hidden .part may stay
    assert arrived == [f"f.{i:04d}.root" for i in range(N_FILES)]
    for i, name in enumerate(arrived):
        assert zlib.adler32((storage / "DST" / "user.e2e" / name).read_bytes()) == zlib.adler32(content(i))
