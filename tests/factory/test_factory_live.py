"""The factory against a real server (uvicorn, SQLite) starting real pilots that run real payloads: jobs get
done and workers reported, two factories share one queue without over-submitting, offline queues get no
pilots, a stop cancels running pilots, and an unreachable server does not break the loop."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from pandawms.factory import FactoryConfig, FactoryQueue, LocalBackendConfig, PilotOptions, run_factory
from pandawms.factory.workdirs import spool_dir
from pandawms.protocol.pilot import UpdateRequest
from tests.livesupport.live_server import LiveServer, live_server

PILOT = PilotOptions(heartbeat_interval=1.0, kill_grace=1.0, max_empty_acquires=1, lifetime=600.0)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("srv")) as server:
        yield server


@pytest.fixture(autouse=True)
def no_leftover_pilots() -> Iterator[None]:
    yield
    left = [p for p in psutil.Process().children(recursive=True) if _is_pilot(p)]
    for proc in left:
        proc.kill()
    assert not left, f"pilots left running: {left}"


def _is_pilot(proc: psutil.Process) -> bool:
    try:
        return "--worker-id" in proc.cmdline()
    except psutil.Error:
        return False


def _queue(srv: LiveServer, request: pytest.FixtureRequest, suffix: str = "", status: str = "online") -> str:
    name = ("Q_" + re.sub(r"[^A-Za-z0-9]", "_", request.node.name))[:60] + suffix
    body = {"name": name, "cores": 1, "max_memory_per_core": 2000, "max_walltime": 3600, "status": status}
    r = httpx.post(srv.api + "/queue/upsert", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return name


def _submit(srv: LiveServer, queue: str, n: int, code: str = "print(1)", walltime: int = 60) -> list[int]:
    job = {
        "transformation": "python3",
        "jobParameters": f"-c '{code}'",
        "computingSite": queue,
        "maxWalltime": walltime,
    }
    r = httpx.post(srv.api + "/job/submit", json={"jobs": [job] * n}, timeout=10)
    assert r.status_code == 200, r.text
    return [int(j["PandaID"]) for j in r.json()["data"]]


def _job_statuses(srv: LiveServer, queue: str) -> list[str]:
    r = httpx.get(srv.api + "/job/list", params={"queue": queue, "limit": 1000}, timeout=10)
    assert r.status_code == 200, r.text
    return [j["jobStatus"] for j in r.json()["data"]["jobs"]]


def _worker_stats(srv: LiveServer, queue: str) -> dict[str, int]:
    r = httpx.get(srv.api + "/harvester/get_worker_stats", params={"queue": queue}, timeout=10)
    assert r.status_code == 200, r.text
    counts: dict[str, int] = r.json()["data"].get(queue, {})
    return counts


def _config(
    srv_url: str, queues: list[FactoryQueue], workdir: Path, harvester_id: str = "f1", **kw: Any
) -> FactoryConfig:
    values: dict[str, Any] = {
        "server_url": srv_url,
        "queues": tuple(replace(q, backend=LocalBackendConfig(cancel_grace=10.0)) for q in queues),
        "harvester_id": harvester_id,
        "cycle_interval": 0.5,
        "workdir": workdir,
        "retry_base": 0.05,
        "retry_cap": 0.2,
        "retry_budget": 1.0,
        "stop_report_budget": 5.0,
        "http_timeout": 10.0,
        "pilot": PILOT,
    }
    values.update(kw)
    return FactoryConfig(**values)


@contextmanager
def running_factory(config: FactoryConfig) -> Iterator[threading.Event]:
    """run_factory in a thread; stopped (and checked to return 0) when the block ends."""
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run_factory(config, stop=stop)), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), "factory did not stop"
    assert result == [0]


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class CycleLog(logging.Handler):
    """The factory's per-cycle summary lines (``cycle N: ...``), as they are logged."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("cycle "):
            self.lines.append(message)


