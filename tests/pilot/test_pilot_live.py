"""The pilot against a real server over HTTP: jobs that finish, fail, break limits or get killed, several
jobs per pilot, no jobs, an unreachable server, and parked final updates."""

from __future__ import annotations

import shlex
import threading
import time
import zlib
from pathlib import Path

import httpx
import psutil

from pandawms.pilot import run_pilot
from pandawms.pilot.report import PendingUpdates
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.pilot import UpdateRequest
from tests.pilot.conftest import Site


def _py(code: str) -> str:
    """jobParameters running `code` with python3 -c."""
    return "-c " + shlex.quote(code)


def test_successful_job_stores_its_output_and_log(site: Site) -> None:
    # given a job that writes an output file
    pid = site.submit(
        jobParameters=_py("open('out.txt', 'w').write('hello world')"),
        files=[{"lfn": "out.txt", "type": "output"}, {"lfn": "job.log.tgz", "type": "log"}],
    )
    # when a pilot runs
    code = run_pilot(site.config())
    # then the job finished, its output is in storage with size and adler32 registered on the server
    assert code == ec.PilotExit.OK
    job = site.job(pid)
    assert job["jobStatus"] == "finished", job
    assert job["transExitCode"] == 0 and site.pilot_errors(pid) in ([], [0])
    out = {f["lfn"]: f for f in job["files"]}["out.txt"]
    assert out["checksum"].removeprefix("ad:") == f"{zlib.adler32(b'hello world'):08x}"
    assert out["fsize"] == 11
    stored = site.workdir / "storage" / str(pid) / "out.txt"
    assert stored.read_text() == "hello world" and out["surl"] == stored.resolve().as_uri()
    # and the log tarball was uploaded, metrics were reported and the work dir was cleaned up
    log = httpx.get(site.srv.api + "/file_server/download_log", params={"job_id": pid}, timeout=10)
    assert log.status_code == 200 and log.content[:2] == b"\x1f\x8b"
    assert job["maxRSS"] and job["maxRSS"] > 0
    assert not (site.workdir / f"PanDA_Pilot-{pid}").exists()
    assert PendingUpdates(site.workdir / "pending-updates").load_all() == []


def test_payload_exit_3_fails_the_job_with_1305(site: Site) -> None:
    pid = site.submit(jobParameters=_py("import sys; sys.exit(3)"), maxAttempt=1)
    assert run_pilot(site.config()) == ec.PilotExit.OK
    job = site.job(pid)
    assert job["jobStatus"] == "failed"
    assert job["transExitCode"] == 3
    assert site.pilot_errors(pid) == [ec.PilotCode.PAYLOADEXECUTIONFAILURE]


def test_memory_hog_is_killed_with_1235(site: Site) -> None:
    pid = site.submit(
        jobParameters=_py("import time; x = b'a' * (300 << 20); time.sleep(30)"),
        minRamCount=100,
        maxAttempt=1,
    )
    start = time.monotonic()
    assert run_pilot(site.config(memory_limit_factor=1.0)) == ec.PilotExit.OK
    assert time.monotonic() - start < 15
    job = site.job(pid)
    assert job["jobStatus"] == "failed"
    assert site.pilot_errors(pid) == [ec.PilotCode.PAYLOADEXCEEDMAXMEM]
    assert job["maxPSS"] > 100 * 1024 or job["maxRSS"] > 100 * 1024


def test_walltime_overrun_is_killed_with_1213(site: Site) -> None:
    pid = site.submit(jobParameters=_py("import time; time.sleep(30)"), maxWalltime=2, maxAttempt=1)
    start = time.monotonic()
    assert run_pilot(site.config()) == ec.PilotExit.OK
    assert time.monotonic() - start < 10
    assert site.job(pid)["jobStatus"] == "failed"
    assert site.pilot_errors(pid) == [ec.PilotCode.REACHEDMAXTIME]


def test_looping_job_is_killed_with_1150(site: Site) -> None:
    pid = site.submit(jobParameters=_py("import time; time.sleep(30)"), maxAttempt=1)
    assert run_pilot(site.config(looping_timeout=1.0)) == ec.PilotExit.OK
    assert site.pilot_errors(pid) == [ec.PilotCode.LOOPINGJOB]


def test_work_dir_over_its_disk_limit_is_killed_with_1104(site: Site) -> None:
    pid = site.submit(
        jobParameters=_py("import time; open('big', 'wb').write(bytes(3 << 20)); time.sleep(30)"),
        maxDiskCount=1,
        maxAttempt=1,
    )
    assert run_pilot(site.config()) == ec.PilotExit.OK
    assert site.pilot_errors(pid) == [ec.PilotCode.USERDIRTOOLARGE]


