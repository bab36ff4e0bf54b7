"""The pilot's job loop against a scripted server: a lost acquire answer is resent with its request_id, and
one lost for good is an empty acquire, not an exit."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from pandawms.pilot.client import HttpRetry, ServerClient
from pandawms.pilot.codes import StopReason
from pandawms.pilot.config import PilotConfig
from pandawms.pilot.main import Pilot


def _server(
    acquire_answers: list[Exception | None], seen: list[str], bodies: list[bytes] | None = None
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/queue/get"):
            data: object = {"name": "Q", "status": "online"}
        else:
            if bodies is not None:
                bodies.append(request.content)
            failure = acquire_answers.pop(0) if acquire_answers else None
            if failure is not None:
                raise failure
            data = {"jobs": [], "StatusCode": 20, "message": "no jobs"}
        return httpx.Response(200, json={"success": True, "message": "", "data": data})

    return httpx.MockTransport(handler)


def _pilot(tmp_path: Path, transport: httpx.MockTransport, max_empty: int) -> Pilot:
    cfg = PilotConfig(
        server_url="http://test",
        queue="Q",
        workdir=tmp_path,
        max_empty_acquires=max_empty,
        backoff_base=0.001,
        backoff_cap=0.002,
    )
    return Pilot(cfg, ServerClient("http://test", HttpRetry(0.001, 0.002, 1.0), transport=transport))


def test_a_lost_acquire_answer_is_resent_with_the_same_request_id(tmp_path: Path) -> None:
    # given a server whose first acquire answer is lost (read timeout: the claim may have happened)
    seen: list[str] = []
    bodies: list[bytes] = []
    pilot = _pilot(tmp_path, _server([httpx.ReadTimeout("timed out")], seen, bodies), max_empty=2)
    # when the pilot runs
    outcome = pilot.run()
    # then it resent that call unchanged (a repeat gets the jobs claimed for it), then asked anew
    assert outcome.reason is StopReason.NO_MORE_JOBS
    ids = [json.loads(b)["request_id"] for b in bodies]
    assert len(ids) == 3 and ids[0] == ids[1] != ids[2]


def test_an_acquire_answer_lost_for_good_counts_as_an_empty_acquire(tmp_path: Path) -> None:
    # given a server that loses every answer for longer than the client's budget, then answers
    seen: list[str] = []
    lost: list[Exception | None] = [httpx.ReadTimeout("timed out")] * 2000
    pilot = _pilot(tmp_path, _server(lost, seen), max_empty=3)
    # when the pilot runs, then it backed off and asked again until its empty-acquire budget ran out
    assert pilot.run().reason is StopReason.NO_MORE_JOBS
    assert seen.count("/api/v1/pilot/acquire_jobs") > 3


def test_a_server_that_is_gone_still_ends_the_pilot(tmp_path: Path) -> None:
    seen: list[str] = []
    refused = httpx.ConnectError("refused")
    pilot = _pilot(tmp_path, _server([refused] * 100, seen), max_empty=3)
    assert pilot.run().reason is StopReason.SERVER_UNREACHABLE
