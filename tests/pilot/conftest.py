"""Fixtures for pilot tests against a real pandawms server (uvicorn, real HTTP) shared per module; each
test gets its own queue so jobs never leak between tests."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pandawms.pilot.config import PilotConfig
from tests.livesupport.live_server import LiveServer, live_server


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("srv")) as server:
        yield server


@dataclasses.dataclass
class Site:
    """A queue of its own on the shared server, with helpers to submit and inspect jobs."""

    srv: LiveServer
    name: str
    workdir: Path

    def submit(self, **fields: Any) -> int:
        job = {
            "transformation": "python3",
            "jobParameters": "-c 'print(1)'",
            "computingSite": self.name,
            "maxWalltime": 60,
            **fields,
        }
        r = httpx.post(self.srv.api + "/job/submit", json={"jobs": [job]}, timeout=10)
        assert r.status_code == 200, r.text
        return int(r.json()["data"][0]["PandaID"])

    def job(self, panda_id: int) -> dict[str, Any]:
        r = httpx.get(self.srv.api + "/job/get_description", params={"job_id": panda_id}, timeout=10)
        assert r.status_code == 200, r.text
        job: dict[str, Any] = r.json()["data"]["job"]
        return job

    def pilot_errors(self, panda_id: int) -> list[int]:
        return [e["code"] for e in self.job(panda_id)["errors"] if e["component"] == "pilot"]

    def wait_for(self, panda_id: int, statuses: set[str], timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.job(panda_id)
            if job["jobStatus"] in statuses or time.monotonic() > deadline:
                return job
            time.sleep(0.1)

    def config(self, **overrides: Any) -> PilotConfig:
        values: dict[str, Any] = {
            "server_url": self.srv.url,
            "queue": self.name,
            "workdir": self.workdir,
            "heartbeat_interval": 1.0,
            "monitor_interval": 0.2,
            "kill_grace": 1.0,
            "max_empty_acquires": 1,
            "backoff_base": 0.05,
            "backoff_cap": 0.2,
            "backoff_budget": 3.0,
            "final_update_budget": 5.0,
            "http_timeout": 10.0,
        }
        values.update(overrides)
        return PilotConfig(**values)


@pytest.fixture
def site(srv: LiveServer, request: pytest.FixtureRequest, tmp_path: Path) -> Site:
    name = "Q_" + re.sub(r"[^A-Za-z0-9]", "_", request.node.name)[:60]
    queue = {"name": name, "cores": 4, "max_memory_per_core": 2000, "max_walltime": 3600}
    r = httpx.post(srv.api + "/queue/upsert", json=queue, timeout=10)
    assert r.status_code == 200, r.text
    return Site(srv, name, tmp_path / "pilot")
