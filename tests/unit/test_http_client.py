"""The one HTTP retry loop (protocol/http.py): which failures are resent for idempotent and other requests,
the attempt and deadline bounds, full-jitter delays, and the typed errors. A fake clock moves only when the
client pauses, so nothing sleeps."""

from __future__ import annotations

import threading

import httpx
import pytest

from pandawms.protocol.http import (
    BadResponse,
    Cancelled,
    EnvelopeClient,
    Failure,
    HttpRetry,
    ServerRejected,
    ServerUnreachable,
    checked,
    may_resend,
    retry_delay,
    transport_failure,
    unwrap,
)

Step = Exception | httpx.Response


class FakeTime:
    """Monotonic clock and pause: a pause records the delay and moves the clock by it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.pauses: list[float] = []

    def clock(self) -> float:
        return self.now

    def pause(self, seconds: float, cancel: threading.Event | None) -> bool:
        self.pauses.append(seconds)
        self.now += seconds
        return cancel is not None and cancel.is_set()


class Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def _ok(data: object) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "message": "", "data": data})


def _busy() -> httpx.Response:
    return httpx.Response(503, json={"success": False, "message": "database busy", "data": None})


class Server:
    """A MockTransport playing ``steps`` in order (an exception to raise or a response), then ``_ok(1)``."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.calls = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if not self.steps:
            return _ok(1)
        step = self.steps.pop(0)
        if isinstance(step, httpx.RequestError):
            step.request = request
        if isinstance(step, Exception):
            raise step
        return step


def _client(
    server: Server, retry: HttpRetry = HttpRetry(1.0, 8.0, 60.0, attempts=5), rng: float = 1.0
) -> tuple[EnvelopeClient, FakeTime]:
    fake = FakeTime()
    client = EnvelopeClient(
        "http://test",
        timeout=5,
        retry=retry,
        transport=httpx.MockTransport(server.handle),
        rng=Fixed(rng),
        clock=fake.clock,
        pause=fake.pause,
    )
    return client, fake


# --- the pure rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "idempotent", "resend"),
    [
        (Failure.NOT_SENT, False, True),
        (Failure.NOT_SENT, True, True),
        (Failure.BUSY, False, True),
        (Failure.LOST, True, True),
        (Failure.LOST, False, False),
        (Failure.FAILED, True, False),
        (Failure.FAILED, False, False),
    ],
)
def test_may_resend(failure: Failure, idempotent: bool, resend: bool) -> None:
    assert may_resend(failure, idempotent) is resend


@pytest.mark.parametrize(
    ("tries", "elapsed", "expected"),
    [(1, 0.0, 1.0), (2, 0.0, 2.0), (4, 0.0, 8.0), (5, 0.0, 10.0), (3, 59.5, 0.5), (1, 60.0, None)],
)
def test_retry_delay_doubles_to_the_cap_and_never_overruns_the_budget(
    tries: int, elapsed: float, expected: float | None
) -> None:
    retry = HttpRetry(base=1.0, cap=10.0, budget=60.0, attempts=9)
    assert retry_delay(Failure.NOT_SENT, True, retry, tries, elapsed, Fixed(1.0)) == expected


def test_retry_delay_is_full_jitter_and_stops_at_the_attempt_bound() -> None:
    retry = HttpRetry(base=1.0, cap=10.0, budget=60.0, attempts=4)
    assert retry_delay(Failure.LOST, True, retry, 3, 0.0, Fixed(0.25)) == 1.0  # 0.25 of 2**2
    assert retry_delay(Failure.LOST, True, retry, 3, 0.0, Fixed(0.0)) == 0.0
    assert retry_delay(Failure.LOST, True, retry, 4, 0.0, Fixed(1.0)) is None
    assert retry_delay(Failure.LOST, False, retry, 1, 0.0, Fixed(1.0)) is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base": -1.0}, "base"),
        ({"cap": -0.5}, "cap"),
        ({"budget": float("nan")}, "budget"),
        ({"attempts": 0}, "attempts"),
    ],
)
def test_bad_retry_policy_names_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=rf"HttpRetry\.{field} must be"):
        HttpRetry(**kwargs)  # type: ignore[arg-type]


