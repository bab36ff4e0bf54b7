"""What the JobGenerator makes of a task and its job chunks: JobSpecs and their output rows (no I/O).

A task's template (``TaskTemplate``) is read once per cycle from its parameters and datasets; each chunk
of rows (core.partition) then becomes one JobSpec with its rendered command line (core.jobparams), its
inputs (the rows' catalog files), outputs and log named from the templates with the job's serial number,
and resources from the task and the rows (ramCount after retries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pandawms.core.brokerage import SCOUT_FLAG
from pandawms.core.changes import Lineage
from pandawms.core.jobparams import JobValues, TemplateItem, output_lfn, render
from pandawms.core.partition import JobChunk, SizeModel, SplitFile, SplitRules
from pandawms.core.specs import FileSpec, FileType, JobSpec, ResourceRequest
from pandawms.core.tasks import TaskDatasetType, TaskFileStatus
from pandawms.core.taskspecs import Task, TaskDataset, split_codes
from pandawms.db.task_files import NewTaskFile, TaskFileRow
from pandawms.protocol.tasks import TaskParams, dataset_name_did

MB = 1024 * 1024
SCOUT_PRIORITY_FLOOR = 901  # scheduling.md §6: scouts run at max(901, taskPriority + 1)


@dataclass(frozen=True, slots=True)
class OutputTemplate:
    dataset: TaskDataset
    template: str
    offset: int
    file_type: FileType


@dataclass(frozen=True, slots=True)
class TaskTemplate:
    """A task's job template: parameter items, master dataset, output and log datasets with offsets."""

    task: Task
    items: tuple[TemplateItem, ...]
    master: TaskDataset
    outputs: tuple[OutputTemplate, ...]  # outputs in template order, then the log
    rules: SplitRules
    codes: Mapping[str, str]

    @property
    def skip_scout(self) -> bool:
        return "SK" in self.codes


def _did(text: str | None, field: str) -> str:
    return str(dataset_name_did(text or "", field))


def _items(params: TaskParams) -> tuple[TemplateItem, ...]:
    out = []
    for i, p in enumerate(params.job_parameters):
        dataset = _did(p.dataset, f"jobParameters[{i}].dataset") if p.dataset else ""
        out.append(TemplateItem(p.value, p.param_type or "", dataset, p.offset, p.hidden))
    return tuple(out)


def _code(codes: Mapping[str, str], code: str) -> float | None:
    value = codes.get(code)
    return float(value) if value else None


def split_rules(codes: Mapping[str, str]) -> SplitRules:
    """The task's split rules from its split-rule codes (scheduling.md §4)."""
    nf, ne, ng = _code(codes, "NF"), _code(codes, "NE"), _code(codes, "NG")
    mf, mw, mx = _code(codes, "MF"), _code(codes, "MW"), _code(codes, "MX")
    return SplitRules(
        n_files_per_job=int(nf) if nf else None,
        n_events_per_job=int(ne) if ne else None,
        n_gb_per_job=ng,
        n_max_files_per_job=int(mf) if mf else 200,
        max_walltime_h=mw,
        max_events_per_job=int(mx) if mx else None,
    )


def task_template(task: Task, params: TaskParams, datasets: Sequence[TaskDataset]) -> TaskTemplate:
    """The template of a task (InvalidInput naming the item if its parameters cannot make jobs)."""
    items = _items(params)
    by_did = {d.did: d for d in datasets}
    master = next(d for d in datasets if d.type in (TaskDatasetType.INPUT, TaskDatasetType.PSEUDO_INPUT))
    outputs = []
    for i, item in params.items_of("output"):
        ds = by_did[_did(item.dataset, f"jobParameters[{i}].dataset")]
        outputs.append(OutputTemplate(ds, ds.template, item.offset, FileType.OUTPUT))
    if params.log is not None:
        ds = by_did[_did(params.log.dataset, "log.dataset")]
        outputs.append(OutputTemplate(ds, ds.template, params.log.offset, FileType.LOG))
    codes = split_codes(task.spec.split_rule)
    return TaskTemplate(task, items, master, tuple(outputs), split_rules(codes), codes)


