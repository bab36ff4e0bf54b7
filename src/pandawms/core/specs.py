"""Frozen value objects shared by every layer: queues, their load, resource requests, files and jobs.

Python names are snake_case; protocol/ maps them to PanDA's wire names (computingSite, minRamCount, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pandawms.core.ids import PandaID, QueueName
from pandawms.core.states import JobStatus


class QueueStatus(StrEnum):
    """PanDA queue status: brokeroff takes no new jobs from brokerage but still dispatches."""

    ONLINE = "online"
    BROKEROFF = "brokeroff"
    OFFLINE = "offline"
    TEST = "test"


class ProdSourceLabel(StrEnum):
    """The job's origin class (reference README §11)."""

    MANAGED = "managed"
    USER = "user"
    PANDA = "panda"
    TEST = "test"
    PTEST = "ptest"
    PROD_TEST = "prod_test"
    INSTALL = "install"


class ErrorComponent(StrEnum):
    """The components that set a (code, diag) pair on a job (reference errors.md §1)."""

    PILOT = "pilot"
    EXE = "exe"
    DDM = "ddm"
    JOBDISPATCHER = "jobdispatcher"
    TASKBUFFER = "taskbuffer"
    BROKERAGE = "brokerage"
    SUP = "sup"


class FileType(StrEnum):
    INPUT = "input"
    OUTPUT = "output"
    LOG = "log"


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One PanDA queue (computingSite) as configured. Limits of 0/None mean "no limit"."""

    name: QueueName
    status: QueueStatus = QueueStatus.ONLINE
    site: str = ""
    cores: int = 1
    max_memory_per_core: int = 2000  # MB
    max_walltime: int = 86400  # s
    max_disk: int = 0  # MB of scratch per job; 0 = unchecked
    max_running: int = 0
    max_queued: int = 0
    storage_element: str = ""
    ddm_input: str = ""  # the RSE the queue reads inputs from (PanDA SiteSpec.ddm_input); "" = none
    ddm_output: str = ""  # the RSE it writes outputs to (SiteSpec.ddm_output)
    copy_tool: str = "cp"
    description: str = ""


@dataclass(frozen=True, slots=True)
class QueueLoad:
    """Job counts of one queue, read from the task buffer for brokerage and the factory."""

    defined: int = 0
    assigned: int = 0
    activated: int = 0
    sent: int = 0
    starting: int = 0
    running: int = 0

    @property
    def queued(self) -> int:
        return self.defined + self.assigned + self.activated


@dataclass(frozen=True, slots=True)
class ResourceRequest:
    """What a job asks of a queue: memory in MB for the whole job, cores, walltime in s, disk in MB."""

    memory: int = 0
    cores: int = 1
    walltime: int = 0
    disk: int = 0


@dataclass(frozen=True, slots=True)
class FileSpec:
    """An input, output or log file of a job (per-attempt row)."""

    lfn: str
    type: FileType
    scope: str = ""
    dataset: str = ""
    guid: str = ""
    fsize: int = 0
    checksum: str = ""
    status: str = ""
    destination_se: str = ""
    surl: str = ""


@dataclass(frozen=True, slots=True)
class JobErrors:
    """The error components with code and diagnostic; code 0 means no error from that component."""

    codes: dict[ErrorComponent, int] = field(default_factory=dict)
    diags: dict[ErrorComponent, str] = field(default_factory=dict)

    def first(self) -> tuple[ErrorComponent, int, str] | None:
        for comp in ErrorComponent:
            code = self.codes.get(comp, 0)
            if code:
                return comp, code, self.diags.get(comp, "")
        return None


@dataclass(frozen=True, slots=True)
class JobMetrics:
    """Resource usage reported by the pilot (kB for memory, s for times)."""

    cpu_consumption_time: int | None = None
    max_rss: int | None = None
    max_pss: int | None = None
    max_vmem: int | None = None
    max_swap: int | None = None
    avg_rss: int | None = None
    avg_pss: int | None = None
    actual_core_count: int | None = None
    n_events: int | None = None
    job_metrics: str = ""


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job as submitted: what to run, where it may run and what it needs. Validated by protocol/."""

    transformation: str
    job_name: str = ""
    job_parameters: str = ""
    prod_source_label: ProdSourceLabel = ProdSourceLabel.USER
    prod_user_name: str = ""
    prod_user_id: str = ""  # the submitter's token sub (set by the server, never by the submitter)
    current_priority: int = 1000
    computing_site: QueueName | None = None
    included_sites: tuple[str, ...] = ()
    excluded_sites: tuple[str, ...] = ()
    resources: ResourceRequest = ResourceRequest()
    max_attempt: int = 3
    task_id: int | None = None
    jobset_id: int | None = None
    destination_se: str = ""  # the storage element (RSE) the outputs go to; "" = the queue's
    processing_type: str = ""  # PanDA's processingType: the task's, or "pmerge" for a merge job
    special_handling: str = ""  # PanDA's specialHandling flags, comma-joined ("sj" = a task's scout job)
    gshare: str = ""  # the global share leaf (core.shares), set by the server at creation; "" = none yet
    files: tuple[FileSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job (one attempt). status changes only through services/lifecycle.py."""

    panda_id: PandaID
    spec: JobSpec
    status: JobStatus
    attempt_nr: int
    parent_id: PandaID | None
    relation_type: str
    computing_site: QueueName | None
    command_to_pilot: str
    job_sub_status: str
    creation_time: datetime
    modification_time: datetime
    state_change_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    modification_host: str
    pilot_id: str
    batch_id: str
    errors: JobErrors
    metrics: JobMetrics
    trans_exit_code: int | None
    files: tuple[FileSpec, ...] = ()
    dispatch_dblock: str = ""  # the _dis block bringing its inputs to the queue (PanDA's dispatchDBlock)
    destination_dblock: str = ""  # the _sub block its outputs are registered in (destinationDBlock)


@dataclass(frozen=True, slots=True)
class JobQuery:
    """Filters of a job listing; values in one tuple are OR-ed, fields are AND-ed. Keyset on panda_id."""

    statuses: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    ids: tuple[int, ...] = ()
    parent_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    before_id: int | None = None
    limit: int = 100
