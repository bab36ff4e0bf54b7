"""``panda bench jedi --run N``: a task of N input files (nFilesPerJob=1) run to ``done`` by simulated pilots.

A real server process with its agents (the JEDI cycles shortened: feeder/generator every 0.5 s, the
PostProcessor every second) on a fresh database, one site (queue QA reading and writing A_DISK). Not
timed: N files registered in ``bench:bench.jedi.in`` at A_DISK. Timed from ``task/submit`` until the task
is ``done``: ``pilots`` threads of simulated pilots (pandawms.bench.pilots, each on its own connection)
acquire the queue's jobs, report them running and finished with their output and log files at A_DISK.
Then every file must be accounted for, else RuntimeError: the master input's N files finished and none
failed, every job finished, and the output and log datasets holding one registered file per job.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from pandawms.bench.jedi import DATASET, details, lfn, server_env, task_params
from pandawms.bench.pilots import PilotRun, Pilots
from pandawms.bench.servers import server_process
from pandawms.bench.submit_inputs import RSES, register
from pandawms.protocol import paths

CONFIG = """[server]
[server.jedi]
interval = 0.5
postprocessor_interval = 1.0
"""
QUEUE, ENDPOINT = "QA", "A_DISK"
# one queue only, so every job is brokered where the pilots are (the generation bench's QB reads A_DISK too)
QUEUES = (
    f'[[queue]]\nname = "{QUEUE}"\nsite = "A"\ncores = 8\nmax_memory_per_core = 4000\n'
    f'ddm_input = "{ENDPOINT}"\nddm_output = "{ENDPOINT}"\n'
)
PAGE = 1000


@dataclass
class JediRunResult:
    backend: str
    files: int
    jobs: int
    pilots: int
    wall_s: float
    jobs_per_s: float
    files_finished: int
    outputs_registered: int
    logs_registered: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class _PilotThreads:
    """``n`` threads of pilots draining the queue until ``stop``; the first error is kept and re-raised."""

    def __init__(self, base: str, n: int) -> None:
        self.base, self.stop = base, threading.Event()
        self.runs = [PilotRun() for _ in range(n)]
        self.errors: list[BaseException] = []
        self.threads = [
            threading.Thread(target=self._loop, args=(r, i), daemon=True) for i, r in enumerate(self.runs)
        ]

    def _loop(self, run: PilotRun, i: int) -> None:
        try:
            with httpx.Client(timeout=120) as client:
                pilots = Pilots(client, self.base, QUEUE, ENDPOINT, n_jobs=10, node=f"sim-wn{i}")
                while not self.stop.is_set():
                    if not pilots.run_round(run):
                        self.stop.wait(0.1)
        except BaseException as exc:  # reported by the main thread
            self.errors.append(exc)
            self.stop.set()

    def __enter__(self) -> _PilotThreads:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)
        if self.errors:
            raise RuntimeError(f"a simulated pilot failed: {self.errors[0]!r}") from self.errors[0]

    @property
    def jobs(self) -> int:
        return sum(r.jobs for r in self.runs)


def _wait_done(client: httpx.Client, base: str, task_id: int, pilots: _PilotThreads, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not pilots.errors:
        status = details(client, base, task_id)["status"]
        if status == "done":
            return
        if status in ("finished", "failed", "broken", "aborted", "exhausted"):
            d = details(client, base, task_id)
            raise RuntimeError(f"task {task_id} ended {status}: {d.get('errorDialog', '')}")
        time.sleep(0.2)
    if not pilots.errors:
        raise RuntimeError(f"task {task_id} not done within {timeout:.0f} s")


def _registered(client: httpx.Client, base: str, did: str) -> int:
    """Files in a catalog dataset (keyset pages of did/list_contents)."""
    n, after = 0, None
    for _ in range(100_000):
        params: dict[str, Any] = {"did": did, "limit": PAGE} | ({"after": after} if after else {})
        r = client.get(base + paths.DID_LIST_CONTENTS, params=params)
        r.raise_for_status()
        page = r.json()["data"]
        n += len(page["items"])
        after = page["next"]
        if not after:
            return n
    raise RuntimeError(f"{did}: too many pages")


def _check(d: dict[str, Any], n_files: int, outputs: int, logs: int) -> None:
    master = next(ds for ds in d["datasets"] if ds["type"] == "input")
    jobs = d["jobStatusCounts"]
    problems = []
    if (master["nFilesFinished"], master["nFilesFailed"]) != (n_files, 0):
        problems.append(f"input: {master['nFilesFinished']} finished, {master['nFilesFailed']} failed")
    if set(jobs) != {"finished"}:
        problems.append(f"jobs not all finished: {jobs}")
    if not outputs == logs == jobs.get("finished", -1):
        problems.append(f"{outputs} outputs and {logs} logs registered for {jobs.get('finished')} jobs")
    if problems:
        raise RuntimeError("files not accounted for: " + "; ".join(problems))


def bench_jedi_run(
    backend: str,
    db_url: str,
    n_files: int,
    workdir: Path,
    pilots: int = 4,
    timeout: float = 1800,
    server_path: str | None = None,
) -> JediRunResult:
    params = task_params(1)
    out_did, log_did = params["jobParameters"][2]["dataset"], params["log"]["dataset"]
    with (
        server_process(
            db_url, workdir, config=CONFIG, queues=QUEUES, rses=RSES, env=server_env(server_path)
        ) as base,
        httpx.Client(timeout=600) as client,
    ):
        register(client, base, n_files, DATASET, lfn)
        started = time.perf_counter()
        r = client.post(base + paths.TASK_SUBMIT, json=params)
        r.raise_for_status()
        task_id = int(r.json()["data"]["jediTaskID"])
        with _PilotThreads(base, pilots) as threads:
            _wait_done(client, base, task_id, threads, timeout)
        wall = time.perf_counter() - started
        d = details(client, base, task_id)
        outputs, logs = _registered(client, base, out_did), _registered(client, base, log_did)
    _check(d, n_files, outputs, logs)
    master = next(ds for ds in d["datasets"] if ds["type"] == "input")
    jobs = sum(d["jobStatusCounts"].values())
    return JediRunResult(
        backend=backend,
        files=n_files,
        jobs=jobs,
        pilots=pilots,
        wall_s=round(wall, 2),
        jobs_per_s=round(jobs / wall, 1),
        files_finished=master["nFilesFinished"],
        outputs_registered=outputs,
        logs_registered=logs,
    )