def _answer(status: int, body: object | None = None, text: str = "") -> httpx.Response:
    request = httpx.Request("POST", "http://test/api/v1/x")
    if body is not None:
        return httpx.Response(status, json=body, request=request)
    return httpx.Response(status, text=text, request=request)


@pytest.mark.parametrize(
    ("status", "body", "failure"),
    [
        (503, {"success": False, "message": "database busy", "data": None}, Failure.BUSY),
        (503, None, Failure.LOST),  # a proxy's 503: the request may have gone through
        (502, None, Failure.LOST),
        (504, {"success": False, "message": "late", "data": None}, Failure.LOST),
        (500, {"success": False, "message": "bug", "data": None}, Failure.FAILED),
        (429, None, Failure.FAILED),
        (301, None, Failure.FAILED),
    ],
)
def test_answers_are_classified(status: int, body: object | None, failure: Failure) -> None:
    with pytest.raises(Exception) as err:
        checked(_answer(status, body, text="<html>x</html>"))
    assert getattr(err.value, "failure", None) is failure
    assert getattr(err.value, "status_code", None) == status


def test_a_4xx_is_a_refusal_naming_the_servers_message_or_the_body() -> None:
    with pytest.raises(ServerRejected) as err:
        checked(_answer(422, {"success": False, "message": "jobs.0.coreCount: bad", "data": None}))
    assert (err.value.status_code, err.value.message) == (422, "jobs.0.coreCount: bad")
    assert str(err.value) == "HTTP 422: jobs.0.coreCount: bad"
    with pytest.raises(ServerRejected) as err:
        checked(_answer(404, text="<html>Not Found</html>"))
    assert str(err.value) == "HTTP 404 from /api/v1/x: <html>Not Found</html>"


def test_unwrap_refusal_in_a_200_and_non_envelope() -> None:
    with pytest.raises(ServerRejected, match="no such queue"):
        unwrap(_answer(200, {"success": False, "message": "no such queue", "data": None}))
    with pytest.raises(BadResponse, match="not a v1 envelope"):
        unwrap(_answer(200, {"unexpected": 1}))
    with pytest.raises(Exception) as err:
        unwrap(_answer(200, text="<html>proxy login</html>"))
    assert getattr(err.value, "failure", None) is Failure.LOST


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (httpx.ConnectError("refused"), Failure.NOT_SENT),
        (httpx.ConnectTimeout("slow"), Failure.NOT_SENT),
        (httpx.PoolTimeout("pool"), Failure.NOT_SENT),
        (httpx.ReadTimeout("slow"), Failure.LOST),
        (httpx.WriteTimeout("slow"), Failure.LOST),
        (httpx.ReadError("reset"), Failure.LOST),
        (httpx.RemoteProtocolError("closed"), Failure.LOST),
        (httpx.UnsupportedProtocol("ftp"), Failure.FAILED),
    ],
)
def test_transport_errors_are_classified(exc: httpx.HTTPError, failure: Failure) -> None:
    got = transport_failure(exc)
    assert got.failure is failure and type(exc).__name__ in got.detail


# --- the loop ----------------------------------------------------------------------------------------


def test_idempotent_call_is_resent_after_lost_answers_with_backoff() -> None:
    # given a server whose first answers are lost in three different ways
    server = Server(httpx.ReadTimeout("slow"), httpx.Response(504, text="gateway"), _busy())
    client, fake = _client(server)
    # when an idempotent call is made, then it succeeds on the fourth try after doubling delays
    assert client.request("POST", "/u", json={}, idempotent=True) == 1
    assert server.calls == 4 and fake.pauses == [1.0, 2.0, 4.0]


@pytest.mark.parametrize(
    "lost", [httpx.ReadTimeout("slow"), httpx.Response(504, text="gw"), httpx.Response(502)]
)
def test_a_call_that_is_not_idempotent_is_not_resent_once_it_may_have_arrived(lost: Step) -> None:
    server = Server(lost)
    client, fake = _client(server)
    with pytest.raises(ServerUnreachable, match="not idempotent") as err:
        client.request("POST", "/acquire", json={})
    assert server.calls == 1 and fake.pauses == []
    assert err.value.failure is Failure.LOST and not err.value.idempotent


