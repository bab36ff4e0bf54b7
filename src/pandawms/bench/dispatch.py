"""``panda bench dispatch``: submit N jobs, then K simulated pilots cycle them over real HTTP.

Phases, each timed separately on a fresh server process:
1. submit: N jobs in batches (``submit_per_s``);
2. dispatch: K pilots only claim (activated -> sent) until the queue is empty (``dispatch_per_s``);
3. cycle: N more jobs; K pilots do acquire -> update(running) -> update(finished) (``cycles_per_s``),
   with p50/p99 latency over every request of this phase, and the server's CPU time per cycle
   (``server_cpu_ms_per_cycle``: user + system time of the server process and its children, read from
   the kernel before and after the phase, so the pilots' own CPU on the shared cores is not counted);
   on the private PostgreSQL also its processes' (``database_cpu_ms_per_cycle``: the postmaster, its
   backends and the ones it reaped).

``backlog`` B (issue 15, "at scale"): before the phases, B more activated jobs are submitted and stay in
the table throughout, as on a grid with a deep queue: 1/50 of them on the bench queue at a lower priority
than the measured jobs (so every claim walks past them in the same index), the rest spread over 49 other
queues. The pilots of each phase stop after their N jobs (a shared budget), so the backlog is never drained.

The server runs no periodic agents unless ``agents`` (``--agents``): then all of them, with their default
settings, as in production (on PostgreSQL that includes the planner statistics agent, which changes
the figures: docs/benchmarks.md, "Planner statistics on PostgreSQL").
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from pandawms.bench.httpclient import MiniHTTP
from pandawms.bench.servers import (
    PRIVATE_POSTMASTERS,
    QUEUE,
    QUEUE_FILE,
    make_token,
    server_cpu_seconds,
    server_process,
)
from pandawms.protocol import paths

BACKLOG_QUEUES = tuple(f"{QUEUE}_{i:02d}" for i in range(1, 50))
BACKLOG_PRIORITY = -100  # below the measured jobs' default, so the pilots take those first


@dataclass
class BenchResult:
    backend: str
    jobs: int
    pilots: int
    bulk: int
    submit_per_s: float
    dispatch_per_s: float
    cycles_per_s: float
    server_cpu_ms_per_cycle: float
    p50_ms: float
    p99_ms: float
    requests: int
    cpu_count: int
    python: str
    backlog: int = 0
    backlog_submit_s: float = 0.0
    calls_per_commit: float = 0.0  # SQLite group commit in the cycle phase (0: not reported)
    agents: bool = False  # the server ran its periodic agents
    database_cpu_ms_per_cycle: float = 0.0  # the private PostgreSQL's processes (0: not measured)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def queue_file(backlog: int) -> str:
    """The queue file: the bench queue, plus the backlog's other queues when there is a backlog."""
    if not backlog:
        return QUEUE_FILE
    extra = "".join(
        f'[[queue]]\nname = "{q}"\ncores = 8\nmax_memory_per_core = 4000\n' for q in BACKLOG_QUEUES
    )
    return QUEUE_FILE + extra


def bench_tokens(db_url: str) -> tuple[str, str]:
    """A user's token (for submit) and a pilot's of the bench queue (for the pilot calls)."""
    return make_token(db_url, "--role", "user", "--sub", "bench"), make_token(
        db_url, "--role", "pilot", "--queue", QUEUE
    )


def submit_jobs(base: str, n: int, batch: int = 5000, token: str | None = None) -> float:
    job = {"transformation": "/bin/true", "computingSite": QUEUE, "prodUserName": "bench"}
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"} if token else None
    with httpx.Client(timeout=300, headers=headers) as client:
        for start in range(0, n, batch):
            count = min(batch, n - start)
            r = client.post(base + paths.JOB_SUBMIT, json={"jobs": [job] * count})
            r.raise_for_status()
    return n / (time.perf_counter() - started)


def backlog_jobs(n: int) -> Iterator[dict[str, object]]:
    """The backlog's job descriptions: every 50th on the bench queue at a lower priority, the rest
    round-robin over the other queues."""
    for i in range(n):
        slot = i % (len(BACKLOG_QUEUES) + 1)
        job: dict[str, object] = {"transformation": "/bin/true", "prodUserName": "backlog"}
        if slot == 0:
            job.update(computingSite=QUEUE, currentPriority=BACKLOG_PRIORITY)
        else:
            job["computingSite"] = BACKLOG_QUEUES[slot - 1]
        yield job


def submit_backlog(base: str, n: int, batch: int = 5000, token: str | None = None) -> float:
    """Submit the backlog (``backlog_jobs``) in batches; the seconds it took."""
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"} if token else None
    jobs = backlog_jobs(n)
    with httpx.Client(timeout=600, headers=headers) as client:
        for start in range(0, n, batch):
            chunk = [next(jobs) for _ in range(min(batch, n - start))]
            r = client.post(base + paths.JOB_SUBMIT, json={"jobs": chunk})
            r.raise_for_status()
    return time.perf_counter() - started


class Budget:
    """The jobs a phase's pilots may still take, shared by them (one event loop: no lock needed)."""

    def __init__(self, jobs: int) -> None:
        self.left = jobs

    def take(self, want: int) -> int:
        n = min(want, self.left)
        self.left -= n
        return n

    def give_back(self, n: int) -> None:
        self.left += n


