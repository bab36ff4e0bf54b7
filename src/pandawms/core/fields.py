"""The job field table: every stored job attribute declared once (column, PanDA wire name, type, owner).

db/schema.py builds the ``jobs`` columns from it, db/rows.py maps rows to ``Job`` with it, and protocol/
converts ``Job`` to its wire models (``JobRecord``, ``PilotJob``) and a submission to a ``JobSpec`` with
it. ``tests/unit/test_fields.py`` fails when a ``JobSpec``/``Job`` attribute, a schema column or a wire
model field is missing from the table. Recipe "add a job field": ARCHITECTURE.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from enum import Enum, StrEnum
from typing import Any

from pandawms.core.ids import PandaID, QueueName
from pandawms.core.specs import (
    ErrorComponent,
    FileSpec,
    Job,
    JobErrors,
    JobMetrics,
    JobSpec,
    ProdSourceLabel,
    ResourceRequest,
)
from pandawms.core.states import JobStatus


class Owner(StrEnum):
    """Which object of the job aggregate holds the attribute."""

    JOB = "job"  # Job (per attempt: status, times, lineage, pilot identity)
    SPEC = "spec"  # JobSpec (what was submitted)
    RESOURCES = "resources"  # JobSpec.resources
    METRICS = "metrics"  # Job.metrics (reported by the pilot)


class Kind(StrEnum):
    """Storage type; db/schema.py maps each to a SQL type."""

    INT = "int"
    BIGINT = "bigint"
    STR = "str"  # bounded: ``length`` characters
    TEXT = "text"
    DATETIME = "datetime"


class Codec(StrEnum):
    """How the attribute value becomes a column value."""

    PLAIN = "plain"
    ENUM = "enum"  # StrEnum <-> its value
    CSV = "csv"  # tuple[str, ...] <-> "a,b,c"
    PIN = "pin"  # JobSpec.computing_site (a user's preset queue) <-> relocation_flag 1/0


@dataclass(frozen=True, slots=True)
class JobField:
    """One stored job attribute. ``column`` is also its Python name in every wire model."""

    column: str
    wire: str  # PanDA's JobSpec name (JobRecord alias, and JobSubmission alias when ``submit``)
    owner: Owner
    attr: str  # attribute name on the owner object
    kind: Kind
    length: int = 0
    nullable: bool = False
    default: str | None = None  # server default of the column
    codec: Codec = Codec.PLAIN
    enum: type[Enum] | None = None
    submit: bool = False  # a user sets it in job/submit
    pilot: str | None = None  # its name in the pilot's job description; None: not sent to pilots
    record: bool = True  # returned in JobRecord (job/get_description, listings)

    def to_column(self, value: Any) -> Any:
        if self.codec is Codec.ENUM:
            return None if value is None else value.value
        if self.codec is Codec.CSV:
            return ",".join(value)
        if self.codec is Codec.PIN:
            return 1 if value else 0
        return value

    def from_column(self, value: Any) -> Any:
        if self.codec is Codec.ENUM:
            assert self.enum is not None
            return value if value is None or isinstance(value, self.enum) else self.enum(value)
        if self.codec is Codec.CSV:  # a stored "a,b" or already a list (a submission's)
            if not value:
                return ()
            return tuple(s for s in (value.split(",") if isinstance(value, str) else value) if s)
        return value


F, K = JobField, Kind
_S, _J, _R, _M = Owner.SPEC, Owner.JOB, Owner.RESOURCES, Owner.METRICS

JOB_FIELDS: tuple[JobField, ...] = (
    F("job_name", "jobName", _S, "job_name", K.STR, 256, default="", submit=True, pilot="jobName"),
    F("job_status", "jobStatus", _J, "status", K.STR, 32, codec=Codec.ENUM, enum=JobStatus),
    F("job_sub_status", "jobSubStatus", _J, "job_sub_status", K.STR, 80, default=""),
    F("command_to_pilot", "commandToPilot", _J, "command_to_pilot", K.STR, 250, default=""),
    F("attempt_nr", "attemptNr", _J, "attempt_nr", K.INT, default="1", pilot="attemptNr"),
    F("max_attempt", "maxAttempt", _S, "max_attempt", K.INT, default="3", submit=True),
    F("parent_id", "parentID", _J, "parent_id", K.BIGINT, nullable=True),
    F("relation_type", "relationType", _J, "relation_type", K.STR, 32, default=""),
    F("task_id", "taskID", _S, "task_id", K.BIGINT, nullable=True, submit=True, pilot="taskID"),
    F("jobset_id", "jobsetID", _S, "jobset_id", K.BIGINT, nullable=True, submit=True, pilot="jobsetID"),
    F(
        "prod_source_label",
        "prodSourceLabel",
        _S,
        "prod_source_label",
        K.STR,
        20,
        codec=Codec.ENUM,
        enum=ProdSourceLabel,
        submit=True,
        pilot="prodSourceLabel",
    ),
    F(
        "prod_user_name",
        "prodUserName",
        _S,
        "prod_user_name",
        K.STR,
        128,
        default="",
        submit=True,
        pilot="prodUserID",
    ),
    # the submitter's token ``sub``: ownership is keyed on it (prod_user_name is only for display)
    F("prod_user_id", "prodUserID", _S, "prod_user_id", K.STR, 128, default=""),
    F(
        "current_priority",
        "currentPriority",
        _S,
        "current_priority",
        K.INT,
        default="1000",
        submit=True,
        pilot="currentPriority",
    ),
    F(
        "computing_site",
        "computingSite",
        _J,
        "computing_site",
        K.STR,
        128,
        nullable=True,
        pilot="computingSite",
    ),
    F(
        "relocation_flag",
        "relocationFlag",
        _S,
        "computing_site",
        K.INT,
        default="0",
        codec=Codec.PIN,
        record=False,
    ),
    F(
        "included_sites",
        "includedSites",
        _S,
        "included_sites",
        K.TEXT,
        default="",
        codec=Codec.CSV,
        submit=True,
    ),
    F(
        "excluded_sites",
        "excludedSites",
        _S,
        "excluded_sites",
        K.TEXT,
        default="",
        codec=Codec.CSV,
        submit=True,
    ),
    F("transformation", "transformation", _S, "transformation", K.TEXT, submit=True, pilot="transformation"),
    F(
        "job_parameters",
        "jobParameters",
        _S,
        "job_parameters",
        K.TEXT,
        default="",
        submit=True,
        pilot="jobPars",
    ),
    F(
        "destination_se",
        "destinationSE",
        _S,
        "destination_se",
        K.STR,
        128,
        default="",
        submit=True,
        pilot="destinationSE",
    ),
    F(
        "processing_type",
        "processingType",
        _S,
        "processing_type",
        K.STR,
        64,
        default="",
        submit=True,
        pilot="processingType",
    ),
    F(
        "special_handling",
        "specialHandling",
        _S,
        "special_handling",
        K.STR,
        80,
        default="",
        submit=True,
        pilot="specialHandling",
    ),
    F("gshare", "gshare", _S, "gshare", K.STR, 64, default=""),  # set by the server, never submitted
    F("dispatch_dblock", "dispatchDBlock", _J, "dispatch_dblock", K.STR, 250, default=""),
    F("destination_dblock", "destinationDBlock", _J, "destination_dblock", K.STR, 250, default=""),
    F("min_ram_count", "minRamCount", _R, "memory", K.INT, default="0", submit=True, pilot="minRamCount"),
    F("core_count", "coreCount", _R, "cores", K.INT, default="1", submit=True, pilot="coreCount"),
    F("max_walltime", "maxWalltime", _R, "walltime", K.INT, default="0", submit=True, pilot="maxWalltime"),
    F("max_disk_count", "maxDiskCount", _R, "disk", K.INT, default="0", submit=True, pilot="maxDiskCount"),
    F("creation_time", "creationTime", _J, "creation_time", K.DATETIME),
    F("modification_time", "modificationTime", _J, "modification_time", K.DATETIME),
    F("state_change_time", "stateChangeTime", _J, "state_change_time", K.DATETIME),
    F("start_time", "startTime", _J, "start_time", K.DATETIME, nullable=True),
    F("end_time", "endTime", _J, "end_time", K.DATETIME, nullable=True),
    F("modification_host", "modificationHost", _J, "modification_host", K.STR, 128, default=""),
    F("pilot_id", "pilotID", _J, "pilot_id", K.STR, 200, default=""),
    F("batch_id", "batchID", _J, "batch_id", K.STR, 80, default=""),
    F("trans_exit_code", "transExitCode", _J, "trans_exit_code", K.INT, nullable=True),
    F("cpu_consumption_time", "cpuConsumptionTime", _M, "cpu_consumption_time", K.BIGINT, nullable=True),
    F("max_rss", "maxRSS", _M, "max_rss", K.BIGINT, nullable=True),
    F("max_pss", "maxPSS", _M, "max_pss", K.BIGINT, nullable=True),
    F("max_vmem", "maxVMEM", _M, "max_vmem", K.BIGINT, nullable=True),
    F("max_swap", "maxSWAP", _M, "max_swap", K.BIGINT, nullable=True),
    F("avg_rss", "avgRSS", _M, "avg_rss", K.BIGINT, nullable=True),
    F("avg_pss", "avgPSS", _M, "avg_pss", K.BIGINT, nullable=True),
    F("actual_core_count", "actualCoreCount", _M, "actual_core_count", K.INT, nullable=True),
    F("n_events", "nEvents", _M, "n_events", K.BIGINT, nullable=True),
    F("job_metrics", "jobMetrics", _M, "job_metrics", K.STR, 500, default=""),
)
"""Column order of the ``jobs`` table after its key (``panda_id``), before the error columns."""

SUBMIT_FIELDS: tuple[JobField, ...] = tuple(f for f in JOB_FIELDS if f.submit)
PILOT_FIELDS: tuple[JobField, ...] = tuple(f for f in JOB_FIELDS if f.pilot)
RECORD_FIELDS: tuple[JobField, ...] = tuple(f for f in JOB_FIELDS if f.record)
METRIC_FIELDS: tuple[JobField, ...] = tuple(f for f in JOB_FIELDS if f.owner is Owner.METRICS)
ERROR_DIAG_LENGTH = 500


def error_code_column(component: ErrorComponent) -> str:
    return f"{component.value}_error_code"


def error_diag_column(component: ErrorComponent) -> str:
    return f"{component.value}_error_diag"


# -- conversions (pure; the db layer and the protocol call these) ----------------------------------------


# Per owner: (attr, column) of the plain fields and the fields with a codec, precomputed: these conversions
# run for every job on the dispatch and submit paths.
_PLAIN: dict[Owner, tuple[tuple[str, str], ...]] = {
    o: tuple((f.attr, f.column) for f in JOB_FIELDS if f.owner is o and f.codec is Codec.PLAIN) for o in Owner
}
_CODED: dict[Owner, tuple[JobField, ...]] = {
    o: tuple(f for f in JOB_FIELDS if f.owner is o and f.codec not in (Codec.PLAIN, Codec.PIN)) for o in Owner
}

_PIN = next(f for f in JOB_FIELDS if f.codec is Codec.PIN)


def _owned(owner: Owner, columns: Mapping[str, Any]) -> dict[str, Any]:
    out = {attr: columns[col] for attr, col in _PLAIN[owner] if col in columns}
    for f in _CODED[owner]:
        if f.column in columns:
            out[f.attr] = f.from_column(columns[f.column])
    return out


def spec_from_columns(columns: Mapping[str, Any], files: Sequence[FileSpec] = ()) -> JobSpec:
    """A JobSpec from column-named values (a row, or a submission's fields). Missing keys take defaults."""
    pinned = columns.get("relocation_flag") == 1 and columns.get("computing_site")
    return JobSpec(
        **_owned(Owner.SPEC, columns),
        computing_site=QueueName(columns["computing_site"]) if pinned else None,
        resources=ResourceRequest(**_owned(Owner.RESOURCES, columns)),
        files=tuple(files),
    )


def spec_columns(spec: JobSpec) -> dict[str, Any]:
    """The columns a JobSpec fills (status, lineage, times and the chosen queue are the job's)."""
    r = spec.resources
    out = {col: getattr(spec, attr) for attr, col in _PLAIN[Owner.SPEC]}
    out.update({col: getattr(r, attr) for attr, col in _PLAIN[Owner.RESOURCES]})
    for f in _CODED[Owner.SPEC]:
        out[f.column] = f.to_column(getattr(spec, f.attr))
    out[_PIN.column] = _PIN.to_column(spec.computing_site)
    return out


def errors_from_columns(columns: Mapping[str, Any]) -> JobErrors:
    codes = {c: columns[error_code_column(c)] for c in ErrorComponent if columns[error_code_column(c)]}
    diags = {c: columns[error_diag_column(c)] for c in ErrorComponent if columns[error_diag_column(c)]}
    return JobErrors(codes=codes, diags=diags)


def job_from_columns(columns: Mapping[str, Any], files: Sequence[FileSpec] = ()) -> Job:
    """A stored Job from a full ``jobs`` row (plus its file rows)."""
    job = _owned(Owner.JOB, columns)
    parent = job.pop("parent_id")
    site = job.pop("computing_site")
    return Job(
        panda_id=PandaID(columns["panda_id"]),
        spec=spec_from_columns(columns, files),
        parent_id=PandaID(parent) if parent is not None else None,
        computing_site=QueueName(site) if site else None,
        errors=errors_from_columns(columns),
        metrics=JobMetrics(**_owned(Owner.METRICS, columns)),
        files=tuple(files),
        **job,
    )


def job_values(job: Job) -> dict[str, Any]:
    """Every recorded attribute of a job by column name, as wire values (enum values, lists)."""
    owners: dict[Owner, object] = {
        Owner.JOB: job,
        Owner.SPEC: job.spec,
        Owner.RESOURCES: job.spec.resources,
        Owner.METRICS: job.metrics,
    }
    out: dict[str, Any] = {"panda_id": job.panda_id}
    for f in JOB_FIELDS:
        value = getattr(owners[f.owner], f.attr)
        if f.codec is Codec.CSV:
            out[f.column] = list(value)
        elif f.codec is not Codec.PIN:
            out[f.column] = f.to_column(value)
    return out


def declared_attributes() -> set[tuple[Owner, str]]:
    """(owner, attribute) pairs the table covers, for the completeness test."""
    return {(f.owner, f.attr) for f in JOB_FIELDS}


def dataclass_attributes() -> set[tuple[Owner, str]]:
    """(owner, attribute) pairs of the job aggregate that must be stored (nested objects excluded)."""
    nested = {"spec", "resources", "errors", "metrics", "files", "panda_id"}
    pairs: set[tuple[Owner, str]] = set()
    for owner, cls in ((Owner.JOB, Job), (Owner.SPEC, JobSpec), (Owner.RESOURCES, ResourceRequest)):
        pairs |= {(owner, f.name) for f in fields(cls) if f.name not in nested}
    pairs |= {(Owner.METRICS, f.name) for f in fields(JobMetrics)}
    return pairs
