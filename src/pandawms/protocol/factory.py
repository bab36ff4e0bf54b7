"""Factory (Harvester-style) models: atomic worker grants, worker reports and worker statistics."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pandawms.core.states import WorkerStatus
from pandawms.protocol.actions import WorkerReportOutcome
from pandawms.protocol.bounds import BIGINT_MAX, INT_MAX

_STRICT = ConfigDict(extra="forbid")
HARVESTER_ID = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")


class AddWorkersRequest(BaseModel):
    model_config = _STRICT
    harvester_id: str = HARVESTER_ID
    queue: str = Field(min_length=1, max_length=128)
    max_workers: int = Field(
        ge=0, le=100_000, description="queued + running workers of this factory's limit", strict=True
    )
    max_queued: int = Field(ge=0, le=100_000, description="workers waiting for a job", strict=True)
    max_new: int = Field(0, ge=0, le=100_000, description="new workers this cycle; 0 = no cap", strict=True)
    request_id: str | None = Field(
        None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="makes the call safe to repeat: a repeated request_id of this factory gets the workers "
        "granted the first time instead of new ones",
    )


class GrantedWorker(BaseModel):
    worker_id: int


class AddWorkersResponse(BaseModel):
    workers: list[GrantedWorker]
    granted: int
    reason: str
    activated: int
    queued: int
    running: int


class WorkerUpdate(BaseModel):
    model_config = _STRICT
    worker_id: int = Field(ge=1, le=BIGINT_MAX, strict=True)
    status: Literal["running", "finished", "failed", "cancelled", "missed"]
    batch_id: str = Field("", max_length=80)
    exit_code: int | None = Field(None, ge=-INT_MAX, le=INT_MAX, strict=True)
    diag: str = Field("", max_length=2000)


class UpdateWorkersRequest(BaseModel):
    model_config = _STRICT
    harvester_id: str = HARVESTER_ID
    workers: list[WorkerUpdate] = Field(min_length=1, max_length=1000)


class WorkerUpdateResult(BaseModel):
    worker_id: int
    outcome: WorkerReportOutcome
    status: WorkerStatus | None = Field(description="the worker's status now; null when not found")
    message: str = ""


# get_worker_stats: worker counts by queue, then by status.
WorkerStats = dict[str, dict[WorkerStatus, int]]


class HeartbeatRequest(BaseModel):
    """A factory's liveness, sent every cycle: its workers stay trusted while it keeps calling."""

    model_config = _STRICT
    harvester_id: str = HARVESTER_ID
    host: str = Field("", max_length=128)
    alive_workers: int = Field(
        0, ge=0, le=10_000_000, description="workers this factory is watching", strict=True
    )


class HeartbeatResponse(BaseModel):
    harvester_id: str
    last_seen: str = Field(description="server time of this heartbeat (UTC, ISO 8601)")
