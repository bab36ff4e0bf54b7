"""Typed HTTP client for the user-facing API v1 (jobs, queues, logs), used by the ``panda`` commands.

Every answer is the v1 envelope; a refusal becomes ``PandaClientError`` carrying the server's message and
HTTP status (``status is None``: the server could not be reached). Connection failures and 503 answers are
retried with backoff; nothing here reads the environment (the command resolves the URL and passes it in).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from pandawms.protocol import paths
from pandawms.protocol.jobs import JobActionResult, JobDescription, JobPage, JobSubmission, SubmittedJob
from pandawms.protocol.status import JobStatusEntry

DEFAULT_SERVER = "http://127.0.0.1:25080"
SERVER_ENV = "PANDA_URL"
# Real PanDA's PANDA_URL ends in /server/panda while v1 calls go to <host>/api/v1: accept both forms.
_LEGACY_PATH = "/server/panda"
SUBMIT_BATCH = 10_000
_RETRY_STATUSES = frozenset({502, 503, 504})

T = TypeVar("T")


class PandaClientError(Exception):
    """The call failed: ``status`` is the HTTP status, or None when the server could not be reached."""

    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @property
    def unreachable(self) -> bool:
        return self.status is None or self.status in _RETRY_STATUSES


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


class PandaClient:
    """One server; use as a context manager so the connection pool is closed."""

    def __init__(
        self,
        api_url: str,
        timeout: float = 30.0,
        *,
        retries: int = 3,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._retries = retries
        self._backoff = backoff
        self._sleep = sleep
        self._http = httpx.Client(base_url=self.api_url, timeout=timeout, transport=transport)

    def __enter__(self) -> PandaClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- jobs -------------------------------------------------------------------------------------

    def submit(self, jobs: Sequence[JobSubmission]) -> list[SubmittedJob]:
        """Submit in calls of at most SUBMIT_BATCH jobs (each call is all-or-nothing on the server)."""
        out: list[SubmittedJob] = []
        for start in range(0, len(jobs), SUBMIT_BATCH):
            chunk = jobs[start : start + SUBMIT_BATCH]
            body = {"jobs": [j.model_dump(by_alias=True, exclude_unset=True, mode="json") for j in chunk]}
            out.extend(self._data(list[SubmittedJob], self._call("POST", paths.JOB_SUBMIT, json=body)))
        return out

    def list_jobs(self, selection: JobFilter) -> JobPage:
        return self._data(JobPage, self._call("GET", paths.JOB_LIST, params=selection.params()))

    def describe(self, job_id: int) -> JobDescription:
        resp = self._call("GET", paths.JOB_GET_DESCRIPTION, params={"job_id": job_id})
        return self._data(JobDescription, resp)

    def get_status(self, job_ids: Sequence[int]) -> list[JobStatusEntry]:
        resp = self._call("GET", paths.JOB_GET_STATUS, params={"job_ids": list(job_ids)})
        return self._data(list[JobStatusEntry], resp)

    def kill(self, job_ids: Sequence[int], code: int = 3, reason: str = "") -> list[JobActionResult]:
        body = {"job_ids": list(job_ids), "code": code, "reason": reason}
        return self._data(list[JobActionResult], self._call("POST", paths.JOB_KILL, json=body))

    def retry(self, job_ids: Sequence[int]) -> list[JobActionResult]:
        body = {"job_ids": list(job_ids)}
        return self._data(list[JobActionResult], self._call("POST", paths.JOB_RETRY, json=body))

    def reassign(self, job_ids: Sequence[int], site: str | None = None) -> list[JobActionResult]:
        body = {"job_ids": list(job_ids), "site": site}
        return self._data(list[JobActionResult], self._call("POST", paths.JOB_REASSIGN, json=body))

    def download_log(self, job_id: int) -> bytes:
        """The job's log tarball (tar.gz bytes)."""
        return self._call("GET", paths.FILE_DOWNLOAD_LOG, params={"job_id": job_id}).content

    # --- queues -----------------------------------------------------------------------------------

    def list_queues(self) -> list[QueueSummary]:
        return self._data(list[QueueSummary], self._call("GET", paths.QUEUE_LIST))

    def set_queue_status(self, name: str, status: str) -> QueueSummary:
        body = {"name": name, "status": status}
        return self._data(QueueSummary, self._call("POST", paths.QUEUE_SET_STATUS, json=body))

    # --- transport --------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; return a 2xx response or raise PandaClientError."""
        for attempt in range(self._retries + 1):
            last = attempt == self._retries
            try:
                resp = self._http.request(method, path, **kwargs)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the server, so even a POST is safe to resend.
                if last:
                    raise PandaClientError(
                        f"cannot reach the server at {self.api_url}: {exc}", None
                    ) from None
            except (httpx.ReadTimeout, httpx.RemoteProtocolError) as exc:
                if method != "GET":
                    msg = f"no answer from {self.api_url}{path} (the request may have been applied): {exc}"
                    raise PandaClientError(msg, None) from None
                if last:
                    raise PandaClientError(f"no answer from {self.api_url}{path}: {exc}", None) from None
            except httpx.HTTPError as exc:
                raise PandaClientError(f"request to {self.api_url}{path} failed: {exc}", None) from None
            else:
                if resp.status_code not in _RETRY_STATUSES or last:
                    return _checked(resp, path)
            self._sleep(self._backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _data(self, model: type[T], resp: httpx.Response) -> T:
        try:
            payload = resp.json()
            return TypeAdapter(model).validate_python(payload["data"])
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            where = resp.request.url.path
            raise PandaClientError(f"unexpected answer from {where}: {exc}", resp.status_code) from None


def _checked(resp: httpx.Response, path: str) -> httpx.Response:
    if resp.is_success:
        return resp
    raise PandaClientError(_error_message(resp, path), resp.status_code)


def _error_message(resp: httpx.Response, path: str) -> str:
    """The envelope's message, else a short excerpt of whatever came back."""
    try:
        payload = resp.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("detail")
        if message:
            return str(message)
    excerpt = resp.text.strip()[:200] or resp.reason_phrase
    return f"HTTP {resp.status_code} from {path}: {excerpt}"
