"""The pilot's server client: which calls are resent (acquire_jobs without a request_id only when it never
arrived; with one, updates and log uploads also after a lost answer), a clear error for refusals, and a
real server that comes up late. The client's pause is injected, so nothing sleeps."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from pandawms.pilot.client import (
    PILOT_RETRY,
    BadResponse,
    HttpRetry,
    ServerClient,
    ServerRejected,
    ServerUnreachable,
    api_base,
)
from pandawms.protocol.http import Failure
from pandawms.protocol.pilot import AcquireRequest, UpdateRequest
from tests.unit.test_http_client import FakeTime

FAST = HttpRetry(base=0.01, cap=0.05, budget=5.0)


def _pilot_client(transport: httpx.MockTransport, retry: HttpRetry = FAST) -> tuple[ServerClient, FakeTime]:
    fake = FakeTime()
    return ServerClient("http://test", retry, transport=transport, clock=fake.clock, pause=fake.pause), fake


def _envelope(data: object, success: bool = True, message: str = "") -> dict[str, object]:
    return {"success": success, "message": message, "data": data}


def _flaky(failures: list[object], final: httpx.Response) -> tuple[httpx.MockTransport, list[str]]:
    """A transport that fails in the given ways first (exceptions or responses), then answers `final`."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if failures:
            failure = failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            assert isinstance(failure, httpx.Response)
            return failure
        return final

    return httpx.MockTransport(handler), seen


def test_api_base_accepts_root_or_api_url() -> None:
    assert api_base("http://h:1") == "http://h:1/api/v1"
    assert api_base("http://h:1/api/v1/") == "http://h:1/api/v1"


def test_transient_failures_are_retried_until_success() -> None:
    # given a server that refuses the connection once and answers 503 once
    answer = _envelope({"StatusCode": 0, "command": "NULL", "jobStatus": "running"})
    transport, seen = _flaky(
        [httpx.ConnectError("refused"), httpx.Response(503, json=_envelope(None, False, "busy"))],
        httpx.Response(200, json=answer),
    )
    client, fake = _pilot_client(transport)
    with client:
        # when the pilot sends a heartbeat
        got = client.update_job(UpdateRequest(job_id=1, job_status="running"))
    # then it arrives on the third try
    assert got.command == "NULL"
    assert seen == ["/api/v1/pilot/update_job"] * 3 and len(fake.pauses) == 2


def test_update_job_is_resent_after_a_lost_answer() -> None:
    # a resent update is a heartbeat or alreadydone on the server, so a read timeout is retried
    answer = _envelope({"StatusCode": 0, "command": "NULL"})
    transport, seen = _flaky([httpx.ReadTimeout("slow")], httpx.Response(200, json=answer))
    client, _ = _pilot_client(transport)
    assert client.update_job(UpdateRequest(job_id=1, job_status="finished")).command == "NULL"
    assert len(seen) == 2


def _acquire() -> AcquireRequest:
    return AcquireRequest(site_name="Q", node="n", pilot_id="p")


def test_acquire_jobs_is_not_resent_after_a_lost_answer() -> None:
    # given a server that may have claimed a job for us before the answer was lost
    transport, seen = _flaky([httpx.ReadTimeout("slow")], httpx.Response(200, json=_envelope({"jobs": []})))
    client, fake = _pilot_client(transport)
    # when the pilot asks for a job, then it does not ask again (that could claim a second batch)
    with pytest.raises(ServerUnreachable, match="not idempotent") as err:
        client.acquire_jobs(_acquire())
    assert len(seen) == 1 and fake.pauses == []
    assert err.value.failure is Failure.LOST


def test_acquire_jobs_with_a_request_id_is_resent_unchanged_after_a_lost_answer() -> None:
    # given a server whose first answer is lost (a read timeout, then a dropped connection)
    bodies: list[bytes] = []
    failures: list[Exception] = [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("disconnected")]

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        if failures:
            raise failures.pop(0)
        return httpx.Response(200, json=_envelope({"StatusCode": 0, "jobs": []}))

    client, fake = _pilot_client(httpx.MockTransport(handler))
    # when the pilot asks with a request id, then the same call goes again (the server answers a repeat
    # with the jobs it claimed the first time)
    req = AcquireRequest(site_name="Q", node="n", pilot_id="p", request_id="r-1")
    assert client.acquire_jobs(req).jobs == []
    assert len(bodies) == 3 and len(set(bodies)) == 1 and json.loads(bodies[0])["request_id"] == "r-1"
    assert len(fake.pauses) == 2


