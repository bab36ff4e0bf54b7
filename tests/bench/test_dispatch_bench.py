"""``panda bench dispatch`` against a real server process, one pilot per call and in bulk (factories
acquiring and updating K jobs per call), so both modes and the server-CPU figure cannot rot."""

from __future__ import annotations

import os
import sqlite3

import pytest

from pandawms.bench.dispatch import BACKLOG_QUEUES, bench_dispatch
from pandawms.bench.heartbeat import bench_heartbeat
from pandawms.bench.servers import QUEUE, database_for, server_cpu_seconds


@pytest.mark.parametrize("bulk", [0, 7])
def test_every_job_is_dispatched_and_cycled_and_the_server_cpu_is_measured(bulk: int) -> None:
    with database_for("sqlite", None) as (url, workdir):
        result = bench_dispatch("sqlite", url, 40, 3, workdir, bulk=bulk)  # raises when a job is lost
    assert (result.jobs, result.bulk) == (40, bulk)
    assert result.cycles_per_s > 0 and result.dispatch_per_s > 0
    assert result.server_cpu_ms_per_cycle > 0
    # per call of K jobs an acquire and two updates; the pilots stop when the phase's 40 jobs are taken
    calls = -(-40 // bulk) if bulk else 40
    assert result.requests == calls * 3


def test_the_bench_runs_with_the_servers_agents_on() -> None:
    with database_for("sqlite", None) as (url, workdir):
        result = bench_dispatch("sqlite", url, 20, 2, workdir, agents=True)  # raises when a job is lost
        assert (workdir / "server.toml").exists()  # started with a config, not --no-agents
    assert result.agents and result.requests == 20 * 3


def test_on_the_private_postgresql_its_cpu_is_measured_too() -> None:
    with database_for("postgresql", None) as (url, workdir):
        result = bench_dispatch("postgresql", url, 20, 2, workdir)  # raises when a job is lost
    assert result.database_cpu_ms_per_cycle > 0 and result.server_cpu_ms_per_cycle > 0
    with database_for("sqlite", None) as (url, workdir):
        assert bench_dispatch("sqlite", url, 5, 1, workdir).database_cpu_ms_per_cycle == 0  # in the server


def test_server_cpu_counts_this_process() -> None:
    before = server_cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))
    assert server_cpu_seconds(os.getpid()) > before


def _statuses(url: str, user: str) -> dict[tuple[str, str], int]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        rows = db.execute(
            "SELECT computing_site, job_status, count(*) FROM jobs WHERE prod_user_name = ? GROUP BY 1, 2",
            (user,),
        )
        return {(site, status): n for site, status, n in rows}


def test_the_backlog_stays_activated_while_the_measured_jobs_are_cycled() -> None:
    with database_for("sqlite", None) as (url, workdir):
        result = bench_dispatch("sqlite", url, 30, 3, workdir, backlog=500)  # raises when a job is lost
        backlog = _statuses(url, "backlog")
        measured = _statuses(url, "bench")
    assert result.backlog == 500 and result.backlog_submit_s > 0
    assert measured == {(QUEUE, "sent"): 30, (QUEUE, "finished"): 30}
    assert sum(backlog.values()) == 500 and {status for _, status in backlog} == {"activated"}
    assert backlog[(QUEUE, "activated")] == 10  # every 50th, below the measured jobs' priority
    assert {site for site, _ in backlog} == {QUEUE, *BACKLOG_QUEUES}


@pytest.mark.parametrize("bulk", [0, 7])
def test_heartbeats_are_sent_for_running_jobs_and_they_stay_running(bulk: int) -> None:
    with database_for("sqlite", None) as (url, workdir):
        result = bench_heartbeat("sqlite", url, 20, 3, 150, workdir, bulk=bulk)  # raises when one is refused
        statuses = _statuses(url, "bench")
    assert (result.heartbeats, result.bulk) == (150, bulk)
    assert result.heartbeats_per_s > 0 and result.server_cpu_ms_per_heartbeat > 0
    assert statuses == {(QUEUE, "running"): 20}
