"""Health and liveness endpoints."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from pandawms import __version__
from pandawms.agents.runner import Agent
from pandawms.agents.wal import last_pass
from pandawms.protocol import PROTOCOL_VERSION, paths
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.system import AgentCounters, Alive, Health, Ready, WalCheckpointOut, WriteGroupsOut
from pandawms.server.context import ServerContext, get_ctx
from pandawms.server.responses import envelope

router = APIRouter(tags=["system"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]


def _problems(ctx: ServerContext) -> tuple[bool, bool, list[str]]:
    """(database answers, writes can succeed, why not): a real write probe, not only a ping."""
    if not ctx.db.ping():
        return False, False, ["database does not answer"]
    problem = ctx.db.write_problem()
    return True, problem is None, [problem] if problem else []


@router.get(paths.HEALTH, response_model=Envelope[Health])
def health(ctx: Ctx) -> Response:
    """Server version, whether the database answers and takes writes, and the agents' counters."""
    db_ok, writable, problems = _problems(ctx)
    agents: dict[str, AgentCounters] = {}
    wal = None
    if ctx.runner is not None:
        wal = _wal_checkpoint(ctx.runner.agents)
        agents = {
            a.name: AgentCounters(
                runs=a.stats.runs, errors=a.stats.errors, acted=a.stats.acted, last_error=a.stats.last_error
            )
            for a in ctx.runner.agents
        }
    healthy = db_ok and writable
    data = Health(
        status="ok" if healthy else "degraded",
        problems=problems,
        version=__version__,
        protocol=PROTOCOL_VERSION,
        database=ctx.db.dialect,
        database_ok=db_ok,
        writable=writable,
        agents=agents,
        wal_checkpoint=wal,
        write_groups=WriteGroupsOut(**asdict(ctx.db.group_stats)) if ctx.db.is_sqlite else None,
    )
    return envelope(data, success=healthy, status_code=200 if healthy else 503)


def _wal_checkpoint(agents: list[Agent]) -> WalCheckpointOut | None:
    last = last_pass(agents)
    if last is None:
        return None
    return WalCheckpointOut(at=last.at, **asdict(last.result))


@router.get(paths.READY, response_model=Envelope[Ready])
def ready(ctx: Ctx) -> Response:
    """200 when this server can serve writes now; 503 (``Retry-After``) with the reasons when not."""
    _db_ok, writable, problems = _problems(ctx)
    resp = envelope(
        Ready(ready=writable, problems=problems), success=writable, status_code=200 if writable else 503
    )
    if not writable:
        resp.headers["Retry-After"] = "5"
    return resp


@router.get(paths.IS_ALIVE, response_model=Envelope[Alive])
def is_alive() -> Response:
    return envelope(Alive(alive="yes"))
