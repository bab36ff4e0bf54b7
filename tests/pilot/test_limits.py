"""Pure limit decisions: walltime 1213, memory 1235, work-dir size 1104, looping 1150, in that order."""

from __future__ import annotations

import pytest

from pandawms.pilot.limits import (
    JobLimits,
    LimitKind,
    ResourceSample,
    build_limits,
    check_limits,
    disk_limit_mb,
    memory_limit_kb,
)
from pandawms.protocol import errorcodes as ec

T0 = 1_000_000.0  # job start, epoch s
MB = 1024 * 1024


@pytest.mark.parametrize(
    ("min_ram", "cores", "per_core", "factor", "expected_kb"),
    [
        (100, 1, 2000, 1.0, 100 * 1024),  # the job's own request
        (1000, 8, 2000, 2.0, 2000 * 1024),  # minRamCount is for the whole job
        (0, 4, 2000, 2.0, 16000 * 1024),  # asks 0 -> queue per-core x cores
        (0, 0, 2000, 1.0, 2000 * 1024),  # core count 0 counts as 1
        (0, 1, 0, 2.0, 0),  # nothing known -> unchecked
    ],
)
def test_memory_limit(min_ram: int, cores: int, per_core: int, factor: float, expected_kb: int) -> None:
    assert memory_limit_kb(min_ram, cores, per_core, factor) == expected_kb


@pytest.mark.parametrize(
    ("override", "job", "queue", "expected"),
    [(None, 500, 2000, 500), (None, 0, 2000, 2000), (None, 0, 0, 0), (10, 500, 2000, 10)],
)
def test_disk_limit(override: int | None, job: int, queue: int, expected: int) -> None:
    assert disk_limit_mb(override, job, queue) == expected


LIMITS = JobLimits(walltime_s=60, memory_kb=100 * 1024, disk_mb=10, looping_timeout_s=30)
QUIET = ResourceSample(rss_kb=50 * 1024, pss_kb=40 * 1024, workdir_bytes=MB, newest_mtime=T0 + 5)


@pytest.mark.parametrize(
    ("sample", "now", "expected"),
    [
        (QUIET, T0 + 10, None),
        (QUIET, T0 + 61, (LimitKind.WALLTIME, ec.PilotCode.REACHEDMAXTIME)),
        (ResourceSample(rss_kb=500 * 1024, pss_kb=150 * 1024), T0 + 1, (LimitKind.MEMORY, 1235)),
        # PSS under the limit wins over a large RSS (shared pages)
        (ResourceSample(rss_kb=500 * 1024, pss_kb=90 * 1024, newest_mtime=T0), T0 + 1, None),
        # no PSS readable -> RSS is checked
        (ResourceSample(rss_kb=101 * 1024), T0 + 1, (LimitKind.MEMORY, ec.PilotCode.PAYLOADEXCEEDMAXMEM)),
        (ResourceSample(workdir_bytes=11 * MB, newest_mtime=T0), T0 + 1, (LimitKind.DISK, 1104)),
        # nothing written for longer than the looping timeout (counted from the payload start)
        (ResourceSample(newest_mtime=None), T0 + 31, (LimitKind.LOOPING, ec.PilotCode.LOOPINGJOB)),
        (ResourceSample(newest_mtime=T0 + 20), T0 + 49, None),
        (ResourceSample(newest_mtime=T0 + 20), T0 + 51, (LimitKind.LOOPING, ec.PilotCode.LOOPINGJOB)),
        # walltime is reported before memory when both break
        (ResourceSample(pss_kb=500 * 1024), T0 + 100, (LimitKind.WALLTIME, 1213)),
    ],
)
def test_check_limits(sample: ResourceSample, now: float, expected: tuple[LimitKind, int] | None) -> None:
    # given a sample of the payload at `now`, when checking the limits, then the first broken one is named
    got = check_limits(sample, LIMITS, job_started=T0, payload_started=T0, now=now)
    assert (None if got is None else (got.kind, got.code)) == expected
    if got is not None:
        assert got.diag


def test_pilot_lifetime_ends_before_the_job_walltime() -> None:
    limits = JobLimits(walltime_s=3600, pilot_deadline=T0 + 100)
    got = check_limits(ResourceSample(), limits, T0, T0, now=T0 + 100)
    assert got is not None and got.kind is LimitKind.LIFETIME and got.code == ec.PilotCode.REACHEDMAXTIME


def test_zero_limits_are_unchecked() -> None:
    huge = ResourceSample(rss_kb=10**9, pss_kb=10**9, workdir_bytes=10**15, newest_mtime=0.0)
    assert check_limits(huge, JobLimits(), T0, T0, now=T0 + 10**7) is None


def test_build_limits_falls_back_to_the_queue() -> None:
    limits = build_limits(
        job_walltime_s=0,
        job_min_ram_mb=0,
        job_cores=2,
        job_max_disk_mb=0,
        queue_max_walltime_s=3600,
        queue_mb_per_core=1000,
        queue_max_disk_mb=5000,
        memory_factor=2.0,
        disk_override_mb=None,
        looping_timeout_s=7200,
        pilot_deadline=None,
    )
    assert limits == JobLimits(
        walltime_s=3600, memory_kb=4000 * 1024, disk_mb=5000, looping_timeout_s=7200, pilot_deadline=None
    )
