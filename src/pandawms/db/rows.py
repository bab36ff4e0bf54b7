"""Conversion between ``jobs``/``job_files`` rows and the frozen core objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pandawms.core.ids import PandaID, QueueName
from pandawms.core.specs import (
    ErrorComponent,
    FileSpec,
    FileType,
    Job,
    JobErrors,
    JobMetrics,
    JobSpec,
    ProdSourceLabel,
    ResourceRequest,
)
from pandawms.core.states import JobStatus
from pandawms.core.updates import PilotReport

METRIC_COLUMNS = (
    "cpu_consumption_time",
    "max_rss",
    "max_pss",
    "max_vmem",
    "max_swap",
    "avg_rss",
    "avg_pss",
    "actual_core_count",
    "n_events",
)


def spec_to_row(spec: JobSpec) -> dict[str, Any]:
    """The columns a JobSpec fills (status, ids and times are added by the caller)."""
    r = spec.resources
    return {
        "job_name": spec.job_name,
        "transformation": spec.transformation,
        "job_parameters": spec.job_parameters,
        "prod_source_label": spec.prod_source_label.value,
        "prod_user_name": spec.prod_user_name,
        "current_priority": spec.current_priority,
        "relocation_flag": 1 if spec.computing_site else 0,
        "included_sites": ",".join(spec.included_sites),
        "excluded_sites": ",".join(spec.excluded_sites),
        "min_ram_count": r.memory,
        "core_count": r.cores,
        "max_walltime": r.walltime,
        "max_disk_count": r.disk,
        "max_attempt": spec.max_attempt,
        "task_id": spec.task_id,
        "jobset_id": spec.jobset_id,
    }


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


def _split(value: str) -> tuple[str, ...]:
    return tuple(s for s in value.split(",") if s)


def row_to_job(row: Mapping[Any, Any], files: Sequence[FileSpec] = ()) -> Job:
    spec = JobSpec(
        transformation=row["transformation"],
        job_name=row["job_name"],
        job_parameters=row["job_parameters"],
        prod_source_label=ProdSourceLabel(row["prod_source_label"]),
        prod_user_name=row["prod_user_name"],
        current_priority=row["current_priority"],
        computing_site=row["computing_site"] if row["relocation_flag"] == 1 else None,
        included_sites=_split(row["included_sites"]),
        excluded_sites=_split(row["excluded_sites"]),
        resources=ResourceRequest(
            memory=row["min_ram_count"],
            cores=row["core_count"],
            walltime=row["max_walltime"],
            disk=row["max_disk_count"],
        ),
        max_attempt=row["max_attempt"],
        task_id=row["task_id"],
        jobset_id=row["jobset_id"],
        files=tuple(files),
    )
    codes = {c: row[f"{c.value}_error_code"] for c in ErrorComponent if row[f"{c.value}_error_code"]}
    diags = {c: row[f"{c.value}_error_diag"] for c in ErrorComponent if row[f"{c.value}_error_diag"]}
    metrics = JobMetrics(**{k: row[k] for k in METRIC_COLUMNS}, job_metrics=row["job_metrics"])
    return Job(
        panda_id=PandaID(row["panda_id"]),
        spec=spec,
        status=JobStatus(row["job_status"]),
        attempt_nr=row["attempt_nr"],
        parent_id=PandaID(row["parent_id"]) if row["parent_id"] is not None else None,
        relation_type=row["relation_type"],
        computing_site=QueueName(row["computing_site"]) if row["computing_site"] else None,
        command_to_pilot=row["command_to_pilot"],
        job_sub_status=row["job_sub_status"],
        creation_time=row["creation_time"],
        modification_time=row["modification_time"],
        state_change_time=row["state_change_time"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        modification_host=row["modification_host"],
        pilot_id=row["pilot_id"],
        batch_id=row["batch_id"],
        errors=JobErrors(codes=codes, diags=diags),
        metrics=metrics,
        trans_exit_code=row["trans_exit_code"],
        files=tuple(files),
    )


def report_columns(report: PilotReport, now: datetime) -> dict[str, Any]:
    """Columns an update_job writes: only what the pilot sent, plus the heartbeat clock."""
    cols: dict[str, Any] = {"modification_time": now}
    optional = {
        "job_sub_status": report.sub_status,
        "modification_host": report.node[:128] if report.node else None,
        "pilot_id": report.pilot_id,
        "batch_id": report.batch_id,
        "trans_exit_code": report.trans_exit_code,
        "start_time": report.start_time,
        "end_time": report.end_time,
    }
    cols.update({k: v for k, v in optional.items() if v is not None})
    for comp, code in report.errors.codes.items():
        cols[f"{comp.value}_error_code"] = code
    for comp, diag in report.errors.diags.items():
        cols[f"{comp.value}_error_diag"] = diag[:500]
    for name in METRIC_COLUMNS:
        value = getattr(report.metrics, name)
        if value is not None:
            cols[name] = value
    if report.metrics.job_metrics:
        cols["job_metrics"] = report.metrics.job_metrics[:500]
    return cols
