"""End-to-end fixtures: a real ``panda server`` process with fast watchdogs, and pilot processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

QUEUES = """
[[queue]]
name = "E2E_A"
cores = 2
max_memory_per_core = 2000
max_walltime = 600

[[queue]]
name = "E2E_B"
cores = 2
max_memory_per_core = 2000
max_walltime = 600
"""
FAST_WATCHDOGS = {
    "PANDA_WATCHDOG_INTERVAL": "1",
    "PANDA_WATCHDOG_LOST_HEARTBEAT": "6",
    "PANDA_WATCHDOG_SENT_TIMEOUT": "60",
}
PANDA = [sys.executable, "-m", "pandawms.cli.main"]


def wait_healthy(api: str, timeout: float = 120) -> bool:  # a loaded 2-core machine: imports + migrate
    """Poll ``api``/health until it answers 200; False when ``timeout`` s pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(api + "/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    root: str
    api: str
    data_dir: Path
    proc: subprocess.Popen[bytes]

    def get(self, path: str, **params: Any) -> Any:
        resp = httpx.get(self.api + path, params=params, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = httpx.post(self.api + path, json=body, timeout=60)
        assert resp.status_code == 200, resp.text
        return resp.json()["data"]

    def job(self, panda_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self.get("/job/get_description", job_id=panda_id)
        return data

    def wait_for(self, panda_id: int, states: set[str], timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = self.job(panda_id)
            if d["job"]["jobStatus"] in states:
                return d
            time.sleep(0.3)
        raise AssertionError(f"job {panda_id} not in {states} after {timeout} s: {self.job(panda_id)}")


@contextlib.contextmanager
def serving(data: Path, args: list[str], env: dict[str, str], start_timeout: float = 120) -> Iterator[Server]:
    """A real ``panda server`` on the data dir ``data`` (created) with extra ``args`` and environment,
    stopped after; a server that does not come up fails with its log."""
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [*PANDA, "server", "--port", str(port), "--data-dir", str(data), *args, "--log-level", "warning"]
    with (data / "server.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env})
        root = f"http://127.0.0.1:{port}"
        if not wait_healthy(root + "/api/v1", start_timeout):
            proc.kill()
            raise RuntimeError((data / "server.log").read_text())
        try:
            yield Server(root, root + "/api/v1", data, proc)
        finally:
            proc.terminate()
            proc.wait(20)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data = tmp_path / "server"
    data.mkdir()
    (data / "queues.toml").write_text(QUEUES)
    with serving(data, ["--queues", str(data / "queues.toml")], FAST_WATCHDOGS) as srv:
        yield srv


def start_pilot(server: Server, queue: str, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A real pilot process in its own session (so a test can SIGKILL it with its payload)."""
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [
        *PANDA,
        "pilot",
        "--server",
        server.root,
        "--queue",
        queue,
        "--workdir",
        str(workdir),
        "--heartbeat",
        "1",
        "--kill-grace",
        "1",
        "--max-empty",
        "1",
        *extra,
    ]
    log = (workdir / "pilot.out").open("wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def kill_session(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
