"""Pilot-side models: acquire_jobs and update_job (v1 parameter names, reference protocol.md §3-4)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from pandawms.core.data import FileLocation
from pandawms.core.fields import PILOT_FIELDS, job_values
from pandawms.core.specs import FileSpec, FileType, Job
from pandawms.core.states import PILOT_REPORTABLE, JobStatus
from pandawms.protocol.bounds import BIGINT_MAX, INT_MAX, request_id_field

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)
MAX_REPORT_TEXT = 1_000_000  # characters of job report (metadata) or pilot log kept per job


def _reportable(value: object) -> object:
    if isinstance(value, str) and value not in PILOT_REPORTABLE:
        allowed = ", ".join(sorted(PILOT_REPORTABLE))
        raise ValueError(f"{value!r} is not a status a pilot reports; expected one of: {allowed}")
    return value


# The statuses of update_job, derived from core.states.PILOT_REPORTABLE (the one definition).
PilotReportedStatus = Annotated[
    JobStatus,
    BeforeValidator(_reportable),
    WithJsonSchema({"type": "string", "enum": sorted(PILOT_REPORTABLE)}),
]


class AcquireRequest(BaseModel):
    """A pilot asks for up to n_jobs it can run; 0 for a resource means "not limited"."""

    model_config = _STRICT
    site_name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.\-]+$")
    n_jobs: int = Field(1, ge=1, le=1000, strict=True)
    prod_source_label: str | None = Field(None, max_length=20)
    job_type: str | None = Field(None, max_length=20)
    resource_type: str | None = Field(None, max_length=32)
    memory: int = Field(0, ge=0, le=BIGINT_MAX, description="MB available to the job", strict=True)
    disk_space: int = Field(0, ge=0, le=BIGINT_MAX, description="MB of scratch available", strict=True)
    core_count: int = Field(0, ge=0, le=INT_MAX, description="cores available", strict=True)
    remaining_time: int = Field(
        0, ge=0, le=BIGINT_MAX, description="seconds the pilot can still run", strict=True
    )
    node: str = Field("", max_length=128)
    computing_element: str = Field("", max_length=128)
    pilot_id: str = Field("", max_length=200)
    worker_id: int | None = Field(None, ge=1, le=BIGINT_MAX, strict=True)
    harvester_id: str = Field("", max_length=50)
    timeout: int = Field(60, ge=1, le=600, strict=True)
    request_id: str | None = request_id_field(
        "fresh per call; a repeat by the same pilot (worker_id, else pilot_id and node) after a lost answer "
        "gets the same jobs back while they are still sent to it"
    )


class PilotFile(BaseModel):
    lfn: str
    type: str
    scope: str
    dataset: str
    guid: str = Field(alias="GUID")
    fsize: int
    checksum: str
    destination_se: str = Field(alias="destinationSE")
    # where to read (input) or write (output, log) it, filled at dispatch for catalog files; "" = the
    # pilot's storage directory (files outside the catalog, and descriptions from before)
    turl: str = ""
    ddm_endpoint: str = Field("", alias="ddmEndPoint")

    model_config = ConfigDict(populate_by_name=True)


class PilotJob(BaseModel):
    """The job description a pilot runs: the JobSpec fields with a ``pilot`` name in core/fields.py (PanDA's
    names), plus the comma-joined file lists of the legacy format and the files as a list."""

    model_config = ConfigDict(populate_by_name=True)
    panda_id: int = Field(alias="PandaID")
    attempt_nr: int = Field(alias="attemptNr")
    job_name: str = Field(alias="jobName")
    task_id: int | None = Field(alias="taskID")
    jobset_id: int | None = Field(alias="jobsetID")
    prod_source_label: str = Field(alias="prodSourceLabel")
    prod_user_name: str = Field(alias="prodUserID")
    current_priority: int = Field(alias="currentPriority")
    computing_site: str = Field(alias="computingSite")
    destination_se: str = Field("", alias="destinationSE")
    processing_type: str = Field("", alias="processingType")
    special_handling: str = Field("", alias="specialHandling")
    transformation: str
    job_parameters: str = Field(alias="jobPars")
    core_count: int = Field(alias="coreCount")
    min_ram_count: int = Field(alias="minRamCount")
    max_disk_count: int = Field(alias="maxDiskCount")
    max_walltime: int = Field(alias="maxWalltime")
    in_files: str = Field(alias="inFiles")
    out_files: str = Field(alias="outFiles")
    log_file: str = Field(alias="logFile")
    # PanDA's comma-joined per-file lists, derived from ``files``: the input ones follow inFiles, the
    # output ones outFiles (outputs, then the log), scopeOut the outputs only; "" when absent
    guids: str = Field("", alias="GUID")
    fsizes: str = Field("", alias="fsize")
    checksums: str = Field("", alias="checksum")
    scope_in: str = Field("", alias="scopeIn")
    real_datasets_in: str = Field("", alias="realDatasetsIn")
    ddm_endpoint_in: str = Field("", alias="ddmEndPointIn")
    scope_out: str = Field("", alias="scopeOut")
    scope_log: str = Field("", alias="scopeLog")
    real_datasets: str = Field("", alias="realDatasets")
    ddm_endpoint_out: str = Field("", alias="ddmEndPointOut")
    files: list[PilotFile]

    @classmethod
    def from_job(cls, job: Job, located: Mapping[str, FileLocation] | None = None) -> PilotJob:
        """The description of ``job``; ``located`` gives the turl and RSE of its catalog files by LFN."""
        where = located or {}
        files = [_pilot_file(f, where.get(f.lfn)) for f in job.files]
        by_type: dict[FileType, list[dict[str, object]]] = {t: [] for t in FileType}
        for spec, f in zip(job.files, files, strict=True):
            by_type[spec.type].append(f)
        ins, outs, logs = by_type[FileType.INPUT], by_type[FileType.OUTPUT], by_type[FileType.LOG]
        values = job_values(job)
        return cls.model_validate(
            {
                **{f.column: values[f.column] for f in PILOT_FIELDS},
                "panda_id": job.panda_id,
                "computing_site": job.computing_site or "",
                "in_files": _joined(ins, "lfn"),
                "out_files": _joined(outs + logs, "lfn"),
                "log_file": _joined(logs, "lfn"),
                "guids": _joined(ins, "guid"),
                "fsizes": _joined(ins, "fsize"),
                "checksums": _joined(ins, "checksum"),
                "scope_in": _joined(ins, "scope"),
                "real_datasets_in": _joined(ins, "dataset"),
                "ddm_endpoint_in": _joined(ins, "ddm_endpoint"),
                "scope_out": _joined(outs, "scope"),
                "scope_log": _joined(logs, "scope"),
                "real_datasets": _joined(outs + logs, "dataset"),
                "ddm_endpoint_out": _joined(outs + logs, "ddm_endpoint"),
                "files": files,
            }
        )


def _pilot_file(f: FileSpec, where: FileLocation | None) -> dict[str, object]:
    """A file of the description: the job's row, with its turl and RSE, and the catalog's GUID, size and
    adler32 where the row has none (the pilot checks what it copies against them)."""
    row: dict[str, object] = {**dataclasses.asdict(f), "type": f.type.value}
    if where is None:
        return row
    row |= {"turl": where.turl, "ddm_endpoint": where.rse}
    catalog = {"guid": where.guid, "fsize": where.fsize, "checksum": where.adler32 and f"ad:{where.adler32}"}
    return row | {k: v for k, v in catalog.items() if v and not row[k]}


def _joined(files: list[dict[str, object]], key: str) -> str:
    """One comma-joined legacy list ("" when no file has the value: PanDA leaves such fields empty)."""
    values = ["" if f.get(key) is None else str(f.get(key)) for f in files]
    return ",".join(values) if any(values) else ""


class AcquireResponse(BaseModel):
    jobs: list[PilotJob]
    StatusCode: int
    message: str = ""


class OutputFileReport(BaseModel):
    model_config = ConfigDict(extra="allow")
    guid: str = Field("", max_length=64)
    fsize: int = Field(0, ge=0, le=BIGINT_MAX, strict=True)
    adler32: str = Field("", max_length=16)
    surl: str = Field("", max_length=2000)
    endpoint: str = Field("", max_length=128)


class UpdateRequest(BaseModel):
    """Heartbeat or final update. Only fields that are set are written."""

    model_config = _STRICT
    job_id: int = Field(ge=1, le=BIGINT_MAX, strict=True)
    job_status: PilotReportedStatus
    attempt_nr: int | None = Field(None, ge=1, le=INT_MAX, strict=True)
    job_sub_status: str | None = Field(None, max_length=80)
    site_name: str | None = Field(None, max_length=128)
    node: str | None = Field(None, max_length=128)
    pilot_id: str | None = Field(None, max_length=200)
    batch_id: str | None = Field(None, max_length=80)
    start_time: str | None = Field(None, max_length=32)
    end_time: str | None = Field(None, max_length=32)
    trans_exit_code: int | None = Field(None, ge=-INT_MAX, le=INT_MAX, strict=True)
    pilot_error_code: int | None = Field(None, ge=0, le=INT_MAX, strict=True)
    pilot_error_diag: str | None = None
    exe_error_code: int | None = Field(None, ge=-INT_MAX, le=INT_MAX, strict=True)
    exe_error_diag: str | None = None
    cpu_consumption_time: int | None = Field(None, ge=0, le=BIGINT_MAX, strict=True)
    core_count: int | None = Field(None, ge=0, le=INT_MAX, strict=True)
    max_rss: int | None = Field(None, ge=0, le=BIGINT_MAX, strict=True)
    max_vmem: int | None = Field(None, ge=0, le=BIGINT_MAX, strict=True)
    max_swap: int | None = Field(None, ge=0, le=BIGINT_MAX, strict=True)
    max_pss: int | None = Field(None, ge=0, le=BIGINT_MAX, strict=True)
    avg_rss: int | None = Field(None, ge=0, le=BIGINT_MAX, strict=True)
    avg_pss: int | None = Field(None, ge=0, le=BIGINT_MAX, strict=True)
    n_events: int | None = Field(None, ge=0, le=BIGINT_MAX, strict=True)
    job_metrics: str | None = None
    job_output_report: dict[str, OutputFileReport] | None = None
    meta_data: dict[str, Any] | str | None = Field(
        None, description="the payload's job report; kept (as JSON text, at most 1 MB) for the monitor"
    )
    pilot_log: str | None = Field(None, max_length=MAX_REPORT_TEXT, description="tail of the pilot log")

    @field_validator("meta_data")
    @classmethod
    def _bounded_metadata(cls, v: dict[str, Any] | str | None) -> dict[str, Any] | str | None:
        if v is not None and len(v if isinstance(v, str) else json.dumps(v)) > MAX_REPORT_TEXT:
            raise ValueError(f"metadata longer than {MAX_REPORT_TEXT} characters")
        return v

    def meta_data_text(self) -> str | None:
        if self.meta_data is None or isinstance(self.meta_data, str):
            return self.meta_data
        return json.dumps(self.meta_data, sort_keys=True)


class UpdateResponse(BaseModel):
    StatusCode: int
    command: str
    jobStatus: str | None = None
    message: str = ""


MAX_BULK_UPDATES = 500  # updates per update_jobs_bulk call (Harvester sends 100)


class UpdateBulkRequest(BaseModel):
    """Many update_job bodies in one call (PanDA's ``updateJobsInBulk``, as a factory sends them for its
    pilots). Typed like update_job's body (a violation anywhere is a 422); each well-formed entry is
    applied on its own: one the server refuses gets its reason in ``results`` and the others are still
    applied (all in one transaction, each entry in a savepoint)."""

    model_config = _STRICT
    job_list: list[UpdateRequest] = Field(min_length=1, max_length=MAX_BULK_UPDATES)
    harvester_id: str = Field("", max_length=50)


class BulkUpdateResult(BaseModel):
    """The outcome of one entry of ``job_list``, in its order: the update_job answer when it was applied
    (``success``), else why the entry was refused (``StatusCode`` 50, nothing of it stored)."""

    index: int = Field(ge=0, le=MAX_BULK_UPDATES)
    job_id: int = Field(ge=1, le=BIGINT_MAX)
    success: bool
    StatusCode: int = Field(ge=0, le=INT_MAX)
    command: str = ""
    jobStatus: str | None = None
    message: str = ""


class UpdateBulkResponse(BaseModel):
    results: list[BulkUpdateResult]