def test_acquire_jobs_is_resent_when_it_never_arrived_or_the_server_was_busy() -> None:
    busy = httpx.Response(503, json=_envelope(None, False, "database busy"))
    answer = _envelope({"StatusCode": 0, "jobs": []})
    transport, seen = _flaky([httpx.ConnectError("refused"), busy], httpx.Response(200, json=answer))
    client, _ = _pilot_client(transport)
    assert client.acquire_jobs(_acquire()).jobs == []
    assert seen == ["/api/v1/pilot/acquire_jobs"] * 3


def test_budget_exhausted_raises_server_unreachable() -> None:
    transport, seen = _flaky([httpx.ConnectError("down")] * 1000, httpx.Response(200))
    client, fake = _pilot_client(transport, HttpRetry(0.01, 0.02, budget=0.2))
    with pytest.raises(ServerUnreachable, match="gave up after"):
        client.request("GET", "/health")
    assert len(seen) > 2 and sum(fake.pauses) == pytest.approx(0.2)


def test_the_pilot_default_policy() -> None:
    client = ServerClient("http://test", transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    assert client.retry_policy == PILOT_RETRY == HttpRetry(2.0, 120.0, 600.0)
    client.close()


def test_client_error_is_not_retried_and_names_the_field() -> None:
    body = _envelope(None, False, "job_status: Input should be 'starting', 'running'")
    transport, seen = _flaky([], httpx.Response(422, json=body))
    client, _ = _pilot_client(transport)
    with pytest.raises(ServerRejected) as err:
        client.request("POST", "/pilot/update_job", json={"job_id": 1, "job_status": "bogus"})
    assert err.value.status_code == 422 and "job_status" in err.value.message
    assert len(seen) == 1


def test_success_false_in_a_200_is_a_refusal_and_non_envelope_is_bad() -> None:
    transport, _ = _flaky([], httpx.Response(200, json=_envelope(None, False, "no")))
    with pytest.raises(ServerRejected):
        ServerClient("http://test", FAST, transport=transport).request("GET", "/health")
    transport, _ = _flaky([], httpx.Response(200, json={"unexpected": 1}))
    with pytest.raises(BadResponse):
        ServerClient("http://test", FAST, transport=transport).request("GET", "/health")


def test_queue_answer_with_unknown_fields_is_accepted() -> None:
    queue = {"name": "Q", "status": "online", "cores": 8, "max_memory_per_core": 1000, "new_field": "x"}
    transport, _ = _flaky([], httpx.Response(200, json=_envelope(queue)))
    got = ServerClient("http://test", FAST, transport=transport).get_queue("Q")
    assert (got.name, got.cores, got.max_memory_per_core) == ("Q", 8, 1000)


def test_upload_log_sends_raw_bytes_with_the_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=_envelope({"size": 3}))

    ServerClient("http://test", FAST, transport=httpx.MockTransport(handler)).upload_log(
        5, 2, "a.tgz", b"abc"
    )
    req = seen[0]
    assert req.url.params["job_id"] == "5" and req.url.params["filename"] == "a.tgz"
    assert req.url.params["attempt_nr"] == "2"
    assert req.headers["content-type"] == "application/octet-stream" and req.content == b"abc"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(_envelope({"status": "ok"})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def free_port() -> Iterator[tuple[int, list[HTTPServer]]]:
    """A free local port where nothing listens yet; servers started on it are stopped afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    servers: list[HTTPServer] = []
    yield port, servers
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_server_that_comes_up_late_is_reached_after_backoff(
    free_port: tuple[int, list[HTTPServer]],
) -> None:
    # given a port where the server starts listening only after the client's second refused connection
    port, servers = free_port
    fake = FakeTime()

    def pause(seconds: float, cancel: threading.Event | None) -> bool:
        if len(fake.pauses) == 1:
            server = HTTPServer(("127.0.0.1", port), _Health)
            servers.append(server)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return fake.pause(seconds, cancel)

    retry = HttpRetry(0.05, 0.2, budget=10.0)
    client = ServerClient(f"http://127.0.0.1:{port}", retry, timeout=2, clock=fake.clock, pause=pause)
    # when the client calls it, then it backs off twice and gets the answer once the server is up
    with client:
        data = client.request("GET", "/health")
    assert data == {"status": "ok"}
    assert len(fake.pauses) == 2
