"""How the server runs as processes: N stateless workers on one port, or the agents alone.

``--workers N`` (N > 1) uses uvicorn's own supervisor: the parent binds the port once and spawns N
worker processes that accept on the shared socket; it restarts a worker that dies or stops answering
its health ping, stops when a worker cannot start, and handles SIGTERM/SIGINT (stop all), SIGHUP
(rolling restart) and SIGTTIN/SIGTTOU (one worker more/less). Chosen over our own SO_REUSEPORT
supervisor because all of that is maintained upstream, and a shared accept queue loses no
connection when a worker dies (a SO_REUSEPORT socket drops the connections queued on it). Each
worker gets the typed ServerConfig read once by ``main()`` (pickled into the spawned process by
``WorkerConfig``), builds its own app and database pool, and runs an agent runner gated by the
database lease, so the agents run in one process of all servers on the database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from pandawms.agents.runner import utcnow
from pandawms.config import ServerConfig
from pandawms.core.retry import parse_error_keys
from pandawms.db import leases as leases_db
from pandawms.db.engine import Database
from pandawms.server.app import agent_runner, create_app, prepare
from pandawms.services.termination import JobRetryPolicy

log = logging.getLogger("pandawms.server")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
WORKER_HEALTHCHECK_S = 30  # a worker whose ping thread cannot answer this long is killed and replaced
SQLITE_MULTI_WORKER = (
    "--workers > 1 needs PostgreSQL: SQLite has one writer per database file, so worker processes "
    "would queue on each other's file lock (with the event loop blocked) instead of sharing the work; "
    "use one worker on SQLite"
)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


class WorkerConfig(uvicorn.Config):
    """uvicorn's config, carrying our ServerConfig into each spawned worker, which builds its app in
    ``load()`` (uvicorn's workers otherwise import a module-level app by name)."""

    def __init__(self, server_config: ServerConfig, **options: Any) -> None:
        super().__init__("pandawms.server.app:create_app", **options)  # a name only: load() builds the app
        self.server_config = server_config

    def load(self) -> None:
        if not self.loaded:  # in the worker process
            configure_logging(self.server_config.log_level)
            self.app = create_app(self.server_config)
        super().load()


def check_workers(config: ServerConfig) -> str | None:
    """Why this config cannot run its workers, or None."""
    if config.workers > 1 and config.resolved_db_url.startswith("sqlite"):
        return SQLITE_MULTI_WORKER
    return None


def serve(config: ServerConfig, **options: Any) -> None:
    """Serve the API with ``config.workers`` processes; ``options`` are uvicorn's (host, port, ssl_*)."""
    if config.workers == 1:
        uvicorn.run(create_app(config), **options)
        return
    db = Database(config.resolved_db_url, pool_size=2)
    try:  # once here, so a bad queue file fails once with its message instead of in every worker
        with leases_db.startup_lock(db):
            prepare(db, config, utcnow())
    finally:
        db.dispose()
    worker = WorkerConfig(
        config, workers=config.workers, timeout_worker_healthcheck=WORKER_HEALTHCHECK_S, **options
    )
    sock = worker.bind_socket()
    try:
        Multiprocess(worker, sockets=[sock]).run()
    finally:
        sock.close()


def run_agents(
    config: ServerConfig, stop: threading.Event, *, clock: Callable[[], datetime] = utcnow
) -> None:
    """``panda agents``: the periodic agents without the API, under the same lease as the servers'."""
    db = Database(config.resolved_db_url, pool_size=4)
    try:
        with leases_db.startup_lock(db):
            prepare(db, config, clock())
        policy = JobRetryPolicy(non_retryable=parse_error_keys(config.non_retryable))
        runner = agent_runner(db, config, policy, clock)
        runner.start()
        try:
            stop.wait()
        finally:
            runner.stop()
    finally:
        db.dispose()
