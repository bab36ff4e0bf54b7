"""Client-side job models: submission (PanDA JobSpec field names), job records and listings."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pandawms.core.fields import RECORD_FIELDS, SUBMIT_FIELDS, job_values, spec_from_columns
from pandawms.core.specs import ErrorComponent, FileSpec, FileType, Job, JobSpec, ProdSourceLabel
from pandawms.protocol.actions import ActionOutcome
from pandawms.protocol.bounds import BIGINT_MAX, INT_MAX, Id
from pandawms.protocol.brokerage import QueueRejection
from pandawms.protocol.times import UtcDateTime

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
    fsize: int = Field(0, ge=0, le=BIGINT_MAX, strict=True)
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
    current_priority: int | None = Field(
        None, alias="currentPriority", ge=-1_000_000, le=1_000_000, strict=True
    )
    computing_site: str | None = Field(None, alias="computingSite", pattern=r"^[A-Za-z0-9_.\-]{1,128}$")
    included_sites: list[str] = Field(default_factory=list, alias="includedSites", max_length=1000)
    excluded_sites: list[str] = Field(default_factory=list, alias="excludedSites", max_length=1000)
    min_ram_count: int = Field(0, alias="minRamCount", ge=0, le=100_000_000, strict=True)
    core_count: int = Field(1, alias="coreCount", ge=1, le=4096, strict=True)
    max_walltime: int = Field(0, alias="maxWalltime", ge=0, le=100 * 86400, strict=True)
    max_disk_count: int = Field(0, alias="maxDiskCount", ge=0, le=1_000_000_000, strict=True)
    max_attempt: int | None = Field(
        None,
        alias="maxAttempt",
        ge=1,
        le=50,
        description="default: the server's default_max_attempt",
        strict=True,
    )
    task_id: int | None = Field(None, alias="taskID", ge=1, le=BIGINT_MAX, strict=True)
    jobset_id: int | None = Field(None, alias="jobsetID", ge=1, le=BIGINT_MAX, strict=True)
    destination_se: str = Field("", alias="destinationSE", max_length=128, pattern=r"^[A-Za-z0-9_.\-]*$")
    processing_type: str = Field("", alias="processingType", max_length=64, pattern=r"^[A-Za-z0-9_.\-]*$")
    special_handling: str = Field("", alias="specialHandling", max_length=80, pattern=r"^[A-Za-z0-9_.,\-]*$")
    files: list[FileIn] = Field(default_factory=list, max_length=10_000)

    @field_validator("included_sites", "excluded_sites")
    @classmethod
    def _queue_names(cls, v: list[str]) -> list[str]:
        import re

        for name in v:
            if not re.fullmatch(QUEUE_PATTERN, name):
                raise ValueError(f"invalid queue name {name!r}")
        return v

    def to_spec(self, default_max_attempt: int = 3) -> JobSpec:
        """The JobSpec, through the field table (core/fields.py); defaults that depend on the server
        (priority by label, maxAttempt) are filled here."""
        values: dict[str, Any] = {f.column: getattr(self, f.column) for f in SUBMIT_FIELDS}
        if self.current_priority is None:
            values["current_priority"] = DEFAULT_PRIORITY.get(self.prod_source_label, USER_DEFAULT_PRIORITY)
        if self.max_attempt is None:
            values["max_attempt"] = default_max_attempt
        values["relocation_flag"] = 1 if self.computing_site else 0
        values["computing_site"] = self.computing_site
        return spec_from_columns(values, [f.to_spec() for f in self.files])


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
    job_ids: list[Id] = Field(min_length=1, max_length=10_000)
    code: int = Field(
        3,
        ge=0,
        le=INT_MAX,
        description="PanDA kill code (3 = aborted by the user, 9 = force kill, ...)",
        strict=True,
    )
    reason: str = Field("", max_length=250)


class ReassignRequest(BaseModel):
    model_config = _STRICT
    job_ids: list[Id] = Field(min_length=1, max_length=10_000)
    site: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.\-]{1,128}$",
        description="target queue; default: re-broker excluding the current one",
    )


class RetryRequest(BaseModel):
    model_config = _STRICT
    job_ids: list[Id] = Field(min_length=1, max_length=10_000)


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

    @classmethod
    def from_spec(cls, f: FileSpec) -> FileOut:
        return cls.model_validate({**dataclasses.asdict(f), "type": f.type.value})


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
    destination_se: str = Field(alias="destinationSE")
    processing_type: str = Field(alias="processingType")
    special_handling: str = Field(alias="specialHandling")
    gshare: str = Field(description="the global share (leaf of the server's share tree) the job counts in")
    dispatch_dblock: str = Field(alias="dispatchDBlock")
    destination_dblock: str = Field(alias="destinationDBlock")
    prod_source_label: str = Field(alias="prodSourceLabel")
    prod_user_name: str = Field(alias="prodUserName")
    prod_user_id: str = Field(alias="prodUserID")
    current_priority: int = Field(alias="currentPriority")
    computing_site: str | None = Field(alias="computingSite")
    included_sites: list[str] = Field(alias="includedSites")
    excluded_sites: list[str] = Field(alias="excludedSites")
    transformation: str
    job_parameters: str = Field(alias="jobParameters")
    min_ram_count: int = Field(alias="minRamCount")
    core_count: int = Field(alias="coreCount")
    max_walltime: int = Field(alias="maxWalltime")
    max_disk_count: int = Field(alias="maxDiskCount")
    creation_time: UtcDateTime = Field(alias="creationTime")
    modification_time: UtcDateTime = Field(alias="modificationTime")
    state_change_time: UtcDateTime = Field(alias="stateChangeTime")
    start_time: UtcDateTime | None = Field(alias="startTime")
    end_time: UtcDateTime | None = Field(alias="endTime")
    modification_host: str = Field(alias="modificationHost")
    pilot_id: str = Field(alias="pilotID")
    batch_id: str = Field(alias="batchID")
    trans_exit_code: int | None = Field(alias="transExitCode")
    errors: list[ErrorOut]
    cpu_consumption_time: int | None = Field(alias="cpuConsumptionTime")
    max_rss: int | None = Field(alias="maxRSS")
    max_pss: int | None = Field(alias="maxPSS")
    max_vmem: int | None = Field(alias="maxVMEM")
    max_swap: int | None = Field(alias="maxSWAP")
    avg_rss: int | None = Field(alias="avgRSS")
    avg_pss: int | None = Field(alias="avgPSS")
    actual_core_count: int | None = Field(alias="actualCoreCount")
    n_events: int | None = Field(alias="nEvents")
    job_metrics: str = Field(alias="jobMetrics")
    files: list[FileOut] = Field(default_factory=list)

    @classmethod
    def from_job(cls, job: Job) -> JobRecord:
        errors = [
            ErrorOut(component=c.value, code=job.errors.codes.get(c, 0), diag=job.errors.diags.get(c, ""))
            for c in ErrorComponent
            if job.errors.codes.get(c, 0) or job.errors.diags.get(c, "")
        ]
        files = [FileOut.from_spec(f) for f in job.files]
        values = job_values(job)
        return cls.model_validate(
            {
                **{f.column: values[f.column] for f in RECORD_FIELDS},
                "panda_id": job.panda_id,
                "errors": errors,
                "files": files,
            }
        )


class StatusChange(BaseModel):
    status: str
    previous: str
    time: UtcDateTime
    host: str
    reason: str


class BrokerageInfo(BaseModel):
    time: UtcDateTime
    chosen: str | None
    summary: str
    rejected: dict[str, QueueRejection]


class JobDescription(BaseModel):
    """get_description: the job, its status history, brokerage decision and retry links."""

    job: JobRecord
    history: list[StatusChange]
    brokerage: BrokerageInfo | None
    retries: list[int]
    meta_data: str = Field("", alias="metaData", description="the payload's job report the pilot sent (JSON)")
    pilot_log: str = Field("", alias="pilotLog", description="the tail of the pilot log the pilot sent")

    model_config = ConfigDict(populate_by_name=True)


class JobPage(BaseModel):
    """A page of a listing; pass ``next_before_id`` as ``before_id`` for the next page."""

    jobs: list[JobRecord]
    next_before_id: int | None
