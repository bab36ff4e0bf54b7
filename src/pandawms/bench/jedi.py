"""``panda bench jedi``: a task of N catalog files through the ContentsFeeder and the JobGenerator.

A real server process with its agents ([jedi] interval 0.5 s; the other agents as configured by default)
on a fresh database, one site (queue QA reading and writing A_DISK). Not timed: N files registered in
``bench:bench.jedi.in`` at A_DISK over did/add_files. Then ``task/submit`` of a skipScout task with
``files_per_job`` files per job, and task/get_details polled every ``poll`` s:
- files loaded/s: N / (all N rows fed - first rows seen), as the master dataset's nFiles grows (the
  feeder commits every step);
- time from the submit call to the first job of the task (activated: its inputs are at the queue);
- jobs generated/s: jobs / (all rows used - first job seen);
- the server's RSS (from /proc) at every poll while jobs are generated: when the first job was seen, at
  the end, its peak (VmHWM), the growth from the first job to the end, and up to 12 samples
  (jobs generated so far, RSS MB) evenly spread over the generation.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from pandawms.bench.servers import server_process
from pandawms.bench.submit_inputs import QUEUES, RSES, SCOPE, register
from pandawms.protocol import paths

DATASET = "bench.jedi.in"
CONFIG = """[server]
[server.jedi]
interval = 0.5
queue_limit = 10000000
max_jobs_per_cycle = 20000
max_files_per_cycle = 200000
"""


@dataclass
class JediBenchResult:
    backend: str
    files: int
    files_per_job: int
    jobs: int
    register_s: float
    files_loaded_per_s: float
    submit_to_first_activated_s: float
    jobs_generated_per_s: float
    rss_ready_mb: float
    rss_end_mb: float
    rss_peak_mb: float
    rss_growth_mb: float
    rss_samples: list[tuple[int, float]]
    cpu_count: int
    python: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def lfn(i: int) -> str:
    return f"jedi.{i:07d}.root"


def task_params(files_per_job: int) -> dict[str, Any]:
    return {
        "taskName": f"bench.jedi.{uuid.uuid4().hex[:8]}",
        "userName": "bench",
        "transPath": "/bin/true",
        "skipScout": True,
        "nFilesPerJob": files_per_job,
        "jobParameters": [
            {"type": "constant", "value": "run"},
            {"type": "template", "param_type": "input", "dataset": f"{SCOPE}:{DATASET}", "value": "-i ${IN}"},
            {
                "type": "template",
                "param_type": "output",
                "dataset": f"{SCOPE}:bench.jedi.out",
                "value": "out.${JEDITASKID}._${SN}.root",
            },
        ],
        "log": {"dataset": f"{SCOPE}:bench.jedi.log", "value": "log.${JEDITASKID}._${SN}.tgz"},
    }


def _rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def details(client: httpx.Client, base: str, task_id: int) -> dict[str, Any]:
    r = client.get(base + paths.TASK_GET_DETAILS, params={"task_id": task_id})
    r.raise_for_status()
    data: dict[str, Any] = r.json()["data"]
    return data


@dataclass
class _Watch:
    first_fed: float | None = None
    all_fed: float | None = None
    first_activated: float | None = None
    ready_rss: float = 0.0
    done_at: float | None = None
    samples: list[tuple[int, float]] = field(default_factory=list)  # (jobs so far, RSS MB) once generating

    def saw(self, now: float, n_fed: int, n_rows: int, n_jobs: int, pid: int) -> None:
        if self.first_fed is None and n_fed > 0:
            self.first_fed = now
        if self.all_fed is None and n_fed >= n_rows:
            self.all_fed = now
        if self.first_activated is None and n_jobs > 0:
            self.first_activated = now
            self.ready_rss = _rss_mb(pid)
        if n_jobs > 0:
            self.samples.append((n_jobs, _rss_mb(pid)))

    def spread(self, n: int = 12) -> list[tuple[int, float]]:
        """Up to ``n`` samples evenly spread over the generation, the first and last included."""
        s = self.samples
        if len(s) <= n:
            return [(j, round(mb, 1)) for j, mb in s]
        picks = sorted({round(i * (len(s) - 1) / (n - 1)) for i in range(n)})
        return [(s[i][0], round(s[i][1], 1)) for i in picks]


def _follow(client: httpx.Client, base: str, task_id: int, pid: int, n_rows: int, poll: float) -> _Watch:
    """Poll until every master input row is used (or the task stops), noting when things happened."""
    w = _Watch()
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        d = details(client, base, task_id)
        now = time.time()
        master = next(ds for ds in d["datasets"] if ds["type"] == "input")
        w.saw(now, master["nFiles"], n_rows, sum(d.get("jobStatusCounts", {}).values()), pid)
        if master["nFilesUsed"] >= n_rows:
            w.done_at = now
            return w
        if d["status"] in ("pending", "broken", "failed", "aborted"):
            raise RuntimeError(f"task {task_id} is {d['status']}: {d.get('errorDialog', '')}")
        time.sleep(poll)
    raise RuntimeError("the task's jobs were not all generated within an hour")


def server_env(server_path: str | None) -> dict[str, str] | None:
    """The server's environment with ``server_path`` (another checkout's ``src``) first on its
    PYTHONPATH, to measure that code with this harness in the same sitting; None: this process's."""
    if server_path is None:
        return None
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (server_path, os.environ.get("PYTHONPATH")) if p),
    }


def bench_jedi(
    backend: str,
    db_url: str,
    n_files: int,
    files_per_job: int,
    workdir: Path,
    poll: float = 0.2,
    server_path: str | None = None,
) -> JediBenchResult:
    pids: list[int] = []
    env = server_env(server_path)
    with (
        server_process(db_url, workdir, config=CONFIG, queues=QUEUES, rses=RSES, pids=pids, env=env) as base,
        httpx.Client(timeout=600) as client,
    ):
        started = time.perf_counter()
        register(client, base, n_files, DATASET, lfn)
        register_s = time.perf_counter() - started
        submitted = time.time()
        r = client.post(base + paths.TASK_SUBMIT, json=task_params(files_per_job))
        r.raise_for_status()
        task_id = int(r.json()["data"]["jediTaskID"])
        w = _follow(client, base, task_id, pids[0], n_files, poll)
        d = details(client, base, task_id)
        rss_end, rss_peak = _rss_mb(pids[0]), _rss_mb(pids[0], "VmHWM")
    jobs = sum(d["jobStatusCounts"].values())
    assert w.first_activated and w.done_at and w.first_fed and w.all_fed
    fed_s = w.all_fed - w.first_fed
    return JediBenchResult(
        backend=backend,
        files=n_files,
        files_per_job=files_per_job,
        jobs=jobs,
        register_s=round(register_s, 1),
        files_loaded_per_s=round(n_files / fed_s, 1) if fed_s > 0 else 0.0,
        submit_to_first_activated_s=round(w.first_activated - submitted, 2),
        jobs_generated_per_s=round(jobs / max(1e-6, w.done_at - w.first_activated), 1),
        rss_ready_mb=round(w.ready_rss, 1),
        rss_end_mb=round(rss_end, 1),
        rss_peak_mb=round(rss_peak, 1),
        rss_growth_mb=round(rss_end - w.ready_rss, 1),
        rss_samples=w.spread(),
        cpu_count=os.cpu_count() or 0,
        python=sys.version.split()[0],
    )