def test_a_call_that_is_not_idempotent_is_resent_when_it_never_arrived_or_the_server_was_busy() -> None:
    server = Server(httpx.ConnectError("refused"), _busy(), httpx.ConnectTimeout("syn"))
    client, fake = _client(server)
    assert client.request("POST", "/acquire", json={}, idempotent=False) == 1
    assert server.calls == 4 and len(fake.pauses) == 3


def test_get_is_idempotent_by_default() -> None:
    server = Server(httpx.ReadTimeout("slow"))
    client, _ = _client(server)
    assert client.request("GET", "/q") == 1 and server.calls == 2


def test_attempts_are_bounded() -> None:
    server = Server(*[httpx.ConnectError("down")] * 50)
    client, fake = _client(server, HttpRetry(1.0, 8.0, budget=3600.0, attempts=4))
    with pytest.raises(ServerUnreachable, match="gave up after 4 tries") as err:
        client.request("GET", "/q")
    assert server.calls == 4 and len(fake.pauses) == 3
    assert err.value.failure is Failure.NOT_SENT and err.value.status_code is None


def test_the_deadline_bounds_the_whole_call() -> None:
    # given a server that is down, and a 10 s budget with delays of 1, 2, 4, 8 ... s
    server = Server(*[httpx.ConnectError("down")] * 50)
    client, fake = _client(server, HttpRetry(1.0, 30.0, budget=10.0, attempts=30))
    with pytest.raises(ServerUnreachable, match=r"gave up after 5 tries in 10\.0 s"):
        client.request("GET", "/q")
    # then the last delay is cut to what is left of the budget and no try starts after it
    assert fake.pauses == [1.0, 2.0, 4.0, 3.0] and server.calls == 5


def test_a_per_call_budget_of_zero_means_one_try() -> None:
    server = Server(httpx.ConnectError("down"))
    client, fake = _client(server)
    with pytest.raises(ServerUnreachable):
        client.request("GET", "/health", budget=0)
    assert server.calls == 1 and fake.pauses == []


def test_4xx_and_500_are_not_resent() -> None:
    refused = Server(
        httpx.Response(404, json={"success": False, "message": "queue 'X' not found", "data": None})
    )
    client, _ = _client(refused)
    with pytest.raises(ServerRejected, match="queue 'X' not found"):
        client.request("GET", "/q")
    failed = Server(httpx.Response(500, json={"success": False, "message": "internal error", "data": None}))
    client, fake = _client(failed)
    with pytest.raises(ServerUnreachable, match="internal error") as err:
        client.request("GET", "/q")
    assert refused.calls == 1 and failed.calls == 1 and fake.pauses == []
    assert err.value.status_code == 500 and err.value.detail == "internal error"


def test_busy_answer_that_lasts_keeps_the_servers_message() -> None:
    server = Server(*[_busy()] * 10)
    client, _ = _client(server, HttpRetry(0.1, 0.1, budget=60.0, attempts=3))
    with pytest.raises(ServerUnreachable) as err:
        client.request("POST", "/acquire", json={})
    assert (err.value.status_code, err.value.detail, err.value.failure) == (
        503,
        "database busy",
        Failure.BUSY,
    )


def test_the_stop_event_ends_the_wait() -> None:
    server = Server(*[httpx.ConnectError("down")] * 10)
    client, _ = _client(server)
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        client.request("GET", "/q", cancel=stop)
    assert server.calls == 1


def test_send_with_a_raw_decoder_returns_the_body() -> None:
    server = Server(httpx.Response(200, content=b"\x1f\x8b tarball"))
    client, _ = _client(server)
    assert client.request("GET", "/log", decode=checked).content == b"\x1f\x8b tarball"


def test_real_pause_waits_on_the_stop_event() -> None:
    from pandawms.protocol.http import wait_or_cancel

    stop = threading.Event()
    stop.set()
    assert wait_or_cancel(30.0, stop) is True  # returns at once: the event is already set
    assert wait_or_cancel(0.0, None) is False
