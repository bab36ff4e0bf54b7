"""The pilot's HTTP client for the v1 API: typed calls over protocol.http's EnvelopeClient (one retry loop,
full-jitter backoff inside a time budget). acquire_jobs with a ``request_id`` is repeat-safe (the server
answers a repeat with the jobs it already claimed for it), so its lost answers are resent with the same
body; without one a resend could claim a second batch, so it is resent only when the request never left
or the server refused it before acting. Updates and log uploads are repeat-safe and are retried on lost
answers too.
"""

from __future__ import annotations

import logging
import threading

from pydantic import ValidationError

from pandawms.protocol import paths
from pandawms.protocol.http import (
    BadResponse,
    Cancelled,
    ClientError,
    EnvelopeClient,
    HttpRetry,
    ServerRejected,
    ServerUnreachable,
    api_base,
    unwrap,
)
from pandawms.protocol.pilot import AcquireRequest, AcquireResponse, UpdateRequest, UpdateResponse
from pandawms.protocol.queues import QueueConfig

log = logging.getLogger(__name__)

ServerError = ClientError  # the pilot's name for the base class
PILOT_RETRY = HttpRetry(base=2.0, cap=120.0, budget=600.0)

__all__ = [
    "PILOT_RETRY",
    "BadResponse",
    "Cancelled",
    "HttpRetry",
    "ServerClient",
    "ServerError",
    "ServerRejected",
    "ServerUnreachable",
    "api_base",
    "unwrap",
]


class ServerClient(EnvelopeClient):
    """Typed calls to the pilot-facing endpoints. Safe to share between the job and heartbeat threads."""

    default_retry = PILOT_RETRY
    default_timeout = 60.0
    logger = log

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
            idempotent=req.request_id is not None,
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
        # a resent update is a heartbeat or alreadydone on the server, so lost answers are retried
        data = self.request(
            "POST", paths.PILOT_UPDATE_JOB, json=body, idempotent=True, budget=budget, cancel=cancel
        )
        try:
            return UpdateResponse.model_validate(data)
        except ValidationError as exc:
            raise BadResponse(f"update_job answer: {exc}") from None

    def upload_log(
        self, job_id: int, attempt_nr: int, filename: str, data: bytes, *, budget: float | None = None
    ) -> None:
        params: dict[str, str | int] = {"job_id": job_id, "attempt_nr": attempt_nr, "filename": filename}
        # the log store overwrites the same file, so a resend is harmless
        self.request(
            "POST", paths.FILE_UPLOAD_LOG, params=params, content=data, idempotent=True, budget=budget
        )
