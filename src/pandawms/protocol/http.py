"""Client side of the v1 envelope and the one retry loop of every HTTP client (pilot, factory, ``panda``).

A call is tried until it succeeds, its failure may not be resent, or its HttpRetry budget (tries, seconds)
is spent; delays are core.backoff's full jitter. Resending (``may_resend``): a request that never left
(connect error) is always resent, and so is one the server answered with its Transient refusal (503 with a
v1 envelope: raised only after the transaction rolled back, so nothing was applied). A request whose answer
was lost after it may have reached the server (read timeout, broken answer, 502/504, a 503 not from our
server) is resent only when it is idempotent. Other 4xx and 5xx answers are never resent.

Errors, by what the caller should do: ServerUnreachable (try later; ``status_code`` is set when something
answered, e.g. 500, 503, 429), ServerRejected (4xx or success=false: resending will not help), BadResponse
(the answer does not match the protocol: a version mismatch), Cancelled (the caller's stop event was set
while waiting to retry).
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, Self

import httpx

from pandawms.core.backoff import RandomSource, next_delay
from pandawms.protocol import paths

log = logging.getLogger(__name__)

Pause = Callable[[float, threading.Event | None], bool]
"""Wait ``seconds``; True when the stop event was set (before or during the wait)."""

RESENDABLE_STATUS = frozenset({502, 503, 504})
TRY_LATER_STATUS = frozenset({408, 425, 429})  # 4xx that say "not now" rather than "not this request"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # the server cannot have acted
_LOST = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.DecodingError)


@dataclass(frozen=True, slots=True)
class HttpRetry:
    """How one HTTP call retries: full-jitter delays in [0, min(cap, base * 2**n)], at most ``attempts``
    tries, and no new try once ``budget`` seconds have passed since the first (a delay never overruns it)."""

    base: float = 1.0
    cap: float = 30.0
    budget: float = 60.0
    attempts: int = 30

    def __post_init__(self) -> None:
        for name in ("base", "cap", "budget"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"HttpRetry.{name} must be >= 0 seconds, got {getattr(self, name)!r}")
        if self.attempts < 1:
            raise ValueError(f"HttpRetry.attempts must be >= 1, got {self.attempts!r}")


class Failure(StrEnum):
    """Why one try failed, as far as resending is concerned."""

    NOT_SENT = "not sent"  # connect error: the request never reached the server
    BUSY = "server busy"  # the server's Transient answer: nothing was applied
    LOST = "answer lost"  # the request may have reached the server and been applied
    FAILED = "failed"  # resending now will not help (500, 429, a broken URL or proxy)


def may_resend(failure: Failure, idempotent: bool) -> bool:
    if failure in (Failure.NOT_SENT, Failure.BUSY):
        return True
    return failure is Failure.LOST and idempotent


def retry_delay(
    failure: Failure, idempotent: bool, retry: HttpRetry, tries: int, elapsed: float, rng: RandomSource
) -> float | None:
    """Seconds to wait before try ``tries + 1``, or None when the call must give up now."""
    if not may_resend(failure, idempotent) or tries >= retry.attempts:
        return None
    return next_delay(tries - 1, elapsed, retry.budget, retry.base, retry.cap, rng)


class ClientError(Exception):
    """Base of the HTTP clients' errors."""


class ServerUnreachable(ClientError):
    """The call did not get through: transient failures outlasted the retry budget, a request that is not
    idempotent lost its answer, or the server failed (``status_code`` then says how it answered)."""

    def __init__(
        self,
        message: str,
        *,
        failure: Failure = Failure.FAILED,
        status_code: int | None = None,
        detail: str = "",
        tries: int = 1,
        idempotent: bool = True,
    ) -> None:
        super().__init__(message)
        self.failure = failure
        self.status_code = status_code
        self.detail = detail or message
        self.tries = tries
        self.idempotent = idempotent


class ServerRejected(ClientError):
    """The server refused the request (4xx or success=false): retrying the same request will not help."""

    def __init__(self, status_code: int, message: str) -> None:
        prefix = f"HTTP {status_code}"
        super().__init__(message if message.startswith(prefix) else f"{prefix}: {message}")
        self.status_code = status_code
        self.message = message


class BadResponse(ClientError):
    """The answer does not match the protocol models (a version mismatch, not a passing problem)."""


