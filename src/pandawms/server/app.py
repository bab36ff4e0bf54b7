"""The ASGI application, composed from explicit lists: routers, exception handlers, lifespan."""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from pandawms import __version__
from pandawms.agents.brokerage import brokerage_agent
from pandawms.agents.data import data_agents
from pandawms.agents.jedi import jedi_agents
from pandawms.agents.jedi_control import control_settings, jedi_control_agents
from pandawms.agents.job_stats import job_stats_agent
from pandawms.agents.lease import LeaseKeeper
from pandawms.agents.planner_stats import planner_stats_agent
from pandawms.agents.queue_file import load_rses, queue_file_agent, rse_file_agent
from pandawms.agents.runner import Agent, AgentRunner, utcnow
from pandawms.agents.transfers import rule_expiry_agent, transfer_agent
from pandawms.agents.wal import wal_checkpoint_agent
from pandawms.agents.watchdogs import acquire_requests_agent, missed_workers_agent, watchdog_agents
from pandawms.config import ServerConfig
from pandawms.core.errors import PandaError
from pandawms.core.retry import parse_error_keys
from pandawms.db import leases as leases_db
from pandawms.db import migrate
from pandawms.db.engine import Database
from pandawms.monitor import mount_monitor
from pandawms.monitor.refusals import page_refusal
from pandawms.protocol import paths
from pandawms.protocol.queues import parse_queue_file
from pandawms.server import (
    compat_client,
    compat_pilot,
    routes_auth,
    routes_data,
    routes_device,
    routes_files,
    routes_harvester,
    routes_jobs,
    routes_pilot,
    routes_queues,
    routes_system,
    routes_task_commands,
    routes_tasks,
    routes_transfers,
    routes_uploads,
)
from pandawms.server.auth import AuthGate
from pandawms.server.bodies import MAX_DECODED_BODY, GzipBodies
from pandawms.server.context import ServerContext
from pandawms.server.errordocs import ERROR_RESPONSES
from pandawms.server.fastpath import PATHS as FAST_PATHS
from pandawms.server.fastpath import PilotFastPath
from pandawms.server.guards import ErrorEnvelope, RequestGuard, describe_failure
from pandawms.server.headers import SecurityHeaders
from pandawms.server.responses import http_error_handler, panda_error_handler, validation_error_handler
from pandawms.services import queues as queue_service
from pandawms.services.logstore import LogStore
from pandawms.services.shares import ShareCache
from pandawms.services.termination import JobRetryPolicy
from pandawms.services.tokens import KeyRing

log = logging.getLogger("pandawms.server")
GIL_SWITCH_INTERVAL_S = 0.001
ROUTERS = (
    routes_system.router,
    routes_jobs.router,
    routes_pilot.router,
    routes_queues.router,
    routes_files.router,
    routes_harvester.router,
    routes_data.router,
    routes_transfers.router,
    routes_uploads.router,
    routes_tasks.router,
    routes_task_commands.router,
    routes_auth.router,
    routes_device.router,
)


def build_agents(db: Database, config: ServerConfig, policy: JobRetryPolicy) -> list[Agent]:
    agents = watchdog_agents(db, config.watchdog, policy)
    agents.append(missed_workers_agent(db, config.watchdog))
    agents.append(acquire_requests_agent(db, config.watchdog))
    agents.append(job_stats_agent(db))
    agents.append(brokerage_agent(db, config.watchdog.interval, config.watchdog.batch_size))
    agents += data_agents(db, config.watchdog.interval, config.watchdog.batch_size, policy)
    if config.transfers.enabled:
        agents += [transfer_agent(db, config), rule_expiry_agent(db, config.transfers)]
    if config.jedi.enabled:
        agents += jedi_agents(db, config.jedi, config.shares)
        agents += jedi_control_agents(db, control_settings(config.jedi))  # commands, post-processing, scouts
    if config.rses_file is not None:  # before the queue file: queues name RSEs
        agents.append(rse_file_agent(db, config.rses_file))
    if config.queues_file is not None:
        agents.append(queue_file_agent(db, config.queues_file))
    wal = wal_checkpoint_agent(db, config.wal_checkpoint_interval)  # SQLite only
    if wal is not None:
        agents.append(wal)
    planner = planner_stats_agent(db, config.planner_stats_interval)  # PostgreSQL only
    if planner is not None:
        agents.append(planner)
    return agents


def agent_runner(
    db: Database, config: ServerConfig, policy: JobRetryPolicy, clock: Callable[[], datetime]
) -> AgentRunner:
    """The agents of this process, gated by the database lease: of all servers and ``panda agents``
    processes on one database, only the lease holder runs them (agents/lease.py)."""
    lease = LeaseKeeper(db, config.lease, clock=clock)
    return AgentRunner(build_agents(db, config, policy), clock=clock, lease=lease)


