"""Typed HTTP client for the user-facing API v1 (jobs, queues, logs), used by the ``panda`` commands.

Every answer is the v1 envelope; calls go through protocol.http's EnvelopeClient (the pilot's and factory's
retry loop: connection failures and the server's busy answers are retried with full-jitter backoff, lost
answers only for reads). Any failure becomes ``PandaClientError`` carrying the server's message and HTTP
status (``status is None``: no answer). Nothing here reads the environment (the command resolves the URL).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from pandawms.core.backoff import RandomSource
from pandawms.core.tasks import TaskCommand
from pandawms.protocol import paths
from pandawms.protocol.bounds import MAX_QUERY_IDS
from pandawms.protocol.http import (
    RESENDABLE_STATUS,
    BadResponse,
    ClientError,
    EnvelopeClient,
    Failure,
    HttpRetry,
    Pause,
    ServerRejected,
    ServerUnreachable,
    TokenSource,
    checked,
)
from pandawms.protocol.jobs import JobActionResult, JobDescription, JobPage, JobSubmission, SubmittedJob
from pandawms.protocol.status import JobStatusEntry
from pandawms.protocol.task_commands import TaskCommandAnswer, TaskCommandRequest
from pandawms.protocol.task_records import SubmitTaskAnswer, TaskListPage, TaskRecord

DEFAULT_SERVER = "http://127.0.0.1:25080"
SERVER_ENV = "PANDA_URL"
# Real PanDA's PANDA_URL ends in /server/panda while v1 calls go to <host>/api/v1: accept both forms.
_LEGACY_PATH = "/server/panda"
SUBMIT_BATCH = 10_000
CLI_RETRY_CAP = 4.0  # s, largest single delay: a person is waiting
CLI_RETRY_BUDGET = 20.0  # s a command's call may spend retrying before it reports the server unreachable

T = TypeVar("T")


class PandaClientError(Exception):
    """The call failed: ``status`` is the HTTP status, or None when the server could not be reached."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def unreachable(self) -> bool:
        return self.status is None or self.status in RESENDABLE_STATUS


def resolve_server(option: str | None, env: Mapping[str, str]) -> str:
    """``--server`` > ``PANDA_URL`` > the local default; returns the API root (``.../api/v1``).

    Raises ValueError naming the source of a malformed URL.
    """
    source, value = "--server", option
    if not value:
        source, value = SERVER_ENV, env.get(SERVER_ENV, "")
    if not value:
        source, value = "default", DEFAULT_SERVER
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{source}: {value!r} is not an http(s):// URL")
    path = parts.path.rstrip("/")
    if path.endswith(_LEGACY_PATH):
        path = path[: -len(_LEGACY_PATH)]
    if not path.endswith(paths.API_PREFIX):
        path += paths.API_PREFIX
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class QueueSummary(BaseModel):
    """A queue from /queue/list: its configuration plus job counts by status."""

    model_config = ConfigDict(extra="ignore")
    name: str
    status: str
    site: str = ""
    cores: int = 1
    max_memory_per_core: int = 0
    max_walltime: int = 0
    max_disk: int = 0
    max_running: int = 0
    max_queued: int = 0
    description: str = ""
    jobs: dict[str, int] = Field(default_factory=dict)
    recent: dict[str, int] = Field(default_factory=dict)  # ended in the last 12 h, by final status


@dataclass(frozen=True)
class JobFilter:
    """Selection for /job/list; tuples become comma-separated values."""

    statuses: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    hours: float | None = None
    limit: int = 100
    before_id: int | None = None

    def params(self) -> dict[str, str]:
        multi = {"status": self.statuses, "queue": self.queues, "user": self.users, "label": self.labels}
        out = {k: ",".join(v) for k, v in multi.items() if v}
        if self.hours is not None:
            out["hours"] = str(self.hours)
        if self.before_id is not None:
            out["before_id"] = str(self.before_id)
        out["limit"] = str(self.limit)
        return out


@dataclass(frozen=True)
class TaskFilter:
    """Selection for /task/list; tuples become comma-separated values, ``name`` may be a glob."""

    statuses: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    name: str = ""
    limit: int = 100
    before_id: int | None = None

    def params(self) -> dict[str, str]:
        multi = {"status": self.statuses, "user": self.users, "label": self.labels}
        out = {k: ",".join(v) for k, v in multi.items() if v}
        if self.name:
            out["name"] = self.name
        if self.before_id is not None:
            out["before_id"] = str(self.before_id)
        out["limit"] = str(self.limit)
        return out


