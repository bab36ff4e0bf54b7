"""Factory (Harvester-style) models: atomic worker grants, worker reports and worker statistics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pandawms.core.states import WorkerStatus
from pandawms.protocol.actions import WorkerReportOutcome
from pandawms.protocol.bounds import BIGINT_MAX, INT_MAX, request_id_field
from pandawms.protocol.times import BodyTime

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
    jobs_per_worker: int = Field(
        1,
        ge=1,
        le=100_000,
        description="single-core jobs one worker runs at once (a multi-job pilot on a multi-core or "
        "whole-node worker): the queued target is activated jobs / this",
        strict=True,
    )
    request_id: str | None = request_id_field(
        "makes the call safe to repeat: a repeated request_id of this factory gets the workers "
        "granted the first time instead of new ones",
        min_length=8,
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


def _batch_state(default: Any) -> Any:
    return Field(
        default,
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="the worker's state in its batch system's own words (squeue/sacct: PENDING, RUNNING, "
        "TIMEOUT, OUT_OF_MEMORY ...)",
    )


class WorkerUpdate(BaseModel):
    model_config = _STRICT
    worker_id: int = Field(ge=1, le=BIGINT_MAX, strict=True)
    status: Literal["running", "finished", "failed", "cancelled", "missed"]
    batch_id: str = Field("", max_length=80)
    exit_code: int | None = Field(None, ge=-INT_MAX, le=INT_MAX, strict=True)
    diag: str = Field("", max_length=2000)
    batch_state: str | None = _batch_state(None)


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


class WorkerBatchState(BaseModel):
    """A live worker's native batch state, sent when it changed."""

    model_config = _STRICT
    worker_id: int = Field(ge=1, le=BIGINT_MAX, strict=True)
    batch_state: str = _batch_state(...)


class BatchError(BaseModel):
    """A failed batch-system command of the factory (sbatch refused, squeue unreachable ...)."""

    model_config = _STRICT
    report_id: str = Field(
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.\-]+$",
        description="the factory's id of this error: a re-sent heartbeat stores it once",
    )
    queue: str = Field(min_length=1, max_length=128)
    time: BodyTime = Field(description="when the factory saw it (a later time is read as now)")
    reason: str = Field(min_length=1, max_length=500)
    exit_code: int | None = Field(None, ge=-INT_MAX, le=INT_MAX, strict=True)
    batch_id: str = Field("", max_length=80)


class HeartbeatRequest(BaseModel):
    """A factory's liveness, sent every cycle: its workers stay trusted while it keeps calling. It carries
    the native batch states that changed since the last delivered heartbeat and the new batch errors."""

    model_config = _STRICT
    harvester_id: str = HARVESTER_ID
    host: str = Field("", max_length=128)
    alive_workers: int = Field(
        0, ge=0, le=10_000_000, description="workers this factory is watching", strict=True
    )
    batch_states: list[WorkerBatchState] = Field(default_factory=list, max_length=10_000)
    batch_errors: list[BatchError] = Field(default_factory=list, max_length=100)


class HeartbeatResponse(BaseModel):
    harvester_id: str
    last_seen: str = Field(description="server time of this heartbeat (UTC, ISO 8601)")
    batch_states: int = Field(0, description="live workers of this factory whose batch state was recorded")
