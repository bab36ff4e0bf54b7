"""A lost acquire answer costs nothing: the server claims a job and commits, the answer never reaches the
pilot (a relay cuts the connection after the server answered), the pilot resends the same call with the
same request_id and gets that job, which then runs once as attempt 1."""

from __future__ import annotations

import json
from typing import Any

import httpx

from pandawms.pilot import run_pilot
from pandawms.protocol import errorcodes as ec
from tests.livesupport.cutting_proxy import cutting_proxy
from tests.pilot.conftest import Site


def _describe(site: Site, pid: int) -> dict[str, Any]:
    r = httpx.get(site.srv.api + "/job/get_description", params={"job_id": pid}, timeout=10)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def test_a_lost_acquire_answer_is_resent_and_the_job_runs_once_as_attempt_1(site: Site) -> None:
    # given a job, and a relay that loses the answer of the first acquire_jobs after the server claimed it
    pid = site.submit(jobParameters="-c 'print(42)'")
    cut = {"done": False}

    def lose_first_acquire(line: str) -> bool:
        if "/pilot/acquire_jobs" in line and not cut["done"]:
            cut["done"] = True
            return True
        return False

    with cutting_proxy(site.srv.url, lose_first_acquire) as proxy:
        # when a pilot runs through the relay
        assert run_pilot(site.config(server_url=proxy.url)) == ec.PilotExit.OK
    # then it resent that acquire with the same request_id and got the job it had been claimed for
    acquires = [json.loads(x.body) for x in proxy.exchanges if "/pilot/acquire_jobs" in x.request_line]
    assert [x.cut for x in proxy.exchanges if "/pilot/acquire_jobs" in x.request_line][:2] == [True, False]
    assert len(acquires) == 3  # the lost one, its resend, and the empty one that ends the pilot
    assert acquires[0] == acquires[1] and acquires[0]["request_id"] != acquires[2]["request_id"]
    job = site.wait_for(pid, {"finished"})
    assert job["jobStatus"] == "finished" and job["attemptNr"] == 1
    described = _describe(site, pid)
    history = [h["status"] for h in described["history"]]
    assert history.count("sent") == 1 and history[-1] == "finished"
    assert described["retries"] == []
