"""``panda bench dispatch`` against a real server process, one pilot per call and in bulk (factories
acquiring and updating K jobs per call), so both modes and the server-CPU figure cannot rot."""

from __future__ import annotations

import os

import pytest

from pandawms.bench.dispatch import bench_dispatch, database_for, server_cpu_seconds


@pytest.mark.parametrize("bulk", [0, 7])
def test_every_job_is_dispatched_and_cycled_and_the_server_cpu_is_measured(bulk: int) -> None:
    with database_for("sqlite", None) as (url, workdir):
        result = bench_dispatch("sqlite", url, 40, 3, workdir, bulk=bulk)  # raises when a job is lost
    assert (result.jobs, result.bulk) == (40, bulk)
    assert result.cycles_per_s > 0 and result.dispatch_per_s > 0
    assert result.server_cpu_ms_per_cycle > 0
    # per call of K jobs an acquire and two updates, plus the empty acquire that ends each of 3 pilots
    calls = -(-40 // bulk) if bulk else 40
    assert result.requests == calls * 3 + 3


def test_server_cpu_counts_this_process() -> None:
    before = server_cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))
    assert server_cpu_seconds(os.getpid()) > before
