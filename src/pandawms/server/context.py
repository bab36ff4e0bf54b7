"""What every request handler needs: the task buffer, the config, the retry policy and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from fastapi import Request

from pandawms.agents.runner import AgentRunner
from pandawms.config import ServerConfig
from pandawms.core.auth import Caller
from pandawms.db.engine import Database
from pandawms.services.access import DispatchedQueues
from pandawms.services.logstore import LogStore
from pandawms.services.shares import ShareCache
from pandawms.services.termination import JobRetryPolicy
from pandawms.services.tokens import KeyRing


@dataclass
class ServerContext:
    db: Database
    config: ServerConfig
    policy: JobRetryPolicy
    logs: LogStore
    clock: Callable[[], datetime]
    runner: AgentRunner | None = None
    shares: ShareCache = field(default_factory=ShareCache)  # the dispatcher's share order, per process
    keys: KeyRing | None = None  # the issuer's keys, loaded at startup (services/tokens.py)
    # the jobs known dispatched to each queue, per process: a pilot's update of them needs no ownership read
    dispatched: DispatchedQueues = field(default_factory=DispatchedQueues)


def get_ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx


def get_caller(request: Request) -> Caller | None:
    """The verified caller (server/auth.AuthGate), or None when auth is off or the route is public."""
    caller: Caller | None = request.scope.get("state", {}).get("caller")
    return caller
