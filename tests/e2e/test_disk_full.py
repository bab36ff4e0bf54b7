"""A full disk (issue 12, finding 6): a real server whose data directory is on a small tmpfs that fills up
answers 503 with Retry-After instead of 500, says so in its health and readiness, leaves no partial log
file, and loses no job it acknowledged. (Mounting needs root, as the suite has in CI.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.conftest import PANDA, QUEUES, free_port, serving

# one job per request: one transaction, so a refused submit stored nothing (a bigger SQLite submit is stored
# in chunks, and one that fails after its first chunk is a 500 saying how many were stored)
JOB = {"transformation": "/bin/echo", "jobParameters": "x" * 50_000, "computingSite": "E2E_A"}
ROOM = 6 * 2**20  # free space on the small disk at the start: above the health threshold, soon used up


@contextmanager
def small_disk(mountpoint: Path, size: int) -> Iterator[Path]:
    mountpoint.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size // 1024}k", "tmpfs", str(mountpoint)], check=True
    )
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill_up(path: Path) -> None:
    """Write ``path`` until the file system has no byte left."""
    with path.open("wb", buffering=0) as f:
        for size in (2**20, 2**12, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError:
                continue


def _answer(api: str, path: str) -> httpx.Response | None:
    try:
        return httpx.get(api + path, timeout=30)
    except httpx.HTTPError:
        return None


def _wait_serving(api: str) -> None:
    for _ in range(1200):
        if _answer(api, "/health") is not None:
            return
        subprocess.run(["sleep", "0.1"], check=False)
    raise AssertionError("the server did not start")


def test_a_full_disk_gives_503_a_truthful_health_and_loses_no_acknowledged_job(tmp_path: Path) -> None:
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "queues.toml").write_text(QUEUES)
    with serving(seed, ["--queues", str(seed / "queues.toml"), "--no-agents"], {}) as srv:
        srv.post("/job/submit", {"jobs": [JOB]})  # given a task buffer migrated and in use
    used = sum(p.stat().st_size for p in seed.rglob("*") if p.is_file())
    with small_disk(tmp_path / "disk", used + ROOM) as disk:
        data = disk / "server"
        shutil.copytree(seed, data)
        args = ["--queues", str(data / "queues.toml"), "--no-agents"]
        port = free_port()
        api = f"http://127.0.0.1:{port}/api/v1"
        cmd = [*PANDA, "server", "--port", str(port), "--data-dir", str(data), *args, "--log-level", "error"]
        acknowledged: list[int] = []
        refusals: list[httpx.Response] = []
        # when it serves from that disk until the disk is full
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_serving(api)
            for _ in range(5000):
                resp = httpx.post(api + "/job/submit", json={"jobs": [JOB]}, timeout=60)
                if resp.status_code == 200:
                    acknowledged += [j["PandaID"] for j in resp.json()["data"]]
                    continue
                refusals.append(resp)
                if len(refusals) >= 3:
                    break
            health = _answer(api, "/health")
            ready = _answer(api, "/ready")
            upload = httpx.post(
                api + "/file_server/upload_log",
                params={"job_id": acknowledged[0], "filename": "log.tgz"},
                content=os.urandom(2 * ROOM),
                headers={"Content-Type": "application/octet-stream"},
                timeout=60,
            )
        finally:
            proc.terminate()
            proc.wait(20)
        # then writes were refused with 503 + Retry-After and the envelope, not a 500
        assert acknowledged and refusals, "the disk never filled"
        for resp in refusals:
            assert resp.status_code == 503, resp.text
            assert resp.headers["Retry-After"].isdigit() and resp.json()["success"] is False
        # and health and readiness tell the truth
        assert health is not None and health.status_code == 503, health and health.text
        assert health.json()["data"]["status"] == "degraded" and health.json()["data"]["problems"]
        assert ready is not None and ready.status_code == 503 and ready.json()["data"]["ready"] is False
        # and the failed log upload is a 503 that left no partial file
        assert upload.status_code == 503, upload.text
        logs = data / "logs"
        assert not logs.exists() or not [p for p in logs.rglob("*") if p.is_file()]
        # and a server restarted on the full disk (not one byte free) starts, reads and says it is degraded
        # (small writes may still fit in the WAL's old pages; tests/db/test_degraded_start.py has a
        # database that takes no write at all)
        fill_up(disk / "filler")
        again = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _wait_serving(api)
            restarted_health = _answer(api, "/health")
            read = httpx.get(api + "/job/get_status", params={"job_ids": acknowledged[:5]}, timeout=30)
            write = httpx.post(api + "/job/submit", json={"jobs": [JOB]}, timeout=60)
        finally:
            again.terminate()
            _, stderr = again.communicate(timeout=20)
        assert restarted_health is not None and restarted_health.status_code == 503, stderr
        assert restarted_health.json()["data"]["status"] == "degraded"
        assert read.status_code == 200 and [e["PandaID"] for e in read.json()["data"]] == acknowledged[:5]
        assert write.status_code == 503 and write.headers["Retry-After"].isdigit(), write.text
        # and once there is room again, every acknowledged job is there
        (disk / "filler").unlink()
        subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
        with serving(data, args, {}) as srv:
            for start in range(0, len(acknowledged), 500):
                found = srv.get("/job/get_status", job_ids=acknowledged[start : start + 500])
                assert all(e["jobStatus"] is not None for e in found)
