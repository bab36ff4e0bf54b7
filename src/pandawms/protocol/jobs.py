"""Client-side job models: submission (PanDA JobSpec field names), job records and listings."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pandawms.core.ids import QueueName
from pandawms.core.specs import (
    ErrorComponent,
    FileSpec,
    FileType,
    Job,
    JobSpec,
    ProdSourceLabel,
    ResourceRequest,
)
from pandawms.protocol.actions import ActionOutcome
from pandawms.protocol.brokerage import QueueRejection

LFN_PATTERN = r"^[A-Za-z0-9_.:+\-]{1,255}$"
QUEUE_PATTERN = r"^[A-Za-z0-9_.\-*]{1,128}$"
DEFAULT_PRIORITY = {ProdSourceLabel.MANAGED: 100}
USER_DEFAULT_PRIORITY = 1000

_STRICT = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)


class FileIn(BaseModel):
    model_config = _STRICT
    lfn: str = Field(pattern=LFN_PATTERN)
    type: Literal["input", "output", "log"]
    scope: str = Field("", max_length=64)
    dataset: str = Field("", max_length=256)
    guid: str = Field("", alias="GUID", max_length=64)
    fsize: int = Field(0, ge=0)
    checksum: str = Field("", max_length=64)

    def to_spec(self) -> FileSpec:
        return FileSpec(
            lfn=self.lfn,
            type=FileType(self.type),
            scope=self.scope,
            dataset=self.dataset,
            guid=self.guid,
            fsize=self.fsize,
            checksum=self.checksum,
        )


class JobSubmission(BaseModel):
    """One job to submit. Resource fields follow PanDA: minRamCount MB, maxWalltime s, maxDiskCount MB."""

    model_config = _STRICT
    transformation: str = Field(min_length=1, max_length=4000)
    job_name: str = Field("", alias="jobName", max_length=256)
    job_parameters: str = Field("", alias="jobParameters", max_length=100_000)
    prod_source_label: ProdSourceLabel = Field(ProdSourceLabel.USER, alias="prodSourceLabel")
    prod_user_name: str = Field("", alias="prodUserName", max_length=128)
    current_priority: int | None = Field(None, alias="currentPriority", ge=-1_000_000, le=1_000_000)
    computing_site: str | None = Field(None, alias="computingSite", pattern=r"^[A-Za-z0-9_.\-]{1,128}$")
    included_sites: list[str] = Field(default_factory=list, alias="includedSites", max_length=1000)
    excluded_sites: list[str] = Field(default_factory=list, alias="excludedSites", max_length=1000)
    min_ram_count: int = Field(0, alias="minRamCount", ge=0, le=100_000_000)
    core_count: int = Field(1, alias="coreCount", ge=1, le=4096)
    max_walltime: int = Field(0, alias="maxWalltime", ge=0, le=100 * 86400)
    max_disk_count: int = Field(0, alias="maxDiskCount", ge=0, le=1_000_000_000)
    max_attempt: int = Field(3, alias="maxAttempt", ge=1, le=50)
    task_id: int | None = Field(None, alias="taskID", ge=1)
    jobset_id: int | None = Field(None, alias="jobsetID", ge=1)
    files: list[FileIn] = Field(default_factory=list, max_length=10_000)

    @field_validator("included_sites", "excluded_sites")
    @classmethod
    def _queue_names(cls, v: list[str]) -> list[str]:
        import re

        for name in v:
            if not re.fullmatch(QUEUE_PATTERN, name):
                raise ValueError(f"invalid queue name {name!r}")
        return v

    def to_spec(self) -> JobSpec:
        priority = self.current_priority
        if priority is None:
            priority = DEFAULT_PRIORITY.get(self.prod_source_label, USER_DEFAULT_PRIORITY)
        return JobSpec(
            transformation=self.transformation,
            job_name=self.job_name,
            job_parameters=self.job_parameters,
            prod_source_label=self.prod_source_label,
            prod_user_name=self.prod_user_name,
            current_priority=priority,
            computing_site=QueueName(self.computing_site) if self.computing_site else None,
            included_sites=tuple(self.included_sites),
            excluded_sites=tuple(self.excluded_sites),
            resources=ResourceRequest(
                memory=self.min_ram_count,
                cores=self.core_count,
                walltime=self.max_walltime,
                disk=self.max_disk_count,
            ),
            max_attempt=self.max_attempt,
            task_id=self.task_id,
            jobset_id=self.jobset_id,
            files=tuple(f.to_spec() for f in self.files),
        )


class SubmitRequest(BaseModel):
    model_config = _STRICT
    jobs: list[JobSubmission] = Field(min_length=1)


class SubmittedJob(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    panda_id: int = Field(alias="PandaID")
    job_status: str = Field(alias="jobStatus")
    computing_site: str | None = Field(alias="computingSite")
    brokerage_diag: str = Field("", alias="brokerageErrorDiag")


class KillRequest(BaseModel):
    model_config = _STRICT
    job_ids: list[int] = Field(min_length=1, max_length=10_000)
    code: int = Field(3, description="PanDA kill code (3 = aborted by the user, 9 = force kill, ...)")
    reason: str = Field("", max_length=250)


class ReassignRequest(BaseModel):
    model_config = _STRICT
    job_ids: list[int] = Field(min_length=1, max_length=10_000)
    site: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.\-]{1,128}$",
        description="target queue; default: re-broker excluding the current one",
    )


class RetryRequest(BaseModel):
    model_config = _STRICT
    job_ids: list[int] = Field(min_length=1, max_length=10_000)


class JobActionResult(BaseModel):
    """Per-job outcome of kill/reassign/retry: what happened and the job's status now."""

    model_config = ConfigDict(populate_by_name=True)
    panda_id: int = Field(alias="PandaID")
    outcome: ActionOutcome
    job_status: str | None = Field(alias="jobStatus")
    message: str = ""
    new_panda_id: int | None = Field(None, alias="newPandaID")


class FileOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    lfn: str
    type: str
    scope: str
    dataset: str
    guid: str = Field(alias="GUID")
    fsize: int
    checksum: str
    status: str
    destination_se: str = Field(alias="destinationSE")
    surl: str


class ErrorOut(BaseModel):
    component: str
    code: int
    diag: str


class JobRecord(BaseModel):
    """A job as the API returns it, with PanDA's field names."""

    model_config = ConfigDict(populate_by_name=True)
    panda_id: int = Field(alias="PandaID")
    job_name: str = Field(alias="jobName")
    job_status: str = Field(alias="jobStatus")
    job_sub_status: str = Field(alias="jobSubStatus")
    command_to_pilot: str = Field(alias="commandToPilot")
    attempt_nr: int = Field(alias="attemptNr")
    max_attempt: int = Field(alias="maxAttempt")
    parent_id: int | None = Field(alias="parentID")
    relation_type: str = Field(alias="relationType")
    task_id: int | None = Field(alias="taskID")
    jobset_id: int | None = Field(alias="jobsetID")
    prod_source_label: str = Field(alias="prodSourceLabel")
    prod_user_name: str = Field(alias="prodUserName")
    current_priority: int = Field(alias="currentPriority")
    computing_site: str | None = Field(alias="computingSite")
    transformation: str
    job_parameters: str = Field(alias="jobParameters")
    min_ram_count: int = Field(alias="minRamCount")
    core_count: int = Field(alias="coreCount")
    max_walltime: int = Field(alias="maxWalltime")
    max_disk_count: int = Field(alias="maxDiskCount")
    creation_time: datetime = Field(alias="creationTime")
    modification_time: datetime = Field(alias="modificationTime")
    state_change_time: datetime = Field(alias="stateChangeTime")
    start_time: datetime | None = Field(alias="startTime")
    end_time: datetime | None = Field(alias="endTime")
    modification_host: str = Field(alias="modificationHost")
    pilot_id: str = Field(alias="pilotID")
    batch_id: str = Field(alias="batchID")
    trans_exit_code: int | None = Field(alias="transExitCode")
    errors: list[ErrorOut]
    cpu_consumption_time: int | None = Field(alias="cpuConsumptionTime")
    max_rss: int | None = Field(alias="maxRSS")
    max_pss: int | None = Field(alias="maxPSS")
    max_vmem: int | None = Field(alias="maxVMEM")
    avg_rss: int | None = Field(alias="avgRSS")
    avg_pss: int | None = Field(alias="avgPSS")
    actual_core_count: int | None = Field(alias="actualCoreCount")
    n_events: int | None = Field(alias="nEvents")
    job_metrics: str = Field(alias="jobMetrics")
    files: list[FileOut] = Field(default_factory=list)

    @classmethod
    def from_job(cls, job: Job) -> JobRecord:
        s, m = job.spec, job.metrics
        errors = [
            ErrorOut(component=c.value, code=job.errors.codes.get(c, 0), diag=job.errors.diags.get(c, ""))
            for c in ErrorComponent
            if job.errors.codes.get(c, 0) or job.errors.diags.get(c, "")
        ]
        files = [
            FileOut(
                lfn=f.lfn,
                type=f.type.value,
                scope=f.scope,
                dataset=f.dataset,
                guid=f.guid,
                fsize=f.fsize,
                checksum=f.checksum,
                status=f.status,
                destination_se=f.destination_se,
                surl=f.surl,
            )
            for f in job.files
        ]
        return cls(
            panda_id=job.panda_id,
            job_name=s.job_name,
            job_status=job.status.value,
            job_sub_status=job.job_sub_status,
            command_to_pilot=job.command_to_pilot,
            attempt_nr=job.attempt_nr,
            max_attempt=s.max_attempt,
            parent_id=job.parent_id,
            relation_type=job.relation_type,
            task_id=s.task_id,
            jobset_id=s.jobset_id,
            prod_source_label=s.prod_source_label.value,
            prod_user_name=s.prod_user_name,
            current_priority=s.current_priority,
            computing_site=job.computing_site,
            transformation=s.transformation,
            job_parameters=s.job_parameters,
            min_ram_count=s.resources.memory,
            core_count=s.resources.cores,
            max_walltime=s.resources.walltime,
            max_disk_count=s.resources.disk,
            creation_time=job.creation_time,
            modification_time=job.modification_time,
            state_change_time=job.state_change_time,
            start_time=job.start_time,
            end_time=job.end_time,
            modification_host=job.modification_host,
            pilot_id=job.pilot_id,
            batch_id=job.batch_id,
            trans_exit_code=job.trans_exit_code,
            errors=errors,
            cpu_consumption_time=m.cpu_consumption_time,
            max_rss=m.max_rss,
            max_pss=m.max_pss,
            max_vmem=m.max_vmem,
            avg_rss=m.avg_rss,
            avg_pss=m.avg_pss,
            actual_core_count=m.actual_core_count,
            n_events=m.n_events,
            job_metrics=m.job_metrics,
            files=files,
        )


class StatusChange(BaseModel):
    status: str
    previous: str
    time: datetime
    host: str
    reason: str


class BrokerageInfo(BaseModel):
    time: datetime
    chosen: str | None
    summary: str
    rejected: dict[str, QueueRejection]


class JobDescription(BaseModel):
    """get_description: the job, its status history, brokerage decision and retry links."""

    job: JobRecord
    history: list[StatusChange]
    brokerage: BrokerageInfo | None
    retries: list[int]


class JobPage(BaseModel):
    """A page of a listing; pass ``next_before_id`` as ``before_id`` for the next page."""

    jobs: list[JobRecord]
    next_before_id: int | None
