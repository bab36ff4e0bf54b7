"""The reads panda-client needs beyond pandawms's own API, and its sandbox store.

Jobs with their files and job reports (job/get_description as PanDA answers it), the job reports of a
task's finished jobs (job/get_metadata_for_analysis_jobs), and the user's sandbox tarballs
(file_server/upload_cache_file): ``<data_dir>/cache/<name>``, written to a temp file then renamed so a
job fetching ``<sourceURL>/cache/<name>`` never sees half a tarball.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from pandawms.core.errors import InvalidInput, NotFound
from pandawms.core.specs import Job
from pandawms.core.states import JobStatus
from pandawms.db import job_reports as reports_db
from pandawms.db import jobs as jobs_db
from pandawms.db import tasks as tasks_db


@dataclass(frozen=True, slots=True)
class JobWithReport:
    job: Job
    meta_data: str


def jobs_with_files(conn: Connection, ids: Sequence[int]) -> dict[int, JobWithReport]:
    """The jobs among ``ids`` with their files and the payload's job report (unknown ids absent)."""
    found = jobs_db.get_jobs(conn, list(ids), with_files=True)
    out = {}
    for job in found:
        report = reports_db.report_texts(conn, int(job.panda_id))
        out[int(job.panda_id)] = JobWithReport(job, report.meta_data if report else "")
    return out


def task_metadata(conn: Connection, task_id: int) -> dict[int, str]:
    """The job report of each finished job of the task that sent one (PanDA's getUserJobMetadata)."""
    if tasks_db.get_task(conn, task_id) is None:
        raise NotFound(f"task {task_id} not found")
    ids = tasks_db.job_ids(conn, task_id)
    out: dict[int, str] = {}
    for job in jobs_db.get_jobs(conn, ids):
        if job.status is not JobStatus.FINISHED:
            continue
        report = reports_db.report_texts(conn, int(job.panda_id))
        if report is not None and report.meta_data:
            out[int(job.panda_id)] = report.meta_data
    return out


class SandboxStore:
    """User sandboxes by file name (prun's ``sources.<uuid>.tar.gz``); a name is written once per
    content: the same name uploaded again replaces it (PanDA's cache does the same)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _path(self, name: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.+\-]{1,200}", name) or name.startswith("."):
            raise InvalidInput(f"file: {name!r} is not a plain file name", "file")
        return self.root / name

    def write(self, name: str, data: bytes) -> Path:
        path = self._path(name)
        if not data:
            raise InvalidInput("file: the uploaded file is empty", "file")
        if len(data) > self.max_bytes:
            raise InvalidInput(f"file: {len(data)} bytes is over the {self.max_bytes} byte limit", "file")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def find(self, name: str) -> Path:
        path = self._path(name)
        if not path.is_file():
            raise NotFound(f"cache file {name} not found")
        return path
