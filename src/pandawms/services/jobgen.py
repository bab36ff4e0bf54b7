"""The JobGenerator (flow step 3, scheduling.md §3-§6): ready task-file rows -> jobs in the job lifecycle.

One bunch (``generate_bunch``) is one transaction on one locked task: read its eligible ready rows in
order, split them (core.partition: scouts 1 file per job until the task is scouted, then the task's split
rules sized by its candidate queues' limits), render each job from the template (services/jobgen_specs),
create and broker the jobs (services.placement.create_and_place: data locality, Setupper) and mark the
rows ``running`` with their PandaID and the outputs ``running``, all or nothing. A row is therefore never
running without its job, and never in two jobs.

Task status: the first scouts move it ready -> scouting (nothing more until the scouts are evaluated and
it is ``scouted``); with skipScout, or once scouted, it goes ``running``. No candidate queue, or every job
of a bunch hopeless at brokerage -> ``pending`` with the reason (its rows stay ready, uncharged).
Throttle (scheduling.md §5): a task gets new jobs only while it has fewer than
``max(queue_limit, 2 x running)`` queued jobs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.brokerage import BrokerageRequest, check_queue
from pandawms.core.errors import InvalidInput
from pandawms.core.partition import split
from pandawms.core.shares import DEFAULT_TREE, Share
from pandawms.core.specs import QueueLoad, QueueSpec, ResourceRequest
from pandawms.core.states import JobStatus
from pandawms.core.tasks import GENERATING_STATES, TaskStatus
from pandawms.core.taskspecs import Task
from pandawms.db import task_files as tf_db
from pandawms.db import tasks as tasks_db
from pandawms.protocol.tasks import TaskParams
from pandawms.services import lifecycle_taskfiles, lifecycle_tasks, merging, placement, shares
from pandawms.services.jobgen_specs import (
    PlannedJob,
    TaskTemplate,
    plan_job,
    size_model,
    split_file,
    task_template,
)
from pandawms.services.placement import Broker

T = TaskStatus
_QUEUED = frozenset({JobStatus.DEFINED, JobStatus.WAITING, JobStatus.ASSIGNED, JobStatus.ACTIVATED})
_RUNNING = frozenset({JobStatus.SENT, JobStatus.STARTING, JobStatus.RUNNING})


@dataclass(frozen=True, slots=True)
class GenSettings:
    bunch_size: int = 500
    max_files_per_bunch: int = 5000
    queue_limit: int = 2000


@dataclass
class GenCycle:
    """What one generator cycle reads once and shares across its bunches: the brokerage snapshot (its
    loads updated as jobs are placed) and each task's template and remaining throttle headroom."""

    broker: Broker | None = None
    templates: dict[int, TaskTemplate] = field(default_factory=dict)
    headroom: dict[int, int] = field(default_factory=dict)

    def broker_for(self, conn: Connection) -> Broker:
        if self.broker is None:
            self.broker = Broker.load(conn)
        return self.broker


@dataclass(frozen=True, slots=True)
class Bunch:
    jobs: int = 0
    files: int = 0
    scouts: int = 0
    status: str = ""  # what happened to the task ("scouting", "running", "pending: ...", "broken: ...")
    more: bool = False  # rows were left for the next bunch (the bunch read as many as it could)


def headroom(conn: Connection, task_id: int, queue_limit: int) -> int:
    """How many more jobs the task may have queued now (JobThrottler, scheduling.md §5)."""
    counts = tf_db.task_job_counts(conn, task_id)
    queued = sum(n for s, n in counts.items() if s in _QUEUED)
    running = sum(n for s, n in counts.items() if s in _RUNNING)
    return max(0, max(queue_limit, 2 * running) - queued)


def _template(conn: Connection, cycle: GenCycle, task: Task) -> TaskTemplate:
    t = cycle.templates.get(task.task_id)
    if t is None or t.task.status is not task.status:
        params = TaskParams.model_validate_json(tasks_db.get_params(conn, task.task_id) or "{}")
        sets = tasks_db.datasets_of(conn, task.task_id)
        t = merging.premerge(task_template(task, params, sets), sets)  # mergeOutput: outputs are pieces
        cycle.templates[task.task_id] = t
    return dataclasses.replace(t, task=task)


def _candidates(task: Task, queues: Sequence[QueueSpec]) -> tuple[list[QueueSpec], str]:
    """Queues that could run the task's jobs whatever their size, and why the others cannot."""
    s = task.spec
    request = BrokerageRequest(
        ResourceRequest(memory=s.ram_count * max(1, s.core_count), cores=max(1, s.core_count)),
        s.prod_source_label,
        s.included_sites,
        s.excluded_sites,
    )
    found, why = [], []
    for q in queues:
        rejection = check_queue(request, q, QueueLoad())
        if rejection is None or not rejection.permanent:
            found.append(q)
        else:
            why.append(f"{q.name}: {rejection.reason}")
    return found, "; ".join(why) or "no queues configured"


def _limits(queues: Sequence[QueueSpec]) -> tuple[int, int]:
    """The most restrictive walltime (s) and scratch (MB) among the candidates (0 = none)."""
    walls = [q.max_walltime for q in queues if q.max_walltime > 0]
    disks = [q.max_disk for q in queues if q.max_disk > 0]
    return min(walls, default=0), min(disks, default=0)


def _scouting(task: Task, t: TaskTemplate) -> bool:
    return task.status in (T.READY, T.SCOUTING) and not t.skip_scout


