"""The pilot's HTTP client for the v1 API: unwraps the envelope, retries transient failures (connection
errors, timeouts, 5xx, 429) with exponential backoff and full jitter inside a time budget, and raises
one error class per thing the caller should do: ServerUnreachable (retry later / exit 79) or ServerRejected.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import ValidationError

from pandawms.core.backoff import RandomSource, next_delay
from pandawms.protocol import paths
from pandawms.protocol.http import (
    BadResponse,
    Cancelled,
    ClientError,
    EnvelopeClient,
    ServerRejected,
    ServerUnreachable,
    TransientAnswer,
    api_base,
    unwrap,
)
from pandawms.protocol.pilot import AcquireRequest, AcquireResponse, UpdateRequest, UpdateResponse
from pandawms.protocol.queues import QueueConfig

log = logging.getLogger(__name__)

ServerError = ClientError  # the pilot's name for the base class

__all__ = [
    "BadResponse",
    "Cancelled",
    "RetryPolicy",
    "ServerClient",
    "ServerError",
    "ServerRejected",
    "ServerUnreachable",
    "api_base",
    "unwrap",
]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float = 2.0
    cap: float = 120.0
    budget: float = 600.0


class ServerClient(EnvelopeClient):
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
        super().__init__(url, timeout=timeout, transport=transport, rng=rng, clock=clock)
        self.retry = retry or RetryPolicy()

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
            except (httpx.TransportError, httpx.DecodingError, TransientAnswer) as exc:
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
