"""System endpoints: health (version, database, agents' counters) and liveness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class AgentCounters(BaseModel):
    runs: int
    errors: int
    acted: int = Field(description="items the agent changed, over all runs")
    last_error: str = Field(description="the last run's error, '' when it succeeded")


class Health(BaseModel):
    """``degraded`` (with HTTP 503) when the database does not answer or no write can succeed."""

    status: Literal["ok", "degraded"]
    problems: list[str] = Field(default_factory=list, description="why degraded: one line each")
    version: str
    protocol: str
    database: str = Field(description="dialect: sqlite or postgresql")
    database_ok: bool = Field(description="answers queries")
    writable: bool = Field(True, description="a write probe succeeded (disk not full, database writable)")
    agents: dict[str, AgentCounters] = Field(description="by agent name; empty when agents are off")


class Ready(BaseModel):
    """For load balancers: 200 only when the server can take writes (503 otherwise, with the reasons)."""

    ready: bool
    problems: list[str] = Field(default_factory=list)


class Alive(BaseModel):
    alive: Literal["yes"]
