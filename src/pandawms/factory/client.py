"""The factory's HTTP client for the v1 harvester and queue endpoints: unwraps the envelope, retries transient
failures with exponential backoff and full jitter inside a time budget, and raises one error class per thing
the caller should do. add_workers is not idempotent, so it is retried only when the request never left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from pandawms.core.backoff import RandomSource, next_delay
from pandawms.protocol import paths
from pandawms.protocol.factory import (
    AddWorkersRequest,
    AddWorkersResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    UpdateWorkersRequest,
    WorkerUpdate,
    WorkerUpdateResult,
)
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
from pandawms.protocol.queues import QueueConfig

log = logging.getLogger(__name__)

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout)  # the server cannot have acted on these

FactoryClientError = ClientError  # the factory's name for the base class
Stopped = Cancelled  # the factory's name: the stop event was set while waiting to retry

__all__ = [
    "BadResponse",
    "FactoryClient",
    "FactoryClientError",
    "RetryPolicy",
    "ServerRejected",
    "ServerUnreachable",
    "Stopped",
    "api_base",
    "backoff_delay",
]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float = 1.0
    cap: float = 30.0
    budget: float = 60.0


def backoff_delay(attempt: int, elapsed: float, policy: RetryPolicy, rng: RandomSource) -> float | None:
    """Full-jitter delay before retry ``attempt`` (0-based), never past the budget; None when it is spent."""
    return next_delay(attempt, elapsed, policy.budget, policy.base, policy.cap, rng)


class FactoryClient(EnvelopeClient):
    """Typed calls to the factory-facing endpoints; one instance per factory loop (not shared by threads)."""

    def __init__(
        self,
        url: str,
        retry: RetryPolicy | None = None,
        *,
        timeout: float = 30.0,
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
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
        budget: float | None = None,
        cancel: threading.Event | None = None,
    ) -> Any:
        """One logical call with retries; returns the envelope's data."""
        policy = self.retry if budget is None else RetryPolicy(self.retry.base, self.retry.cap, budget)
        start = self._clock()
        attempt = 0
        while True:
            try:
                return unwrap(self._http.request(method, path, json=json, params=params))
            except _NOT_SENT as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except (httpx.TransportError, httpx.DecodingError, TransientAnswer) as exc:
                if not idempotent:
                    raise ServerUnreachable(f"{method} {path}: {exc} (not retried: not idempotent)") from exc
                problem = f"{type(exc).__name__}: {exc}"
            elapsed = self._clock() - start
            delay = backoff_delay(attempt, elapsed, policy, self._rng)
            if delay is None:
                raise ServerUnreachable(
                    f"{method} {path}: {problem} ({attempt + 1} tries in {elapsed:.1f} s)"
                )
            log.warning("%s %s failed (%s); retry %d in %.2f s", method, path, problem, attempt + 1, delay)
            if cancel is None:
                time.sleep(delay)
            elif cancel.wait(delay):
                raise Stopped(f"{method} {path}: stopped while waiting to retry")
            attempt += 1

    def get_queue(self, name: str, *, cancel: threading.Event | None = None) -> QueueConfig:
        data = self.request("GET", paths.QUEUE_GET, params={"name": name}, cancel=cancel)
        if not isinstance(data, dict):
            raise BadResponse(f"queue answer is not an object: {data!r}")
        known = {k: v for k, v in data.items() if k in QueueConfig.model_fields}
        try:
            return QueueConfig.model_validate(known)
        except ValueError as exc:  # pydantic's ValidationError
            raise BadResponse(f"queue {name}: {exc}") from None

    def add_workers(
        self, req: AddWorkersRequest, *, cancel: threading.Event | None = None
    ) -> AddWorkersResponse:
        body = req.model_dump(exclude_none=True)
        # with a request_id a repeat gets the first call's workers, so a lost answer may be retried
        idempotent = req.request_id is not None
        path = paths.HARVESTER_ADD_WORKERS
        data = self.request("POST", path, json=body, idempotent=idempotent, cancel=cancel)
        try:
            return AddWorkersResponse.model_validate(data)
        except ValueError as exc:  # pydantic's ValidationError
            raise BadResponse(f"add_workers answer: {exc}") from None

    def update_workers(
        self,
        harvester_id: str,
        updates: Sequence[WorkerUpdate],
        *,
        budget: float | None = None,
        cancel: threading.Event | None = None,
    ) -> list[WorkerUpdateResult]:
        body = UpdateWorkersRequest(harvester_id=harvester_id, workers=list(updates)).model_dump()
        path = paths.HARVESTER_UPDATE_WORKERS
        data = self.request("POST", path, json=body, budget=budget, cancel=cancel)
        if not isinstance(data, list):
            raise BadResponse(f"update_workers answer is not a list: {str(data)[:200]}")
        try:
            return [WorkerUpdateResult.model_validate(item) for item in data]
        except ValueError as exc:  # pydantic's ValidationError
            raise BadResponse(f"update_workers answer: {exc}") from None

    def heartbeat(self, req: HeartbeatRequest, *, cancel: threading.Event | None = None) -> HeartbeatResponse:
        data = self.request("POST", paths.HARVESTER_HEARTBEAT, json=req.model_dump(), cancel=cancel)
        try:
            return HeartbeatResponse.model_validate(data)
        except ValueError as exc:  # pydantic's ValidationError
            raise BadResponse(f"heartbeat answer: {exc}") from None

    def get_worker_stats(
        self, queue: str | None = None, *, cancel: threading.Event | None = None
    ) -> dict[str, dict[str, int]]:
        params = {"queue": queue} if queue is not None else None
        data = self.request("GET", paths.HARVESTER_GET_WORKER_STATS, params=params, cancel=cancel)
        return _stats(data)


def _stats(data: object) -> dict[str, dict[str, int]]:
    if not isinstance(data, dict):
        raise BadResponse(f"get_worker_stats answer is not an object: {str(data)[:200]}")
    out: dict[str, dict[str, int]] = {}
    for queue, counts in data.items():
        if not isinstance(counts, dict) or not all(isinstance(n, int) for n in counts.values()):
            raise BadResponse(f"get_worker_stats: bad counts for {queue!r}: {counts!r}")
        out[str(queue)] = {str(k): int(v) for k, v in counts.items()}
    return out
