"""``panda bench submit-inputs``: job submission with catalog inputs beside plain submission, one run.

On a fresh server process (no agents) with two sites whose storage is near each other (A_DISK at A, B_DISK
at B, distance 1: each queue reads the other's storage in place), ``files_per_job x jobs`` files are
registered at A_DISK first (not timed). Then, each timed over real HTTP in batches of ``batch`` jobs:
1. plain: jobs pinned to a queue, no files (the dispatch benchmark's submission);
2. brokered: jobs without a queue and without files (brokerage, no catalog read);
3. files: jobs without a queue with ``files_per_job`` input rows outside the catalog (no scope): the cost
   of storing the file rows themselves;
4. inputs: jobs without a queue with ``files_per_job`` catalog inputs each (brokerage weighed by input
   locality: the batch's files, replicas, RSEs and distances read once per stored chunk).
Every input job must come out activated (its inputs readable at the chosen queue).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from pandawms.bench.servers import QUEUE, QUEUE_FILE, server_process
from pandawms.protocol import paths

SCOPE = "bench"
DATASET = "bench.inputs"
QUEUES = (
    QUEUE_FILE
    + '\n[[queue]]\nname = "QA"\nsite = "A"\nddm_input = "A_DISK"\nddm_output = "A_DISK"\n'
    + '\n[[queue]]\nname = "QB"\nsite = "B"\nddm_input = "B_DISK"\nddm_output = "B_DISK"\n'
)
RSES = (
    '[[rse]]\nname = "A_DISK"\nsite = "A"\nprefix = "file:///tmp/bench/A_DISK"\n'
    '\n[[rse]]\nname = "B_DISK"\nsite = "B"\nprefix = "file:///tmp/bench/B_DISK"\n'
    "\n[distances]\nA = { B = 1 }\n"
)
REGISTER_BATCH = 10_000


@dataclass
class SubmitInputsResult:
    backend: str
    jobs: int
    files_per_job: int
    plain_per_s: float
    brokered_per_s: float
    files_per_s: float
    inputs_per_s: float
    inputs_sites: dict[str, int]
    cpu_count: int
    python: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _lfn(i: int) -> str:
    return f"in.{i:07d}.root"


def register(
    client: httpx.Client, base: str, n_files: int, dataset: str = DATASET, lfn: Callable[[int], str] = _lfn
) -> None:
    """``n_files`` files named ``lfn(i)`` in the open dataset ``bench:dataset``, with a replica at A_DISK."""
    client.post(base + paths.SCOPE_ADD, json={"scope": SCOPE, "account": "bench"}).raise_for_status()
    dids = [{"scope": SCOPE, "name": dataset, "type": "dataset"}]
    client.post(base + paths.DID_ADD, json={"dids": dids}).raise_for_status()
    for start in range(0, n_files, REGISTER_BATCH):
        files = [
            {
                "scope": SCOPE,
                "name": lfn(i),
                "bytes": 2_000_000,
                "adler32": f"{zlib.adler32(lfn(i).encode()):08x}",
                "guid": str(uuid.uuid5(uuid.NAMESPACE_URL, lfn(i))),
            }
            for i in range(start, min(start + REGISTER_BATCH, n_files))
        ]
        body = {"dataset": f"{SCOPE}:{dataset}", "files": files, "rse": "A_DISK"}
        client.post(base + paths.DID_ADD_FILES, json=body).raise_for_status()


def _timed(
    client: httpx.Client, base: str, n: int, batch: int, make: Callable[[int], dict[str, Any]]
) -> tuple[float, list[dict[str, Any]]]:
    """Jobs/s of submitting ``n`` jobs (bodies built before the clock starts) and the answers."""
    bodies = [{"jobs": [make(i) for i in range(s, min(s + batch, n))]} for s in range(0, n, batch)]
    answers: list[dict[str, Any]] = []
    started = time.perf_counter()
    for body in bodies:
        r = client.post(base + paths.JOB_SUBMIT, json=body)
        r.raise_for_status()
        answers += r.json()["data"]
    return n / (time.perf_counter() - started), answers


def bench_submit_inputs(
    backend: str, db_url: str, jobs: int, files_per_job: int, workdir: Path, batch: int = 5000
) -> SubmitInputsResult:
    base_job = {"transformation": "/bin/true", "prodUserName": "bench"}

    def with_files(i: int, scope: str = "") -> dict[str, Any]:
        names = (_lfn(i * files_per_job + k) for k in range(files_per_job))
        files = [{"lfn": n, "type": "input", "scope": scope, "dataset": DATASET} for n in names]
        return {**base_job, "files": files}

    with (
        server_process(db_url, workdir, queues=QUEUES, rses=RSES) as base,
        httpx.Client(timeout=600) as client,
    ):
        register(client, base, jobs * files_per_job)
        plain, _ = _timed(client, base, jobs, batch, lambda i: {**base_job, "computingSite": QUEUE})
        brokered, _ = _timed(client, base, jobs, batch, lambda i: base_job)
        plain_files, _ = _timed(client, base, jobs, batch, with_files)
        inputs, answers = _timed(client, base, jobs, batch, lambda i: with_files(i, SCOPE))
    states = Counter(a["jobStatus"] for a in answers)
    if states != Counter({"activated": jobs}):
        raise RuntimeError(f"input jobs not all activated: {dict(states)}")
    return SubmitInputsResult(
        backend=backend,
        jobs=jobs,
        files_per_job=files_per_job,
        plain_per_s=round(plain, 1),
        brokered_per_s=round(brokered, 1),
        files_per_s=round(plain_files, 1),
        inputs_per_s=round(inputs, 1),
        inputs_sites=dict(sorted(Counter(str(a["computingSite"]) for a in answers).items())),
        cpu_count=os.cpu_count() or 0,
        python=sys.version.split()[0],
    )
