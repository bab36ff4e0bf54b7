"""Answers of the task API (task/submit, get_status, get_details, list) in JEDI's names (JEDI_Tasks,
JEDI_Datasets). The request side, PanDA's task-parameter JSON, is protocol/tasks.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pandawms.core.tasks import INPUT_TYPES, FileCounts, TaskDatasetStatus, TaskDatasetType, TaskStatus
from pandawms.core.taskspecs import Task, TaskDataset, master_counts
from pandawms.protocol.times import UtcDateTime


class SubmitTaskAnswer(BaseModel):
    """task/submit: the new task's id and status (``defined``: the agents take it from there)."""

    model_config = ConfigDict(populate_by_name=True)
    task_id: int = Field(alias="jediTaskID")
    status: TaskStatus


class TaskStatusOut(BaseModel):
    """task/get_status: where the task is and why."""

    model_config = ConfigDict(populate_by_name=True)
    task_id: int = Field(alias="jediTaskID")
    status: TaskStatus
    old_status: TaskStatus | None = Field(alias="oldStatus", description="what pending/paused return to")
    error_dialog: str = Field(alias="errorDialog")

    @classmethod
    def of(cls, t: Task) -> TaskStatusOut:
        return cls(task_id=t.task_id, status=t.status, old_status=t.old_status, error_dialog=t.error_dialog)


class TaskSummary(TaskStatusOut):
    """A task in a listing, with its progress in master input files and its running jobs."""

    task_name: str = Field(alias="taskName")
    user_name: str = Field(alias="userName")
    prod_source_label: str = Field(alias="prodSourceLabel")
    working_group: str = Field(alias="workingGroup")
    current_priority: int = Field(alias="currentPriority")
    parent_tid: int | None
    creation_time: UtcDateTime = Field(alias="creationDate")
    modification_time: UtcDateTime = Field(alias="modificationTime")
    n_files: int = Field(alias="nFiles", description="master input files (pseudo-input rows for noInput)")
    n_files_finished: int = Field(alias="nFilesFinished")
    n_files_failed: int = Field(alias="nFilesFailed")
    n_jobs_running: int = Field(alias="nJobsRunning")

    @classmethod
    def summary(cls, t: Task, progress: FileCounts, running: int) -> TaskSummary:
        return cls(**_summary_fields(t, progress, running))


def _summary_fields(t: Task, progress: FileCounts, running: int) -> dict[str, Any]:
    return {
        "task_id": t.task_id,
        "status": t.status,
        "old_status": t.old_status,
        "error_dialog": t.error_dialog,
        "task_name": t.spec.task_name,
        "user_name": t.spec.user_name,
        "prod_source_label": t.spec.prod_source_label.value,
        "working_group": t.spec.working_group,
        "current_priority": t.current_priority,
        "parent_tid": t.spec.parent_task_id,
        "creation_time": t.creation_time,
        "modification_time": t.modification_time,
        "n_files": progress.total,
        "n_files_finished": progress.finished,
        "n_files_failed": progress.failed,
        "n_jobs_running": running,
    }


class TaskListPage(BaseModel):
    """A page of task/list, newest first; pass ``next_before_id`` as ``before_id`` for the next page."""

    tasks: list[TaskSummary]
    next_before_id: int | None


class TaskDatasetOut(BaseModel):
    """One dataset of a task with its file counters."""

    model_config = ConfigDict(populate_by_name=True)
    dataset_id: int = Field(alias="datasetID")
    type: TaskDatasetType
    master_id: int | None = Field(alias="masterID", description="the master input of a secondary input")
    dataset_name: str = Field(alias="datasetName", description="scope:name")
    status: TaskDatasetStatus
    mutable: bool = Field(description="still being produced by the parent task")
    template: str = Field(description="output/log file name template")
    destination: str
    n_files: int = Field(alias="nFiles")
    n_files_used: int = Field(alias="nFilesUsed")
    n_files_finished: int = Field(alias="nFilesFinished")
    n_files_failed: int = Field(alias="nFilesFailed")
    n_events: int = Field(alias="nEvents")
    n_events_used: int = Field(alias="nEventsUsed")

    @property
    def is_master_input(self) -> bool:
        return self.master_id is None and self.type in INPUT_TYPES

    @classmethod
    def of(cls, d: TaskDataset) -> TaskDatasetOut:
        return cls(
            dataset_id=d.dataset_id,
            type=d.type,
            master_id=d.master_id,
            dataset_name=d.did,
            status=d.status,
            mutable=d.mutable,
            template=d.template,
            destination=d.destination,
            n_files=d.n_files,
            n_files_used=d.n_files_used,
            n_files_finished=d.n_files_finished,
            n_files_failed=d.n_files_failed,
            n_events=d.n_events,
            n_events_used=d.n_events_used,
        )


