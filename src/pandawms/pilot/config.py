"""The pilot's typed configuration: every option with its default, read once by the CLI and passed in.

The options a launcher chooses (lifetime, heartbeat, resources, limits, label) are inherited from
protocol.pilot_options.PilotOptions, their one definition; the fields here are the pilot's own.
Resource values of 0 mean "take it from the queue (or the machine)"; times are seconds, sizes MB.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pandawms.protocol.pilot_options import PilotOptions


def _default_pilot_id() -> str:
    return f"pandawms-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def batch_id_from_env(env: Mapping[str, str]) -> str | None:
    """The batch job this pilot runs in, from its batch system's variables (Slurm: ``123`` or, for an
    array task, ``123_4`` as squeue shows it); None outside a batch job."""
    array, task = env.get("SLURM_ARRAY_JOB_ID"), env.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"[:80]
    job = env.get("SLURM_JOB_ID")
    return job[:80] if job else None


@dataclass(frozen=True, slots=True)
class PilotConfig(PilotOptions):
    """Options of ``panda pilot``: the launcher's PilotOptions plus where and how this pilot runs."""

    server_url: str
    queue: str
    workdir: Path = field(default_factory=lambda: Path.cwd() / "pandawms-pilot")
    monitor_interval: float = 10.0  # s between resource samples of the payload
    disk_limit_mb: int | None = None  # work dir cap; None = job maxDiskCount, else queue max_disk
    min_remaining_time: float = 60.0  # stop asking for jobs when less lifetime than this is left
    node: str = field(default_factory=socket.gethostname)
    pilot_id: str = field(default_factory=_default_pilot_id)
    worker_id: int | None = None  # the factory worker this pilot runs as (links worker and job)
    batch_id: str | None = None  # its batch job (batch_id_from_env), reported with every job update
    batch_cores: int | None = None  # cores its batch job was given (slots.batch_resources_from_env)
    batch_memory_mb: int | None = None  # MB its batch job was given
    backoff_base: float = 2.0  # s, first retry delay bound
    backoff_cap: float = 120.0  # s, largest single delay
    backoff_budget: float = 600.0  # s a server call may spend retrying before it gives up
    final_update_budget: float = 1800.0  # s the final update is retried before it is parked on disk
    max_update_silence: float = 10_800.0  # s without an accepted heartbeat -> abort the job (1317)
    http_timeout: float = 60.0
    cleanup: bool = True  # remove the job work dir after the final update

    @classmethod
    def launched(
        cls,
        options: PilotOptions,
        *,
        server_url: str,
        queue: str,
        workdir: Path,
        worker_id: int | None,
        batch_id: str | None = None,
        batch_resources: tuple[int | None, int | None] = (None, None),
    ) -> PilotConfig:
        """The config of a pilot started with ``options`` (the CLI's flags) for ``queue``."""
        cores, memory = batch_resources
        return cls(
            server_url,
            queue,
            workdir,
            worker_id=worker_id,
            batch_id=batch_id,
            batch_cores=cores,
            batch_memory_mb=memory,
            **options.values(),
        )

    @property
    def storage(self) -> Path:
        return self.storage_dir if self.storage_dir is not None else self.workdir / "storage"

    @property
    def pending_dir(self) -> Path:
        """Final updates not yet acknowledged by the server (re-sent by the next pilot start)."""
        return self.workdir / "pending-updates"
