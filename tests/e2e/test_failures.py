"""E2E: real server process, real pilot processes, real payloads — kills and lost pilots."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path

import psutil

from tests.e2e.conftest import Server, kill_session, start_pilot


def sleeper(marker: Path) -> dict[str, object]:
    """A payload that sleeps 60 s unless ``marker`` exists (so a retry can finish quickly)."""
    code = f"import os, time; time.sleep(0 if os.path.exists({str(marker)!r}) else 60); print('done')"
    return {
        "transformation": sys.executable,
        "jobParameters": shlex.join(["-c", code]),
        "maxWalltime": 300,
        "prodUserName": "e2e",
    }


def test_pilot_sigkilled_mid_job_is_noticed_and_the_retry_finishes(server: Server, tmp_path: Path) -> None:
    # given a running job whose pilot (and payload) is then SIGKILLed
    marker = tmp_path / "second-attempt-is-fast"
    [job] = server.post("/job/submit", {"jobs": [{**sleeper(marker), "computingSite": "E2E_A"}]})
    pilot = start_pilot(server, "E2E_A", tmp_path / "p1")
    server.wait_for(job["PandaID"], {"running"}, timeout=30)
    kill_session(pilot)
    marker.touch()
    # when the lost-heartbeat agent (6 s here) notices, the attempt fails with jobdispatcher 100
    d = server.wait_for(job["PandaID"], {"failed"}, timeout=40)
    assert {(e["component"], e["code"]) for e in d["job"]["errors"]} == {("jobdispatcher", 100)}
    [retry_id] = d["retries"]
    # then the retry runs to success under a new pilot (brokered anywhere)
    retry = server.job(retry_id)["job"]
    pilot2 = start_pilot(server, retry["computingSite"], tmp_path / "p2")
    done = server.wait_for(retry_id, {"finished"}, timeout=60)
    assert done["job"]["attemptNr"] == 2 and done["job"]["parentID"] == job["PandaID"]
    assert pilot2.wait(60) == 0


def test_server_side_kill_stops_the_payload(server: Server, tmp_path: Path) -> None:
    [job] = server.post("/job/submit", {"jobs": [{**sleeper(tmp_path / "never"), "computingSite": "E2E_B"}]})
    pilot = start_pilot(server, "E2E_B", tmp_path / "p")
    server.wait_for(job["PandaID"], {"running"}, timeout=30)
    payloads = [
        p for p in psutil.Process(pilot.pid).children(recursive=True) if "time.sleep" in " ".join(p.cmdline())
    ]
    assert payloads, "payload process not found"
    [res] = server.post("/job/kill", {"job_ids": [job["PandaID"]], "reason": "e2e"})
    assert res["outcome"] == "requested"
    d = server.wait_for(job["PandaID"], {"cancelled"}, timeout=30)
    assert ("pilot", 1144) in {(e["component"], e["code"]) for e in d["job"]["errors"]}
    assert d["retries"] == []
    deadline = time.monotonic() + 10
    while (
        any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in payloads)
        and time.monotonic() < deadline
    ):
        time.sleep(0.2)
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in payloads)
    assert pilot.wait(30) == 0
