"""``panda bench latency``: pilot-call latency while a big submit and a watchdog batch hold the writer.

A real server process with its agents on (watchdog every 0.5 s, ``sent_timeout`` of 3 s). K simulated
pilots cycle jobs (acquire -> running -> finished) at a fixed total rate; each request has a scheduled
send time and its latency is counted from that time, so a stalled server is charged for every request
it delayed (no coordinated omission: a closed-loop client would send nothing while the server is
stuck and report a flattering p99). Meanwhile, once the pilots run steadily:
1. a stale pilot claims ``watchdog_jobs`` jobs (100 per call) and never reports, so ``sent_timeout``
   ends them in one agent batch (failed, each retried as a new attempt) about 3 s later;
2. right after the claim, one ``job/submit`` call stores ``submit_jobs`` jobs.
``load_p99_ms`` is over the requests scheduled from the start of (2) until both are done.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from pandawms.bench.dispatch import percentile, submit_jobs
from pandawms.bench.httpclient import MiniHTTP
from pandawms.bench.servers import QUEUE, server_process
from pandawms.protocol import paths

WATCHDOG_CONFIG = "[server.watchdog]\ninterval = 0.5\nsent_timeout = 3\nbatch_size = 1000\n"
WARMUP_S = 2.0
COOLDOWN_S = 2.0


@dataclass
class LatencyResult:
    pilots: int
    rate_per_s: float
    submit_jobs: int
    watchdog_jobs: int
    submit_s: float
    watchdog_ended: int
    load_requests: int
    load_p50_ms: float
    load_p99_ms: float
    load_max_ms: float
    all_requests: int
    all_p99_ms: float
    cpu_count: int
    python: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Sample:
    scheduled: float
    latency: float


class PacedPilots:
    """K pilots sharing a schedule of ``rate`` requests/s; each waits for its own answer before the next."""

    def __init__(self, base: str, pilots: int, rate: float) -> None:
        self.base = base
        self.pilots = pilots
        self.interval = pilots / rate  # each pilot's gap between scheduled requests
        self.samples: list[Sample] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        t0 = time.perf_counter()
        stagger = self.interval / self.pilots
        await asyncio.gather(*(self._pilot(i, t0 + i * stagger) for i in range(self.pilots)))

    async def _pilot(self, index: int, first: float) -> None:
        http = MiniHTTP(self.base)
        due = first
        try:
            while not self.stop.is_set():
                job = await self._call(http, due, paths.PILOT_ACQUIRE_JOBS, self._acquire(index))
                due += self.interval
                jobs = job["jobs"]
                for state in ("running", "finished") if jobs else ():
                    update = {"job_id": jobs[0]["PandaID"], "job_status": state}
                    await self._call(http, due, paths.PILOT_UPDATE_JOB, update)
                    due += self.interval
        finally:
            await http.close()

    @staticmethod
    def _acquire(index: int) -> dict[str, Any]:
        return {"site_name": QUEUE, "n_jobs": 1, "node": f"wn{index}"}

    async def _call(self, http: MiniHTTP, due: float, path: str, payload: dict[str, Any]) -> Any:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        status, body = await http.post_json(path, payload)
        self.samples.append(Sample(due, time.perf_counter() - due))
        if status != 200 or not body.get("success"):
            raise RuntimeError(f"server answered {status} to {path}: {body}")
        return body["data"]


def _agent_acted(client: httpx.Client, base: str, name: str) -> int:
    agents = client.get(base + paths.HEALTH).json()["data"]["agents"]
    return int(agents.get(name, {}).get("acted", 0))


def _claim_stale(base: str, stale_n: int) -> int:
    """Claim ``stale_n`` jobs nobody will report on; returns the watchdog's count before they time out."""
    with httpx.Client(timeout=300) as client:
        before = _agent_acted(client, base, "sent_timeout")
        claimed = 0
        while claimed < stale_n:
            ask = {"site_name": QUEUE, "n_jobs": min(100, stale_n - claimed), "node": "stale"}
            r = client.post(base + paths.PILOT_ACQUIRE_JOBS, json=ask)
            r.raise_for_status()
            claimed += len(r.json()["data"]["jobs"])
        return before


def submit_body(n: int) -> bytes:
    """The submit's JSON, encoded before the measured window (the client's CPU is not the server's)."""
    job = {"transformation": "/bin/true", "computingSite": QUEUE, "prodUserName": "bench"}
    return json.dumps({"jobs": [job] * n}).encode()


def _background(base: str, body: bytes, stale_n: int, before: int) -> tuple[float, int]:
    """Submit the jobs in one call, then wait until the watchdog has ended the stale ones."""
    deadline = time.monotonic() + 60
    ended = 0
    with httpx.Client(timeout=300) as client:
        started = time.perf_counter()
        r = client.post(base + paths.JOB_SUBMIT, content=body, headers={"Content-Type": "application/json"})
        submit_s = time.perf_counter() - started
        r.raise_for_status()
        while ended < stale_n and time.monotonic() < deadline:
            ended = _agent_acted(client, base, "sent_timeout") - before
            time.sleep(0.1)
    return submit_s, ended


async def _measure(base: str, pilots: int, rate: float, submit_n: int, stale_n: int) -> LatencyResult:
    paced = PacedPilots(base, pilots, rate)
    runner = asyncio.create_task(paced.run())
    await asyncio.sleep(WARMUP_S)
    body = submit_body(submit_n)
    before = await asyncio.to_thread(_claim_stale, base, stale_n)
    load_start = time.perf_counter()
    submit_s, ended = await asyncio.to_thread(_background, base, body, stale_n, before)
    load_end = time.perf_counter()
    await asyncio.sleep(COOLDOWN_S)
    paced.stop.set()
    await runner
    load = [s.latency for s in paced.samples if load_start <= s.scheduled <= load_end]
    every = [s.latency for s in paced.samples]
    return LatencyResult(
        pilots=pilots,
        rate_per_s=rate,
        submit_jobs=submit_n,
        watchdog_jobs=stale_n,
        submit_s=round(submit_s, 3),
        watchdog_ended=ended,
        load_requests=len(load),
        load_p50_ms=round(percentile(load, 0.50) * 1000, 2),
        load_p99_ms=round(percentile(load, 0.99) * 1000, 2),
        load_max_ms=round(max(load, default=0.0) * 1000, 2),
        all_requests=len(every),
        all_p99_ms=round(percentile(every, 0.99) * 1000, 2),
        cpu_count=os.cpu_count() or 0,
        python=sys.version.split()[0],
    )


def bench_latency(
    db_url: str,
    workdir: Path,
    *,
    pilots: int = 16,
    rate: float = 100.0,
    submit_n: int = 10_000,
    stale_n: int = 1000,
    pool: int = 5000,
    env: dict[str, str] | None = None,
) -> LatencyResult:
    """Measure on a fresh server: ``pool`` jobs for the pilots, then the load described above."""
    with server_process(db_url, workdir, config=WATCHDOG_CONFIG, env=env) as base:
        submit_jobs(base, pool + stale_n)
        return asyncio.run(_measure(base, pilots, rate, submit_n, stale_n))