class Cancelled(ClientError):
    """The caller's stop event was set while waiting to retry."""


class AttemptFailed(Exception):
    """One try failed in a way ``may_resend`` judges; never leaves ``EnvelopeClient.send``."""

    def __init__(self, failure: Failure, detail: str, status_code: int | None = None) -> None:
        super().__init__(detail)
        self.failure = failure
        self.detail = detail
        self.status_code = status_code


def api_base(url: str) -> str:
    """Accept the server root or the /api/v1 URL."""
    url = url.rstrip("/")
    return url if url.endswith(paths.API_PREFIX) else url + paths.API_PREFIX


def response_message(resp: httpx.Response) -> str:
    """The server's message in an error answer (envelope ``message``, FastAPI ``detail``), else
    ``HTTP <status> from <path>: <start of the body>``."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail")
        if message:
            return str(message)[:500]
    excerpt = resp.text.strip()[:200] or resp.reason_phrase
    return f"HTTP {resp.status_code} from {resp.request.url.path}: {excerpt}"


def _is_envelope(body: object) -> bool:
    return isinstance(body, dict) and "data" in body and "success" in body


def _server_refusal(resp: httpx.Response) -> bool:
    """A 503 carrying our server's envelope is its Transient answer (the transaction rolled back)."""
    try:
        body = resp.json()
    except ValueError:
        return False
    return _is_envelope(body) and body.get("success") is False


def checked(resp: httpx.Response) -> httpx.Response:
    """The response if it is 2xx; raises ServerRejected for a refusal, AttemptFailed for the rest."""
    code = resp.status_code
    if 200 <= code < 300:
        return resp
    message = response_message(resp)
    if code in RESENDABLE_STATUS:
        busy = code == 503 and _server_refusal(resp)
        raise AttemptFailed(Failure.BUSY if busy else Failure.LOST, message, code)
    if 400 <= code < 500 and code not in TRY_LATER_STATUS:
        raise ServerRejected(code, message)
    raise AttemptFailed(Failure.FAILED, message, code)


def unwrap(resp: httpx.Response) -> Any:
    """The envelope's ``data``; raises ServerRejected, BadResponse or AttemptFailed for unusable answers."""
    checked(resp)
    try:
        body = resp.json()
    except ValueError:
        raise AttemptFailed(Failure.LOST, f"answer is not JSON: {resp.text[:200]!r}") from None
    if not _is_envelope(body):
        raise BadResponse(f"answer is not a v1 envelope: {str(body)[:200]}")
    if body.get("success") is False:
        raise ServerRejected(resp.status_code, str(body.get("message", "")))
    return body["data"]


def transport_failure(exc: httpx.HTTPError) -> AttemptFailed:
    """Classify an httpx error: never sent, sent but the answer lost, or not worth resending."""
    detail = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, _NOT_SENT):
        return AttemptFailed(Failure.NOT_SENT, detail)
    if isinstance(exc, _LOST):
        return AttemptFailed(Failure.LOST, detail)
    return AttemptFailed(Failure.FAILED, detail)


def wait_or_cancel(seconds: float, cancel: threading.Event | None) -> bool:
    """The default Pause: sleep, or wait on the stop event."""
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


class TokenSource(Protocol):
    """Where a client's Bearer token comes from (a file, the CLI's refreshed login)."""

    def token(self) -> str | None: ...


class StaticToken:
    def __init__(self, value: str) -> None:
        self.value = value.strip()

    def token(self) -> str | None:
        return self.value or None