class TaskHistoryOut(BaseModel):
    status: str
    previous: str
    time: UtcDateTime
    reason: str


class ScoutMeasurements(BaseModel):
    """What the scouts measured (the task's sizes once it was scouted) and the scouted history reason."""

    model_config = ConfigDict(populate_by_name=True)
    cpu_time: float = Field(alias="cpuTime", description="HS06 s per event")
    ram_count: int = Field(alias="ramCount", description="MB per core")
    out_disk_count: int = Field(alias="outDiskCount", description="bytes per event")
    time: UtcDateTime
    reason: str


class TaskRecord(TaskSummary):
    """task/get_details: every task attribute (PanDA's names), its datasets, history and jobs by status."""

    vo: str
    task_type: str = Field(alias="taskType")
    processing_type: str = Field(alias="processingType")
    task_priority: int = Field(alias="taskPriority")
    global_share: str = Field(alias="gshare")
    trans_path: str = Field(alias="transPath")
    core_count: int = Field(alias="coreCount")
    ram_count: int = Field(alias="ramCount", description="MB per core")
    base_ram_count: int = Field(alias="baseRamCount")
    walltime: int
    cpu_time: float = Field(alias="cpuTime", description="HS06 s per event")
    base_walltime: int = Field(alias="baseWalltime")
    cpu_efficiency: int = Field(alias="cpuEfficiency")
    out_disk_count: int = Field(alias="outDiskCount", description="bytes per event")
    work_disk_count: int = Field(alias="workDiskCount")
    split_rule: str = Field(alias="splitRule")
    max_attempt: int = Field(alias="maxAttempt")
    goal: int = Field(description="per mille of master input files")
    included_sites: list[str] = Field(alias="includedSite")
    excluded_sites: list[str] = Field(alias="excludedSite")
    scout_jobs: int = Field(alias="nScoutJobs")
    locked_by: str = Field(alias="lockedBy")
    state_change_time: UtcDateTime = Field(alias="stateChangeTime")
    start_time: UtcDateTime | None = Field(alias="startTime")
    end_time: UtcDateTime | None = Field(alias="endTime")
    datasets: list[TaskDatasetOut]
    history: list[TaskHistoryOut]
    job_counts: dict[str, int] = Field(alias="jobStatusCounts", description="the task's jobs by status")
    scouts: ScoutMeasurements | None = Field(description="null until the scouts were evaluated")

    @classmethod
    def record(
        cls,
        t: Task,
        datasets: Sequence[TaskDataset],
        history: list[TaskHistoryOut],
        job_counts: dict[str, int],
        scouts: ScoutMeasurements | None,
    ) -> TaskRecord:
        s = t.spec
        return cls(
            **_summary_fields(t, master_counts(datasets), job_counts.get("running", 0)),
            vo=s.vo,
            task_type=s.task_type,
            processing_type=s.processing_type,
            task_priority=s.task_priority,
            global_share=s.global_share,
            trans_path=s.transformation,
            core_count=s.core_count,
            ram_count=s.ram_count,
            base_ram_count=s.base_ram_count,
            walltime=s.walltime,
            cpu_time=s.cpu_time,
            base_walltime=s.base_walltime,
            cpu_efficiency=s.cpu_efficiency,
            out_disk_count=s.out_disk_count,
            work_disk_count=s.work_disk_count,
            split_rule=s.split_rule,
            max_attempt=s.max_attempt,
            goal=s.goal,
            included_sites=list(s.included_sites),
            excluded_sites=list(s.excluded_sites),
            scout_jobs=t.scout_jobs,
            locked_by=t.locked_by,
            state_change_time=t.state_change_time,
            start_time=t.start_time,
            end_time=t.end_time,
            datasets=[TaskDatasetOut.of(d) for d in datasets],
            history=history,
            job_counts=job_counts,
            scouts=scouts,
        )
