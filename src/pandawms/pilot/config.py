"""The pilot's typed configuration: every option with its default, read once by the CLI and passed in.

Resource values of 0 mean "take it from the queue (or the machine)"; times are seconds, sizes MB.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def _default_pilot_id() -> str:
    return f"pandawms-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class PilotConfig:
    """Options of ``panda pilot``; defaults follow pilot3 (pilot.md §2, §4) and §10's timeout set."""

    server_url: str
    queue: str
    lifetime: float = 324_000.0  # s the pilot may live (pilot3 --lifetime)
    workdir: Path = field(default_factory=lambda: Path.cwd() / "pandawms-pilot")
    heartbeat_interval: float = 1800.0
    monitor_interval: float = 10.0  # s between resource samples of the payload
    # resources advertised to acquire_jobs; 0 = from the queue (memory, cores) or free disk
    memory_mb: int = 0
    disk_mb: int = 0
    cores: int = 0
    memory_limit_factor: float = 2.0  # kill at factor x requested memory (pilot_rss_grace)
    kill_grace: float = 10.0  # SIGTERM -> SIGKILL
    looping_timeout: float = 7200.0  # no file touched for this long -> 1150; 0 disables
    disk_limit_mb: int | None = None  # work dir cap; None = job maxDiskCount, else queue max_disk
    storage_dir: Path | None = None  # local stand-in for the storage element; None = <workdir>/storage
    max_empty_acquires: int = 3  # consecutive "no job" answers before the pilot exits
    min_remaining_time: float = 60.0  # stop asking for jobs when less lifetime than this is left
    node: str = field(default_factory=socket.gethostname)
    pilot_id: str = field(default_factory=_default_pilot_id)
    prod_source_label: str | None = None
    worker_id: int | None = None  # the factory worker this pilot runs as (links worker and job)
    backoff_base: float = 2.0  # s, first retry delay bound
    backoff_cap: float = 120.0  # s, largest single delay
    backoff_budget: float = 600.0  # s a server call may spend retrying before it gives up
    final_update_budget: float = 1800.0  # s the final update is retried before it is parked on disk
    max_update_silence: float = 10_800.0  # s without an accepted heartbeat -> abort the job (1317)
    http_timeout: float = 60.0
    cleanup: bool = True  # remove the job work dir after the final update

    @property
    def storage(self) -> Path:
        return self.storage_dir if self.storage_dir is not None else self.workdir / "storage"

    @property
    def pending_dir(self) -> Path:
        """Final updates not yet acknowledged by the server (re-sent by the next pilot start)."""
        return self.workdir / "pending-updates"