@pytest.fixture
def cycles() -> Iterator[CycleLog]:
    """Collects the summary of every factory cycle (an idle cycle logs it at DEBUG)."""
    logger = logging.getLogger("pandawms.factory.factory")
    handler, level = CycleLog(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _quiet(srv: LiveServer, queue: str) -> Callable[[], bool]:
    def check() -> bool:
        counts = _worker_stats(srv, queue)
        return counts.get("submitted", 0) + counts.get("running", 0) == 0

    return check


def test_factory_runs_all_jobs_and_reports_its_workers_finished(
    srv: LiveServer, request: Any, tmp_path: Path
) -> None:
    # given a queue with 6 short jobs
    queue = _queue(srv, request)
    _submit(srv, queue, 6)
    config = _config(srv.url, [FactoryQueue(queue, max_workers=3)], tmp_path / "factory")
    # when a factory serves it
    with running_factory(config):
        _wait(lambda: _job_statuses(srv, queue) == ["finished"] * 6, 90, "6 finished jobs")
        _wait(_quiet(srv, queue), 30, "all workers reported")
    # then every worker it started was reported finished (exit 0, or 82 for an empty pilot)
    counts = _worker_stats(srv, queue)
    assert counts["finished"] >= 2, counts
    assert counts.get("failed", 0) == counts.get("cancelled", 0) == counts.get("missed", 0) == 0, counts
    # and each worker had its own work dir with the pilot's output
    logs = sorted((tmp_path / "factory" / queue).glob("worker-*/pilot.out"))
    assert len(logs) == counts["finished"]


def test_two_factories_on_one_queue_never_exceed_max_workers(
    srv: LiveServer, request: Any, tmp_path: Path
) -> None:
    # given a queue with jobs that take a second each and two factories with max_workers=3, where each may
    # start at most 2 workers per cycle (so the first one cannot take every slot at once)
    queue = _queue(srv, request)
    _submit(srv, queue, 10, code="import time; time.sleep(1)")
    limits = FactoryQueue(queue, max_workers=3, max_new=2)
    configs = [
        _config(srv.url, [limits], tmp_path / h, harvester_id=h, cycle_interval=0.3)
        for h in ("factory-a", "factory-b")
    ]
    peak = 0
    # when both serve the queue at once
    with running_factory(configs[0]), running_factory(configs[1]):
        deadline = time.monotonic() + 120
        while _job_statuses(srv, queue) != ["finished"] * 10:
            counts = _worker_stats(srv, queue)
            peak = max(peak, counts.get("submitted", 0) + counts.get("running", 0))
            assert peak <= 3, counts
            assert time.monotonic() < deadline, _job_statuses(srv, queue)
            time.sleep(0.1)
        _wait(_quiet(srv, queue), 30, "all workers reported")
    # then the cap held over both factories while it was used in full, and every job finished
    assert peak == 3
    started = {h: len(list((tmp_path / h / queue).glob("worker-*"))) for h in ("factory-a", "factory-b")}
    assert all(n >= 1 for n in started.values()), started
    counts = _worker_stats(srv, queue)
    assert counts.get("failed", 0) == counts.get("cancelled", 0) == 0, counts


def test_offline_queue_gets_no_pilots(
    srv: LiveServer, request: Any, tmp_path: Path, cycles: CycleLog
) -> None:
    # given an offline queue and an online one, each with a job
    offline = _queue(srv, request, "_off", status="offline")
    online = _queue(srv, request, "_on")
    _submit(srv, offline, 1)
    _submit(srv, online, 1)
    queues = [FactoryQueue(offline, max_workers=2), FactoryQueue(online, max_workers=2)]
    # when a factory serves both for several cycles
    with running_factory(_config(srv.url, queues, tmp_path / "factory")):
        _wait(lambda: _job_statuses(srv, online) == ["finished"], 60, "the online job")
        seen = len(cycles.lines)
        _wait(lambda: len(cycles.lines) >= seen + 3, 60, "three more factory cycles")
        done = cycles.lines[: seen + 3]  # the cycle cut short by the stop may not reach every queue
    # then every cycle looked at the offline queue and skipped it, it never got a worker, the online one did
    skipped = re.compile(rf"{offline}: asked 0 granted 0 started 0, [^;]*\(queue is offline\)")
    assert all(skipped.search(line) for line in done), done
    assert sum(_worker_stats(srv, offline).values()) == 0
    assert not (tmp_path / "factory" / offline).exists()
    assert _worker_stats(srv, online).get("finished", 0) >= 1


def test_stop_cancels_running_pilots(srv: LiveServer, request: Any, tmp_path: Path) -> None:
    # given a factory whose pilot runs a long job
    queue = _queue(srv, request)
    (panda_id,) = _submit(srv, queue, 1, code="import time; time.sleep(120)")
    config = _config(srv.url, [FactoryQueue(queue, max_workers=1)], tmp_path / "factory")
    with running_factory(config) as stop:
        _wait(lambda: _job_statuses(srv, queue) == ["running"], 60, "the job to run")
        pilots = [p for p in psutil.Process().children(recursive=True) if _is_pilot(p)]
        assert len(pilots) == 1
        # when the factory is stopped
        started = time.monotonic()
        stop.set()
    # then it returned quickly, the pilot is gone and its worker is reported cancelled
    assert time.monotonic() - started < 30
    assert not pilots[0].is_running() or pilots[0].status() == psutil.STATUS_ZOMBIE
    counts = _worker_stats(srv, queue)
    assert counts.get("cancelled") == 1 and counts.get("submitted", 0) + counts.get("running", 0) == 0
    # and the pilot reported its killed job itself (failed with 1201, SIGTERM; the server may retry it)
    r = httpx.get(srv.api + "/job/get_description", params={"job_id": panda_id}, timeout=10)
    job = r.json()["data"]["job"]
    assert job["jobStatus"] == "failed", job
    assert [e["code"] for e in job["errors"] if e["component"] == "pilot"] == [1201], job["errors"]


def test_parked_final_update_of_an_earlier_pilot_is_resent_by_the_next(
    srv: LiveServer, request: Any, tmp_path: Path
) -> None:
    # given a running job whose final update an earlier pilot of this queue could not deliver (spooled)
    queue = _queue(srv, request)
    (lost,) = _submit(srv, queue, 1)
    got = httpx.post(srv.api + "/pilot/acquire_jobs", json={"site_name": queue}, timeout=10).json()
    assert got["data"]["jobs"][0]["PandaID"] == lost
    running = {"job_id": lost, "job_status": "running", "attempt_nr": 1}
    assert httpx.post(srv.api + "/pilot/update_job", json=running, timeout=10).status_code == 200
    final = UpdateRequest(
        job_id=lost, job_status="finished", attempt_nr=1, pilot_error_code=0, trans_exit_code=0
    )
    spool = spool_dir(tmp_path / "factory", queue)
    spool.mkdir(parents=True)
    (spool / f"final-{lost}-1.json").write_text(final.model_dump_json(exclude_none=True))
    # when the factory starts a pilot for a new job on that queue
    _submit(srv, queue, 1)
    with running_factory(_config(srv.url, [FactoryQueue(queue, max_workers=1)], tmp_path / "factory")):
        _wait(lambda: sorted(_job_statuses(srv, queue)) == ["finished"] * 2, 60, "both jobs finished")
        _wait(_quiet(srv, queue), 30, "the worker reported")
    # then that pilot re-sent the parked update, and the spool is empty
    assert list(spool.iterdir()) == []


def test_sigterm_stops_a_factory_process_started_from_toml(
    srv: LiveServer, request: Any, tmp_path: Path
) -> None:
    # given a factory process started from a TOML file, whose pilot runs a long job
    queue = _queue(srv, request)
    _submit(srv, queue, 1, code="import time; time.sleep(120)")
    toml = tmp_path / "factory.toml"
    toml.write_text(
        f"""
[factory]
server_url = "{srv.url}"
harvester_id = "sigterm-test"
cycle_interval = 0.5
workdir = "{tmp_path / "factory"}"
cancel_grace = 10
[factory.pilot]
heartbeat = 1
kill_grace = 1
max_empty = 1
[[queue]]
name = "{queue}"
max_workers = 1
"""
    )
    code = (
        "import sys; from pandawms.factory import *; sys.exit(run_factory(load_factory_config(sys.argv[1])))"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(toml)])
    try:
        _wait(lambda: proc.poll() is not None or _job_statuses(srv, queue) == ["running"], 60, "the job")
        assert proc.poll() is None, "the factory process died"
        pilots = [p for p in psutil.Process(proc.pid).children(recursive=True) if _is_pilot(p)]
        assert len(pilots) == 1
        # when it gets SIGTERM
        proc.send_signal(signal.SIGTERM)
        # then it exits 0 after cancelling its pilot and reporting the worker cancelled
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not pilots[0].is_running() or pilots[0].status() == psutil.STATUS_ZOMBIE
    assert _worker_stats(srv, queue).get("cancelled") == 1


def test_unreachable_server_does_not_stop_the_loop(tmp_path: Path, cycles: CycleLog) -> None:
    # given a factory pointed at a port nobody listens on
    config = _config("http://127.0.0.1:9", [FactoryQueue("Q")], tmp_path / "factory", cycle_interval=0.2)
    # when it runs, then it goes on cycling (each one without worker statistics), stops cleanly when asked
    # and never started a pilot
    with running_factory(config):
        _wait(lambda: len(cycles.lines) >= 2, 60, "two factory cycles")
        done = cycles.lines[:2]  # the cycle cut short by the stop may not reach the queue
    assert all("Q: asked 0 granted 0 started 0" in line for line in done), done
    assert all("(no worker statistics from the server)" in line for line in done), done
    assert not (tmp_path / "factory" / "Q").exists()
