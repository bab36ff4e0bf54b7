"""System endpoints: health (version, database, agents' counters) and liveness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from pandawms.protocol.times import UtcDateTime


class AgentCounters(BaseModel):
    runs: int
    errors: int
    acted: int = Field(description="items the agent changed, over all runs")
    last_error: str = Field(description="the last run's error, '' when it succeeded")


class WalCheckpointOut(BaseModel):
    """The last TRUNCATE checkpoint of the SQLite WAL (the wal_checkpoint agent)."""

    at: UtcDateTime
    busy: bool = Field(
        description="a reader on an old snapshot kept it from completing; the next pass retries"
    )
    log_frames: int = Field(description="frames in the WAL when it ran")
    checkpointed_frames: int = Field(description="of them, copied back into the database")
    wal_bytes: int = Field(description="the WAL file's size after it (0 once truncated)")


class WriteGroupsOut(BaseModel):
    """SQLite group commit in this server process (server/groupcommit.py): short pilot calls sharing
    one write transaction."""

    transactions: int = Field(description="group transactions committed")
    calls: int = Field(description="calls they carried (calls / transactions: the mean group size)")


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
    wal_checkpoint: WalCheckpointOut | None = Field(
        None, description="SQLite: the last WAL checkpoint pass of this process's agents (None: none yet)"
    )
    write_groups: WriteGroupsOut | None = Field(
        None, description="SQLite: group commit so far (None: PostgreSQL)"
    )


class Ready(BaseModel):
    """For load balancers: 200 only when the server can take writes (503 otherwise, with the reasons)."""

    ready: bool
    problems: list[str] = Field(default_factory=list)


class Alive(BaseModel):
    alive: Literal["yes"]
