"""The server client: envelope unwrapping, retries with backoff on transient failures within a budget,
a clear error for refusals, and a server port that only comes up late."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest

from pandawms.pilot.client import (
    BadResponse,
    RetryPolicy,
    ServerClient,
    ServerRejected,
    ServerUnreachable,
    api_base,
)
from pandawms.protocol.pilot import UpdateRequest

FAST = RetryPolicy(base=0.01, cap=0.05, budget=5.0)


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
    with ServerClient("http://test", FAST, transport=transport) as client:
        # when the pilot sends a heartbeat
        got = client.update_job(UpdateRequest(job_id=1, job_status="running"))
    # then it arrives on the third try
    assert got.command == "NULL"
    assert seen == ["/api/v1/pilot/update_job"] * 3


def test_budget_exhausted_raises_server_unreachable() -> None:
    transport, seen = _flaky([httpx.ConnectError("down")] * 1000, httpx.Response(200))
    client = ServerClient("http://test", RetryPolicy(0.01, 0.02, budget=0.2), transport=transport)
    start = time.monotonic()
    with pytest.raises(ServerUnreachable, match="gave up after"):
        client.request("GET", "/health")
    assert time.monotonic() - start < 2.0
    assert len(seen) > 2


def test_client_error_is_not_retried_and_names_the_field() -> None:
    body = _envelope(None, False, "job_status: Input should be 'starting', 'running'")
    transport, seen = _flaky([], httpx.Response(422, json=body))
    client = ServerClient("http://test", FAST, transport=transport)
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
def late_port() -> Iterator[int]:
    """A port where an HTTP server starts listening only 0.5 s from now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    servers: list[HTTPServer] = []

    def start_later() -> None:
        time.sleep(0.5)
        server = HTTPServer(("127.0.0.1", port), _Health)
        servers.append(server)
        server.serve_forever(poll_interval=0.05)

    thread = threading.Thread(target=start_later, daemon=True)
    thread.start()
    yield port
    for server in servers:
        server.shutdown()
        server.server_close()
    thread.join(5)


def test_a_server_that_comes_up_late_is_reached_after_backoff(late_port: int) -> None:
    # given a server that is not listening yet, when the client calls it with a retry budget
    client = ServerClient(f"http://127.0.0.1:{late_port}", RetryPolicy(0.05, 0.2, budget=10.0), timeout=2)
    start = time.monotonic()
    data = client.request("GET", "/health")
    # then it waits with backoff and gets the answer once the server is up
    assert data == {"status": "ok"}
    assert time.monotonic() - start >= 0.4
    client.close()
