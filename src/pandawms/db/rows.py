"""Rows <-> core objects for ``jobs``/``job_files`` (derived from core/fields.JOB_FIELDS).

The only place that turns a service's typed values (JobChange, NewJob) into column names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pandawms.core.changes import JobChange, JobError, NewJob
from pandawms.core.fields import (
    ERROR_DIAG_LENGTH,
    METRIC_FIELDS,
    error_code_column,
    error_diag_column,
    job_from_columns,
    spec_columns,
)
from pandawms.core.specs import ErrorComponent, FileSpec, FileType, Job
from pandawms.core.updates import PilotReport

# Every new row carries the same keys, so one executemany inserts a mixed batch.
_ERROR_DEFAULTS: dict[str, Any] = {
    **{error_code_column(c): 0 for c in ErrorComponent},
    **{error_diag_column(c): "" for c in ErrorComponent},
}


def row_to_job(row: Mapping[Any, Any], files: Sequence[FileSpec] = ()) -> Job:
    return job_from_columns(row, files)


def new_job_row(job: NewJob, now: datetime, end_time: datetime | None) -> dict[str, Any]:
    """The full row of a job to create (same keys for every job)."""
    row = {
        **spec_columns(job.spec),
        **_ERROR_DEFAULTS,
        "job_status": job.status.value,
        "computing_site": job.computing_site,
        "attempt_nr": job.lineage.attempt_nr,
        "parent_id": job.lineage.parent_id,
        "relation_type": job.lineage.relation_type,
        "creation_time": now,
        "modification_time": now,
        "state_change_time": now,
        "end_time": end_time,
        "dispatch_dblock": "",
        "destination_dblock": "",
    }
    row.update(_error_columns(job.errors))
    return row


def change_columns(change: JobChange, now: datetime) -> dict[str, Any]:
    """Columns a change writes, plus the modification clock unless the change says not to."""
    cols: dict[str, Any] = {"modification_time": now} if change.touch else {}
    if change.report is not None:
        cols.update(_report_columns(change.report))
    cols.update(_error_columns(change.errors))
    if change.command is not None:
        cols["command_to_pilot"] = change.command.value
    if change.computing_site is not None:
        cols["computing_site"] = change.computing_site
    if change.dispatch_dblock is not None:
        cols["dispatch_dblock"] = change.dispatch_dblock
    if change.destination_dblock is not None:
        cols["destination_dblock"] = change.destination_dblock
    if change.start_time is not None:
        cols["start_time"] = change.start_time
    if change.end_time is not None:
        cols["end_time"] = change.end_time
    return cols


def _error_columns(errors: Sequence[JobError]) -> dict[str, Any]:
    cols: dict[str, Any] = {}
    for e in errors:
        cols[error_code_column(e.component)] = e.code
        cols[error_diag_column(e.component)] = e.diag[:ERROR_DIAG_LENGTH]
    return cols


def _report_columns(report: PilotReport) -> dict[str, Any]:
    """What an update_job writes: only what the pilot sent."""
    optional = {
        "job_sub_status": report.sub_status,
        "modification_host": report.node[:128] if report.node else None,
        "pilot_id": report.pilot_id,
        "batch_id": report.batch_id,
        "trans_exit_code": report.trans_exit_code,
        "start_time": report.start_time,
        "end_time": report.end_time,
    }
    cols = {k: v for k, v in optional.items() if v is not None}
    for comp, code in report.errors.codes.items():
        cols[error_code_column(comp)] = code
    for comp, diag in report.errors.diags.items():
        cols[error_diag_column(comp)] = diag[:ERROR_DIAG_LENGTH]
    for f in METRIC_FIELDS:
        value = getattr(report.metrics, f.attr)
        if f.column == "job_metrics":
            if value:
                cols[f.column] = value[: f.length]
        elif value is not None:
            cols[f.column] = value
    return cols


def file_to_row(panda_id: int, f: FileSpec) -> dict[str, Any]:
    return {
        "panda_id": panda_id,
        "type": f.type.value,
        "lfn": f.lfn,
        "scope": f.scope,
        "dataset": f.dataset,
        "guid": f.guid,
        "fsize": f.fsize,
        "checksum": f.checksum,
        "status": f.status,
        "destination_se": f.destination_se,
        "surl": f.surl,
    }


def row_to_file(row: Mapping[Any, Any]) -> FileSpec:
    return FileSpec(
        lfn=row["lfn"],
        type=FileType(row["type"]),
        scope=row["scope"],
        dataset=row["dataset"],
        guid=row["guid"],
        fsize=row["fsize"],
        checksum=row["checksum"],
        status=row["status"],
        destination_se=row["destination_se"],
        surl=row["surl"],
    )
