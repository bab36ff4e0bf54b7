"""``panda demo --once``: a real server, a real factory and real pilots run 200+ Monte Carlo jobs to the end.

The workload includes payload failures (exit 3), memory hogs and walltime overruns, each retried once, so the
database must end with every job final, the expected pilot error codes, retries linked to their parents, real
output files for the finished jobs, and every factory worker accounted for.
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

from tests.e2e.conftest import PANDA, free_port, wait_healthy

JOBS = 200
DATA_JOBS = 8  # cli/demo.DATA_JOBS: jobs reading the uploaded input dataset (job names demo.data.*)
MC = "job_name NOT LIKE 'demo.data.%'"

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    data = tmp_path_factory.mktemp("demo")
    cmd = [*PANDA, "demo", "--once", "--jobs", str(JOBS), "--port", str(free_port()), "--data-dir", str(data)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=840, check=False)
    return done, data


def _rows(data: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{data / 'panda.db'}?mode=ro", uri=True) as db:
        return db.execute(sql).fetchall()


def _counts(data: Path, sql: str) -> Counter[object]:
    """``SELECT key, count(*) ...`` as a Counter."""
    out: Counter[object] = Counter()
    for key, n in _rows(data, sql):
        assert isinstance(n, int), (key, n)
        out[key] = n
    return out


def test_demo_exits_zero_and_prints_the_summary(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, _ = demo_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Summary by state:" in done.stdout
    assert "PAYLOADEXCEEDMAXMEM" in done.stdout
    assert "Where to look next" in done.stdout
    assert "/errors/" in done.stdout  # the monitor URL


def test_every_job_is_final_with_the_designed_failures(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, data = demo_run
    states = _counts(data, f"SELECT job_status, count(*) FROM jobs WHERE {MC} GROUP BY job_status")
    assert set(states) <= {"finished", "failed"}, states
    first = _rows(data, f"SELECT count(*) FROM jobs WHERE attempt_nr = 1 AND {MC}")[0][0]
    assert first == JOBS
    bad = sum(1 for i in range(JOBS) if i % 25 in (7, 13, 19))
    # each designed failure fails twice (attempt 1 and its retry); everything else finishes first time
    assert states["failed"] == 2 * bad
    assert states["finished"] == JOBS - bad
    codes = _counts(data, "SELECT pilot_error_code, count(*) FROM jobs WHERE job_status='failed' GROUP BY 1")
    per_kind = JOBS // 25 * 2
    assert codes == {1305: per_kind, 1235: per_kind, 1213: per_kind}, codes
    exits = _rows(data, "SELECT DISTINCT trans_exit_code FROM jobs WHERE pilot_error_code = 1305")
    assert exits == [(3,)]


def test_retries_are_new_attempts_linked_to_their_parents(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    _, data = demo_run
    pairs = _rows(
        data,
        "SELECT c.attempt_nr, p.job_status, p.job_name = c.job_name FROM jobs c "
        "JOIN jobs p ON p.panda_id = c.parent_id",
    )
    assert pairs and all(row == (2, "failed", 1) for row in pairs), pairs
    history = _rows(
        data,
        "SELECT count(DISTINCT h.panda_id) FROM job_status_history h WHERE h.job_status = 'running'",
    )[0][0]
    assert history == len(_rows(data, "SELECT panda_id FROM jobs"))


def test_finished_jobs_wrote_real_outputs(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, data = demo_run
    finished = _rows(data, "SELECT panda_id FROM jobs WHERE job_status = 'finished'")
    mc_finished = _rows(data, f"SELECT panda_id FROM jobs WHERE job_status = 'finished' AND {MC}")
    outputs = sorted((data / "storage").glob("*/mc_pi.*.json"))
    assert len(outputs) >= len(mc_finished)
    for path in outputs[:20]:
        result = json.loads(path.read_text())
        assert abs(result["pi"] - 3.14159) < 6 * result["error"] + 1e-3, result
    # and each finished job's report (the payload's jobReport.json) reached the task buffer as its metadata
    reports = _rows(
        data,
        "SELECT r.meta_data FROM job_reports r JOIN jobs j ON j.panda_id = r.panda_id "
        "WHERE j.job_status = 'finished'",
    )
    assert len(reports) == len(finished)
    parsed = [json.loads(str(r[0])) for r in reports]
    assert all(p["exitCode"] == 0 and p["nevents"] > 0 for p in parsed), parsed[:3]


def test_data_jobs_ran_where_the_data_is_or_waited_for_it(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, data = demo_run
    # given the demo's input dataset uploaded at REMOTE_DISK and one job per input file
    jobs = _rows(
        data,
        "SELECT panda_id, computing_site, core_count, job_status FROM jobs "
        "WHERE job_name LIKE 'demo.data.%' AND attempt_nr = 1",
    )
    assert len(jobs) == DATA_JOBS and {j[3] for j in jobs} == {"finished"}, jobs
    history = {
        pid: [
            str(r[0])
            for r in _rows(
                data,
                f"SELECT job_status FROM job_status_history WHERE panda_id={pid} "
                "ORDER BY change_time, row_id",
            )
        ]
        for pid, *_ in jobs
    }
    remote = [j for j in jobs if j[1] == "REMOTE_SMALL"]
    # then the single-core jobs that ran at REMOTE_SMALL read their input in place and shipped the output,
    # and the jobs at the LOCAL queues (the 2-core ones at least) waited in assigned for their inputs
    assert remote, jobs
    for pid, site, cores, _ in jobs:
        if site == "REMOTE_SMALL":
            assert "assigned" not in history[pid] and "transferring" in history[pid], history[pid]
        else:
            assert history[pid][:3] == ["defined", "assigned", "activated"], history[pid]
        assert site != "REMOTE_SMALL" or cores == 1
    # and every output is at the destination LOCAL_DISK with the adler32 the catalog holds
    catalog = _rows(data, "SELECT lfn, adler32 FROM files WHERE scope = 'demo' AND lfn LIKE 'demo.result.%'")
    assert len(catalog) == DATA_JOBS
    for lfn, adler in catalog:
        content = (data / "rses" / "LOCAL_DISK" / "demo" / str(lfn)).read_bytes()
        assert f"{zlib.adler32(content):08x}" == adler
        assert "inputs" in json.loads(content)
    at_local = _rows(
        data,
        "SELECT count(*) FROM replicas WHERE rse = 'LOCAL_DISK' AND status = 'available' "
        "AND lfn LIKE 'demo.result.%'",
    )
    assert at_local == [(DATA_JOBS,)]
    assert "Data: 8 jobs read one input each" in done.stdout


def test_every_factory_worker_ended(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, data = demo_run
    workers = _counts(data, "SELECT status, count(*) FROM workers GROUP BY status")
    assert workers and set(workers) <= {"finished", "failed", "cancelled"}, workers
    assert workers["finished"] >= 1


def test_the_monitor_shows_the_demo_workload(demo_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
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
        # when an operator opens the error summary of the last day
        errors = httpx.get(f"{root}/errors/?days=1&json", timeout=30).json()
        page = httpx.get(f"{root}/errors/?days=1", timeout=30)
        # and a user downloads the data jobs' outputs from the destination RSE
        dest = data / "downloaded"
        got = subprocess.run(
            [*PANDA, "download", "demo:demo.results", "--dest", str(dest), "--server", root],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        server.terminate()
        server.wait(20)
    # then it counts the designed failures by code, and the HTML page names them
    by_code = {(e["component"], e["code"]): e["count"] for e in errors["errsByCount"]}
    per_kind = JOBS // 25 * 2
    assert by_code == {("pilot", 1305): per_kind, ("pilot", 1235): per_kind, ("pilot", 1213): per_kind}
    assert page.status_code == 200 and "PAYLOADEXCEEDMAXMEM" in page.text
    assert got.returncode == 0, got.stdout + got.stderr
    assert len(list(dest.rglob("demo.result.*.json"))) == DATA_JOBS


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
