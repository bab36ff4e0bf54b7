"""The data part of ``panda demo``: two sites with their own storage, an input dataset uploaded at one,
a task whose jobs run where the data is or wait in ``assigned`` while their inputs are copied, outputs
shipped to a destination RSE and downloadable with ``panda download``.

Site LOCAL has the LOCAL_* queues and LOCAL_DISK (file://); site REMOTE has REMOTE_SMALL and REMOTE_DISK,
on a private XRootD server when Debian's ``xrootd`` is installed (else file://). The sites are far apart
(distance 2), so a job never reads the other site's storage in place: its inputs are copied first.
"""

from __future__ import annotations

import os
import random
import shlex
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pandawms.bench.storageservers import StorageServerError, XRootDServer
from pandawms.protocol.jobs import JobRecord

SCOPE = "demo"
INPUTS = f"{SCOPE}:demo.inputs"
RESULTS = f"{SCOPE}:demo.results"
TASK = "demo.data"
DESTINATION = "LOCAL_DISK"
REMOTE_QUEUE = "REMOTE_SMALL"

RSES_TOML = """\
# Written by panda demo: two sites, each with its own storage element.
[[rse]]
name = "LOCAL_DISK"
site = "LOCAL"
prefix = "{local}"
kind = "disk"

[[rse]]
name = "REMOTE_DISK"
site = "REMOTE"
prefix = "{remote}"
kind = "disk"

[distances]
LOCAL = {{ REMOTE = 2 }}
"""
REMOTE_QUEUE_TOML = f"""
[[queue]]
name = "{REMOTE_QUEUE}"
site = "REMOTE"
cores = 1
max_memory_per_core = 1000
max_walltime = 600
max_running = 2
ddm_input = "REMOTE_DISK"
ddm_output = "REMOTE_DISK"
"""
REMOTE_FACTORY_TOML = f"""
[[queue]]
name = "{REMOTE_QUEUE}"
max_workers = 2
max_queued = 2
[queue.backend]
type = "local"
cancel_grace = 15.0
"""


@dataclass(frozen=True)
class DemoSites:
    queues_file: Path
    rses_file: Path
    remote_kind: str  # "XRootD" or "POSIX"


@contextmanager
def demo_sites(data_dir: Path, packaged_queues: str) -> Iterator[DemoSites]:
    """Write the demo's queue and RSE files; REMOTE_DISK is served by a private xrootd while in use."""
    local = data_dir / "rses" / "LOCAL_DISK"
    local.mkdir(parents=True, exist_ok=True)
    server = _xrootd()
    try:
        if server is not None:
            remote, kind = f"{server.url}/REMOTE_DISK", "XRootD"  # below the server's export root
        else:
            path = data_dir / "rses" / "REMOTE_DISK"
            path.mkdir(parents=True, exist_ok=True)
            remote, kind = path.as_uri(), "POSIX"
        rses_file = data_dir / "rses.toml"
        rses_file.write_text(RSES_TOML.format(local=local.as_uri(), remote=remote))
        queues_file = data_dir / "queues.toml"
        queues_file.write_text(_local_ddm(packaged_queues) + REMOTE_QUEUE_TOML)
        yield DemoSites(queues_file, rses_file, kind)
    finally:
        if server is not None:
            server.stop()


def _xrootd() -> XRootDServer | None:
    if shutil.which("xrootd") is None:
        return None
    try:
        return XRootDServer(tpc=False, keep_files=False).start()
    except StorageServerError:
        return None


def _local_ddm(queues: str) -> str:
    """The packaged queue file with every LOCAL queue reading and writing LOCAL_DISK."""
    return queues.replace(
        'storage_element = "LOCAL_DISK"',
        'storage_element = "LOCAL_DISK"\nddm_input = "LOCAL_DISK"\nddm_output = "LOCAL_DISK"',
    )


def upload_inputs(panda: Sequence[str], data_dir: Path, server: str, n: int, seed: int) -> list[str]:
    """Write n small input files and upload them to REMOTE_DISK with ``panda upload`` (the real CLI)."""
    rng = random.Random(seed)
    folder = data_dir / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    lfns = [f"demo.input.{i:03d}.dat" for i in range(n)]
    for lfn in lfns:
        (folder / lfn).write_bytes(rng.randbytes(64 * 1024))
    env = {**os.environ, "PANDA_URL": server}
    _run([*panda, "scope", "add", SCOPE], env)  # the task's output datasets are made by the task
    cmd = [*panda, "upload", *(str(folder / lfn) for lfn in lfns), "--rse", "REMOTE_DISK"]
    cmd += ["--scope", SCOPE, "--dataset", INPUTS]
    _run(cmd, env)
    return lfns


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)
    if done.returncode != 0:
        output = done.stdout[-1500:] + done.stderr[-1500:]
        raise RuntimeError(f"{shlex.join(cmd[2:6])} failed ({done.returncode}): {output}")


def data_task(python: str, seed: int) -> dict[str, Any]:
    """The task reading demo:demo.inputs, one file per job (mc_pi folds each input into its seed), single
    core: brokerage sends its jobs where the data is (REMOTE_SMALL) or to a LOCAL queue that waits in
    ``assigned`` while the input is copied. Every output goes to demo:demo.results at LOCAL_DISK."""
    args = "--seed ${RNDMSEED} --samples 200000 --input ${IN} --output ${OUTPUT0}"
    output = {"type": "template", "param_type": "output", "value": "demo.result.${SN}.json"}
    return {
        "taskName": TASK,
        "userName": SCOPE,
        "transPath": f"{shlex.quote(python)} -m pandawms.examples.mc_pi",
        "jobParameters": [
            {"type": "constant", "value": args, "offset": seed},
            {"type": "template", "param_type": "input", "value": "${IN}", "dataset": INPUTS, "hidden": True},
            {**output, "dataset": RESULTS, "destination": DESTINATION, "hidden": True},
        ],
        "nFilesPerJob": 1,
        "ramCount": 300,
        "skipScout": True,
        "maxAttempt": 3,
    }


def data_summary(
    task_id: int, jobs: Sequence[JobRecord], histories: Mapping[int, list[str]], server: str
) -> list[str]:
    """What the data task's jobs did: where they ran, which waited for their inputs, where the outputs are."""
    mine = [j for j in jobs if j.task_id == task_id]
    if not mine:
        return []
    ran = Counter(j.computing_site for j in mine if j.job_status == "finished")
    waited = sum(1 for h in histories.values() if "assigned" in h)
    shipped = sum(1 for h in histories.values() if "transferring" in h)
    return [
        "",
        f"Data: task {task_id} read {INPUTS} (at REMOTE_DISK) in {len(mine)} jobs, a file each.",
        "  Finished per queue: " + ", ".join(f"{q} {n}" for q, n in sorted(ran.items())),
        f"  {waited} waited in 'assigned' while their input was copied to LOCAL_DISK;",
        f"  {shipped} went 'transferring' while their output was shipped to {DESTINATION}.",
        f"  {server}/datasets/",
        f"  {server}/dataset/{RESULTS}/",
        f"  {server}/rses/",
        f"  .venv/bin/panda download {RESULTS} --dest results",
        "  .venv/bin/panda transfers            # what the transfer agent copied",
    ]
