"""A real pandawms server (uvicorn, real HTTP, SQLite) in a background thread, for pilot and CLI tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from pandawms.config import ServerConfig, WatchdogConfig
from pandawms.server.app import create_app
from tests.livesupport.dbtemplate import migrated_sqlite_url

DEFAULT_QUEUES = """
[[queue]]
name = "TEST_QUEUE"
cores = 4
max_memory_per_core = 2000
max_walltime = 3600
"""


@dataclass(frozen=True)
class LiveServer:
    url: str  # base URL without /api/v1, e.g. http://127.0.0.1:PORT
    data_dir: Path

    @property
    def api(self) -> str:
        return self.url + "/api/v1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port in a daemon thread; yields its root URL once healthy."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # startup only: a loaded shared 2-core machine can take long
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    else:
        raise RuntimeError("live server did not start")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def live_server(
    data_dir: Path,
    queues_toml: str = DEFAULT_QUEUES,
    watchdog: WatchdogConfig | None = None,
    agents: bool = False,
) -> Iterator[LiveServer]:
    data_dir.mkdir(parents=True, exist_ok=True)
    qfile = data_dir / "queues.toml"
    qfile.write_text(queues_toml)
    db_file = data_dir / "panda.db"
    if not db_file.exists():  # a copy of the migrated template: the server's own migration is then a no-op
        migrated_sqlite_url(db_file)
    cfg = ServerConfig(
        data_dir=data_dir, queues_file=qfile, agents=agents, watchdog=watchdog or WatchdogConfig()
    )
    with serve_in_thread(create_app(cfg)) as url:
        yield LiveServer(url, data_dir)