def test_server_kill_stops_the_payload_and_cancels_the_job(site: Site, tmp_path: Path) -> None:
    # given a running job whose payload has a child process
    pids_file = tmp_path / "pids"
    code = (
        "import os, subprocess, sys, time; "
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"open('{pids_file}', 'w').write(f'{{os.getpid()}} {{c.pid}}'); time.sleep(60)"
    )
    pid = site.submit(jobParameters=_py(code))
    result: list[int] = []
    pilot = threading.Thread(target=lambda: result.append(run_pilot(site.config())), daemon=True)
    pilot.start()
    assert site.wait_for(pid, {"running"})["jobStatus"] == "running"
    deadline = time.monotonic() + 10
    while not pids_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    payload_pids = [int(p) for p in pids_file.read_text().split()]
    assert all(psutil.pid_exists(p) for p in payload_pids)
    # when the job is killed on the server
    r = httpx.post(site.srv.api + "/job/kill", json={"job_ids": [pid]}, timeout=10)
    assert r.status_code == 200, r.text
    start = time.monotonic()
    pilot.join(20)
    # then the pilot learns it at the next heartbeat, kills the payload tree and the job ends cancelled
    assert not pilot.is_alive() and result == [ec.PilotExit.OK]
    assert time.monotonic() - start < 5
    assert site.job(pid)["jobStatus"] == "cancelled"
    assert site.pilot_errors(pid) == [ec.PilotCode.PANDAKILL]
    _, alive = psutil.wait_procs([psutil.Process(p) for p in payload_pids if psutil.pid_exists(p)], timeout=3)
    assert alive == []


def test_one_pilot_runs_several_jobs(site: Site) -> None:
    pids = [site.submit(jobParameters=_py(f"print({i})")) for i in range(3)]
    assert run_pilot(site.config()) == ec.PilotExit.OK
    assert [site.job(p)["jobStatus"] for p in pids] == ["finished"] * 3


def test_stage_in_from_storage_and_missing_input(site: Site) -> None:
    storage = site.workdir / "storage"
    storage.mkdir(parents=True)
    (storage / "in.txt").write_text("payload input")
    ok = site.submit(
        jobParameters=_py("import sys; sys.exit(0 if open('in.txt').read() == 'payload input' else 5)"),
        files=[{"lfn": "in.txt", "type": "input"}],
    )
    missing = site.submit(files=[{"lfn": "absent.txt", "type": "input"}], maxAttempt=1)
    assert run_pilot(site.config()) == ec.PilotExit.OK
    assert site.job(ok)["jobStatus"] == "finished"
    assert site.pilot_errors(missing) == [ec.PilotCode.NOSUCHFILE]


def test_no_jobs_exits_82(site: Site) -> None:
    start = time.monotonic()
    assert run_pilot(site.config(max_empty_acquires=3)) == ec.PilotExit.NO_JOBS
    assert time.monotonic() - start < 5


def test_unreachable_server_exits_79(tmp_path: Path) -> None:
    from pandawms.pilot.config import PilotConfig

    cfg = PilotConfig(
        server_url="http://127.0.0.1:9",
        queue="Q",
        workdir=tmp_path,
        backoff_base=0.05,
        backoff_cap=0.1,
        backoff_budget=0.5,
    )
    assert run_pilot(cfg) == ec.PilotExit.SERVER_COMMUNICATION


def test_offline_and_unknown_queues(site: Site) -> None:
    r = httpx.post(
        site.srv.api + "/queue/set_status", json={"name": site.name, "status": "offline"}, timeout=10
    )
    assert r.status_code == 200, r.text
    assert run_pilot(site.config()) == ec.PilotExit.QUEUE_OFFLINE
    assert run_pilot(site.config(queue="NO_SUCH_QUEUE")) == ec.PilotExit.QUEUEDATA


def test_parked_final_update_is_resent_by_the_next_pilot(site: Site) -> None:
    # given a job whose final update never reached the server (parked on disk by an earlier pilot)
    pid = site.submit()
    got = httpx.post(site.srv.api + "/pilot/acquire_jobs", json={"site_name": site.name}, timeout=10).json()
    assert got["data"]["jobs"][0]["PandaID"] == pid
    running = {"job_id": pid, "job_status": "running", "attempt_nr": 1}
    assert httpx.post(site.srv.api + "/pilot/update_job", json=running, timeout=10).status_code == 200
    PendingUpdates(site.workdir / "pending-updates").save(
        UpdateRequest(job_id=pid, job_status="finished", attempt_nr=1, pilot_error_code=0, trans_exit_code=0)
    )
    # when a new pilot starts in the same work dir
    assert run_pilot(site.config()) == ec.PilotExit.NO_JOBS
    # then the update is delivered and the file removed
    assert site.job(pid)["jobStatus"] == "finished"
    assert PendingUpdates(site.workdir / "pending-updates").load_all() == []


def test_pilot_lifetime_ending_during_a_job_exits_81(site: Site) -> None:
    # given a job without its own walltime and a pilot with 2 s to live
    pid = site.submit(jobParameters=_py("import time; time.sleep(30)"), maxWalltime=0, maxAttempt=1)
    start = time.monotonic()
    # when the pilot's lifetime ends while the payload runs
    code = run_pilot(site.config(lifetime=2.0, min_remaining_time=0.0))
    # then the job fails with 1213 and the pilot reports "reached max time"
    assert code == ec.PilotExit.REACHED_MAX_TIME
    assert time.monotonic() - start < 10
    assert site.pilot_errors(pid) == [ec.PilotCode.REACHEDMAXTIME]


def test_too_little_lifetime_for_any_job_exits_81(site: Site) -> None:
    assert run_pilot(site.config(lifetime=10.0, min_remaining_time=60.0)) == ec.PilotExit.REACHED_MAX_TIME


def test_work_dir_that_cannot_be_created_exits_66(tmp_path: Path) -> None:
    from pandawms.pilot.config import PilotConfig

    (tmp_path / "file").write_text("not a directory")
    assert run_pilot(PilotConfig(server_url="http://x", queue="Q", workdir=tmp_path / "file" / "w")) == 66
