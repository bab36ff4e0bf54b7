"""Multi-core workers against a real server: the factory starts real pilot processes (local back end) in
multi-job mode that run several single-core jobs at once, each in its own work dir with its own heartbeats
and final update, within the worker's cores and memory, or one MCORE job holding the whole worker; a
SIGTERMed multi-job pilot ends every job it holds with the signal's code before it exits.

Each payload records which jobs were running when it started (start/end marker files, written before the
pilot frees the slot), and the first wave waits at a barrier that only opens when ``n`` run at once (a
payload that never sees it exits 3 and its job fails), so both bounds are checked without timing.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from pandawms.factory import FactoryQueue
from pandawms.protocol import errorcodes as ec
from tests.factory.test_factory_live import (
    PILOT,
    _config,
    _wait,
    no_leftover_pilots,
    running_factory,
    srv,
)
from tests.livesupport.live_server import LiveServer

__all__ = ["no_leftover_pilots", "srv"]  # the fixtures of the factory live tests

MULTI = replace(PILOT, max_jobs=0)  # as many jobs at once as cores and memory allow

# start marker, the live set at start, a barrier of `need` jobs started, end marker (the payload's last act)
PAYLOAD = """
import os, sys, time, pathlib
d = pathlib.Path({dir!r}); me = os.environ["PANDAID"]
(d / (me + ".start")).touch()
ids = lambda kind: {{p.name.split(".")[0] for p in d.glob("*." + kind)}}
(d / (me + ".live")).write_text(" ".join(sorted(ids("start") - ids("end"))))
deadline = time.time() + 60
while len(ids("start")) < {need} and time.time() < deadline:
    time.sleep(0.05)
