"""Measure the Slurm backend on the private one-node test cluster (not a test: run it by hand).

    PYTHONPATH=$PWD/src:$PWD python -m tests.factory.bench_slurm [--workers 200] [--known 1000]

1. start rate: ``--workers`` workers submitted in one array whose pilot is a short process (``sleep 1``),
   the time until Slurm reports every one ended -> workers started per minute through Slurm;
2. poll cost: ``--known`` workers (one array of ``sleep 600``, pending or running) followed by the
   backend: the wall time of one status() poll over all of them (one squeue + one sacct), which is what
   the factory's cycle spends on its workers;
3. real pilots: a factory keeps up to ``--pilots`` real ``panda pilot`` processes flowing through Slurm
   against a real server with many one-second jobs for ``--seconds``; each pilot lives 66 s at most
   (it asks for jobs only while 60 s are left) -> pilots started and ended per minute, jobs finished.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx

from pandawms.factory import FactoryConfig, FactoryQueue, PilotOptions, run_factory
from pandawms.factory.backends.base import WorkerSpec
from pandawms.factory.backends.slurm import SlurmBackend, SlurmBackendConfig
from tests.factory.slurmcluster import PARTITION, slurm_cluster
from tests.livesupport.live_server import live_server


def _specs(root: Path, n: int, argv: tuple[str, ...]) -> list[WorkerSpec]:
    return [
        WorkerSpec(
            i, "BENCH", argv, root / f"worker-{i}", root / f"worker-{i}" / "pilot.out", None, 1, 100, 600.0
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=200)
    parser.add_argument("--known", type=int, default=1000)
    parser.add_argument("--over-subscribe", type=int, default=16)
    parser.add_argument("--pilots", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    with slurm_cluster(root / "cluster", over_subscribe=args.over_subscribe) as cluster:
        config = SlurmBackendConfig(
            partition=PARTITION, slurm_conf=cluster.conf, sacct_args=("--completion",), array_max=1000
        )
        backend = SlurmBackend(config)
        started = time.monotonic()
        ids = [str(r) for r in backend.submit_many(_specs(root / "rate", args.workers, ("sleep", "1")))]
        submitted = time.monotonic() - started
        pending = set(ids)
        while pending:
            statuses = backend.status(sorted(pending))
            pending -= {i for i, s in statuses.items() if s.final}
            time.sleep(0.5)
        took = time.monotonic() - started
        print(
            f"start rate: {args.workers} workers (sleep 1) submitted in {submitted:.2f} s, all ended after "
            f"{took:.1f} s -> {args.workers / took * 60:.0f} workers/min (one node, 2 CPUs x "
            f"OverSubscribe {args.over_subscribe})"
        )
        known = [str(r) for r in backend.submit_many(_specs(root / "known", args.known, ("sleep", "600")))]
        time.sleep(3)
        polls = []
        for _ in range(5):
            t = time.monotonic()
            statuses = backend.status(known)
            polls.append(time.monotonic() - t)
        by_state: dict[str, int] = {}
        for status in statuses.values():
            by_state[status.state.value] = by_state.get(status.state.value, 0) + 1
        print(
            f"poll of {len(known)} known workers: best {min(polls):.3f} s, worst {max(polls):.3f} s "
            f"(one squeue + one sacct; states {by_state})"
        )
        cluster.run("scancel", f"--name={config.job_name}-0", timeout=60)
        for batch_id in known:
            backend.sweep(batch_id)
        _real_pilots(root, config, args.pilots, args.seconds)


def _real_pilots(root: Path, backend: SlurmBackendConfig, pilots: int, seconds: float) -> None:
    with live_server(root / "srv") as srv:
        body = {"name": "BENCH", "cores": 1, "max_memory_per_core": 100, "max_walltime": 600}
        httpx.post(srv.api + "/queue/upsert", json=body, timeout=10).raise_for_status()
        job: dict[str, object] = {"transformation": "python3", "jobParameters": "-c 'print(1)'"}
        job |= {"computingSite": "BENCH", "maxWalltime": 60}
        httpx.post(srv.api + "/job/submit", json={"jobs": [job] * 2000}, timeout=60).raise_for_status()
        config = FactoryConfig(
            server_url=srv.url,
            queues=(FactoryQueue("BENCH", backend=replace(backend, job_name="bench"), max_workers=pilots),),
            harvester_id="bench",
            cycle_interval=1.0,
            workdir=root / "factory",
            pilot=PilotOptions(heartbeat_interval=5.0, max_empty_acquires=1, lifetime=66.0),
        )
        stop = threading.Event()
        thread = threading.Thread(target=run_factory, args=(config,), kwargs={"stop": stop}, daemon=True)
        thread.start()
        time.sleep(seconds)
        r = httpx.get(srv.api + "/harvester/get_worker_stats", params={"queue": "BENCH"}, timeout=10)
        counts = r.json()["data"].get("BENCH", {})
        r = httpx.get(srv.api + "/job/list", params={"queue": "BENCH", "limit": 5000}, timeout=30)
        done = sum(j["jobStatus"] == "finished" for j in r.json()["data"]["jobs"])
        stop.set()
        thread.join(120)
    ended = sum(v for k, v in counts.items() if k not in ("submitted", "running"))
    print(
        f"real pilots: {ended} ended in {seconds:.0f} s with up to {pilots} at once -> "
        f"{ended / seconds * 60:.0f} pilots/min; {done} jobs finished; worker counts {counts}"
    )


if __name__ == "__main__":
    main()