TASK_COMMAND_PATHS: dict[TaskCommand, str] = {
    TaskCommand.KILL: paths.TASK_KILL,
    TaskCommand.FINISH: paths.TASK_FINISH,
    TaskCommand.RETRY: paths.TASK_RETRY,
    TaskCommand.PAUSE: paths.TASK_PAUSE,
    TaskCommand.RESUME: paths.TASK_RESUME,
    TaskCommand.REASSIGN: paths.TASK_REASSIGN,
    TaskCommand.AVALANCHE: paths.TASK_AVALANCHE,
}


class PandaClient(EnvelopeClient):
    """One server; use as a context manager so the connection pool is closed. ``retries`` resends after
    the first try, ``backoff`` the first delay bound (doubling, full jitter, at most CLI_RETRY_CAP)."""

    def __init__(
        self,
        api_url: str,
        timeout: float = 30.0,
        *,
        retries: int = 3,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        rng: RandomSource | None = None,
        auth: TokenSource | None = None,
        verify: bool | str = True,
        client_cert: str | None = None,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        retry = HttpRetry(backoff, CLI_RETRY_CAP, CLI_RETRY_BUDGET, attempts=retries + 1)
        super().__init__(
            api_url,
            retry,
            timeout=timeout,
            transport=transport,
            rng=rng,
            pause=_sleeping(sleep),
            auth=auth,
            verify=verify,
            client_cert=client_cert,
        )
        self.api_url = self.base_url

    # --- jobs -------------------------------------------------------------------------------------

    def submit(self, jobs: Sequence[JobSubmission]) -> list[SubmittedJob]:
        """Submit in calls of at most SUBMIT_BATCH jobs (each call is all-or-nothing on the server)."""
        out: list[SubmittedJob] = []
        for start in range(0, len(jobs), SUBMIT_BATCH):
            chunk = jobs[start : start + SUBMIT_BATCH]
            body = {"jobs": [j.model_dump(by_alias=True, exclude_unset=True, mode="json") for j in chunk]}
            out.extend(self._call(list[SubmittedJob], "POST", paths.JOB_SUBMIT, json=body))
        return out

    def list_jobs(self, selection: JobFilter) -> JobPage:
        return self._call(JobPage, "GET", paths.JOB_LIST, params=selection.params())

    def describe(self, job_id: int) -> JobDescription:
        return self._call(JobDescription, "GET", paths.JOB_GET_DESCRIPTION, params={"job_id": job_id})

    def get_status(self, job_ids: Sequence[int]) -> list[JobStatusEntry]:
        """Statuses in calls of at most MAX_QUERY_IDS ids (the ids travel in the URL)."""
        out: list[JobStatusEntry] = []
        for start in range(0, len(job_ids), MAX_QUERY_IDS):
            params = {"job_ids": list(job_ids[start : start + MAX_QUERY_IDS])}
            out += self._call(list[JobStatusEntry], "GET", paths.JOB_GET_STATUS, params=params)
        return out

    # kill, retry and reassign are not resent once they may have arrived: a second retry makes a second
    # job, and a repeated kill would report "already final" for the jobs the first one killed

    def kill(self, job_ids: Sequence[int], code: int = 3, reason: str = "") -> list[JobActionResult]:
        body = {"job_ids": list(job_ids), "code": code, "reason": reason}
        return self._call(list[JobActionResult], "POST", paths.JOB_KILL, json=body)

    def retry(self, job_ids: Sequence[int]) -> list[JobActionResult]:
        body = {"job_ids": list(job_ids)}
        return self._call(list[JobActionResult], "POST", paths.JOB_RETRY, json=body)

    def reassign(self, job_ids: Sequence[int], site: str | None = None) -> list[JobActionResult]:
        body = {"job_ids": list(job_ids), "site": site}
        return self._call(list[JobActionResult], "POST", paths.JOB_REASSIGN, json=body)

    def download_log(self, job_id: int) -> bytes:
        """The job's log tarball (tar.gz bytes)."""
        params = {"job_id": job_id}
        try:
            body: bytes = self.request("GET", paths.FILE_DOWNLOAD_LOG, params=params, decode=_content)
            return body
        except ClientError as exc:
            raise self._error(exc, paths.FILE_DOWNLOAD_LOG) from None

    # --- queues -----------------------------------------------------------------------------------

    def list_queues(self) -> list[QueueSummary]:
        return self._call(list[QueueSummary], "GET", paths.QUEUE_LIST)

    def set_queue_status(self, name: str, status: str) -> QueueSummary:
        body = {"name": name, "status": status}  # setting a value twice is harmless: resent on a lost answer
        return self._call(QueueSummary, "POST", paths.QUEUE_SET_STATUS, json=body, idempotent=True)

    # --- tasks (protocol/task_records.py, protocol/task_commands.py) ------------------------------------

    def submit_task(self, params: Mapping[str, Any]) -> SubmitTaskAnswer:
        """Not resent after a lost answer: the repeat would be refused as a duplicate taskName."""
        return self._call(SubmitTaskAnswer, "POST", paths.TASK_SUBMIT, json=params)

    def task_details(self, task_id: int) -> TaskRecord:
        return self._call(TaskRecord, "GET", paths.TASK_GET_DETAILS, params={"task_id": task_id})

    def list_tasks(self, selection: TaskFilter) -> TaskListPage:
        return self._call(TaskListPage, "GET", paths.TASK_LIST, params=selection.params())

    def task_command(self, command: TaskCommand, request: TaskCommandRequest) -> TaskCommandAnswer:
        """Queue a command (asynchronous: the answer says it was accepted, not that it is done)."""
        body = request.model_dump(by_alias=True, exclude_defaults=True, mode="json")
        return self._call(TaskCommandAnswer, "POST", TASK_COMMAND_PATHS[command], json=body)

    # --- data catalog (each call is idempotent but delete: a repeat finds the DID gone) -------------

    def catalog(self, model: type[T], path: str, body: Mapping[str, Any], *, idempotent: bool = True) -> T:
        """POST a catalog request (protocol/data.py, protocol/rses.py models) and validate the answer."""
        return self._call(model, "POST", path, json=body, idempotent=idempotent)

    def catalog_get(self, model: type[T], path: str, **params: Any) -> T:
        return self._call(model, "GET", path, params={k: v for k, v in params.items() if v is not None})

    # --- transport --------------------------------------------------------------------------------

    def _call(
        self,
        model: type[T],
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> T:
        """Send with retries and validate the envelope's data as ``model``; raises PandaClientError."""
        try:
            data = self.request(method, path, json=json, params=params, idempotent=idempotent)
            return TypeAdapter(model).validate_python(data)
        except ValidationError as exc:
            raise PandaClientError(f"unexpected answer from {self._where(path)}: {exc}", 200) from None
        except ClientError as exc:
            raise self._error(exc, path) from None

    def _where(self, path: str) -> str:
        return urlsplit(self.api_url).path + path

    def _error(self, exc: ClientError, path: str) -> PandaClientError:
        """The one-line message a user reads, and the status the exit code is chosen by."""
        if isinstance(exc, ServerRejected):
            return PandaClientError(exc.message, exc.status_code)
        if isinstance(exc, BadResponse):
            return PandaClientError(f"unexpected answer from {self._where(path)}: {exc}", 200)
        if not isinstance(exc, ServerUnreachable):
            return PandaClientError(f"request to {self.api_url}{path} failed: {exc}", None)
        if exc.status_code is not None:
            return PandaClientError(exc.detail, exc.status_code)
        if exc.failure is Failure.NOT_SENT:
            return PandaClientError(f"cannot reach the server at {self.api_url}: {exc.detail}", None)
        if exc.failure is not Failure.LOST:
            return PandaClientError(f"request to {self.api_url}{path} failed: {exc.detail}", None)
        applied = "" if exc.idempotent else " (the request may have been applied)"
        return PandaClientError(f"no answer from {self.api_url}{path}{applied}: {exc.detail}", None)


def _content(resp: httpx.Response) -> bytes:
    return checked(resp).content


def _sleeping(sleep: Callable[[float], None]) -> Pause:
    """A Pause for a command: it has no stop event (Ctrl-C interrupts the sleep itself)."""

    def pause(seconds: float, _cancel: threading.Event | None) -> bool:
        sleep(seconds)
        return False

    return pause