ok = len(ids("start")) >= {need}
time.sleep({hold})
(d / (me + ".end")).touch()
sys.exit(0 if ok else 3)
"""


def _queue(srv: LiveServer, request: pytest.FixtureRequest, cores: int) -> str:
    name = ("Q_" + re.sub(r"[^A-Za-z0-9]", "_", request.node.name))[:60]
    body = {"name": name, "cores": cores, "max_memory_per_core": 2000, "max_walltime": 3600}
    r = httpx.post(srv.api + "/queue/upsert", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return name


def submit(srv: LiveServer, queue: str, marks: Path, n: int, need: int, **fields: Any) -> list[int]:
    code = PAYLOAD.format(dir=str(marks), need=need, hold=fields.pop("hold", 0.0))
    job = {
        "transformation": "python3",
        "jobParameters": "-c " + shlex.quote(code),
        "computingSite": queue,
        "maxWalltime": 120,
        "maxAttempt": 1,
        **fields,
    }
    r = httpx.post(srv.api + "/job/submit", json={"jobs": [job] * n}, timeout=10)
    assert r.status_code == 200, r.text
    return [int(j["PandaID"]) for j in r.json()["data"]]


def _jobs(srv: LiveServer, ids: list[int]) -> list[dict[str, Any]]:
    out = []
    for pid in ids:
        r = httpx.get(srv.api + "/job/get_description", params={"job_id": pid}, timeout=10)
        assert r.status_code == 200, r.text
        out.append(r.json()["data"]["job"])
    return out


def _pilot_codes(job: dict[str, Any]) -> list[int]:
    return [e["code"] for e in job["errors"] if e["component"] == "pilot"]


def _ended(srv: LiveServer, ids: list[int]) -> bool:
    return all(j["jobStatus"] in ("finished", "failed") for j in _jobs(srv, ids))


def live_sets(marks: Path) -> dict[int, set[int]]:
    """Per job, the jobs running (itself included) when its payload started."""
    return {int(p.name.split(".")[0]): {int(i) for i in p.read_text().split()} for p in marks.glob("*.live")}


def test_a_four_core_worker_runs_four_single_core_jobs_at_once(
    srv: LiveServer, request: Any, tmp_path: Path
) -> None:
    # given a 4-core queue with 8 single-core jobs whose first 4 wait until 4 have started
    queue = _queue(srv, request, cores=4)
    marks = tmp_path / "marks"
    marks.mkdir()
    ids = submit(srv, queue, marks, 8, need=4)
    # when one worker in multi-job mode serves it
    config = _config(srv.url, [FactoryQueue(queue, max_workers=1, pilot=MULTI)], tmp_path / "factory")
    with running_factory(config):
        _wait(lambda: _ended(srv, ids), 120, "8 ended jobs")
    jobs = _jobs(srv, ids)
    # then every job finished: the first four ran at the same time, so the barrier opened
    assert [j["jobStatus"] for j in jobs] == ["finished"] * 8, [j["errors"] for j in jobs]
    live = live_sets(marks)
    assert sorted(live) == sorted(ids)
    # and never more than the worker's 4 cores' worth of jobs ran at once
    assert max(len(s) for s in live.values()) <= 4
    # all in one pilot (one worker), each with its own work dir and final update (its log file)
    assert len({j["pilotID"] for j in jobs}) == 1
    assert all(j["coreCount"] == 1 for j in jobs)


def test_memory_per_slot_bounds_the_jobs_at_once(srv: LiveServer, request: Any, tmp_path: Path) -> None:
    # given a 4-core queue at 2000 MB per core, and workers given 4000 MB: two slots' memory
    queue = _queue(srv, request, cores=4)
    marks = tmp_path / "marks"
    marks.mkdir()
    ids = submit(srv, queue, marks, 4, need=2, hold=0.5)
    pilot = replace(MULTI, memory_mb=4000)
    config = _config(srv.url, [FactoryQueue(queue, max_workers=1, pilot=pilot)], tmp_path / "factory")
    # when one multi-job worker serves it
    with running_factory(config):
        _wait(lambda: _ended(srv, ids), 120, "4 ended jobs")
    # then two ran at once (the barrier of two opened) and never three, although two cores stayed idle
    assert [j["jobStatus"] for j in _jobs(srv, ids)] == ["finished"] * 4
    live = live_sets(marks)
    assert max(len(s) for s in live.values()) == 2


def test_an_mcore_job_holds_the_whole_worker(srv: LiveServer, request: Any, tmp_path: Path) -> None:
    # given a 4-core queue with a 4-core job first in line, then three single-core jobs
    queue = _queue(srv, request, cores=4)
    marks = tmp_path / "marks"
    marks.mkdir()
    (mcore,) = submit(srv, queue, marks, 1, need=1, coreCount=4, hold=0.5)
    singles = submit(srv, queue, marks, 3, need=3)
    config = _config(srv.url, [FactoryQueue(queue, max_workers=1, pilot=MULTI)], tmp_path / "factory")
    # when one multi-job worker serves it
    with running_factory(config):
        _wait(lambda: _ended(srv, [mcore, *singles]), 120, "4 ended jobs")
    # then the MCORE job ran alone, and the single-core ones ran together only after it
    assert [j["jobStatus"] for j in _jobs(srv, [mcore, *singles])] == ["finished"] * 4
    live = live_sets(marks)
    assert live[mcore] == {mcore}
    assert all(mcore not in live[s] for s in singles)


PILOT_PROCESS = [
    sys.executable,
    "-m",
    "pandawms.cli.main",
    "pilot",
    *("--heartbeat", "1.0", "--kill-grace", "1.0", "--max-empty", "1", "--max-jobs", "0"),
]


def test_sigterm_ends_every_job_of_a_multi_job_pilot_with_its_final_update(
    srv: LiveServer, request: Any, tmp_path: Path
) -> None:
    # given a multi-job pilot process running three long jobs at once
    queue = _queue(srv, request, cores=4)
    marks = tmp_path / "marks"
    marks.mkdir()
    ids = submit(srv, queue, marks, 3, need=3, hold=120.0)
    argv = [*PILOT_PROCESS, "--server", srv.url, "--queue", queue, "--workdir", str(tmp_path / "pilot")]
    pilot = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: len(list(marks.glob("*.start"))) == 3, 60, "three payloads started")
        # when the batch system sends SIGTERM
        pilot.send_signal(signal.SIGTERM)
        # then the pilot exits with 128 + 15 once every job had its final update
        assert pilot.wait(60) == 128 + signal.SIGTERM
    finally:
        if pilot.poll() is None:
            pilot.kill()
            pilot.wait()
    jobs = _jobs(srv, ids)
    assert [j["jobStatus"] for j in jobs] == ["failed"] * 3
    assert all(_pilot_codes(j) == [ec.PilotCode.SIGTERM] for j in jobs), [j["errors"] for j in jobs]
    assert not list(marks.glob("*.end"))  # the payloads were killed, none ran to its end
