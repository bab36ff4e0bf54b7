"""Small API helpers for db/api tests: submit jobs, run a pilot cycle through the real endpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event

from pandawms.config import ServerConfig
from pandawms.db.engine import Database
from pandawms.server.app import create_app
from tests.conftest import DEFAULT_QUEUES, FrozenClock, add_queues

API = "/api/v1"


def ok(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["success"] is True, body
    return body["data"]


def submit(client: TestClient, n: int = 1, **fields: Any) -> list[dict[str, Any]]:
    job = {"transformation": "/bin/echo", "jobParameters": "hello", "prodUserName": "alice", **fields}
    data: list[dict[str, Any]] = ok(client.post(f"{API}/job/submit", json={"jobs": [job] * n}))
    return data


def acquire(client: TestClient, site: str, n: int = 1, **kw: Any) -> list[dict[str, Any]]:
    data = ok(client.post(f"{API}/pilot/acquire_jobs", json={"site_name": site, "n_jobs": n, **kw}))
    jobs: list[dict[str, Any]] = data["jobs"]
    return jobs


def update(client: TestClient, job_id: int, status: str, **kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = ok(
        client.post(f"{API}/pilot/update_job", json={"job_id": job_id, "job_status": status, **kw})
    )
    return data


def describe(client: TestClient, job_id: int) -> dict[str, Any]:
    data: dict[str, Any] = ok(client.get(f"{API}/job/get_description", params={"job_id": job_id}))
    return data


def status_of(client: TestClient, job_id: int) -> str:
    return str(describe(client, job_id)["job"]["jobStatus"])


def count_commits(db: Database) -> list[int]:
    """A counter (``[n]``) of the commits of ``db``'s writer engine from now on."""
    commits = [0]

    @event.listens_for(db.writer, "commit")
    def _on_commit(_conn: Connection) -> None:
        commits[0] += 1

    return commits


def queue_app(db: Database, clock: FrozenClock, data_dir: Path) -> FastAPI:
    """A server app on ``db`` (no agents) with the default queues, for an ASGI client on the test's loop."""
    add_queues(db, DEFAULT_QUEUES, clock())
    return create_app(ServerConfig(agents=False, db_url=db.url, data_dir=data_dir), db, clock=clock)
