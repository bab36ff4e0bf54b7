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
    """``degraded`` (with HTTP 503) when the database does not answer."""

    status: Literal["ok", "degraded"]
    version: str
    protocol: str
    database: str = Field(description="dialect: sqlite or postgresql")
    database_ok: bool
    agents: dict[str, AgentCounters] = Field(description="by agent name; empty when agents are off")


class Alive(BaseModel):
    alive: Literal["yes"]
