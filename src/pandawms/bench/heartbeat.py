"""``panda bench heartbeat``: running -> running updates (heartbeats) per second against a real server.

N jobs are submitted and started (acquire, update to running) by K simulated pilots; then the same pilots
send heartbeats for their running jobs, round-robin, until ``beats`` heartbeats are sent between them.
One heartbeat is one job's running -> running update: with ``bulk`` K a pilot is a factory sending the
heartbeats of K jobs in one pilot/update_jobs_bulk call (as Harvester does), else one call per job.
Reported: heartbeats/s, calls/s, p50/p99 call latency and the server's CPU time per heartbeat (the
server process's own CPU from the kernel, as in ``panda bench dispatch``). Every job must still be
running at the end, or the run fails.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pandawms.bench.dispatch import Budget, bench_tokens, percentile, submit_jobs
from pandawms.bench.httpclient import MiniHTTP
from pandawms.bench.servers import QUEUE, server_cpu_seconds, server_process
from pandawms.protocol import paths


@dataclass
class HeartbeatResult:
    backend: str
    jobs: int
    pilots: int
    bulk: int
    heartbeats: int
    heartbeats_per_s: float
    calls_per_s: float
    server_cpu_ms_per_heartbeat: float
    p50_ms: float
    p99_ms: float
    cpu_count: int
    python: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _ok(status: int, body: Any) -> Any:
    if status != 200 or not body.get("success"):
        raise RuntimeError(f"server answered {status}: {body}")
    data = body["data"]
    if isinstance(data, dict) and "results" in data and not all(r["success"] for r in data["results"]):
        raise RuntimeError(f"bulk update refused: {data['results']}")
    return data


async def _update(http: MiniHTTP, ids: list[int], bulk: int) -> None:
    updates = [{"job_id": i, "job_status": "running"} for i in ids]
    if bulk:
        _ok(*await http.post_json(paths.PILOT_UPDATE_JOBS_BULK, {"job_list": updates}))
        return
    for update in updates:
        data = _ok(*await http.post_json(paths.PILOT_UPDATE_JOB, update))
        if data.get("StatusCode") != 0 or data.get("command") not in ("NULL", ""):
            raise RuntimeError(f"job {update['job_id']}: heartbeat not taken: {data}")


async def _start(http: MiniHTTP, node: str, budget: Budget, bulk: int) -> list[int]:
    """Acquire this pilot's share of the jobs and move them to running; their ids."""
    ids: list[int] = []
    while want := budget.take(max(bulk, 1)):
        acquire = {"site_name": QUEUE, "n_jobs": want, "node": node}
        jobs = _ok(*await http.post_json(paths.PILOT_ACQUIRE_JOBS, acquire))["jobs"]
        budget.give_back(want - len(jobs))
        if not jobs:
            break
        got = [int(j["PandaID"]) for j in jobs]
        await _update(http, got, bulk)
        ids += got
    return ids


async def _beat(http: MiniHTTP, ids: list[int], beats: Budget, bulk: int, lat: list[float]) -> int:
    """Heartbeats for ``ids`` round-robin (K per call in bulk) until ``beats`` is spent; how many sent."""
    sent, at = 0, 0
    while ids and (n := beats.take(max(bulk, 1))):
        batch = [ids[(at + k) % len(ids)] for k in range(min(n, len(ids)))]
        beats.give_back(n - len(batch))
        at = (at + len(batch)) % len(ids)
        t0 = time.perf_counter()
        await _update(http, batch, bulk)
        lat.append(time.perf_counter() - t0)
        sent += len(batch)
    return sent


async def _pilots(
    base: str, pilots: int, jobs: int, beats: int, token: str | None, bulk: int, on_started: Any
) -> tuple[int, float, list[float]]:
    https = [MiniHTTP(base, token) for _ in range(pilots)]
    try:
        start_budget = Budget(jobs)
        owned = await asyncio.gather(*(_start(h, f"wn{i}", start_budget, bulk) for i, h in enumerate(https)))
        if sum(map(len, owned)) != jobs:
            raise RuntimeError(f"started {sum(map(len, owned))} of {jobs} jobs")
        on_started()
        lat: list[float] = []
        budget = Budget(beats)
        t0 = time.perf_counter()
        sent = await asyncio.gather(
            *(_beat(h, ids, budget, bulk, lat) for h, ids in zip(https, owned, strict=True))
        )
        return sum(sent), time.perf_counter() - t0, lat
    finally:
        for h in https:
            await h.close()


def bench_heartbeat(
    backend: str,
    db_url: str,
    jobs: int,
    pilots: int,
    beats: int,
    workdir: Path,
    *,
    bulk: int = 0,
    auth: bool = False,
    env: dict[str, str] | None = None,
) -> HeartbeatResult:
    """Start ``jobs`` jobs, then send ``beats`` heartbeats for them from ``pilots`` pilots (module doc)."""
    user, pilot = bench_tokens(db_url) if auth else (None, None)
    pids: list[int] = []
    cpu: list[float] = []
    with server_process(db_url, workdir, auth=auth, env=env, pids=pids) as base:
        submit_jobs(base, jobs, token=user)
        sent, elapsed, lat = asyncio.run(
            _pilots(base, pilots, jobs, beats, pilot, bulk, lambda: cpu.append(server_cpu_seconds(pids[0])))
        )
        cpu_used = server_cpu_seconds(pids[0]) - cpu[0]
    if sent != beats:
        raise RuntimeError(f"sent {sent} heartbeats, expected {beats}")
    return HeartbeatResult(
        backend=backend,
        jobs=jobs,
        pilots=pilots,
        bulk=bulk,
        heartbeats=sent,
        heartbeats_per_s=round(sent / elapsed, 1),
        calls_per_s=round(len(lat) / elapsed, 1),
        server_cpu_ms_per_heartbeat=round(cpu_used * 1000 / max(sent, 1), 3),
        p50_ms=round(percentile(lat, 0.50) * 1000, 2),
        p99_ms=round(percentile(lat, 0.99) * 1000, 2),
        cpu_count=os.cpu_count() or 0,
        python=sys.version.split()[0],
    )