class FileToken:
    """A token file (``panda token create`` writes it; a factory may renew it): re-read when it changes,
    so a long-lived pilot picks up a renewed token. Missing or unreadable: ClientError naming the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[float, str] | None = None

    def token(self) -> str | None:
        try:
            mtime = self.path.stat().st_mtime
            if self._seen is None or self._seen[0] != mtime:
                self._seen = (mtime, self.path.read_text().strip())
        except OSError as exc:
            raise ClientError(f"token file {self.path}: {exc.strerror or exc}") from None
        return self._seen[1] or None


def tls_context(verify: bool | str, client_cert: str | None = None) -> bool | ssl.SSLContext:
    """httpx's ``verify``: the system's CAs (True), none (False) or a CA bundle file; with the client's
    certificate loaded when one is given (ValueError names a file that is not a certificate and key)."""
    if client_cert is None:
        return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
    ctx = (
        ssl.create_default_context(cafile=verify) if isinstance(verify, str) else ssl.create_default_context()
    )
    if verify is False:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        ctx.load_cert_chain(client_cert)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(
            f"client certificate {client_cert}: not a PEM certificate with its key ({exc})"
        ) from None
    return ctx


class EnvelopeClient:
    """One v1 server: base URL, httpx client, retry policy, clock, jitter and pause (injectable for tests).
    Safe to share between threads (httpx.Client is). Subclasses set their defaults as class attributes."""

    default_retry = HttpRetry()
    default_timeout = 30.0
    logger = log

    def __init__(
        self,
        url: str,
        retry: HttpRetry | None = None,
        *,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
        rng: RandomSource | None = None,
        clock: Callable[[], float] = time.monotonic,
        pause: Pause = wait_or_cancel,
        auth: TokenSource | None = None,
        verify: bool | str = True,
        origin: str | None = None,
        client_cert: str | None = None,
    ) -> None:
        """``auth``: the Bearer token of every call; ``verify``: check the server's TLS certificate
        (default), or the CA bundle file to check it with; ``origin``: the VO, sent as PanDA's pilots
        send it (``Origin`` header); ``client_cert``: a PEM file with a certificate and its key to present
        to a server that asks for one (``panda server --ssl-ca-certs``)."""
        self.base_url = api_base(url)
        self._auth = auth
        self._origin = origin
        self.retry_policy = retry or self.default_retry
        self._rng: RandomSource = rng or random.Random()
        self._clock = clock
        self._pause = pause
        timeout = self.default_timeout if timeout is None else timeout
        tls = tls_context(verify, client_cert)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport, verify=tls)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        idempotent: bool | None = None,
        budget: float | None = None,
        cancel: threading.Event | None = None,
        decode: Callable[[httpx.Response], Any] = unwrap,
    ) -> Any:
        """One logical call with retries; returns ``decode(answer)``: the envelope's data by default.

        ``idempotent`` defaults to True for GET/HEAD/OPTIONS only; ``budget`` overrides the policy's
        seconds for this call; ``decode`` raises AttemptFailed for answers worth judging for a resend
        (``checked`` returns the raw 2xx response).
        """
        retry = self.retry_policy if budget is None else replace(self.retry_policy, budget=budget)
        resendable = method.upper() in SAFE_METHODS if idempotent is None else idempotent
        headers = self._headers(content is not None)
        start = self._clock()
        tries = 0
        while True:
            tries += 1
            try:
                resp = self._http.request(
                    method, path, json=json, params=params, content=content, headers=headers
                )
                return decode(resp)
            except AttemptFailed as exc:
                failed = exc
            except httpx.HTTPError as exc:
                failed = transport_failure(exc)
            elapsed = self._clock() - start
            delay = retry_delay(failed.failure, resendable, retry, tries, elapsed, self._rng)
            if delay is None:
                raise _give_up(f"{method} {path}", failed, resendable, tries, elapsed) from None
            self.logger.warning(
                "%s %s failed (%s); retry %d in %.2f s", method, path, failed.detail, tries, delay
            )
            if self._pause(delay, cancel):
                raise Cancelled(f"{method} {path}: stopped while waiting to retry")

    def _headers(self, raw_body: bool) -> dict[str, str] | None:
        headers: dict[str, str] = {"Content-Type": "application/octet-stream"} if raw_body else {}
        token = self._auth.token() if self._auth is not None else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if self._origin:
            headers["Origin"] = self._origin
        return headers or None


def _give_up(
    call: str, failed: AttemptFailed, idempotent: bool, tries: int, elapsed: float
) -> ServerUnreachable:
    if may_resend(failed.failure, idempotent):
        note = f"gave up after {tries} tries in {elapsed:.1f} s"
    elif failed.failure is Failure.LOST:
        note = "not retried: not idempotent, and it may have reached the server"
    else:
        note = "not retried"
    return ServerUnreachable(
        f"{call}: {failed.detail} ({note})",
        failure=failed.failure,
        status_code=failed.status_code,
        detail=failed.detail,
        tries=tries,
        idempotent=idempotent,
    )
