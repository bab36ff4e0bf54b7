"""Tasks end to end with real processes: a ``panda server`` (JEDI's feeder, generator, post-processor and
TaskCommando at short intervals), a ``panda factory`` launching real pilots, and input files uploaded with
``panda upload`` to a file:// RSE.

- a task over real files runs to ``done``: every file finished, its outputs in the output dataset with
  replicas at the RSE (downloadable);
- a task whose payload always fails ends ``failed`` with its failed files named, each used maxAttempt times;
- ``task/kill`` on a running task leaves no job active and the task ``aborted``.
One server and one factory serve the three tests (each its own task); scouting is skipped (the demo's
e2e test covers scouts), so the tests stay short.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PANDA, Server, serving

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SCOPE = "user.e2e"
RSE = "E2E_DISK"
ENV = {
    "PANDA_WATCHDOG_INTERVAL": "0.5",
    "PANDA_WATCHDOG_LOST_HEARTBEAT": "30",
    "PANDA_TRANSFERS_INTERVAL": "0.5",
    "PANDA_JEDI_INTERVAL": "0.5",
    "PANDA_JEDI_COMMAND_INTERVAL": "0.5",
    "PANDA_JEDI_POSTPROCESSOR_INTERVAL": "0.5",
    "PANDA_JEDI_SCOUT_INTERVAL": "0.5",
}
RSES = """
[[rse]]
name = "E2E_DISK"
site = "E2E"
prefix = "{prefix}"
kind = "disk"
"""
QUEUES = """
[[queue]]
name = "{name}"
site = "E2E"
cores = 1
max_memory_per_core = 2000
max_walltime = 600
ddm_input = "E2E_DISK"
ddm_output = "E2E_DISK"
"""
FACTORY = """
[factory]
cycle_interval = 1.0
max_new_workers = 6
workdir = "{workdir}"
worker_dir_retention = 0.0

[factory.pilot]
heartbeat = 1.0
kill_grace = 1.0
max_empty = 3
storage_dir = "{storage}"
"""
FACTORY_QUEUE = """
[[queue]]
name = "{name}"
max_workers = 3
max_queued = 2
"""
QUEUE_NAMES = ("E2E_A", "E2E_B")
# Concatenates the job's inputs (${IN}: comma-joined names the pilot staged in) into its output.
CONCAT = (
    "import sys; ins = sys.argv[1].split(','); "
    "open(sys.argv[2], 'wb').write(b''.join(open(f, 'rb').read() for f in ins))"
)


def _cli(server: Server, *args: str) -> None:
    env = {**os.environ, "PANDA_URL": server.root}
    done = subprocess.run([*PANDA, *args], capture_output=True, text=True, timeout=120, check=False, env=env)
    assert done.returncode == 0, (args, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with one RSE and two queues, and a factory keeping pilots on both."""
    root = tmp_path_factory.mktemp("tasks")
    data = root / "server"
    data.mkdir()
    (root / "rse").mkdir()
    (data / "rses.toml").write_text(RSES.format(prefix=(root / "rse").as_uri()))
    (data / "queues.toml").write_text("".join(QUEUES.format(name=q) for q in QUEUE_NAMES))
    args = ["--queues", str(data / "queues.toml"), "--rses", str(data / "rses.toml")]
    factory_toml = root / "factory.toml"
    factory_toml.write_text(
        FACTORY.format(workdir=root / "factory", storage=root / "storage")
        + "".join(FACTORY_QUEUE.format(name=q) for q in QUEUE_NAMES)
    )
    with serving(data, args, ENV) as server:
        _cli(server, "scope", "add", SCOPE)
        cmd = [*PANDA, "factory", "--server", server.root, "--config", str(factory_toml)]
        with (root / "factory.log").open("wb") as log:
            factory = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield server
        finally:
            factory.terminate()
            try:
                factory.wait(30)
            except subprocess.TimeoutExpired:
                factory.kill()
                factory.wait()


