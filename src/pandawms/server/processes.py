"""How the server runs as processes: N stateless workers on one port, or the agents alone.

``--workers N`` (N > 1): a small supervisor spawns N worker processes; each binds its own listening
socket on the port with SO_REUSEPORT, so the kernel spreads connections over the workers by their
address hash. uvicorn's own ``workers=`` (one socket shared by all) was tried first: pilots keep their
connection open, and a burst of 8 new connections all landed in one worker (measured [8, 0]), so a
second worker added nothing. The supervisor holds the port with a bound, non-listening SO_REUSEPORT
socket (a port in use fails at once), restarts a worker that exits unless it failed to start (then
everything stops with exit 1), and on SIGTERM/SIGINT stops the workers (each shuts down gracefully
and releases the agents' lease if it held it). A worker that dies loses only the connections queued
on its socket. Each worker gets the typed ServerConfig read once by ``main()`` (pickled into the
spawned process), builds its own app and database pool, and runs an agent runner gated by the
database lease, so the agents run in one process of all servers on the database.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from pandawms.agents.runner import utcnow
from pandawms.config import ServerConfig
from pandawms.core.retry import parse_error_keys
from pandawms.db import leases as leases_db
from pandawms.db.engine import Database
from pandawms.server.app import agent_runner, create_app, prepare
from pandawms.services.termination import JobRetryPolicy

log = logging.getLogger("pandawms.server")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SUPERVISE_EVERY_S = 0.5
WORKER_STOP_TIMEOUT_S = 30.0
SQLITE_MULTI_WORKER = (
    "--workers > 1 needs PostgreSQL: SQLite has one writer per database file, so worker processes "
    "would queue on each other's file lock (with the event loop blocked) instead of sharing the work; "
    "use one worker on SQLite"
)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


def reuseport_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) with SO_REUSEPORT (not yet listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def _worker(config: ServerConfig, options: dict[str, Any]) -> None:
    """One worker process: its own app, database pool, agent runner and listening socket."""
    configure_logging(config.log_level)
    sock = reuseport_socket(config.host, config.port)
    server = uvicorn.Server(uvicorn.Config(create_app(config), **options))
    server.run(sockets=[sock])
    if not server.started:  # the lifespan failed (database, queue file): the supervisor stops
        sys.exit(STARTUP_FAILURE)


class Supervisor:
    """Keeps ``config.workers`` worker processes running until stop()."""

    def __init__(self, config: ServerConfig, options: dict[str, Any]) -> None:
        self.config = config
        self.options = options
        self.stopping = threading.Event()
        self._spawn = multiprocessing.get_context("spawn")
        self.workers: list[BaseProcess] = []

    def _start(self) -> BaseProcess:
        proc = self._spawn.Process(target=_worker, args=(self.config, self.options), name="panda-worker")
        proc.start()
        return proc

    def run(self) -> int:
        """Supervise until stop() (0) or until a worker cannot start (1)."""
        self.workers = [self._start() for _ in range(self.config.workers)]
        log.info("supervisor: %d workers %s", len(self.workers), [w.pid for w in self.workers])
        failed = False
        while not self.stopping.wait(SUPERVISE_EVERY_S) and not failed:
            for i, proc in enumerate(self.workers):
                if proc.is_alive() or self.stopping.is_set():
                    continue
                if proc.exitcode == STARTUP_FAILURE:
                    log.error("supervisor: worker %s failed to start; stopping", proc.pid)
                    failed = True
                    break
                self.workers[i] = self._start()
                log.warning(
                    "supervisor: worker %s exited (%s); started %s",
                    proc.pid,
                    proc.exitcode,
                    self.workers[i].pid,
                )
        self._stop_workers()
        return 1 if failed else 0

    def stop(self) -> None:
        self.stopping.set()

    def _stop_workers(self) -> None:
        for proc in self.workers:
            if proc.is_alive():
                proc.terminate()  # SIGTERM: uvicorn shuts down gracefully, the lifespan releases the lease
        for proc in self.workers:
            proc.join(WORKER_STOP_TIMEOUT_S)
            if proc.is_alive():
                proc.kill()
                proc.join(5)


def check_workers(config: ServerConfig) -> str | None:
    """Why this config cannot run its workers, or None."""
    if config.workers > 1 and config.resolved_db_url.startswith("sqlite"):
        return SQLITE_MULTI_WORKER
    return None


def serve(config: ServerConfig, **options: Any) -> int:
    """Serve the API with ``config.workers`` processes; ``options`` are uvicorn's (host, port, ssl_*).
    The exit status: 0 after SIGTERM/SIGINT, 1 when a worker could not start."""
    if config.workers == 1:
        uvicorn.run(create_app(config), **options)
        return 0
    try:  # the port is ours (or fail now, once)
        reserved = reuseport_socket(config.host, config.port)
    except OSError as exc:
        log.error("cannot bind %s:%d: %s", config.host, config.port, exc)
        return 1
    try:
        db = Database(config.resolved_db_url, pool_size=2)
        try:  # once here, so a bad queue file fails once with its message instead of in every worker
            with leases_db.startup_lock(db):
                prepare(db, config, utcnow())
        finally:
            db.dispose()
        supervisor = Supervisor(config, options)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda _signum, _frame: supervisor.stop())
        return supervisor.run()
    finally:
        reserved.close()


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
