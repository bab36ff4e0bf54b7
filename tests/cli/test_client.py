"""PandaClient over an in-memory transport: URL resolution, retries, error messages."""

from __future__ import annotations

import httpx
import pytest

from pandawms.cli.client import JobFilter, PandaClient, PandaClientError, resolve_server
from pandawms.protocol.jobs import JobSubmission


@pytest.mark.parametrize(
    ("option", "env", "expected"),
    [
        (None, {}, "http://127.0.0.1:25080/api/v1"),
        (None, {"PANDA_URL": "http://panda.example:25080"}, "http://panda.example:25080/api/v1"),
        ("https://a.example/", {"PANDA_URL": "http://b.example"}, "https://a.example/api/v1"),
        (None, {"PANDA_URL": "http://h:25080/server/panda"}, "http://h:25080/api/v1"),
        (None, {"PANDA_URL": "http://h/prefix/api/v1/"}, "http://h/prefix/api/v1"),
    ],
)
def test_server_url_precedence_and_forms(option: str | None, env: dict[str, str], expected: str) -> None:
    assert resolve_server(option, env) == expected


def test_bad_server_url_names_its_source() -> None:
    with pytest.raises(ValueError, match=r"PANDA_URL: 'panda\.example' is not an http"):
        resolve_server(None, {"PANDA_URL": "panda.example"})


class _Top:
    """Jitter at the top of the range, so the delays are the backoff ceilings."""

    def random(self) -> float:
        return 1.0


def _client(handler: httpx.MockTransport, sleeps: list[float]) -> PandaClient:
    return PandaClient("http://test/api/v1", transport=handler, sleep=sleeps.append, retries=3, rng=_Top())


def _ok(data: object) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "message": "", "data": data})


def test_503_is_retried_with_backoff_then_succeeds() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) < 3:
            return httpx.Response(503, json={"success": False, "message": "database busy", "data": None})
        return _ok([{"PandaID": 7, "jobStatus": "running", "attemptNr": 1}])

    sleeps: list[float] = []
    with _client(httpx.MockTransport(handler), sleeps) as client:
        got = client.get_status([7])
    assert [e.job_status for e in got] == ["running"]
    assert calls == ["/api/v1/job/get_status"] * 3
    assert sleeps == [0.25, 0.5]


def test_503_that_persists_counts_as_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"success": False, "message": "database busy", "data": None})

    sleeps: list[float] = []
    with _client(httpx.MockTransport(handler), sleeps) as client, pytest.raises(PandaClientError) as err:
        client.list_queues()
    assert err.value.message == "database busy"
    assert err.value.unreachable
    assert len(sleeps) == 3


def test_connection_refused_is_retried_then_reported_without_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    sleeps: list[float] = []
    with _client(httpx.MockTransport(handler), sleeps) as client, pytest.raises(PandaClientError) as err:
        client.kill([1])
    assert err.value.status is None
    assert "cannot reach the server at http://test/api/v1" in err.value.message
    assert len(sleeps) == 3


def test_read_timeout_on_post_is_not_resent() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("slow", request=request)

    with _client(httpx.MockTransport(handler), []) as client, pytest.raises(PandaClientError) as err:
        client.submit([JobSubmission.model_validate({"transformation": "/bin/true"})])
    assert calls == [1]
    assert "may have been applied" in err.value.message


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_on_kill_is_not_resent_but_reported_unreachable(status: int) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, text="upstream timed out")

    with _client(httpx.MockTransport(handler), []) as client, pytest.raises(PandaClientError) as err:
        client.kill([1])
    assert calls == [1] and err.value.unreachable
    assert err.value.message == f"HTTP {status} from /api/v1/job/kill: upstream timed out"


def test_read_timeout_on_a_read_is_resent_then_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    sleeps: list[float] = []
    with _client(httpx.MockTransport(handler), sleeps) as client, pytest.raises(PandaClientError) as err:
        client.list_queues()
    assert len(sleeps) == 3 and err.value.status is None
    assert err.value.message == "no answer from http://test/api/v1/queue/list: ReadTimeout: timed out"


def test_setting_a_queue_status_is_resent_after_a_lost_answer() -> None:
    answers: list[Exception | httpx.Response] = [
        httpx.ReadTimeout("slow"),
        _ok({"name": "Q", "status": "offline"}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        step = answers.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    with _client(httpx.MockTransport(handler), []) as client:
        assert client.set_queue_status("Q", "offline").status == "offline"
    assert answers == []


def test_log_download_returns_the_raw_bytes_and_refusals_name_the_reason() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params["job_id"] == "1":
            return httpx.Response(200, content=b"\x1f\x8b...")
        return httpx.Response(
            404, json={"success": False, "message": "job 2 has no log uploaded", "data": None}
        )

    with _client(httpx.MockTransport(handler), []) as client:
        assert client.download_log(1) == b"\x1f\x8b..."
        with pytest.raises(PandaClientError) as err:
            client.download_log(2)
    assert (err.value.status, err.value.message) == (404, "job 2 has no log uploaded")


def test_negative_retries_is_refused() -> None:
    with pytest.raises(ValueError, match="retries must be >= 0, got -1"):
        PandaClient("http://test/api/v1", retries=-1)


def test_4xx_carries_the_server_message_and_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(422, json={"success": False, "message": "jobs.0.coreCount: bad", "data": None})

    with _client(httpx.MockTransport(handler), []) as client, pytest.raises(PandaClientError) as err:
        client.retry([1])
    assert (err.value.status, err.value.message) == (422, "jobs.0.coreCount: bad")
    assert calls == [1]


def test_non_envelope_error_body_is_summarised() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="<html>Internal Server Error</html>")

    with _client(httpx.MockTransport(handler), []) as client, pytest.raises(PandaClientError) as err:
        client.describe(1)
    assert (
        err.value.message == "HTTP 500 from /api/v1/job/get_description: <html>Internal Server Error</html>"
    )
    assert (err.value.status, err.value.unreachable) == (500, False)


def test_malformed_answer_is_an_error_not_a_crash() -> None:
    with (
        _client(httpx.MockTransport(lambda r: _ok({"nope": 1})), []) as client,
        pytest.raises(PandaClientError, match="unexpected answer from /api/v1/job/list"),
    ):
        client.list_jobs(JobFilter())


def test_filter_params_join_multiple_values() -> None:
    f = JobFilter(statuses=("failed", "finished"), users=("alice",), hours=2.0, limit=10)
    assert f.params() == {"status": "failed,finished", "user": "alice", "hours": "2.0", "limit": "10"}


def test_submit_is_split_into_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        jobs = json.loads(request.content)["jobs"]
        sizes.append(len(jobs))
        start = sum(sizes[:-1])
        return _ok(
            [
                {"PandaID": start + i + 1, "jobStatus": "activated", "computingSite": "Q"}
                for i in range(len(jobs))
            ]
        )

    monkeypatch.setattr("pandawms.cli.client.SUBMIT_BATCH", 2)
    job = JobSubmission.model_validate({"transformation": "/bin/true"})
    with _client(httpx.MockTransport(handler), []) as client:
        got = client.submit([job] * 5)
    assert sizes == [2, 2, 1]
    assert [r.panda_id for r in got] == [1, 2, 3, 4, 5]
