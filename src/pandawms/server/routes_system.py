"""Health and liveness endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from pandawms import __version__
from pandawms.protocol import PROTOCOL_VERSION, paths
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.system import AgentCounters, Alive, Health
from pandawms.server.context import ServerContext, get_ctx
from pandawms.server.responses import envelope

router = APIRouter(tags=["system"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]


@router.get(paths.HEALTH, response_model=Envelope[Health])
def health(ctx: Ctx) -> Response:
    """Server version, database reachability and the agents' counters."""
    db_ok = ctx.db.ping()
    agents: dict[str, AgentCounters] = {}
    if ctx.runner is not None:
        agents = {
            a.name: AgentCounters(
                runs=a.stats.runs, errors=a.stats.errors, acted=a.stats.acted, last_error=a.stats.last_error
            )
            for a in ctx.runner.agents
        }
    data = Health(
        status="ok" if db_ok else "degraded",
        version=__version__,
        protocol=PROTOCOL_VERSION,
        database=ctx.db.dialect,
        database_ok=db_ok,
        agents=agents,
    )
    return envelope(data, success=db_ok, status_code=200 if db_ok else 503)


@router.get(paths.IS_ALIVE, response_model=Envelope[Alive])
def is_alive() -> Response:
    return envelope(Alive(alive="yes"))