def size_model(task: Task, max_walltime: int, max_disk_mb: int) -> SizeModel:
    """What partitioning knows of the task and its most restrictive candidate queue."""
    s = task.spec
    return SizeModel(
        cpu_time_per_event=s.cpu_time,
        base_walltime=s.base_walltime,
        cpu_efficiency=s.cpu_efficiency / 100,
        cores=max(1, s.core_count),
        out_disk_per_event=s.out_disk_count,
        work_disk=s.work_disk_count,
        queue_max_walltime=max_walltime,
        queue_max_disk=max_disk_mb * MB,
    )


def split_file(r: TaskFileRow) -> SplitFile:
    return SplitFile(r.file_id, r.fsize, r.n_events, r.start_event, r.end_event, r.boundary, r.ram_count)


@dataclass(frozen=True, slots=True)
class PlannedJob:
    """One job to create, the rows it takes and the output rows it will produce (PandaID still unknown)."""

    spec: JobSpec
    lineage: Lineage
    rows: tuple[TaskFileRow, ...]
    outputs: tuple[NewTaskFile, ...]


def _inputs(t: TaskTemplate, rows: Sequence[TaskFileRow]) -> tuple[FileSpec, ...]:
    if t.master.type is TaskDatasetType.PSEUDO_INPUT:
        return ()
    dataset = t.master.did
    out: dict[tuple[str, str], FileSpec] = {}  # event ranges of one file: one input file
    for r in rows:
        out.setdefault(
            (r.scope, r.lfn),
            FileSpec(r.lfn, FileType.INPUT, r.scope, dataset, r.guid, r.fsize, r.checksum),
        )
    return tuple(out.values())


def _output_rows(t: TaskTemplate, lfns: Sequence[str]) -> tuple[NewTaskFile, ...]:
    task_id = t.task.task_id
    return tuple(
        NewTaskFile(task_id, o.dataset.dataset_id, o.dataset.scope, lfn, TaskFileStatus.RUNNING)
        for o, lfn in zip(t.outputs, lfns, strict=True)
    )


def plan_job(
    t: TaskTemplate, chunk: JobChunk, rows: Sequence[TaskFileRow], serial: int, scout: bool
) -> PlannedJob:
    """The JobSpec of one chunk with serial number ``serial`` (each output/log adds its own offset)."""
    task, spec = t.task, t.task.spec
    lfns = [output_lfn(o.template, serial + o.offset, task.task_id, o.dataset.did) for o in t.outputs]
    n_outputs = sum(o.file_type is FileType.OUTPUT for o in t.outputs)
    first = rows[0]
    values = JobValues(
        task_id=task.task_id,
        serial=serial,
        master=t.master.did,
        inputs={t.master.did: [f.lfn for f in _inputs(t, rows)]},
        outputs=lfns[:n_outputs],
        first_event=first.start_event,
        n_events=chunk.n_events or None,
    )
    files = _inputs(t, rows) + tuple(
        FileSpec(lfn, o.file_type, o.dataset.scope, o.dataset.did, destination_se=o.dataset.destination)
        for o, lfn in zip(t.outputs, lfns, strict=True)
    )
    ram = max(chunk.ram_count, spec.ram_count)
    cores = max(1, spec.core_count)
    attempt = max(r.attempt_nr for r in rows) + 1
    priority = max(SCOUT_PRIORITY_FLOOR, spec.task_priority + 1) if scout else task.current_priority
    job = JobSpec(
        transformation=spec.transformation,
        job_name=f"{spec.task_name}.{serial:06d}"[:256],
        job_parameters=render(t.items, values),
        prod_source_label=spec.prod_source_label,
        prod_user_name=spec.user_name,
        current_priority=priority,
        included_sites=spec.included_sites,
        excluded_sites=spec.excluded_sites,
        resources=ResourceRequest(
            memory=ram * cores + spec.base_ram_count if ram else 0,
            cores=cores,
            walltime=chunk.walltime or spec.walltime,
            disk=chunk.disk // MB,
        ),
        max_attempt=attempt,  # JEDI's jobs carry maxAttempt = attemptNr: the files are retried, not the job
        task_id=task.task_id,
        destination_se=next((o.dataset.destination for o in t.outputs if o.dataset.destination), ""),
        processing_type=spec.processing_type,
        special_handling=SCOUT_FLAG if scout else "",
        gshare=spec.global_share,
        files=files,
    )
    lineage = Lineage(attempt_nr=attempt, relation_type="retry" if attempt > 1 else "")
    return PlannedJob(job, lineage, tuple(rows), _output_rows(t, lfns))