async def _pilot(
    base: str,
    full_cycle: bool,
    lat: list[float],
    node: str,
    token: str | None,
    budget: Budget,
    bulk: int = 0,
) -> int:
    """One simulated pilot on its own keep-alive connection: acquire -> running -> finished, until the
    phase's ``budget`` is spent or the queue is empty. ``bulk`` K: a factory instead, acquiring K jobs
    per call and updating them K at once (pilot/update_jobs_bulk)."""
    http = MiniHTTP(base, token)
    done = 0
    try:
        while want := budget.take(max(bulk, 1)):
            acquire = {"site_name": QUEUE, "n_jobs": want, "node": node}
            t0 = time.perf_counter()
            status, body = await http.post_json(paths.PILOT_ACQUIRE_JOBS, acquire)
            lat.append(time.perf_counter() - t0)
            _check(status, body)
            jobs = body["data"]["jobs"]
            budget.give_back(want - len(jobs))
            if not jobs:
                return done
            if full_cycle:
                for state in ("running", "finished"):
                    updates = [{"job_id": j["PandaID"], "job_status": state} for j in jobs]
                    t0 = time.perf_counter()
                    if bulk:
                        status, body = await http.post_json(
                            paths.PILOT_UPDATE_JOBS_BULK, {"job_list": updates}
                        )
                    else:
                        status, body = await http.post_json(paths.PILOT_UPDATE_JOB, updates[0])
                    lat.append(time.perf_counter() - t0)
                    _check(status, body)
                    if bulk and not all(r["success"] for r in body["data"]["results"]):
                        raise RuntimeError(f"bulk update refused: {body['data']['results']}")
            done += len(jobs)
        return done
    finally:
        await http.close()


def _check(status: int, body: Any) -> None:
    if status != 200 or not body.get("success"):
        raise RuntimeError(f"server answered {status}: {body}")


async def run_pilots(
    base: str, pilots: int, full_cycle: bool, jobs: int, token: str | None = None, bulk: int = 0
) -> tuple[int, float, list[float]]:
    """K pilots take (and with ``full_cycle`` run to finished) up to ``jobs`` jobs between them."""
    lat: list[float] = []
    budget = Budget(jobs)
    started = time.perf_counter()
    counts = await asyncio.gather(
        *(_pilot(base, full_cycle, lat, f"wn{i}", token, budget, bulk) for i in range(pilots))
    )
    return sum(counts), time.perf_counter() - started, lat


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_dispatch(
    backend: str,
    db_url: str,
    jobs: int,
    pilots: int,
    workdir: Path,
    auth: bool = False,
    env: dict[str, str] | None = None,
    bulk: int = 0,
    workers: int = 1,
    backlog: int = 0,
    agents: bool = False,
) -> BenchResult:
    """``auth``: the server checks a token on every call (a user's for submit, a pilot's for the rest);
    ``env``: the server's environment (bench.jedi.server_env: another checkout's code, side by side);
    ``bulk`` K: each simulated pilot is a factory acquiring and updating K jobs per call; ``backlog`` B:
    B activated jobs stay in the table throughout (module docstring); ``agents``: the server runs its
    periodic agents (default settings), as in production, instead of none."""
    user, pilot = bench_tokens(db_url) if auth else (None, None)
    pids: list[int] = []
    queues = queue_file(backlog)
    config = "" if agents else None
    with server_process(
        db_url, workdir, config=config, auth=auth, env=env, pids=pids, workers=workers, queues=queues
    ) as base:
        backlog_s = submit_backlog(base, backlog, token=user) if backlog else 0.0
        submit_rate = submit_jobs(base, jobs, token=user)
        dispatched, d_elapsed, _ = asyncio.run(run_pilots(base, pilots, False, jobs, pilot, bulk))
        submit_jobs(base, jobs, token=user)
        postmaster = PRIVATE_POSTMASTERS.get(db_url)
        cpu_before = server_cpu_seconds(pids[0])
        db_before = server_cpu_seconds(postmaster) if postmaster else 0.0
        groups_before = write_groups(base)
        cycled, c_elapsed, lat = asyncio.run(run_pilots(base, pilots, True, jobs, pilot, bulk))
        cpu_cycle = server_cpu_seconds(pids[0]) - cpu_before
        db_cycle = server_cpu_seconds(postmaster) - db_before if postmaster else 0.0
        groups_after = write_groups(base)
    if dispatched != jobs or cycled != jobs:
        raise RuntimeError(f"lost jobs: dispatched {dispatched}, cycled {cycled}, expected {jobs} each")
    return BenchResult(
        backend=backend,
        jobs=jobs,
        pilots=pilots,
        bulk=bulk,
        submit_per_s=round(submit_rate, 1),
        dispatch_per_s=round(dispatched / d_elapsed, 1),
        cycles_per_s=round(cycled / c_elapsed, 1),
        server_cpu_ms_per_cycle=round(cpu_cycle * 1000 / max(cycled, 1), 3),
        p50_ms=round(percentile(lat, 0.50) * 1000, 2),
        p99_ms=round(percentile(lat, 0.99) * 1000, 2),
        requests=len(lat),
        cpu_count=os.cpu_count() or 0,
        python=sys.version.split()[0],
        backlog=backlog,
        backlog_submit_s=round(backlog_s, 1),
        calls_per_commit=_per_commit(groups_before, groups_after),
        agents=agents,
        database_cpu_ms_per_cycle=round(db_cycle * 1000 / max(cycled, 1), 3),
    )


def write_groups(base: str) -> tuple[int, int] | None:
    """(transactions, calls) of the server's group commit from its health (None: not reported: a
    PostgreSQL server, or an older one)."""
    groups = httpx.get(base + paths.HEALTH, timeout=30).json().get("data", {}).get("write_groups")
    return (int(groups["transactions"]), int(groups["calls"])) if groups else None


def _per_commit(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float:
    if before is None or after is None or after[0] == before[0]:
        return 0.0
    return round((after[1] - before[1]) / (after[0] - before[0]), 2)
