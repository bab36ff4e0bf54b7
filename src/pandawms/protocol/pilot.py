"""Pilot-side models: acquire_jobs and update_job (v1 parameter names, reference protocol.md §3-4)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from pandawms.core.specs import FileType, Job
from pandawms.core.states import PILOT_REPORTABLE, JobStatus

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)


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
    n_jobs: int = Field(1, ge=1, le=1000)
    prod_source_label: str | None = Field(None, max_length=20)
    job_type: str | None = Field(None, max_length=20)
    resource_type: str | None = Field(None, max_length=32)
    memory: int = Field(0, ge=0, description="MB available to the job")
    disk_space: int = Field(0, ge=0, description="MB of scratch available")
    core_count: int = Field(0, ge=0, description="cores available")
    remaining_time: int = Field(0, ge=0, description="seconds the pilot can still run")
    node: str = Field("", max_length=128)
    computing_element: str = Field("", max_length=128)
    pilot_id: str = Field("", max_length=200)
    worker_id: int | None = None
    harvester_id: str = Field("", max_length=50)
    timeout: int = Field(60, ge=1, le=600)


class PilotFile(BaseModel):
    lfn: str
    type: str
    scope: str
    dataset: str
    guid: str = Field(alias="GUID")
    fsize: int
    checksum: str
    destination_se: str = Field(alias="destinationSE")

    model_config = ConfigDict(populate_by_name=True)


class PilotJob(BaseModel):
    """The job description a pilot runs (PanDA field names; files as a list instead of comma strings)."""

    model_config = ConfigDict(populate_by_name=True)
    panda_id: int = Field(alias="PandaID")
    attempt_nr: int = Field(alias="attemptNr")
    job_name: str = Field(alias="jobName")
    task_id: int | None = Field(alias="taskID")
    jobset_id: int | None = Field(alias="jobsetID")
    prod_source_label: str = Field(alias="prodSourceLabel")
    prod_user_id: str = Field(alias="prodUserID")
    current_priority: int = Field(alias="currentPriority")
    computing_site: str = Field(alias="computingSite")
    transformation: str
    job_pars: str = Field(alias="jobPars")
    core_count: int = Field(alias="coreCount")
    min_ram_count: int = Field(alias="minRamCount")
    max_disk_count: int = Field(alias="maxDiskCount")
    max_walltime: int = Field(alias="maxWalltime")
    in_files: str = Field(alias="inFiles")
    out_files: str = Field(alias="outFiles")
    log_file: str = Field(alias="logFile")
    files: list[PilotFile]

    @classmethod
    def from_job(cls, job: Job) -> PilotJob:
        s = job.spec
        by_type: dict[FileType, list[str]] = {t: [] for t in FileType}
        for f in job.files:
            by_type[f.type].append(f.lfn)
        return cls(
            panda_id=job.panda_id,
            attempt_nr=job.attempt_nr,
            job_name=s.job_name,
            task_id=s.task_id,
            jobset_id=s.jobset_id,
            prod_source_label=s.prod_source_label.value,
            prod_user_id=s.prod_user_name,
            current_priority=s.current_priority,
            computing_site=job.computing_site or "",
            transformation=s.transformation,
            job_pars=s.job_parameters,
            core_count=s.resources.cores,
            min_ram_count=s.resources.memory,
            max_disk_count=s.resources.disk,
            max_walltime=s.resources.walltime,
            in_files=",".join(by_type[FileType.INPUT]),
            out_files=",".join(by_type[FileType.OUTPUT] + by_type[FileType.LOG]),
            log_file=",".join(by_type[FileType.LOG]),
            files=[
                PilotFile(
                    lfn=f.lfn,
                    type=f.type.value,
                    scope=f.scope,
                    dataset=f.dataset,
                    guid=f.guid,
                    fsize=f.fsize,
                    checksum=f.checksum,
                    destination_se=f.destination_se,
                )
                for f in job.files
            ],
        )


class AcquireResponse(BaseModel):
    jobs: list[PilotJob]
    StatusCode: int
    message: str = ""


class OutputFileReport(BaseModel):
    model_config = ConfigDict(extra="allow")
    guid: str = Field("", max_length=64)
    fsize: int = Field(0, ge=0)
    adler32: str = Field("", max_length=16)
    surl: str = Field("", max_length=2000)
    endpoint: str = Field("", max_length=128)


class UpdateRequest(BaseModel):
    """Heartbeat or final update. Only fields that are set are written."""

    model_config = _STRICT
    job_id: int = Field(ge=1)
    job_status: PilotReportedStatus
    attempt_nr: int | None = Field(None, ge=1)
    job_sub_status: str | None = Field(None, max_length=80)
    site_name: str | None = Field(None, max_length=128)
    node: str | None = Field(None, max_length=128)
    pilot_id: str | None = Field(None, max_length=200)
    batch_id: str | None = Field(None, max_length=80)
    start_time: str | None = Field(None, max_length=32)
    end_time: str | None = Field(None, max_length=32)
    trans_exit_code: int | None = None
    pilot_error_code: int | None = Field(None, ge=0)
    pilot_error_diag: str | None = None
    exe_error_code: int | None = None
    exe_error_diag: str | None = None
    cpu_consumption_time: int | None = Field(None, ge=0)
    core_count: int | None = Field(None, ge=0)
    max_rss: int | None = Field(None, ge=0)
    max_vmem: int | None = Field(None, ge=0)
    max_swap: int | None = Field(None, ge=0)
    max_pss: int | None = Field(None, ge=0)
    avg_rss: int | None = Field(None, ge=0)
    avg_pss: int | None = Field(None, ge=0)
    n_events: int | None = Field(None, ge=0)
    job_metrics: str | None = None
    job_output_report: dict[str, OutputFileReport] | None = None
    meta_data: dict[str, Any] | str | None = None
    pilot_log: str | None = None


class UpdateResponse(BaseModel):
    StatusCode: int
    command: str
    jobStatus: str | None = None
    message: str = ""
