"""Heartbeats: commands in the server's answer become kill requests; long silence aborts the job (1317)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from pandawms.pilot.client import HttpRetry, ServerClient
from pandawms.pilot.heartbeat import Heartbeat, commands_of
from pandawms.pilot.report import Identity
from pandawms.pilot.state import JobPhase, JobState
from pandawms.protocol import errorcodes as ec
from pandawms.protocol.pilot import PilotJob, UpdateResponse
from tests.pilot.test_report import _job

WHO = Identity("Q", "node", "pilot")


def _client(handler: httpx.MockTransport) -> ServerClient:
    return ServerClient("http://test", HttpRetry(0.01, 0.02, 0.1), transport=handler)


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


def _recorder(sent: list[bytes]) -> ServerClient:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        data = {"StatusCode": 0, "command": "NULL"}
        return httpx.Response(200, json={"success": True, "message": "", "data": data})

    return _client(httpx.MockTransport(handler))


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _heartbeat_threads(job: PilotJob) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"heartbeat-{job.panda_id}"]


def test_periodic_heartbeats_stop_when_the_job_is_complete() -> None:
    # given a running job whose heartbeat thread sends every 0.05 s
    sent: list[bytes] = []
    state = JobState(9)
    state.advance(JobPhase.SETUP)
    job = _job()
    hb = _heartbeat(_recorder(sent), job, state)
    hb.start()
    _wait_for(lambda: len(sent) >= 3, "three periodic heartbeats")
    # when the job completes and the thread wakes up (no stop(): the job state alone ends it)
    state.advance(JobPhase.LOGGING)
    hb.kick()
    _wait_for(lambda: not _heartbeat_threads(job), "the heartbeat thread to end")
    # then the thread ended by itself, so nothing is sent after the updates it already made
    count = len(sent)
    hb.stop()
    assert count >= 3 and len(sent) == count
    assert all(b'"job_status":"running"' in body for body in sent)
    assert not state.kill_requested.is_set()


def test_stop_ends_the_heartbeat_thread_at_once() -> None:
    # given a heartbeat whose next update is an hour away
    sent: list[bytes] = []
    state = JobState(9)
    state.advance(JobPhase.SETUP)
    job = _job()
    hb = Heartbeat(_recorder(sent), job, state, WHO, interval=3600.0, retry_budget=0.1, max_silence=3600.0)
    hb.start()
    assert len(_heartbeat_threads(job)) == 1
    # when it is stopped, then stop() returns with the thread gone and nothing sent
    hb.stop()
    assert not _heartbeat_threads(job) and sent == []


def test_kick_sends_the_next_update_now() -> None:
    sent: list[bytes] = []
    state = JobState(9)
    state.advance(JobPhase.SETUP)
    hb = Heartbeat(_recorder(sent), _job(), state, WHO, interval=3600.0, retry_budget=0.1, max_silence=3600.0)
    hb.start()
    hb.kick()
    _wait_for(lambda: len(sent) == 1, "the kicked update")
    hb.stop()
    assert len(sent) == 1


class Ticks:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_no_accepted_update_for_max_silence_aborts_the_job() -> None:
    # given a server that answers 503 and a heartbeat allowing 600 s without an accepted update
    down = httpx.MockTransport(lambda request: httpx.Response(503, json={"success": False, "message": "x"}))
    state = JobState(9)
    ticks = Ticks()
    hb = Heartbeat(
        _client(down), _job(), state, WHO, interval=60.0, retry_budget=0.1, max_silence=600.0, clock=ticks
    )
    # when updates fail within the allowed silence, the job goes on
    ticks.t = 600.0
    assert not hb.send("running")
    assert state.first_error is None and not state.kill_requested.is_set()
    # when they still fail past it, the job is aborted with 1317
    ticks.t = 600.5
    assert not hb.send("running")
    assert state.first_error is not None and state.first_error.code == ec.PilotCode.EXCEEDEDMAXWAITTIME
    assert state.kill_requested.is_set()


def test_an_accepted_update_restarts_the_silence_count() -> None:
    sent: list[bytes] = []
    state = JobState(9)
    ticks = Ticks()
    hb = Heartbeat(
        _recorder(sent), _job(), state, WHO, interval=60.0, retry_budget=0.1, max_silence=600.0, clock=ticks
    )
    ticks.t = 500.0
    assert hb.send("running")
    ticks.t = 1000.0  # 500 s after the accepted update, 1000 s after the start
    hb.client = _client(
        httpx.MockTransport(lambda request: httpx.Response(503, json={"success": False, "message": "x"}))
    )
    assert not hb.send("running")
    assert state.first_error is None