def _upload(server: Server, folder: Path, dataset: str, n: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    lfns = [f"{dataset}.{i:02d}.dat" for i in range(n)]
    for i, lfn in enumerate(lfns):
        (folder / lfn).write_bytes(f"file {i} of {dataset}\n".encode() * 20)
    files = [str(folder / lfn) for lfn in lfns]
    _cli(server, "upload", *files, "--rse", RSE, "--scope", SCOPE, "--dataset", f"{SCOPE}:{dataset}")
    return lfns


def _task(name: str, args: str, in_ds: str, **extra: Any) -> dict[str, Any]:
    return {
        "taskName": name,
        "userName": "e2e",
        "transPath": "python3",
        "jobParameters": [
            {"type": "constant", "value": args},
            {"type": "template", "param_type": "input", "value": "${IN}", "dataset": f"{SCOPE}:{in_ds}"},
            {
                "type": "template",
                "param_type": "output",
                "value": f"{name}.${{SN}}.out",
                "dataset": f"{SCOPE}:{name}.out",
                "destination": RSE,
                "hidden": True,
            },
        ],
        "skipScout": True,
        **extra,
    }


def _submit(server: Server, params: dict[str, Any]) -> int:
    return int(server.post("/task/submit", params)["jediTaskID"])


def _details(server: Server, task_id: int) -> dict[str, Any]:
    data: dict[str, Any] = server.get("/task/get_details", task_id=task_id)
    return data


def _wait(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} not within {timeout} s")


def _wait_status(server: Server, task_id: int, statuses: set[str], timeout: float = 60) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        d = _details(server, task_id)
        return d if d["status"] in statuses else None

    try:
        found: dict[str, Any] = _wait(f"task {task_id} in {statuses}", final, timeout)
    except AssertionError:
        raise AssertionError(f"task {task_id}: {_details(server, task_id)}") from None
    return found


def _rows(server: Server, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{server.data_dir / 'panda.db'}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


def _jobs(server: Server, task_id: int) -> list[dict[str, Any]]:
    ids = server.get("/task/get_job_ids", task_id=task_id)
    return [server.job(pid)["job"] for pid in ids]


def test_a_task_over_real_files_runs_to_done_with_its_outputs_registered(
    site: Server, tmp_path: Path
) -> None:
    # given four files uploaded to a file:// RSE and a task combining them two per job
    lfns = _upload(site, tmp_path / "in", "concat.in", 4)
    args = f'-c "{CONCAT}" ${{IN}} ${{OUTPUT0}}'
    task_id = _submit(site, _task("concat", args, "concat.in", nFilesPerJob=2))
    # when the factory's pilots run its jobs
    task = _wait_status(site, task_id, {"done", "finished", "failed", "broken", "aborted"})
    # then the task is done with every input file finished
    assert task["status"] == "done", task
    master = next(d for d in task["datasets"] if d["type"] == "input")
    assert (master["nFiles"], master["nFilesFinished"], master["nFilesFailed"]) == (4, 4, 0), master
    rows = _rows(
        site, "SELECT lfn, status, attempt_nr FROM task_files WHERE dataset_id = ?", master["datasetID"]
    )
    assert sorted(rows) == [(lfn, "finished", 0) for lfn in lfns], rows
    # and its two outputs are in the output dataset, with replicas at the RSE holding the inputs' bytes
    outputs = _rows(site, "SELECT child_name FROM contents WHERE scope = ? AND name = 'concat.out'", SCOPE)
    assert len(outputs) == 2, outputs
    replicas = _rows(
        site,
        "SELECT lfn FROM replicas WHERE scope = ? AND rse = ? AND status = 'available' "
        "AND lfn LIKE 'concat.%.out'",
        SCOPE,
        RSE,
    )
    assert sorted(replicas) == sorted(outputs), (replicas, outputs)
    dest = tmp_path / "got"
    _cli(site, "download", f"{SCOPE}:concat.out", "--dest", str(dest))
    got = b"".join(p.read_bytes() for p in sorted(dest.rglob("concat.*.out")))
    assert got == b"".join((tmp_path / "in" / lfn).read_bytes() for lfn in lfns)


def test_a_task_whose_jobs_keep_failing_ends_failed_with_its_files_listed(
    site: Server, tmp_path: Path
) -> None:
    # given a task over two files whose payload always exits 3, two attempts per file
    lfns = _upload(site, tmp_path / "in", "broken.in", 2)
    args = '-c "import sys; sys.exit(3)" ${IN} ${OUTPUT0}'
    task_id = _submit(site, _task("broken", args, "broken.in", nFilesPerJob=1, maxAttempt=2))
    # when its jobs have run
    task = _wait_status(site, task_id, {"done", "finished", "failed", "exhausted", "broken", "aborted"}, 90)
    # then it is failed and says which files failed
    assert task["status"] == "failed", task
    assert all(lfn in task["errorDialog"] for lfn in lfns), task["errorDialog"]
    master = next(d for d in task["datasets"] if d["type"] == "input")
    assert (master["nFilesFinished"], master["nFilesFailed"]) == (0, 2), master
    # and each file was used maxAttempt (2) times, by failed jobs with the payload's exit code
    rows = _rows(
        site,
        "SELECT lfn, status, attempt_nr, failed_attempt FROM task_files WHERE dataset_id = ?",
        master["datasetID"],
    )
    assert sorted(rows) == [(lfn, "failed", 2, 2) for lfn in lfns], rows
    jobs = _jobs(site, task_id)
    per_file = {lfn: [j for j in jobs if any(f["lfn"] == lfn for f in j["files"])] for lfn in lfns}
    assert all(len(js) == 2 for js in per_file.values()), per_file
    assert {(j["jobStatus"], j["transExitCode"]) for j in jobs} == {("failed", 3)}


def test_killing_a_running_task_leaves_no_job_running(site: Server, tmp_path: Path) -> None:
    # given a task of three long jobs, one of them running
    _upload(site, tmp_path / "in", "sleepy.in", 3)
    args = '-c "import time; time.sleep(120)" ${IN} ${OUTPUT0}'
    task_id = _submit(site, _task("sleepy", args, "sleepy.in", nFilesPerJob=1))
    _wait("a running job", lambda: any(j["jobStatus"] == "running" for j in _jobs(site, task_id)), 60)
    # when the task is killed
    answer = site.post("/task/kill", {"jediTaskID": task_id})
    assert answer["code"] == 0, answer
    # then within a short deadline every job is final and the task aborted
    task = _wait_status(site, task_id, {"aborted"}, 45)
    jobs = _jobs(site, task_id)
    assert jobs and all(j["jobStatus"] in {"cancelled", "failed", "closed"} for j in jobs), jobs
    assert any(h["status"] == "aborting" for h in task["history"]), task["history"]
