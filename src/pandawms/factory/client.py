"""The factory's HTTP client for the v1 harvester and queue endpoints: typed calls over protocol.http's
EnvelopeClient (one retry loop, full-jitter backoff inside a time budget). add_workers is idempotent only
with a request_id (a repeat gets the first grant); without one it is resent only when the request never
left or the server refused it before acting. Worker updates and heartbeats are repeat-safe.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

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
    HttpRetry,
    ServerRejected,
    ServerUnreachable,
    api_base,
)
from pandawms.protocol.queues import QueueConfig

log = logging.getLogger(__name__)

FactoryClientError = ClientError  # the factory's name for the base class
Stopped = Cancelled  # the factory's name: the stop event was set while waiting to retry
FACTORY_RETRY = HttpRetry(base=1.0, cap=30.0, budget=60.0)

__all__ = [
    "FACTORY_RETRY",
    "BadResponse",
    "FactoryClient",
    "FactoryClientError",
    "HttpRetry",
    "ServerRejected",
    "ServerUnreachable",
    "Stopped",
    "api_base",
]


class FactoryClient(EnvelopeClient):
    """Typed calls to the factory-facing endpoints; one instance per factory loop."""

    default_retry = FACTORY_RETRY
    default_timeout = 30.0
    logger = log

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
        data = self.request("POST", path, json=body, idempotent=True, budget=budget, cancel=cancel)
        if not isinstance(data, list):
            raise BadResponse(f"update_workers answer is not a list: {str(data)[:200]}")
        try:
            return [WorkerUpdateResult.model_validate(item) for item in data]
        except ValueError as exc:  # pydantic's ValidationError
            raise BadResponse(f"update_workers answer: {exc}") from None

    def heartbeat(self, req: HeartbeatRequest, *, cancel: threading.Event | None = None) -> HeartbeatResponse:
        body = req.model_dump(mode="json")  # batch errors carry times
        data = self.request("POST", paths.HARVESTER_HEARTBEAT, json=body, idempotent=True, cancel=cancel)
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
