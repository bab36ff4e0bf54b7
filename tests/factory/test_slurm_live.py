"""The factory on a real one-node Slurm cluster (tests/factory/slurmcluster.py) against a real server: pilots
submitted as sbatch array jobs run 100+ real jobs; a worker killed at Slurm's time limit and one removed with
scancel are classified as such and their jobs retried; slurmctld stopped mid-run loses no worker."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from pandawms.factory import FactoryConfig, FactoryQueue, PilotOptions
from pandawms.factory.backends import SlurmBackendConfig
from pandawms.factory.status import read_status
from tests.factory import test_multijob_live as multijob
from tests.factory.slurmcluster import PARTITION, SlurmCluster, slurm_cluster
from tests.factory.test_factory_live import (
    _job_statuses,
    _quiet,
    _submit,
    _wait,
    _worker_stats,
    running_factory,
)
from tests.livesupport.live_server import LiveServer, live_server

PILOT = PilotOptions(heartbeat_interval=1.0, kill_grace=1.0, max_empty_acquires=1, lifetime=600.0)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    with slurm_cluster(tmp_path_factory.mktemp("slurm")) as c:
        yield c


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("srv")) as server:
        yield server


def slurm_backend(cluster: SlurmCluster, **kw: Any) -> SlurmBackendConfig:
    values: dict[str, Any] = {
        "partition": PARTITION,
        "slurm_conf": cluster.conf,
        "sacct_args": ("--completion",),  # no slurmdbd: sacct reads the job completion file
        "command_timeout": 10.0,
        "retry_base": 0.2,
        "retry_cap": 1.0,
        "retry_budget": 2.0,
        "cancel_grace": 15.0,
    }
    values.update(kw)
    return SlurmBackendConfig(**values)


def _make_queue(srv: LiveServer, name: str, walltime: int = 3600, cores: int = 1) -> str:
    body = {"name": name, "cores": cores, "max_memory_per_core": 500, "max_walltime": walltime}
    r = httpx.post(srv.api + "/queue/upsert", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return name


def _config(srv: LiveServer, queue: FactoryQueue, workdir: Path, **kw: Any) -> FactoryConfig:
    values: dict[str, Any] = {
        "server_url": srv.url,
        "queues": (queue,),
        "harvester_id": f"slurm-{queue.name}"[:64],
        "cycle_interval": 1.0,
        "workdir": workdir,
        "retry_base": 0.05,
        "retry_cap": 0.2,
        "retry_budget": 1.0,
        "stop_report_budget": 5.0,
        "pilot": PILOT,
    }
    values.update(kw)
    return FactoryConfig(**values)


def _workers(srv: LiveServer, queue: str) -> list[dict[str, Any]]:
    with sqlite3.connect(srv.data_dir / "panda.db") as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM workers WHERE queue = ? ORDER BY worker_id", (queue,)).fetchall()
    return [dict(r) for r in rows]


def _job(srv: LiveServer, panda_id: int) -> dict[str, Any]:
    r = httpx.get(srv.api + "/job/get_description", params={"job_id": panda_id}, timeout=10)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def test_pilots_through_slurm_run_120_jobs(srv: LiveServer, cluster: SlurmCluster, tmp_path: Path) -> None:
    # given a queue with 120 short jobs, served through Slurm by up to 8 pilots
    queue = _make_queue(srv, "SLURM_MANY")
    ids = _submit(srv, queue, 120)
    fq = FactoryQueue(queue, backend=slurm_backend(cluster), max_workers=8)
    started = time.monotonic()
    # when the factory runs
    with running_factory(_config(srv, fq, tmp_path / "factory")):
        _wait(lambda: _alive_states(tmp_path / "factory", queue) != {}, 60, "live workers in the status")
        assert set(_alive_states(tmp_path / "factory", queue)) <= {
            "PENDING",
            "RUNNING",
            "COMPLETED",
            "unpolled",
        }
        _wait(lambda: _job_statuses(srv, queue) == ["finished"] * 120, 150, "120 finished jobs")
        _wait(_quiet(srv, queue), 60, "all workers reported")
    elapsed = time.monotonic() - started
    # then every worker ran as a Slurm job (array tasks among them), all ended finished with exit 0 or 82
    workers = _workers(srv, queue)
    assert workers and {w["status"] for w in workers} == {"finished"}, workers
    assert all(w["exit_code"] in (0, 82) for w in workers), workers
    assert any("_" in w["batch_id"] for w in workers), [w["batch_id"] for w in workers]
    assert all("slurm COMPLETED" in w["diag"] or "slurm FAILED" in w["diag"] for w in workers), workers
    # and each job names the Slurm job its pilot ran in (the pilot reads it from SLURM_* and reports it)
    batch_ids = {w["batch_id"] for w in workers}
    for panda_id in ids[::20]:
        assert _job(srv, panda_id)["job"]["batchID"] in batch_ids
    # and the operator's status shows them all ended finished, the way `panda factory --status` prints it
    view = read_status(tmp_path / "factory")["queues"][queue]
    assert view["backend"] == "slurm" and view["ended_total"] == {"finished": len(workers)}, view
    print(f"120 jobs through Slurm in {elapsed:.1f} s with {len(workers)} pilots")


def test_time_limit_and_scancel_are_classified_and_their_jobs_retried(
    srv: LiveServer, cluster: SlurmCluster, tmp_path: Path
) -> None:
    # given two long jobs on a queue whose site caps Slurm's time limit at one minute (--time=1 in its
    # sbatch args, which win over the queue's walltime), with no early signal, so Slurm itself SIGTERMs
    # the pilot at the limit
    queue = _make_queue(srv, "SLURM_LIMITS")
    # (their 5 min maxWalltime is longer than the 1 min time limit: Slurm stops them first)
    ids = _submit(srv, queue, 2, code="import time; time.sleep(600)", walltime=300)
    backend = slurm_backend(cluster, signal_lead=0, job_name="limits", sbatch_args=("--time=1",))
    fq = FactoryQueue(queue, backend=backend, max_workers=2, max_new=2)
    with running_factory(_config(srv, fq, tmp_path / "factory", max_new_workers=2)) as stop:
        _wait(lambda: _job_statuses(srv, queue) == ["running"] * 2, 60, "both jobs running")
        # when an operator scancels one pilot's Slurm job
        first = _slurm_jobs(cluster, "limits-")
        assert len(first) == 2, first
        victim = first[0]
        cluster.run("scancel", victim)
        # and the other one reaches the time limit
        _wait(lambda: _ended(srv, queue) >= 2, 150, "both workers to end")
        stop.set()
    ended = {w["batch_id"]: w for w in _workers(srv, queue) if w["batch_id"] in first}
    # then the scancelled one is cancelled, the other failed with Slurm's TIMEOUT kept in its diag
    cancelled = ended.pop(victim)
    assert cancelled["status"] == "cancelled" and "slurm CANCELLED" in cancelled["diag"], cancelled
    (timed_out,) = ended.values()
    assert timed_out["status"] == "failed" and "slurm TIMEOUT" in timed_out["diag"], timed_out
    # and the server keeps their native states; the time-out is one of the queue's batch errors
    assert (cancelled["batch_state"], timed_out["batch_state"]) == ("CANCELLED", "TIMEOUT")
    site = httpx.get(f"{srv.url}/site/{queue}/", params={"json": "1"}, timeout=10).json()
    # (the retries' own workers may have ended at the time limit too before the factory stopped)
    assert site["batchStatesEnded"].get("TIMEOUT", 0) >= 1, site["batchStatesEnded"]
    assert "TIMEOUT" in [e["batchState"] for e in site["batchErrors"]], site["batchErrors"]
    # and both jobs failed with the pilot's SIGTERM code (it had the signal first) and were retried
    for panda_id in ids:
        d = _job(srv, panda_id)
        assert d["job"]["jobStatus"] == "failed", d["job"]
        assert ("pilot", 1201) in {(e["component"], e["code"]) for e in d["job"]["errors"]}, d["job"]
        assert len(d["retries"]) == 1, d


def test_a_whole_node_worker_runs_a_job_per_core_at_once(
    srv: LiveServer, cluster: SlurmCluster, tmp_path: Path
) -> None:
    # given as many single-core jobs as the node has CPUs, each waiting until all of them have started
    cpus = os.cpu_count() or 1
    queue = _make_queue(srv, "SLURM_WHOLE_NODE", cores=cpus)
    marks = tmp_path / "marks"
    marks.mkdir()
    ids = multijob.submit(srv, queue, marks, cpus, need=cpus)
    # when one whole-node worker in multi-job mode serves them
    fq = FactoryQueue(
        queue,
        backend=slurm_backend(cluster, whole_node=True, job_name="whole"),
        max_workers=1,
        pilot=replace(PILOT, max_jobs=0),
    )
    with running_factory(_config(srv, fq, tmp_path / "factory")):
        _wait(lambda: _ended(srv, queue) >= 1, 120, "the worker to end")
    # then its pilot read the node's CPUs from Slurm and ran them all at once (the barrier opened)
    jobs = [_job(srv, i)["job"] for i in ids]
    assert [j["jobStatus"] for j in jobs] == ["finished"] * cpus, [j["errors"] for j in jobs]
    assert len({j["batchID"] for j in jobs}) == 1
    assert max(len(s) for s in multijob.live_sets(marks).values()) == cpus


CONTROLLER_DOWN_S = 60  # the outage: longer than a few factory cycles and squeue retries


def test_slurmctld_down_for_a_minute_loses_no_worker(
    srv: LiveServer, cluster: SlurmCluster, tmp_path: Path
) -> None:
    # given 30 jobs of 2 s each running through Slurm
    queue = _make_queue(srv, "SLURM_CTLD_DOWN")
    _submit(srv, queue, 30, code="import time; time.sleep(2)")
    fq = FactoryQueue(queue, backend=slurm_backend(cluster), max_workers=4)
    with running_factory(_config(srv, fq, tmp_path / "factory")):
        _wait(lambda: _worker_stats(srv, queue).get("running", 0) >= 2, 60, "pilots running")
        # when slurmctld is stopped for a minute mid-run (and comes back with its saved state)
        cluster.stop_controller()
        try:
            time.sleep(CONTROLLER_DOWN_S)
            during = _worker_stats(srv, queue)
            errors = read_status(tmp_path / "factory")["queues"][queue]["last_errors"]
        finally:
            cluster.start_controller()
            cluster.wait_idle()
        _wait(lambda: _job_statuses(srv, queue) == ["finished"] * 30, 150, "30 finished jobs")
        _wait(_quiet(srv, queue), 60, "all workers reported")
    # then no worker was reported missed or failed while the controller was away, or after
    assert during.get("missed", 0) == during.get("failed", 0) == 0, during
    # and the operator saw why: the batch system's own error, in the factory's status
    assert any("Unable to contact slurm controller" in e for e in errors), errors
    statuses = {w["status"] for w in _workers(srv, queue)}
    assert statuses == {"finished"}, _workers(srv, queue)


def _slurm_jobs(cluster: SlurmCluster, prefix: str) -> list[str]:
    """Ids of the running Slurm jobs whose name starts with ``prefix`` (one line per array task)."""
    out = cluster.run("squeue", "--noheader", "--array", "--states=RUNNING", "--format=%i|%j")
    return [i for i, _, name in (line.partition("|") for line in out.split()) if name.startswith(prefix)]


def _alive_states(workdir: Path, queue: str) -> dict[str, int]:
    try:
        states: dict[str, int] = read_status(workdir)["queues"][queue]["batch_states"]
    except ValueError:
        return {}
    return states


def _ended(srv: LiveServer, queue: str) -> int:
    counts = _worker_stats(srv, queue)
    return sum(counts.get(s, 0) for s in ("finished", "failed", "cancelled", "missed"))
