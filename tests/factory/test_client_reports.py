"""The factory client's retries (add_workers is retried only when the request never left) and the pending
reports, which are kept until the server settles them."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable

import httpx
import pytest

from pandawms.factory.client import (
    FactoryClient,
    RetryPolicy,
    ServerRejected,
    ServerUnreachable,
    Stopped,
    backoff_delay,
)
from pandawms.factory.reports import MAX_REJECTIONS, PendingReports, settled
from pandawms.protocol.factory import AddWorkersRequest, WorkerUpdate, WorkerUpdateResult

FAST = RetryPolicy(base=0.001, cap=0.002, budget=2.0)
OK_ADD = {
    "workers": [{"worker_id": 7}],
    "granted": 1,
    "reason": "r",
    "activated": 1,
    "queued": 0,
    "running": 0,
}


def _client(handler: Callable[[httpx.Request], httpx.Response]) -> FactoryClient:
    return FactoryClient("http://factory.test", FAST, transport=httpx.MockTransport(handler))


def _envelope(data: object, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"success": True, "message": "", "data": data})


def _add_request() -> AddWorkersRequest:
    return AddWorkersRequest(harvester_id="h", queue="Q", max_workers=3, max_queued=3, max_new=1)


class _Always:
    def random(self) -> float:
        return 1.0


@pytest.mark.parametrize(
    ("attempt", "elapsed", "expected"),
    [(0, 0.0, 1.0), (1, 0.0, 2.0), (3, 0.0, 8.0), (10, 0.0, 30.0), (2, 59.5, 0.5), (0, 60.0, None)],
)
def test_backoff_delay(attempt: int, elapsed: float, expected: float | None) -> None:
    assert backoff_delay(attempt, elapsed, RetryPolicy(1.0, 30.0, 60.0), _Always()) == expected


def test_backoff_is_jittered() -> None:
    rng = random.Random(1)
    delays = {backoff_delay(4, 0.0, RetryPolicy(1.0, 30.0, 60.0), rng) for _ in range(20)}
    assert len(delays) > 10 and all(d is not None and 0 <= d <= 16 for d in delays)


def test_add_workers_is_not_retried_after_a_5xx() -> None:
    calls: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return httpx.Response(503, json={"success": False, "message": "busy", "data": None})

    with _client(handler) as client, pytest.raises(ServerUnreachable, match="not idempotent"):
        client.add_workers(_add_request())
    assert len(calls) == 1
    assert calls[0] == {"harvester_id": "h", "queue": "Q", "max_workers": 3, "max_queued": 3, "max_new": 1}


def test_add_workers_is_retried_when_the_connection_failed() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("refused", request=request)
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


def test_idempotent_calls_retry_5xx_and_stop_on_4xx() -> None:
    answers = [httpx.Response(500, text="oops"), _envelope({"Q": {"submitted": 1, "running": 2}})]
    with _client(lambda _r: answers.pop(0)) as client:
        assert client.get_worker_stats() == {"Q": {"submitted": 1, "running": 2}}
    refused = httpx.Response(404, json={"success": False, "message": "queue 'X' not found", "data": None})
    with _client(lambda _r: refused) as client, pytest.raises(ServerRejected, match="not found"):
        client.get_queue("X")


def test_retry_wait_ends_on_cancel() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    stop = threading.Event()
    stop.set()
    client = FactoryClient("http://f.test", RetryPolicy(1, 1, 60), transport=httpx.MockTransport(handler))
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
