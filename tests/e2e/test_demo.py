"""``panda demo --once``: a real server, a real factory and real pilots run the demo's tasks to the end.

The workload is three tasks (cli/demo_tasks.py): a generation task whose first jobs are scouts, a
processing task chained to it in which one file needs more memory than asked (killed by the pilot, retried
with more, then finished) and whose outputs are merged by pmerge jobs, and a task reading an input dataset
uploaded at another site. The database must end with every task done, every master file accounted for,
the memory retry visible in the file's attempts and its jobs' minRamCount, scouts that measured, real
output files, downloadable, and every factory worker ended.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
import zlib
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from pandawms.cli import demo_tasks
from tests.e2e.conftest import PANDA, free_port, wait_healthy

GEN_JOBS = 8  # small: the demo's default is 12
DATA_FILES = 8  # cli/demo.DATA_FILES: files of the uploaded input dataset
HOG = demo_tasks.hog_lfn(GEN_JOBS)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    data = tmp_path_factory.mktemp("demo")
    port = str(free_port())
    cmd = [*PANDA, "demo", "--once", "--jobs", str(GEN_JOBS), "--port", port, "--data-dir", str(data)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=840, check=False)
    return done, data


def _rows(data: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{data / 'panda.db'}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


def _task_id(data: Path, name: str) -> int:
    return int(str(_rows(data, "SELECT task_id FROM tasks WHERE task_name = ?", name)[0][0]))


def test_demo_exits_zero_and_prints_the_summary(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, _ = demo_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for text in (
        "Tasks (",
        "Scouts:",
        "Memory retry:",
        "Merge:",
        "Where to look next",
        "/tasks/",
        "/task/1/",
    ):
        assert text in done.stdout, (text, done.stdout[-3000:])
    assert "PAYLOADEXCEEDMAXMEM" in done.stdout


def test_every_task_is_done_with_every_master_file_accounted_for(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, data = demo_run
    tasks = {str(n): str(s) for n, s in _rows(data, "SELECT task_name, status FROM tasks")}
    assert tasks == {"demo.gen": "done", "demo.proc": "done", "demo.data": "done"}, tasks
    expected = {"demo.gen": GEN_JOBS, "demo.proc": GEN_JOBS, "demo.data": DATA_FILES}
    for name, n in expected.items():
        task_id = _task_id(data, name)
        # the master input (the first input dataset) has one row per file, every one finished
        master = _rows(
            data,
            "SELECT dataset_id, n_files, n_files_finished, n_files_failed FROM task_datasets "
            "WHERE task_id = ? AND type IN ('input', 'pseudo_input') AND master_id IS NULL",
            task_id,
        )
        assert [m[1:] for m in master] == [(n, n, 0)], (name, master)
        rows = Counter(
            str(r[0]) for r in _rows(data, "SELECT status FROM task_files WHERE dataset_id = ?", master[0][0])
        )
        assert rows == {"finished": n}, (name, rows)
    # no job of any task is left active
    states = {str(r[0]) for r in _rows(data, "SELECT DISTINCT job_status FROM jobs")}
    assert states <= {"finished", "failed"}, states


def test_the_memory_hungry_file_was_retried_with_more_memory(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, data = demo_run
    proc = _task_id(data, "demo.proc")
    # the file's row: one failed attempt, its ramCount raised, finished
    row = _rows(
        data,
        "SELECT f.status, f.attempt_nr, f.failed_attempt, f.ram_count FROM task_files f "
        "JOIN task_datasets d ON d.dataset_id = f.dataset_id WHERE f.task_id = ? AND d.type = 'input' "
        "AND f.lfn = ?",
        proc,
        HOG,
    )
    assert row == [("finished", 1, 1, 2 * demo_tasks.PROC_RAM_MB)], row
    # its jobs: the first asked the task's 300 MB and was killed for memory; the next asked 600 and finished
    jobs = _rows(
        data,
        "SELECT j.attempt_nr, j.min_ram_count, j.job_status, j.pilot_error_code FROM jobs j "
        "JOIN job_files f ON f.panda_id = j.panda_id WHERE j.task_id = ? AND f.lfn = ? AND f.type = 'input' "
        "ORDER BY j.panda_id",
        proc,
        HOG,
    )
    assert jobs == [(1, 300, "failed", 1235), (2, 600, "finished", 0)], jobs
    failed = _rows(data, "SELECT count(*) FROM jobs WHERE job_status = 'failed'")
    assert failed == [(1,)]  # nothing else failed


def test_the_scouts_measured_the_generation_task(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, data = demo_run
    gen = _task_id(data, "demo.gen")
    scouts = _rows(
        data,
        "SELECT count(*), min(current_priority) FROM jobs WHERE task_id = ? AND special_handling = 'sj'",
        gen,
    )
    assert scouts[0][0] == min(3, GEN_JOBS) and int(str(scouts[0][1])) >= 901, scouts
    cpu_time, ram, out_disk = _rows(
        data, "SELECT cpu_time, ram_count, out_disk_count FROM tasks WHERE task_id = ?", gen
    )[0]
    assert isinstance(cpu_time, float) and cpu_time > 0, cpu_time
    assert isinstance(ram, int) and ram > 0 and isinstance(out_disk, int) and out_disk > 0
    reasons = [
        str(r[0])
        for r in _rows(data, "SELECT reason FROM task_history WHERE task_id = ? AND status = 'scouted'", gen)
    ]
    assert len(reasons) == 1 and "cpuTime" in reasons[0], reasons
    # the scouts' nEvents came from the payload's job report
    events = _rows(data, "SELECT DISTINCT n_events FROM jobs WHERE task_id = ?", gen)
    assert events == [(demo_tasks.EVENTS_PER_JOB,)], events


def test_the_processing_outputs_were_merged(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, data = demo_run
    proc = _task_id(data, "demo.proc")
    merges = _rows(
        data,
        "SELECT job_status, count(*) FROM jobs WHERE task_id = ? AND processing_type = 'pmerge' GROUP BY 1",
        proc,
    )
    assert merges and {m[0] for m in merges} == {"finished"}, merges
    # the final dataset holds only merged files; the pieces are in demo:demo.proc.pre
    merged = {
        str(r[0])
        for r in _rows(data, "SELECT child_name FROM contents WHERE scope = 'demo' AND name = 'demo.proc'")
    }
    assert merged and all(n.startswith("demo.proc.") for n in merged), merged
    assert len(merged) == sum(int(str(n)) for _s, n in merges)
    # every merged file holds a combined estimate of pi over several inputs
    for path in sorted((data / "rses" / "LOCAL_DISK" / "demo").glob("demo.proc.*.json")):
        result = json.loads(path.read_text())
        assert abs(result["pi"] - 3.14159) < 6 * result["error"] + 1e-3, result
        assert all(name.startswith("panda.um.demo.proc.") for name in result["inputs"]), result


def test_data_jobs_ran_where_the_data_is_or_waited_for_it(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, data = demo_run
    task = _task_id(data, "demo.data")
    jobs = _rows(data, "SELECT panda_id, computing_site, job_status FROM jobs WHERE task_id = ?", task)
    assert len(jobs) == DATA_FILES and {j[2] for j in jobs} == {"finished"}, jobs
    for pid, site, _ in jobs:
        history = [
            str(r[0])
            for r in _rows(
                data,
                "SELECT job_status FROM job_status_history WHERE panda_id = ? ORDER BY change_time, row_id",
                pid,
            )
        ]
        # read in place at REMOTE_SMALL and shipped the output, or waited at a LOCAL queue for the input
        if site == "REMOTE_SMALL":
            assert "assigned" not in history and "transferring" in history, history
        else:
            assert history[:3] == ["defined", "assigned", "activated"], history
    # every output is at the destination LOCAL_DISK with the adler32 the catalog holds
    catalog = _rows(data, "SELECT lfn, adler32 FROM files WHERE scope = 'demo' AND lfn LIKE 'demo.result.%'")
    assert len(catalog) == DATA_FILES
    for lfn, adler in catalog:
        content = (data / "rses" / "LOCAL_DISK" / "demo" / str(lfn)).read_bytes()
        assert f"{zlib.adler32(content):08x}" == adler
        assert "inputs" in json.loads(content)
    assert f"Data: task {task} read demo:demo.inputs" in done.stdout


def test_every_factory_worker_ended(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, data = demo_run
    rows = _rows(data, "SELECT status, count(*) FROM workers GROUP BY status")
    workers = Counter({str(k): int(str(n)) for k, n in rows})
    assert workers and set(workers) <= {"finished", "failed", "cancelled"}, workers
    assert workers["finished"] >= 1


def _download(root: str, did: str, dest: Path) -> subprocess.CompletedProcess[str]:
    cmd = [*PANDA, "download", did, "--dest", str(dest), "--server", root]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_the_monitor_shows_the_tasks_and_the_outputs_download(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    # given the demo's task buffer served again by a plain `panda server`
    _, data = demo_run
    port = free_port()
    cmd = [
        *PANDA,
        "server",
        "--data-dir",
        str(data),
        "--port",
        str(port),
        "--no-agents",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        root = f"http://127.0.0.1:{port}"
        assert wait_healthy(root + "/api/v1"), "the server on the demo's data did not start"
        # when a user opens the task pages and downloads the merged and the data task's outputs
        tasks = httpx.get(f"{root}/tasks/", timeout=30)
        task = httpx.get(f"{root}/task/{_task_id(data, 'demo.proc')}/", timeout=30)
        merged = _download(root, "demo:demo.proc", data / "merged")
        results = _download(root, "demo:demo.results", data / "results")
    finally:
        server.terminate()
        server.wait(20)
    # then the pages name the tasks and the files arrive
    assert tasks.status_code == 200 and all(n in tasks.text for n in ("demo.gen", "demo.proc", "demo.data"))
    assert task.status_code == 200 and "demo.proc" in task.text
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert results.returncode == 0, results.stdout + results.stderr
    assert list((data / "merged").rglob("demo.proc.*.json"))
    assert len(list((data / "results").rglob("demo.result.*.json"))) == DATA_FILES


def test_sigterm_to_the_demo_stops_its_server_and_factory(tmp_path: Path) -> None:
    # given a demo serving after a small workload (not --once), started in its own session
    port = free_port()
    cmd = [*PANDA, "demo", "--jobs", "3", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    demo = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    children: list[psutil.Process] = []
    try:
        assert wait_healthy(f"http://127.0.0.1:{port}/api/v1", timeout=60)
        deadline = time.monotonic() + 60
        while len(children) < 2 and time.monotonic() < deadline:  # the factory starts after the submit
            time.sleep(0.2)
            children = psutil.Process(demo.pid).children(recursive=True)
        assert len(children) >= 2, children  # the server and the factory (and maybe pilots)
        # when only the demo process gets SIGTERM (as `kill PID` or a service manager sends it)
        os.kill(demo.pid, signal.SIGTERM)
        demo.wait(60)
        # then the processes it started are gone too
        _, alive = psutil.wait_procs(children, timeout=30)
        assert alive == [], [p.cmdline() for p in alive]
    finally:  # leave nothing running, whatever happened
        for proc in [*children, psutil.Process(demo.pid)] if demo.poll() is None else children:
            with contextlib.suppress(psutil.Error):
                proc.kill()
