"""Queue configuration model: the queue file ([[queue]] tables in TOML) and the queue API share it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pandawms.core.ids import QueueName
from pandawms.core.specs import QueueSpec, QueueStatus
from pandawms.core.states import JobStatus
from pandawms.protocol.bounds import BIGINT_MAX, INT_MAX
from pandawms.protocol.tomlfiles import read_toml, table_specs


class QueueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    status: QueueStatus = QueueStatus.ONLINE
    site: str = Field("", max_length=128)
    cores: int = Field(1, ge=1, le=4096, strict=True)
    max_memory_per_core: int = Field(2000, ge=1, le=INT_MAX, description="MB", strict=True)
    max_walltime: int = Field(86400, ge=1, le=INT_MAX, description="s", strict=True)
    max_disk: int = Field(0, ge=0, le=BIGINT_MAX, description="MB per job, 0 = unchecked", strict=True)
    max_running: int = Field(0, ge=0, le=INT_MAX, strict=True)
    max_queued: int = Field(0, ge=0, le=INT_MAX, strict=True)
    storage_element: str = Field("", max_length=128)
    ddm_input: str = Field("", max_length=64, description="RSE the queue reads inputs from")
    ddm_output: str = Field("", max_length=64, description="RSE the queue writes outputs to")
    copy_tool: str = Field("cp", max_length=32)
    description: str = Field("", max_length=2000)

    def to_spec(self) -> QueueSpec:
        values = self.model_dump()
        values["name"] = QueueName(self.name)
        return QueueSpec(**values)

    @classmethod
    def from_spec(cls, spec: QueueSpec) -> QueueConfig:
        return cls(**{f: getattr(spec, f) for f in cls.model_fields})


RECENT_HOURS = 12.0  # queue/list's default window for ended jobs: the monitor's default window


class QueueOverview(QueueConfig):
    """A queue in queue/list: its configuration, its active jobs by status and the jobs that ended in
    the last ``hours`` (default 12) by final status (absent = none)."""

    jobs: dict[JobStatus, int]
    recent: dict[JobStatus, int] = Field(
        default_factory=dict, description="jobs that ended in the window, by final status"
    )

    @classmethod
    def of(cls, spec: QueueSpec, jobs: Mapping[str, int], recent: Mapping[str, int]) -> QueueOverview:
        return cls(**QueueConfig.from_spec(spec).model_dump(), jobs=dict(jobs), recent=dict(recent))


class QueueStatusRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)
    status: QueueStatus


def parse_queue_file(path: Path) -> list[QueueSpec]:
    """Read ``[[queue]]`` tables; ValueError names the file, the queue index and the bad field."""
    data = read_toml(path, "queue file")
    return table_specs(path, data, "queue", QueueConfig, QueueConfig.to_spec, "queue")
