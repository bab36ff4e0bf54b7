"""Pure resource-limit decisions (pilot.md §4): given a sample of the payload, the job's limits and ``now``,
say which limit (walltime 1213, memory 1235, work-dir size 1104, looping 1150) is broken, or None.

Times are epoch seconds (the unit of file mtimes); memory is kB as reported to the server, disk MB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from pandawms.protocol import errorcodes as ec

MB = 1024 * 1024


class LimitKind(StrEnum):
    WALLTIME = "walltime"
    LIFETIME = "lifetime"  # the pilot's own lifetime ends before the job's walltime
    MEMORY = "memory"
    DISK = "disk"
    LOOPING = "looping"


@dataclass(frozen=True, slots=True)
class ResourceSample:
    """The payload's process tree and work dir at one moment."""

    rss_kb: int = 0
    pss_kb: int = 0
    vmem_kb: int = 0
    cpu_time_s: float = 0.0
    n_processes: int = 0
    workdir_bytes: int = 0
    newest_mtime: float | None = None  # newest payload-written file, None when there is none

    @property
    def memory_kb(self) -> int:
        """What the memory limit is checked against: PSS, or RSS where PSS is not readable."""
        return self.pss_kb if self.pss_kb > 0 else self.rss_kb


@dataclass(frozen=True, slots=True)
class JobLimits:
    """Limits of one job; 0 / None means unchecked."""

    walltime_s: float = 0.0  # the job's maxWalltime
    pilot_deadline: float | None = None  # epoch s when the pilot's lifetime ends
    memory_kb: int = 0
    disk_mb: int = 0
    looping_timeout_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Violation:
    kind: LimitKind
    code: int
    diag: str


def memory_limit_kb(min_ram_mb: int, core_count: int, queue_mb_per_core: int, factor: float) -> int:
    """factor x the job's memory request (MB for the whole job); a job asking 0 MB gets the queue's
    per-core memory x its cores. 0 when neither is known (unchecked)."""
    nominal = min_ram_mb if min_ram_mb > 0 else queue_mb_per_core * max(core_count, 1)
    return int(nominal * factor * 1024) if nominal > 0 else 0


def disk_limit_mb(override: int | None, job_max_disk_mb: int, queue_max_disk_mb: int) -> int:
    """The work-dir cap: an explicit pilot option wins, then the job's maxDiskCount, then the queue's."""
    if override is not None:
        return override
    return job_max_disk_mb if job_max_disk_mb > 0 else queue_max_disk_mb


def check_walltime(limits: JobLimits, job_started: float, now: float) -> Violation | None:
    running = now - job_started
    if limits.walltime_s > 0 and running > limits.walltime_s:
        # rounded up to 0.1 s: "ran 8 s > 8 s" (8.4 s against 8 s) read like no violation at all
        ran = math.ceil(running * 10) / 10
        diag = f"job exceeded its maxWalltime: ran {ran:.1f} s > {limits.walltime_s:g} s"
        return Violation(LimitKind.WALLTIME, ec.PilotCode.REACHEDMAXTIME, diag)
    if limits.pilot_deadline is not None and now >= limits.pilot_deadline:
        diag = f"pilot reached its maximum lifetime after the job ran {running:.0f} s"
        return Violation(LimitKind.LIFETIME, ec.PilotCode.REACHEDMAXTIME, diag)
    return None


def check_memory(sample: ResourceSample, limits: JobLimits) -> Violation | None:
    if limits.memory_kb <= 0 or sample.memory_kb <= limits.memory_kb:
        return None
    which = "PSS" if sample.pss_kb > 0 else "RSS"
    diag = (
        f"payload exceeded the memory limit: {which} {sample.memory_kb // 1024} MB "
        f"> {limits.memory_kb // 1024} MB"
    )
    return Violation(LimitKind.MEMORY, ec.PilotCode.PAYLOADEXCEEDMAXMEM, diag)


def check_disk(sample: ResourceSample, limits: JobLimits) -> Violation | None:
    if limits.disk_mb <= 0 or sample.workdir_bytes <= limits.disk_mb * MB:
        return None
    diag = f"work directory too large: {sample.workdir_bytes / MB:.0f} MB > {limits.disk_mb} MB"
    return Violation(LimitKind.DISK, ec.PilotCode.USERDIRTOOLARGE, diag)


def check_looping(
    sample: ResourceSample, limits: JobLimits, payload_started: float, now: float
) -> Violation | None:
    if limits.looping_timeout_s <= 0:
        return None
    last_activity = max(sample.newest_mtime or 0.0, payload_started)
    idle = now - last_activity
    if idle <= limits.looping_timeout_s:
        return None
    diag = f"looping job: no file in the work directory modified for {idle:.0f} s"
    return Violation(LimitKind.LOOPING, ec.PilotCode.LOOPINGJOB, diag)


def check_limits(
    sample: ResourceSample, limits: JobLimits, job_started: float, payload_started: float, now: float
) -> Violation | None:
    """The first broken limit, in the order walltime, memory, disk, looping; None when all hold."""
    return (
        check_walltime(limits, job_started, now)
        or check_memory(sample, limits)
        or check_disk(sample, limits)
        or check_looping(sample, limits, payload_started, now)
    )


def build_limits(
    *,
    job_walltime_s: int,
    job_min_ram_mb: int,
    job_cores: int,
    job_max_disk_mb: int,
    queue_max_walltime_s: int,
    queue_mb_per_core: int,
    queue_max_disk_mb: int,
    memory_factor: float,
    disk_override_mb: int | None,
    looping_timeout_s: float,
    pilot_deadline: float | None,
) -> JobLimits:
    """The limits one job runs under: its own maxWalltime (else the queue's), memory and disk as above."""
    return JobLimits(
        walltime_s=float(job_walltime_s if job_walltime_s > 0 else queue_max_walltime_s),
        pilot_deadline=pilot_deadline,
        memory_kb=memory_limit_kb(job_min_ram_mb, job_cores, queue_mb_per_core, memory_factor),
        disk_mb=disk_limit_mb(disk_override_mb, job_max_disk_mb, queue_max_disk_mb),
        looping_timeout_s=looping_timeout_s,
    )
