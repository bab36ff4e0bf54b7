"""Heartbeats: commands in the server's answer become kill requests; long silence aborts the job (1317)."""

from __future__ import annotations

import time

import httpx

from pandawms.pilot.client import RetryPolicy, ServerClient
from pandawms.pilot.heartbeat import Heartbeat, commands_of
from pandawms.pilot.report import Identity
from pandawms.pilot.state import JobPhase, JobState
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.pilot import PilotJob, UpdateResponse
from tests.pilot.test_report import _job

WHO = Identity("Q", "node", "pilot")


def _client(handler: httpx.MockTransport) -> ServerClient:
    return ServerClient("http://test", RetryPolicy(0.01, 0.02, 0.1), transport=handler)


def _answer(command: str) -> httpx.MockTransport:
    body = {
        "success": True,
        "message": "",
        "data": {"StatusCode": 0, "command": command, "jobStatus": "running"},
    }
    return httpx.MockTransport(lambda request: httpx.Response(200, json=body))


def _heartbeat(
    client: ServerClient, job: PilotJob, state: JobState, max_silence: float = 3600.0
) -> Heartbeat:
    return Heartbeat(client, job, state, WHO, interval=0.05, retry_budget=0.1, max_silence=max_silence)


def test_commands_are_split_and_null_ignored() -> None:
    assert commands_of(UpdateResponse(StatusCode=0, command="NULL")) == set()
    assert commands_of(UpdateResponse(StatusCode=0, command="debug, tobekilled")) == {"debug", "tobekilled"}


def test_tobekilled_becomes_a_pandakill_request() -> None:
    state = JobState(9)
    state.advance(JobPhase.SETUP)
    hb = _heartbeat(_client(_answer("debug,tobekilled")), _job(), state)
    assert hb.send("running")
    assert state.kill_requested.is_set()
    assert state.first_error is not None and state.first_error.code == ec.PilotCode.PANDAKILL


def test_periodic_heartbeats_stop_when_the_job_is_complete() -> None:
    sent: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        data = {"StatusCode": 0, "command": "NULL"}
        return httpx.Response(200, json={"success": True, "message": "", "data": data})

    state = JobState(9)
    state.advance(JobPhase.SETUP)
    hb = _heartbeat(_client(httpx.MockTransport(handler)), _job(), state)
    hb.start()
    time.sleep(0.3)
    state.advance(JobPhase.LOGGING)
    hb.stop()
    count = len(sent)
    time.sleep(0.15)
    assert count >= 3 and len(sent) == count
    assert all(b'"job_status":"running"' in body for body in sent)
    assert not state.kill_requested.is_set()


def test_no_accepted_update_for_too_long_aborts_the_job() -> None:
    down = httpx.MockTransport(lambda request: httpx.Response(503, json={"success": False, "message": "x"}))
    state = JobState(9)
    hb = _heartbeat(_client(down), _job(), state, max_silence=0.0)
    assert not hb.send("running")
    assert state.first_error is not None and state.first_error.code == ec.PilotCode.EXCEEDEDMAXWAITTIME
