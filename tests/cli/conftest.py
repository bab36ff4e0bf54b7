"""A real server over HTTP and a `panda` app holding only the user commands."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner, Result

from pandawms.cli.user import register
from tests.livesupport.live_server import LiveServer, live_server


@dataclass
class Panda:
    """Runs `panda ...` against one live server and plays the pilot over its API."""

    srv: LiveServer
    app: typer.Typer
    runner: CliRunner

    def __call__(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        argv = [*args] if env and "PANDA_URL" in env else [*args, "--server", self.srv.url]
        return self.runner.invoke(self.app, argv, input=input, env={"COLUMNS": "200", **(env or {})})

    def post(self, path: str, body: dict[str, Any]) -> Any:
        resp = httpx.post(self.srv.api + path, json=body, timeout=10)
        resp.raise_for_status()
        return resp.json()["data"]

    def dispatch(self, n: int = 100) -> list[int]:
        """Claim activated jobs like a pilot would (activated -> sent)."""
        got = self.post("/pilot/acquire_jobs", {"site_name": "TEST_QUEUE", "n_jobs": n})
        return [j["PandaID"] for j in got["jobs"]]

    def report(self, job_id: int, status: str, **extra: Any) -> None:
        self.post("/pilot/update_job", {"job_id": job_id, "job_status": status, **extra})

    def fail(self, job_id: int, code: int = 1305, diag: str = "payload exit code 1") -> None:
        self.report(job_id, "running")
        self.report(job_id, "failed", pilot_error_code=code, pilot_error_diag=diag)

    def upload_log(self, job_id: int, data: bytes) -> None:
        params: dict[str, str | int] = {"job_id": job_id, "filename": "log.tgz"}
        httpx.post(self.srv.api + "/file_server/upload_log", params=params, content=data).raise_for_status()


@pytest.fixture
def panda(tmp_path: Path) -> Iterator[Panda]:
    app = typer.Typer()
    register(app)
    with live_server(tmp_path / "srv") as srv:
        yield Panda(srv, app, CliRunner())