def create_app(
    config: ServerConfig,
    db: Database | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
    fast_path: bool = True,
) -> FastAPI:
    """Build the app; the database is migrated and the queue file synced before the first request.

    ``fast_path=False`` leaves the pilot's hot calls to the FastAPI routes (the parity tests compare).
    """
    db = db or Database(config.resolved_db_url)
    policy = JobRetryPolicy(non_retryable=parse_error_keys(config.non_retryable))
    logs = LogStore(config.data_dir.expanduser() / "logs")
    shares = ShareCache(config.shares)
    ctx = ServerContext(db=db, config=config, policy=policy, logs=logs, clock=clock, shares=shares)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        with leases_db.startup_lock(db):  # servers starting together on one database: one at a time
            prepare(db, config, clock())
            ctx.keys = load_keys(db, clock())
        if config.agents:
            ctx.runner = agent_runner(db, config, policy, clock)
            ctx.runner.start()
        try:
            with _loop_friendly_runtime():
                yield
        finally:
            if ctx.runner is not None:
                ctx.runner.stop()

    app = FastAPI(
        title="pandawms",
        version=__version__,
        description="PanDA workload management API v1",
        lifespan=lifespan,
        openapi_url=paths.API_PREFIX + "/openapi.json",
        docs_url=None,  # the monitor serves /api/v1/docs from the package (works offline)
        redoc_url=None,
    )
    app.state.ctx = ctx
    for router in ROUTERS:
        app.include_router(router, prefix=paths.API_PREFIX, responses=ERROR_RESPONSES)
    app.include_router(routes_auth.well_known)
    app.include_router(routes_device.pages)  # panda login's verification page, at the root
    app.include_router(compat_pilot.router)  # PanDA's legacy pilot API, for an unchanged pilot3
    app.include_router(compat_pilot.v1_router, prefix=paths.API_PREFIX)
    app.add_exception_handler(PandaError, panda_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
    if fast_path:
        app.add_middleware(PilotFastPath, ctx=ctx)
    compat_client.install(app)  # panda-client's shapes and calls (outside the fast path, inside the gate)
    if config.auth.enabled:  # outside the fast path: the hot calls pass the same gate
        app.add_middleware(AuthGate, ctx=ctx, deferred=FAST_PATHS if fast_path else frozenset())
    # size and NUL checks on plain bodies (a monitor page refuses in its own shape)
    app.add_middleware(RequestGuard, max_body=MAX_DECODED_BODY, pages=page_refusal)
    app.add_middleware(GzipBodies)  # outside the guard: every route and the fast path see plain bodies
    app.add_middleware(ErrorEnvelope)  # no error leaves without the envelope
    app.add_middleware(SecurityHeaders)  # added last = outermost: CSP and friends on every answer
    # the web monitor's pages at BigPanDA's paths (/, /jobs/, /job/N/, ...)
    mount_monitor(app, ctx, cache_seconds=config.monitor_cache_seconds)
    return app


@contextmanager
def _loop_friendly_runtime() -> Iterator[None]:
    """Process settings while the server runs (restored after, for processes that start several apps).

    Everything built at startup lives as long as the server: frozen, it stays out of the cyclic GC's
    full passes, which otherwise scan it each time and stall every thread for 100+ ms. Big submits and
    agent batches are CPU-bound threads; the event loop gives up the GIL at every SQLite call and socket
    write and must win it back each time, so it is handed over after 1 ms instead of 5 ms.
    """
    interval = sys.getswitchinterval()
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        gc.unfreeze()


def prepare(db: Database, config: ServerConfig, now: datetime) -> None:
    """Migrate the schema and load the queue file (errors name the file and field).

    A database that takes no write now (a full disk, a read-only server) does not stop a server whose
    schema is current: it starts degraded (health says why, writes answer 503) and the queue and RSE
    files are loaded by their agents once writes succeed. A schema that needs migrating still must be.
    """
    migrate.upgrade(db)
    try:
        if config.rses_file is not None:  # before the queue file: queues name the RSEs they use
            with db.write() as conn:
                count = load_rses(conn, config.rses_file, now)
            log.info("loaded %d RSE(s) from %s", count, config.rses_file)
        if config.queues_file is not None:
            specs = parse_queue_file(config.queues_file)
            with db.write() as conn:
                queue_service.sync(conn, specs, now)
            log.info("loaded %d queue(s) from %s", len(specs), config.queues_file)
    except Exception as exc:
        _degraded_or_raise(exc, "the queue and RSE files are not loaded")


def load_keys(db: Database, now: datetime) -> KeyRing:
    """The issuer's keys; the first one is made on the first start (read only when no write can be done)."""
    try:
        with db.write() as conn:
            return KeyRing.load(conn, now)
    except Exception as exc:
        _degraded_or_raise(exc, "no new signing key can be stored")
    with db.read() as conn:
        return KeyRing.load(conn, now, create=False)


def _degraded_or_raise(exc: Exception, consequence: str) -> None:
    status, reason = describe_failure(exc)
    if status != 503:
        raise exc
    log.warning("starting degraded, the database takes no write (%s): %s", reason, consequence)
