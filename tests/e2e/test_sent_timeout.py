"""E2E: a real server process whose sent timeout is short, a pilot that never gets its acquire answer
(every one is cut after the server claimed), and a maxAttempt=1 job: the sent timeout is a system closure,
so the job is retried (attempt 2 of 2), not failed for good, and the retry runs under a real pilot."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pandawms.pilot import run_pilot
from pandawms.pilot.config import PilotConfig
from tests.e2e.conftest import FAST_WATCHDOGS, QUEUES, Server, serving, start_pilot
from tests.livesupport.cutting_proxy import cutting_proxy


@pytest.fixture
def quick_sent(tmp_path: Path) -> Iterator[Server]:
    data = tmp_path / "server"
    data.mkdir()
    (data / "queues.toml").write_text(QUEUES)
    env = {**FAST_WATCHDOGS, "PANDA_WATCHDOG_SENT_TIMEOUT": "3"}
    with serving(data, ["--queues", str(data / "queues.toml")], env) as srv:
        yield srv


def test_a_max_attempt_1_job_lost_in_dispatch_is_retried_not_failed(
    quick_sent: Server, tmp_path: Path
) -> None:
    server = quick_sent
    job = {"transformation": sys.executable, "jobParameters": "-c 'print(1)'", "maxAttempt": 1}
    [first] = server.post("/job/submit", {"jobs": [{**job, "computingSite": "E2E_A", "prodUserName": "e2e"}]})
    # given a pilot that loses every acquire answer (the server claims the job for it, then nothing)
    with cutting_proxy(server.root, lambda line: "/pilot/acquire_jobs" in line) as proxy:
        cfg = PilotConfig(
            server_url=proxy.url,
            queue="E2E_A",
            workdir=tmp_path / "lost",
            max_empty_acquires=1,
            backoff_base=0.05,
            backoff_cap=0.2,
            backoff_budget=1.0,
        )
        run_pilot(cfg)
    assert server.job(first["PandaID"])["job"]["jobStatus"] == "sent"
    # when the sent timeout (3 s) closes it
    d = server.wait_for(first["PandaID"], {"failed"}, timeout=40)
    assert {(e["component"], e["code"]) for e in d["job"]["errors"]} == {("jobdispatcher", 102)}
    # then it is retried although maxAttempt was 1: attempt 2, with one more attempt allowed
    [retry_id] = d["retries"]
    retry = server.job(retry_id)["job"]
    assert (retry["attemptNr"], retry["maxAttempt"], retry["jobStatus"]) == (2, 2, "activated")
    # and the retry runs to the end under a real pilot
    pilot = start_pilot(server, "E2E_A", tmp_path / "p2")
    done = server.wait_for(retry_id, {"finished"}, timeout=60)
    assert done["job"]["attemptNr"] == 2 and done["job"]["parentID"] == first["PandaID"]
    assert pilot.wait(60) == 0
