"""The JSON twins of the task pages (/tasks/, /task/<id>/); camelCase keys as the other pages', a task row
in the task API's names (``jediTaskID``, ``nFilesFinished``, ...) as job rows carry the job API's."""

from __future__ import annotations

from pydantic import Field

from pandawms.monitor.models import Chart, ErrorEntry, SelectionOut, StateCount, _Model
from pandawms.protocol.task_records import TaskSummary
from pandawms.protocol.times import UtcDateTime


class FileProgress(_Model):
    """Master input files of a task by outcome (progress is counted in input files, not jobs)."""

    total: int
    finished: int
    failed: int
    remaining: int = Field(description="total - finished - failed: still to be processed (or retried)")
    finished_percent: float
    failed_percent: float


class TaskRow(TaskSummary):
    """A task as task/list answers it (protocol/task_records.TaskSummary), plus the monitor's columns."""

    task_type: str = Field(alias="taskType")
    processing_type: str = Field(alias="processingType")
    task_priority: int = Field(alias="taskPriority")
    progress: FileProgress
    jobs_queued: int = Field(
        alias="nJobsQueued", description="its jobs defined, assigned, activated or sent (not running yet)"
    )
    url: str


class ShareRow(_Model):
    """One leaf of the global share tree: its target and what its running jobs use now."""

    name: str
    target: float = Field(description="absolute target fraction (the product of the fractions to the root)")
    cores: int = Field(description="cores of the running jobs mapped to this leaf")
    usage: float = Field(description="its share of all running cores (0..1)")
    ratio: float | None = Field(
        description="usage / target: < 1 under-served, 1 on target; null when a 0-target leaf runs work"
    )


class TasksPage(_Model):
    selection: SelectionOut
    total: int
    total_exact: bool = Field(description="false: at least `total` (the newest `limit` were counted)")
    state_counts: list[StateCount]
    tasks: list[TaskRow]
    next_url: str | None
    shares: list[ShareRow]


class TaskParam(_Model):
    name: str
    value: str


class TaskDatasetRow(_Model):
    dataset_id: int = Field(alias="datasetID")
    type: str
    master: bool = Field(description="a master input (progress counts its files)")
    did: str
    url: str = Field(description="the catalog page of the dataset")
    status: str
    n_files: int
    n_files_used: int
    n_files_finished: int
    n_files_failed: int
    n_events: int
    files_by_state: dict[str, int] = Field(description="its task file rows per state")


class ScoutRow(_Model):
    panda_id: int = Field(alias="PandaID")
    job_status: str = Field(alias="jobStatus")
    computing_site: str | None = Field(alias="computingSite")
    n_events: int = Field(alias="nEvents")
    cpu_time: int | None = Field(description="CPU seconds consumed")
    walltime: int | None = Field(description="seconds from start to end")
    max_pss: int | None = Field(alias="maxPSS", description="kB")
    cores: int
    error: str
    url: str


class ScoutsOut(_Model):
    jobs: list[ScoutRow] = Field(description='the scout jobs (specialHandling "sj")')
    measured: list[TaskParam] = Field(description="the task's sizes the scouts set (cpuTime, ramCount, ...)")
    report: str = Field(description="the history reason of the scouted (or failed scouting) change")


class AttemptCount(_Model):
    attempt: int
    files: int


class FailedFileOut(_Model):
    scope: str
    lfn: str
    dataset: str
    attempt: int
    max_attempt: int
    panda_id: int | None = Field(alias="PandaID", description="the last job that used it")
    error: str = Field(description="that job's errors, component:code diag")
    url: str


class RetriesOut(_Model):
    attempts: list[AttemptCount] = Field(description="input rows retried, by attemptNr (> 0)")
    failed_files: list[FailedFileOut] = Field(description="the first input rows failed finally")
    failed_total: int


class TaskHistoryRow(_Model):
    status: str
    previous: str
    time: UtcDateTime
    reason: str


class TaskPage(_Model):
    selection: SelectionOut
    task: TaskRow
    params: list[TaskParam] = Field(description="the task row's fields")
    task_params: str = Field(description="the task-parameter JSON as submitted (indented)")
    datasets: list[TaskDatasetRow]
    job_counts: list[StateCount]
    jobs_total: int
    scouts: ScoutsOut
    retries: RetriesOut
    errs_by_count: list[ErrorEntry] = Field(description="error codes of its failed jobs, most frequent first")
    charts: list[Chart]
    history: list[TaskHistoryRow] = Field(description="its newest status changes, oldest first")