def generate_bunch(
    conn: Connection, task_id: int, now: datetime, limit: int, cycle: GenCycle, settings: GenSettings
) -> Bunch:
    """Make up to ``limit`` (and the task's headroom) jobs of one task in the caller's transaction."""
    task = tasks_db.get_task(conn, task_id, lock=True)
    if task is None or task.status not in GENERATING_STATES:
        return Bunch()
    try:
        t = _template(conn, cycle, task)
    except (InvalidInput, StopIteration, KeyError) as exc:
        lifecycle_tasks.transition_task(conn, task_id, T.BROKEN, now, f"cannot make jobs: {exc}")
        return Bunch(status=f"broken: {exc}")
    scout = _scouting(task, t)  # a scouting task gets only its scout rows (their retries too)
    room = cycle.headroom.get(task_id)
    if room is None:
        room = cycle.headroom[task_id] = headroom(conn, task_id, settings.queue_limit)
    max_jobs = min(limit, settings.bunch_size, room)
    if max_jobs <= 0:
        return Bunch()
    broker = cycle.broker_for(conn)
    candidates, why = _candidates(task, broker.queues)
    if not candidates:
        return _pending(conn, task, f"no queue can run the task's jobs: {why}", now)
    wanted = max_jobs if scout else min(settings.max_files_per_bunch, max_jobs * _files_per_job(t))
    rows = tf_db.ready_rows(conn, t.master.dataset_id, wanted, scouts_only=scout)
    if not rows:
        if scout and task.status is T.READY:  # no scout rows (none marked): straight to running
            lifecycle_tasks.transition_task(conn, task_id, T.RUNNING, now, "no scout files")
        return Bunch()
    size = size_model(task, *_limits(candidates))
    chunks = split([split_file(r) for r in rows], t.rules, size, max_jobs=max_jobs, scout=scout)
    by_id = {r.file_id: r for r in rows}
    serial = max((o.dataset.next_serial for o in t.outputs), default=1)
    try:
        planned = [
            plan_job(t, c, [by_id[f.row_id] for f in c.files], serial + i, scout)
            for i, c in enumerate(chunks)
        ]
    except InvalidInput as exc:
        lifecycle_tasks.transition_task(conn, task_id, T.BROKEN, now, f"cannot make jobs: {exc}")
        return Bunch(status=f"broken: {exc}")
    bunch = _store(conn, t, planned, serial, scout, now, cycle)
    left = len(rows) > bunch.files or len(rows) == wanted
    stopped = bunch.status.startswith(("pending", "broken"))
    return dataclasses.replace(bunch, more=left and cycle.headroom[task_id] > 0 and not stopped)


def _files_per_job(t: TaskTemplate) -> int:
    """Rows a job takes at most (how many rows a bunch reads for ``bunch_size`` jobs)."""
    r = t.rules
    if r.n_events_per_job is not None:
        return r.n_max_files_per_job
    return r.n_files_per_job or r.n_max_files_per_job


def _store(
    conn: Connection,
    t: TaskTemplate,
    planned: Sequence[PlannedJob],
    serial: int,
    scout: bool,
    now: datetime,
    cycle: GenCycle,
) -> Bunch:
    task = t.task
    broker = cycle.broker_for(conn)
    reason = "scout job of task" if scout else "job of task"
    placed = placement.create_and_place(
        conn, [(p.spec, p.lineage) for p in planned], now, reason=f"{reason} {task.task_id}", broker_=broker
    )
    pairs = [(r, pl.panda_id) for p, pl in zip(planned, placed, strict=True) for r in p.rows]
    lifecycle_taskfiles.start_files(conn, pairs, now)
    outputs = [
        tf_db.for_job(o, pl.panda_id) for p, pl in zip(planned, placed, strict=True) for o in p.outputs
    ]
    lifecycle_taskfiles.add_outputs(conn, outputs, now)
    for o in {o.dataset.dataset_id for o in t.outputs}:
        tasks_db.update_dataset(conn, o, now, {"next_serial": serial + len(planned)})
    cycle.templates.pop(task.task_id, None)  # next_serial moved: read the datasets again next bunch
    cycle.headroom[task.task_id] -= len(planned)
    hopeless = [pl for pl in placed if pl.status is JobStatus.FAILED]
    if hopeless and len(hopeless) == len(placed):
        for pl in hopeless:
            lifecycle_taskfiles.release_job(conn, pl.panda_id, now)
        return _pending(conn, task, f"brokerage: {hopeless[0].diag}", now)
    for pl in hopeless:  # some jobs fit no queue (e.g. memory raised by retries): an attempt each
        lifecycle_taskfiles.job_ended(conn, pl.panda_id, JobStatus.CLOSED, now)
    status = _advance(conn, task, scout, len(planned), now)
    n_files = sum(len(p.rows) for p in planned)
    return Bunch(len(planned), n_files, len(planned) if scout else 0, status)


def _advance(conn: Connection, task: Task, scout: bool, n: int, now: datetime) -> str:
    if scout:
        tasks_db.update_task(conn, task.task_id, now, {"scout_jobs": task.scout_jobs + n})
        if task.status is T.READY:
            lifecycle_tasks.transition_task(conn, task.task_id, T.SCOUTING, now, f"{n} scout jobs generated")
            return "scouting"
        return ""
    if task.status is not T.RUNNING:
        why = "skipScout: no scouts" if task.status is T.READY else "scouted: avalanche"
        lifecycle_tasks.transition_task(conn, task.task_id, T.RUNNING, now, why)
        return "running"
    return ""


def _pending(conn: Connection, task: Task, reason: str, now: datetime) -> Bunch:
    lifecycle_tasks.transition_task(conn, task.task_id, T.PENDING, now, reason)
    return Bunch(status=f"pending: {reason}")


def tasks_to_generate(conn: Connection, limit: int, tree: Share = DEFAULT_TREE) -> list[int]:
    """Tasks in the generating states: the most under-served global share's first, by priority inside
    a share (services/shares.task_order)."""
    return shares.task_order(conn, tree, sorted(GENERATING_STATES), limit)
