"""The pilot's HTTP client for the v1 API: unwraps the envelope, retries transient failures (connection
errors, timeouts, 5xx, 429) with exponential backoff and full jitter inside a time budget, and raises
one error class per thing the caller should do: ServerUnreachable (retry later / exit 79) or ServerRejected.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from pandawms.pilot.backoff import RandomSource, next_delay
from pandawms.protocol import paths
from pandawms.protocol.pilot import AcquireRequest, AcquireResponse, UpdateRequest, UpdateResponse
from pandawms.protocol.queues import QueueConfig

log = logging.getLogger(__name__)

_TRANSIENT_STATUS = frozenset({408, 425, 429})


class ServerError(Exception):
    """Base of the client's errors."""


class ServerUnreachable(ServerError):
    """Transient failures (network, 5xx) lasted longer than the retry budget."""


class ServerRejected(ServerError):
    """The server refused the request (4xx or success=false): retrying the same request will not help."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.message = message


class BadResponse(ServerError):
    """The answer does not match the protocol models (a version mismatch, not a passing problem)."""


class Cancelled(ServerError):
    """The caller's stop event was set while waiting to retry."""


class _TransientAnswer(Exception):
    pass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float = 2.0
    cap: float = 120.0
    budget: float = 600.0


def api_base(url: str) -> str:
    """Accept the server root or the /api/v1 URL."""
    url = url.rstrip("/")
    return url if url.endswith(paths.API_PREFIX) else url + paths.API_PREFIX


def _message(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:500] or resp.reason_phrase
    if isinstance(body, dict):
        msg = body.get("message") or body.get("detail") or body
        return str(msg)[:500]
    return str(body)[:500]


def unwrap(resp: httpx.Response) -> Any:
    """The envelope's ``data``; raises _TransientAnswer or ServerRejected for unusable answers."""
    if resp.status_code >= 500 or resp.status_code in _TRANSIENT_STATUS:
        raise _TransientAnswer(f"HTTP {resp.status_code}: {_message(resp)}")
    if resp.status_code >= 400:
        raise ServerRejected(resp.status_code, _message(resp))
    try:
        body = resp.json()
    except ValueError:
        raise _TransientAnswer(f"HTTP {resp.status_code}: answer is not JSON: {resp.text[:200]!r}") from None
    if not isinstance(body, dict) or "data" not in body:
        raise BadResponse(f"answer is not a v1 envelope: {str(body)[:200]}")
    if body.get("success") is False:
        raise ServerRejected(resp.status_code, str(body.get("message", "")))
    return body["data"]


class ServerClient:
    """Typed calls to the pilot-facing endpoints. Safe to share between the job and heartbeat threads."""

    def __init__(
        self,
        url: str,
        retry: RetryPolicy | None = None,
        *,
        timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        rng: RandomSource | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = api_base(url)
        self.retry = retry or RetryPolicy()
        self._rng: RandomSource = rng or random.Random()
        self._clock = clock
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        content: bytes | None = None,
        budget: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Any:
        """One logical call with retries; returns the envelope's data."""
        budget = self.retry.budget if budget is None else budget
        headers = {"Content-Type": "application/octet-stream"} if content is not None else None
        start = self._clock()
        attempt = 0
        while True:
            try:
                resp = self._http.request(
                    method, path, json=json, params=params, content=content, headers=headers
                )
                return unwrap(resp)
            except (httpx.TransportError, httpx.DecodingError, _TransientAnswer) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            elapsed = self._clock() - start
            delay = next_delay(attempt, elapsed, budget, self.retry.base, self.retry.cap, self._rng)
            if delay is None:
                raise ServerUnreachable(
                    f"{method} {path}: {problem} (gave up after {attempt + 1} tries in {elapsed:.1f} s)"
                )
            log.warning("%s %s failed (%s); retry %d in %.2f s", method, path, problem, attempt + 1, delay)
            self._wait(delay, cancel)
            attempt += 1

    @staticmethod
    def _wait(delay: float, cancel: threading.Event | None) -> None:
        if cancel is None:
            time.sleep(delay)
        elif cancel.wait(delay):
            raise Cancelled("stopped while waiting to retry")

    def health(self) -> bool:
        try:
            self.request("GET", paths.HEALTH, budget=0)
        except ServerError:
            return False
        return True

    def get_queue(self, name: str, *, cancel: threading.Event | None = None) -> QueueConfig:
        data = self.request("GET", paths.QUEUE_GET, params={"name": name}, cancel=cancel)
        if not isinstance(data, dict):
            raise BadResponse(f"queue answer is not an object: {data!r}")
        known = {k: v for k, v in data.items() if k in QueueConfig.model_fields}
        try:
            return QueueConfig.model_validate(known)
        except ValidationError as exc:
            raise BadResponse(f"queue {name}: {exc}") from None

    def acquire_jobs(self, req: AcquireRequest, *, cancel: threading.Event | None = None) -> AcquireResponse:
        data = self.request(
            "POST",
            paths.PILOT_ACQUIRE_JOBS,
            json=req.model_dump(mode="json", exclude_none=True),
            cancel=cancel,
        )
        try:
            return AcquireResponse.model_validate(data)
        except ValidationError as exc:
            raise BadResponse(f"acquire_jobs answer: {exc}") from None

    def update_job(
        self, req: UpdateRequest, *, budget: float | None = None, cancel: threading.Event | None = None
    ) -> UpdateResponse:
        body = req.model_dump(mode="json", exclude_none=True)
        data = self.request("POST", paths.PILOT_UPDATE_JOB, json=body, budget=budget, cancel=cancel)
        try:
            return UpdateResponse.model_validate(data)
        except ValidationError as exc:
            raise BadResponse(f"update_job answer: {exc}") from None

    def upload_log(
        self, job_id: int, attempt_nr: int, filename: str, data: bytes, *, budget: float | None = None
    ) -> None:
        params: dict[str, str | int] = {"job_id": job_id, "attempt_nr": attempt_nr, "filename": filename}
        self.request("POST", paths.FILE_UPLOAD_LOG, params=params, content=data, budget=budget)
