"""The factory client's retries (add_workers without a request id is resent only when the request never
arrived or the server was busy) and the pending reports, which are kept until the server settles them."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from pandawms.factory.client import (
    FACTORY_RETRY,
    FactoryClient,
    HttpRetry,
    ServerRejected,
    ServerUnreachable,
    Stopped,
)
from pandawms.factory.reports import MAX_REJECTIONS, PendingReports, settled
from pandawms.protocol.factory import (
    AddWorkersRequest,
    BatchError,
    HeartbeatRequest,
    WorkerBatchState,
    WorkerUpdate,
    WorkerUpdateResult,
)

FAST = HttpRetry(base=0.001, cap=0.002, budget=2.0)
OK_ADD = {
    "workers": [{"worker_id": 7}],
    "granted": 1,
    "reason": "r",
    "activated": 1,
    "queued": 0,
    "running": 0,
}


def _no_sleep(seconds: float, cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> FactoryClient:
    return FactoryClient("http://factory.test", FAST, transport=httpx.MockTransport(handler), pause=_no_sleep)


def _envelope(data: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"success": True, "message": "", "data": data})


def _add_request() -> AddWorkersRequest:
    return AddWorkersRequest(harvester_id="h", queue="Q", max_workers=3, max_queued=3, max_new=1)


def test_the_factory_default_policy() -> None:
    with FactoryClient(
        "http://factory.test", transport=httpx.MockTransport(lambda r: _envelope(1))
    ) as client:
        assert client.retry_policy == FACTORY_RETRY == HttpRetry(1.0, 30.0, 60.0)


@pytest.mark.parametrize("status", [502, 504])
def test_add_workers_is_not_retried_after_a_gateway_error(status: int) -> None:
    # a 502/504 may come after the server granted the workers
    calls: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return httpx.Response(status, text="bad gateway")

    with _client(handler) as client, pytest.raises(ServerUnreachable, match="not idempotent"):
        client.add_workers(_add_request())
    assert len(calls) == 1
    assert calls[0] == {
        "harvester_id": "h",
        "queue": "Q",
        "max_workers": 3,
        "max_queued": 3,
        "max_new": 1,
        "jobs_per_worker": 1,
    }


def test_add_workers_is_retried_when_the_connection_failed_or_the_server_was_busy() -> None:
    # the server's own 503 (its Transient answer) comes after a rollback: nothing was granted
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        if calls == 2:
            return httpx.Response(503, json={"success": False, "message": "database busy", "data": None})
        return _envelope(OK_ADD)

    with _client(handler) as client:
        grant = client.add_workers(_add_request())
    assert calls == 3 and [w.worker_id for w in grant.workers] == [7]


def test_add_workers_with_a_request_id_is_retried_after_a_lost_answer() -> None:
    # given a server whose first answer is lost (read timeout after it may have granted)
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if len(bodies) == 1:
            raise httpx.ReadTimeout("no answer", request=request)
        return _envelope(OK_ADD)

    req = _add_request().model_copy(update={"request_id": "abcdef0123456789"})
    # when the factory asks with a request id, then it asks again with the same id and gets the grant
    with _client(handler) as client:
        grant = client.add_workers(req)
    assert [w.worker_id for w in grant.workers] == [7]
    assert [b["request_id"] for b in bodies] == ["abcdef0123456789"] * 2


def test_idempotent_calls_retry_lost_answers_and_stop_on_4xx() -> None:
    answers = [httpx.Response(504, text="oops"), _envelope({"Q": {"submitted": 1, "running": 2}})]
    with _client(lambda _r: answers.pop(0)) as client:
        assert client.get_worker_stats() == {"Q": {"submitted": 1, "running": 2}}
    refused = httpx.Response(404, json={"success": False, "message": "queue 'X' not found", "data": None})
    with _client(lambda _r: refused) as client, pytest.raises(ServerRejected, match="not found"):
        client.get_queue("X")


def test_worker_reports_and_heartbeats_are_resent_after_a_lost_answer() -> None:
    # both are repeat-safe on the server (a repeated report is a noop, a heartbeat only stamps last_seen)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if len(seen) % 2 == 1:
            raise httpx.ReadTimeout("no answer", request=request)
        if request.url.path.endswith("update_workers"):
            return _envelope([{"worker_id": 1, "outcome": "noop", "status": "finished"}])
        return _envelope({"harvester_id": "h", "last_seen": "2026-12-01T00:00:00"})

    with _client(handler) as client:
        assert [r.outcome for r in client.update_workers("h", [_update(1)])] == ["noop"]
        client.heartbeat(HeartbeatRequest(harvester_id="h", host="n", alive_workers=0))
    assert len(seen) == 4


def test_retry_wait_ends_on_cancel() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    stop = threading.Event()
    stop.set()
    client = FactoryClient("http://f.test", HttpRetry(1, 1, 60), transport=httpx.MockTransport(handler))
    with client, pytest.raises(Stopped):
        client.get_worker_stats(cancel=stop)


def _result(worker_id: int, outcome: str, status: str | None) -> WorkerUpdateResult:
    return WorkerUpdateResult(worker_id=worker_id, outcome=outcome, status=status)


@pytest.mark.parametrize(
    ("outcome", "status", "done"),
    [
        ("accepted", "finished", True),
        ("noop", "finished", True),
        ("notfound", None, True),
        ("rejected", "cancelled", True),  # already final on the server
        ("rejected", "submitted", False),  # changed concurrently: try again
        ("rejected", "running", False),
    ],
)
def test_settled(outcome: str, status: str | None, done: bool) -> None:
    assert settled(_result(1, outcome, status)) is done


class FakeServer:
    """Answers update_workers from a script: an exception to raise or an outcome per worker."""

    def __init__(self, script: list[Exception | tuple[str, str | None]]) -> None:
        self.script = script
        self.sent: list[list[int]] = []

    def update_workers(
        self,
        harvester_id: str,
        updates: list[WorkerUpdate],
        *,
        budget: float | None = None,
        cancel: threading.Event | None = None,
    ) -> list[WorkerUpdateResult]:
        self.sent.append([u.worker_id for u in updates])
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return [_result(u.worker_id, step[0], step[1]) for u in updates]


def _update(worker_id: int) -> WorkerUpdate:
    return WorkerUpdate(worker_id=worker_id, status="finished", exit_code=0)


def test_reports_are_kept_until_the_server_answers() -> None:
    # given two ended workers and a server that is down for two cycles
    reports = PendingReports("h")
    reports.add(_update(1))
    reports.add(_update(2))
    server = FakeServer([ServerUnreachable("down"), ServerUnreachable("down"), ("accepted", "finished")])
    # when the factory flushes every cycle
    assert reports.flush(server) == 0 and len(reports) == 2
    assert reports.flush(server) == 0 and len(reports) == 2
    # then the third flush delivers both, and a fourth sends nothing
    assert reports.flush(server) == 2 and len(reports) == 0
    assert reports.flush(server) == 0
    assert server.sent == [[1, 2], [1, 2], [1, 2]]


def test_a_report_refused_again_and_again_is_dropped() -> None:
    reports = PendingReports("h")
    reports.add(_update(1))
    server = FakeServer([("rejected", "submitted")] * MAX_REJECTIONS)
    for _ in range(MAX_REJECTIONS - 1):
        reports.flush(server)
        assert len(reports) == 1
    reports.flush(server)
    assert len(reports) == 0


def test_a_heartbeat_with_batch_states_and_errors_goes_out_as_the_server_reads_it() -> None:
    # given a heartbeat carrying a native state and a batch error with its time
    req = HeartbeatRequest(
        harvester_id="h",
        batch_states=[WorkerBatchState(worker_id=3, batch_state="PENDING")],
        batch_errors=[
            BatchError(
                report_id="a" * 32, queue="Q", time=datetime(2026, 12, 2, 17, 0), reason="squeue: timed out"
            )
        ],
    )
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        return _envelope({"harvester_id": "h", "last_seen": "2026-12-02T17:00:01", "batch_states": 1})

    # when the client sends it
    with _client(handler) as client:
        assert client.heartbeat(req).batch_states == 1
    # then the body is JSON with the time in UTC, and validates back to the same request
    (body,) = bodies
    assert json.loads(body)["batch_errors"][0]["time"] == "2026-12-02T17:00:00Z"
    assert HeartbeatRequest.model_validate_json(body) == req
