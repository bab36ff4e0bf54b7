"""A full disk (issue 12, finding 6): a real server whose files cannot grow past a size limit (RLIMIT_FSIZE,
so writes fail as on a full disk) answers 503 with Retry-After instead of 500, says so in its health and
readiness, leaves no partial log file, and loses no job it acknowledged."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from pathlib import Path

import httpx

from tests.e2e.conftest import PANDA, QUEUES, free_port, serving, wait_healthy

BATCH = [{"transformation": "/bin/echo", "jobParameters": "x" * 2000, "computingSite": "E2E_A"}] * 20


def _limit_files(max_bytes: int) -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


def _largest_file(folder: Path) -> int:
    return max(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_full_disk_gives_503_a_truthful_health_and_loses_no_acknowledged_job(tmp_path: Path) -> None:
    data = tmp_path / "server"
    data.mkdir()
    (data / "queues.toml").write_text(QUEUES)
    args = ["--queues", str(data / "queues.toml"), "--no-agents"]
    # given a server that has run once (schema migrated, queues loaded)
    with serving(data, args, {}) as srv:
        srv.post("/job/submit", {"jobs": BATCH[:1]})
    # when it runs again on a disk with room for only a few hundred kB more in any file
    limit = _largest_file(data) + 300_000
    port = free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    cmd = [*PANDA, "server", "--port", str(port), "--data-dir", str(data), *args, "--log-level", "error"]
    acknowledged: list[int] = []
    refusals: list[httpx.Response] = []
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=lambda: _limit_files(limit)
    )
    try:
        assert wait_healthy(api, timeout=120), "the server did not start"
        for _ in range(60):
            resp = httpx.post(api + "/job/submit", json={"jobs": BATCH}, timeout=60)
            if resp.status_code == 200:
                acknowledged += [j["PandaID"] for j in resp.json()["data"]]
                continue
            refusals.append(resp)
            if len(refusals) >= 3:
                break
        health = httpx.get(api + "/health", timeout=30)
        ready = httpx.get(api + "/ready", timeout=30)
        upload = httpx.post(
            api + "/file_server/upload_log",
            params={"job_id": acknowledged[0], "filename": "log.tgz"},
            content=os.urandom(400_000),
            headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
    finally:
        proc.terminate()
        proc.wait(20)
    # then writes were refused with 503 + Retry-After and the envelope, not a 500
    assert refusals, "the size limit was never reached"
    for resp in refusals:
        assert resp.status_code == 503, resp.text
        assert resp.headers["Retry-After"].isdigit() and resp.json()["success"] is False
    # and health and readiness tell the truth
    assert health.status_code == 503 and health.json()["data"]["status"] == "degraded", health.text
    assert not health.json()["data"]["writable"] and health.json()["data"]["problems"]
    assert ready.status_code == 503 and ready.json()["data"]["ready"] is False
    # and the failed log upload is a 503 that left no partial file
    assert upload.status_code == 503, upload.text
    assert not [p for p in (data / "logs").rglob("*") if p.is_file()] if (data / "logs").exists() else True
    # and after a restart with room again, every acknowledged job is there
    with serving(data, args, {}) as srv:
        found = srv.get("/job/get_status", job_ids=acknowledged)
        assert [e["PandaID"] for e in found if e["jobStatus"] is not None] == acknowledged
