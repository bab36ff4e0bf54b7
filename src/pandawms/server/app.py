"""The ASGI application, composed from explicit lists: routers, exception handlers, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError

from pandawms import __version__
from pandawms.agents.brokerage import brokerage_agent
from pandawms.agents.queue_file import load_rses, queue_file_agent, rse_file_agent
from pandawms.agents.runner import Agent, AgentRunner, utcnow
from pandawms.agents.watchdogs import missed_workers_agent, watchdog_agents
from pandawms.config import ServerConfig
from pandawms.core.errors import PandaError
from pandawms.core.retry import parse_error_keys
from pandawms.db import migrate
from pandawms.db.engine import Database
from pandawms.monitor import mount_monitor
from pandawms.protocol import paths
from pandawms.protocol.queues import parse_queue_file
from pandawms.server import (
    routes_data,
    routes_files,
    routes_harvester,
    routes_jobs,
    routes_pilot,
    routes_queues,
    routes_system,
)
from pandawms.server.context import ServerContext
from pandawms.server.fastpath import PilotFastPath
from pandawms.server.responses import panda_error_handler, validation_error_handler
from pandawms.services import queues as queue_service
from pandawms.services.logstore import LogStore
from pandawms.services.termination import JobRetryPolicy

log = logging.getLogger("pandawms.server")
ROUTERS = (
    routes_system.router,
    routes_jobs.router,
    routes_pilot.router,
    routes_queues.router,
    routes_files.router,
    routes_harvester.router,
    routes_data.router,
)


def build_agents(db: Database, config: ServerConfig, policy: JobRetryPolicy) -> list[Agent]:
    agents = watchdog_agents(db, config.watchdog, policy)
    agents.append(missed_workers_agent(db, config.watchdog))
    agents.append(brokerage_agent(db, config.watchdog.interval, config.watchdog.batch_size))
    if config.rses_file is not None:  # before the queue file: queues name RSEs
        agents.append(rse_file_agent(db, config.rses_file))
    if config.queues_file is not None:
        agents.append(queue_file_agent(db, config.queues_file))
    return agents


def create_app(
    config: ServerConfig,
    db: Database | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> FastAPI:
    """Build the app; the database is migrated and the queue file synced before the first request."""
    db = db or Database(config.resolved_db_url)
    policy = JobRetryPolicy(non_retryable=parse_error_keys(config.non_retryable))
    logs = LogStore(config.data_dir.expanduser() / "logs")
    ctx = ServerContext(db=db, config=config, policy=policy, logs=logs, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        prepare(db, config, clock())
        if config.agents:
            ctx.runner = AgentRunner(build_agents(db, config, policy), clock=clock)
            ctx.runner.start()
        try:
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
        docs_url=paths.API_PREFIX + "/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    for router in ROUTERS:
        app.include_router(router, prefix=paths.API_PREFIX)
    app.add_exception_handler(PandaError, panda_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_middleware(PilotFastPath, ctx=ctx)
    # the web monitor's pages at BigPanDA's paths (/, /jobs/, /job/N/, ...)
    mount_monitor(app, ctx, cache_seconds=config.monitor_cache_seconds)
    return app


def prepare(db: Database, config: ServerConfig, now: datetime) -> None:
    """Migrate the schema and load the queue file (errors name the file and field)."""
    migrate.upgrade(db)
    if config.rses_file is not None:  # before the queue file: queues name the RSEs they use
        with db.write() as conn:
            count = load_rses(conn, config.rses_file, now)
        log.info("loaded %d RSE(s) from %s", count, config.rses_file)
    if config.queues_file is not None:
        specs = parse_queue_file(config.queues_file)
        with db.write() as conn:
            queue_service.sync(conn, specs, now)
        log.info("loaded %d queue(s) from %s", len(specs), config.queues_file)
