"""The data of every monitor page: one model per page, rendered as HTML or served as its JSON twin.

JSON keys are camelCase (``errsByCount``, ``selectionsummary`` as BigPanDA names them); jobs carry the
API's PanDA field names (``PandaID``, ``jobStatus``, ...) plus the monitor's derived columns.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from pandawms.protocol.jobs import JobRecord
from pandawms.protocol.times import UtcDateTime


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class WindowOut(_Model):
    since: UtcDateTime | None
    until: UtcDateTime | None
    label: str


class SelectionOut(_Model):
    """What the page shows: the filters as given in the URL, the time window and the read limit."""

    params: dict[str, str]
    window: WindowOut
    description: str
    limit: int = 0


class StateCount(_Model):
    state: str
    count: int
    url: str


class AttrValue(_Model):
    value: str
    count: int
    url: str = Field(description="this page with the filter added")


class Attribute(_Model):
    name: str = Field(description="the URL parameter")
    label: str
    values: list[AttrValue]


class ErrorEntry(_Model):
    component: str
    code: int
    acronym: str
    description: str
    category: int
    category_name: str
    fill: str
    strong: str
    advice: str
    count: int = 0
    latest: UtcDateTime | None = None
    sample_diag: str = ""
    url: str = Field("", description="the job list of these failures")


class ChartSeries(_Model):
    name: str
    color: str
    values: list[int]


class Chart(_Model):
    name: str
    title: str
    kind: str = Field(description="stacked (time bars) or bars (histogram)")
    labels: list[str]
    series: list[ChartSeries]
    unit: str = "jobs"


class JobRow(JobRecord):
    """A job with every column, plus time to start, duration (seconds) and its first error."""

    time_to_start: int | None = Field(None, alias="timeToStart")
    duration: int | None = Field(None, alias="duration")
    error: str = Field("", alias="error")
    error_code: str = Field("", alias="errorCode", description="the first error as component:code ACRONYM")
    error_diag: str = Field("", alias="errorDiag")


class JobsPage(_Model):
    selection: SelectionOut
    total: int
    total_exact: bool
    summarised: int = Field(description="jobs the summaries cover (the newest `limit` of the selection)")
    hourly: bool = Field(
        default=False,
        description="summaries of final jobs from the hourly aggregates (all of them; charts in bins of "
        "an hour or more), of active jobs from their newest `limit`",
    )
    state_counts: list[StateCount]
    selectionsummary: list[Attribute]
    errs_by_count: list[ErrorEntry]
    jobs: list[JobRow]
    next_url: str | None
    charts: list[Chart]


class HistoryRow(_Model):
    status: str
    previous: str
    time: UtcDateTime
    host: str
    reason: str


class ResourceRow(_Model):
    name: str
    requested: str
    used: str


class LogFile(_Model):
    name: str
    size: int
    text: str | None = Field(description="content (escaped in HTML) when it is a text file")
    truncated: bool
    binary: bool


class LogOut(_Model):
    filename: str
    size: int
    files: list[LogFile]
    error: str = ""


class BrokerageOut(_Model):
    time: UtcDateTime
    chosen: str | None
    summary: str
    rejected: dict[str, dict[str, object]]


class JobPage(_Model):
    job: JobRow
    files: list[dict[str, object]]
    history: list[HistoryRow]
    errors: list[ErrorEntry]
    resources: list[ResourceRow]
    brokerage: BrokerageOut | None
    parent: int | None
    retries: list[int]
    log: LogOut | None
    log_message: str = ""
    pilot_log: str = Field("", description="the tail of the pilot log sent with the pilot's updates")
    meta_data: str = Field("", description="the job report (metadata, JSON) the pilot sent")
    stage: list[StageRow] = Field(default_factory=list, description="stage-in and stage-out of its files")
    transfers: list[TransferOut] = Field(
        default_factory=list, description="transfer requests of its files (stage-in to its queue's RSE)"
    )
    blocks: list[DataBlock] = Field(default_factory=list, description="its _dis and _sub blocks")


class GroupErrors(_Model):
    name: str
    url: str
    finished: int
    failed: int
    failure_rate: float | None
    errors: list[ErrorEntry]


class ErrorsPage(_Model):
    selection: SelectionOut
    job_summary: list[StateCount]
    failure_rate: float | None
    errs_by_count: list[ErrorEntry]
    errs_by_site: list[GroupErrors]
    errs_by_user: list[GroupErrors]
    charts: list[Chart]


class SiteRow(_Model):
    name: str
    status: str
    site: str
    url: str
    counts: dict[str, int] = Field(description="active jobs now, final jobs in the window, by state")
    failure_rate: float | None
    workers: dict[str, int]
    cores: int
    max_memory_per_core: int
    max_walltime: int
    max_running: int
    max_queued: int


class RejectionOut(_Model):
    panda_id: int = Field(alias="PandaID")
    time: UtcDateTime
    reason: str
    permanent: bool


class SitesPage(_Model):
    selection: SelectionOut
    sites: list[SiteRow]


class BatchErrorOut(_Model):
    time: UtcDateTime
    harvester_id: str
    worker_id: int | None
    batch_id: str
    batch_state: str = Field(description="the native batch state, '' for a failed batch command")
    exit_code: int | None
    reason: str


class SitePage(_Model):
    selection: SelectionOut
    site: SiteRow
    description: str
    storage_element: str
    copy_tool: str
    diagnosis: list[str] = Field(description="plain answers to 'why is nothing running here?'")
    rejections: list[RejectionOut]
    waiting: list[RejectionOut] = Field(
        description="defined jobs still unbrokered whose diagnosis names this queue"
    )
    errs_by_count: list[ErrorEntry]
    charts: list[Chart]
    batch_states: dict[str, int] = Field(
        description="live workers by their native batch state (squeue's PENDING, RUNNING ...)"
    )
    batch_states_ended: dict[str, int] = Field(
        description="workers that ended in the window by their last native batch state"
    )
    batch_errors: list[BatchErrorOut] = Field(
        description="the latest batch-system errors, newest first: failed or missed workers and failed "
        "batch commands"
    )


class UserRow(_Model):
    name: str
    url: str
    counts: dict[str, int]
    failure_rate: float | None
    cpu_hours: float


class UsersPage(_Model):
    selection: SelectionOut
    users: list[UserRow]


class UserPage(_Model):
    selection: SelectionOut
    user: UserRow
    errs_by_count: list[ErrorEntry]
    charts: list[Chart]


class QueueCounts(_Model):
    """One queue on the home page: its jobs of the window by state (from the summarised jobs)."""

    name: str
    url: str
    counts: dict[str, int]
    failure_rate: float | None


class HomePage(_Model):
    selection: SelectionOut
    state_counts: list[StateCount]
    total: int
    failure_rate: float | None
    charts: list[Chart]
    queues: list[QueueCounts] = Field(default_factory=list)
    recent_failures: list[JobRow] = Field(default_factory=list, description="the newest failed jobs")


class ErrorBody(BaseModel):
    """A refused request (400 bad parameter, 404 not found), as BigPanDA answers it."""

    error: str


# -- the job page's data movement (also used by the data pages) ---------------------------------------


class TransferOut(_Model):
    """One transfer request: a file copied to a rule's RSE."""

    request_id: int
    rule_id: int
    did: str
    source_rse: str
    dest_rse: str
    state: str = Field(description="queued, submitted (active), done or failed")
    attempt: int
    max_attempts: int
    bytes: int
    method: str
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    last_error: str
    modification_time: UtcDateTime


class RuleOut(_Model):
    """A replication rule (DID -> RSE) with its file counters."""

    rule_id: int
    did: str
    rse: str
    state: str = Field(description="replicating, ok or stuck")
    files_ok: int
    files_replicating: int
    files_stuck: int
    expires_at: UtcDateTime | None
    error: str
    rse_url: str


class DataBlock(_Model):
    """A job's dispatch block (_dis: its inputs brought to the queue's RSE) or destination block (_sub:
    its outputs), with the rules that move it."""

    role: str = Field(description="dispatch or destination")
    did: str
    url: str
    rules: list[RuleOut]


class StageRow(_Model):
    """Where one file of a job must be for stage-in (the queue's input RSE) or goes at stage-out."""

    type: str
    did: str = Field(description="scope:lfn, empty for a file outside the catalog")
    rse: str = Field(description="the queue's ddm_input for inputs; destinationSE or ddm_output for outputs")
    replica: str = Field(description="the replica's state at that RSE, or 'missing'")
    status: str = Field(description="the job file's own status")
