"""Drive jobs through the real API for monitor tests: submit, dispatch, run, finish or fail."""

from __future__ import annotations

import io
import tarfile
from typing import Any

from fastapi.testclient import TestClient

from tests.db.helpers import API, acquire, ok, submit, update


def page_json(client: TestClient, url: str) -> dict[str, Any]:
    resp = client.get(url, params={"json": ""}) if "?" not in url else client.get(url + "&json")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    data: dict[str, Any] = resp.json()
    return data


def run_jobs(
    client: TestClient, site: str, n: int, *, user: str = "alice", fail: int = 0, code: int = 1099
) -> list[int]:
    """Submit n jobs to ``site`` and end them: the first ``fail`` fail with pilot ``code``, others finish."""
    jobs = submit(client, n, computingSite=site, prodUserName=user)
    ids = [j["PandaID"] for j in jobs]
    got = acquire(client, site, n)
    assert sorted(j["PandaID"] for j in got) == sorted(ids)
    for i, pid in enumerate(ids):
        update(client, pid, "running")
        if i < fail:
            update(
                client,
                pid,
                "failed",
                pilot_error_code=code,
                pilot_error_diag=f"stage-in of in{i}.root failed",
            )
        else:
            update(client, pid, "finished", cpu_consumption_time=3600, max_pss=2_000_000, max_rss=2_100_000)
    return ids


def make_tarball(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload_log(client: TestClient, panda_id: int, data: bytes, filename: str = "log.tgz") -> None:
    ok(
        client.post(
            f"{API}/file_server/upload_log",
            params={"job_id": panda_id, "filename": filename},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
    )
