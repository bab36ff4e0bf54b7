"""Builds the update_job requests a job sends (starting, running heartbeats, the final update) from the
job, its state and its usage, and parks final updates on disk until the server has acknowledged them.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pandawms.pilot.state import JobState
from pandawms.protocol.pilot import MAX_REPORT_TEXT, OutputFileReport, PilotJob, UpdateRequest

log = logging.getLogger(__name__)


def format_time(epoch: float) -> str:
    """'YYYY-MM-DD HH:MM:SS' in UTC, the format update_job expects."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is reporting: the pilot, its node and queue."""

    site_name: str
    node: str
    pilot_id: str
    batch_id: str | None = None  # the batch job the pilot runs in (links worker, batch job and job)


@dataclass(frozen=True, slots=True)
class Usage:
    """Resource use of the payload as reported (kB, s)."""

    max_rss_kb: int = 0
    max_pss_kb: int = 0
    max_vmem_kb: int = 0
    avg_rss_kb: int = 0
    avg_pss_kb: int = 0
    cpu_time_s: float = 0.0
    max_processes: int = 0
    workdir_mb: int = 0


def job_metrics(core_count: int, usage: Usage) -> str:
    """PanDA's space-separated ``k=v`` jobMetrics string."""
    return f"actualCoreCount={core_count} workDirSize={usage.workdir_mb} maxNProcesses={usage.max_processes}"


def _usage_fields(job: PilotJob, usage: Usage | None) -> dict[str, int | str]:
    if usage is None:
        return {}
    core_count = max(job.core_count, 1)
    return {
        "core_count": core_count,
        "cpu_consumption_time": round(usage.cpu_time_s),
        "max_rss": usage.max_rss_kb,
        "max_pss": usage.max_pss_kb,
        "max_vmem": usage.max_vmem_kb,
        "avg_rss": usage.avg_rss_kb,
        "avg_pss": usage.avg_pss_kb,
        "job_metrics": job_metrics(core_count, usage),
    }


def progress_update(
    job: PilotJob, status: str, who: Identity, started: float | None, usage: Usage | None = None
) -> UpdateRequest:
    """A 'starting' or 'running' update (the heartbeat)."""
    return UpdateRequest.model_validate(
        {
            "job_id": job.panda_id,
            "job_status": status,
            "attempt_nr": job.attempt_nr,
            "site_name": who.site_name,
            "node": who.node,
            "pilot_id": who.pilot_id,
            "batch_id": who.batch_id,
            "start_time": format_time(started) if started is not None else None,
            **_usage_fields(job, usage),
        }
    )


JOB_REPORT = "jobReport.json"  # the payload's job report (ATLAS transforms write it in the work dir)


def job_report(workdir: Path) -> dict[str, Any] | None:
    """The payload's job report, sent as the update's metadata; None if absent, unreadable or too big."""
    path = workdir / JOB_REPORT
    try:
        if path.stat().st_size > MAX_REPORT_TEXT:
            log.warning("%s is over %d bytes: not sent", path, MAX_REPORT_TEXT)
            return None
        data = json.loads(path.read_text(errors="replace"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("cannot read %s: %s", path, exc)
        return None
    return data if isinstance(data, dict) else {"report": data}


def report_events(report: dict[str, Any] | None) -> int | None:
    """The events the payload processed, from its job report (the final update's nEvents): a top-level
    ``nevents``, else ``resource.executor``'s (one executor, or the most of its steps, as ATLAS
    transforms write it); None when the report does not say."""
    if report is None:
        return None
    found = _events(report)
    if found is not None:
        return found
    resource = report.get("resource")
    executor = resource.get("executor") if isinstance(resource, dict) else None
    if not isinstance(executor, dict):
        return None
    steps = [n for step in executor.values() if isinstance(step, dict) and (n := _events(step)) is not None]
    direct = _events(executor)
    return direct if direct is not None else max(steps, default=None)


def _events(table: dict[str, Any]) -> int | None:
    n = table.get("nevents")
    return n if isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**63 else None


def final_update(
    job: PilotJob,
    state: JobState,
    who: Identity,
    times: tuple[float, float],
    usage: Usage | None,
    outputs: dict[str, OutputFileReport],
    report: dict[str, Any] | None = None,
) -> UpdateRequest:
    """The final 'finished' / 'failed' update: first pilot error, exit code, metrics, the file report,
    the payload's job report (metadata) and the events it says were processed (nEvents, what the scouts
    measure per event)."""
    error = state.first_error
    started, ended = times
    diags = "; ".join(f"{e.code}: {e.diag}" for e in state.errors[1:])
    return UpdateRequest.model_validate(
        {
            "job_id": job.panda_id,
            "job_status": state.final_status,
            "attempt_nr": job.attempt_nr,
            "site_name": who.site_name,
            "node": who.node,
            "pilot_id": who.pilot_id,
            "batch_id": who.batch_id,
            "start_time": format_time(started),
            "end_time": format_time(ended),
            "trans_exit_code": state.trans_exit_code,
            "pilot_error_code": error.code if error else 0,
            "pilot_error_diag": error.diag if error else None,
            "pilot_log": f"later errors: {diags}"[:1024] if diags else None,
            "job_output_report": outputs or None,
            "meta_data": report,
            "n_events": report_events(report),
            **_usage_fields(job, usage),
        }
    )


class PendingUpdates:
    """Final updates written to disk before they are sent and removed once the server acknowledged them,
    so a lost final update can be re-sent by the next pilot started in the same work dir."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, req: UpdateRequest) -> Path:
        return self.folder / f"final-{req.job_id}-{req.attempt_nr or 0}.json"

    def save(self, req: UpdateRequest) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(req)
        tmp = path.with_name(f".{path.name}.part")
        tmp.write_text(json.dumps(req.model_dump(mode="json", exclude_none=True), indent=1))
        os.replace(tmp, path)
        return path

    def remove(self, req: UpdateRequest) -> None:
        self._path(req).unlink(missing_ok=True)

    def reject(self, req: UpdateRequest) -> None:
        """Keep a refused update for a human but stop re-sending it."""
        path = self._path(req)
        if path.exists():
            os.replace(path, path.with_name("rejected-" + path.name))

    def load_all(self) -> list[UpdateRequest]:
        found: list[UpdateRequest] = []
        for path in sorted(self.folder.glob("final-*.json")):
            try:
                found.append(UpdateRequest.model_validate_json(path.read_text()))
            except (OSError, ValidationError) as exc:
                log.error("unreadable parked final update %s: %s", path, exc)
        return found
