"""What every request handler needs: the task buffer, the config, the retry policy and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request

from pandawms.agents.runner import AgentRunner
from pandawms.config import ServerConfig
from pandawms.db.engine import Database
from pandawms.services.logstore import LogStore
from pandawms.services.termination import JobRetryPolicy


@dataclass
class ServerContext:
    db: Database
    config: ServerConfig
    policy: JobRetryPolicy
    logs: LogStore
    clock: Callable[[], datetime]
    runner: AgentRunner | None = None


def get_ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx
