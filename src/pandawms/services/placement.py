"""Placing jobs on queues: run brokerage for new or unbrokered jobs, set up their data and record why.

Jobs follow the data: a job with catalog inputs is weighed by the share of its input at each queue
(core.locality), and the Setupper's decision for the chosen queue makes it ``activated`` (inputs there),
``assigned`` (a ``_dis`` block and a rule bring the rest: services/setupper.py) or ``waiting`` (an input
exists nowhere yet). Only temporary rejections (offline, brokeroff, full) -> the job stays ``defined``
and the brokerage agent tries again. Permanent rejections everywhere -> the job fails with a brokerage
error naming each reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.brokerage import SCOUT_FLAG, BrokerageDecision, BrokerageRequest, DataView, broker
from pandawms.core.changes import JobChange, JobError, Lineage, NewJob
from pandawms.core.data import DID
from pandawms.core.errors import InvalidInput
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.locality import InputFile, Locality, SetupAction, input_states, setup_action
from pandawms.core.specs import ErrorComponent, Job, JobSpec, QueueLoad, QueueSpec
from pandawms.core.states import JobStatus
from pandawms.db import brokerage as brokerage_db
from pandawms.db import jobs as jobs_db
from pandawms.db import queues as queues_db
from pandawms.db.brokerage import StoredDecision
from pandawms.protocol.errorcodes import BrokerageCode
from pandawms.services import inputs, lifecycle, setupper
from pandawms.services.inputs import InputSnapshot
from pandawms.services.lifecycle import Move
from pandawms.services.setupper import Assignment

BROKERAGE_DIAG_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Placement:
    panda_id: PandaID
    status: JobStatus
    computing_site: str | None
    diag: str


class Broker:
    """Brokerage over one snapshot of queues and loads, updated locally as jobs are placed."""

    def __init__(self, queues: Sequence[QueueSpec], loads: Mapping[QueueName, QueueLoad]) -> None:
        self.queues = list(queues)
        self.by_name = {q.name: q for q in queues}
        self.loads = dict(loads)
        self.dis_blocks: dict[setupper.BunchKey, DID] = {}  # the _dis blocks made with this snapshot
        self._storage: inputs.Storage | None = None
        self.prefetched: InputSnapshot | None = (
            None  # the inputs of a whole submission, read before its chunks
        )

    def prefetch(self, conn: Connection, specs: Sequence[JobSpec]) -> None:
        """Read the catalog view of every input of ``specs`` now (one query set for a submission whose
        chunks are then stored in separate transactions); ``create_and_place`` of those specs uses it."""
        self.prefetched = inputs.load(conn, (s.files for s in specs), self.storage(conn))

    def storage(self, conn: Connection) -> Callable[[], inputs.Storage]:
        """The RSE view of the queues, read on first use and kept with this snapshot."""

        def get() -> inputs.Storage:
            if self._storage is None:
                self._storage = inputs.load_storage(conn, self.queues)
            return self._storage

        return get

    @classmethod
    def load(cls, conn: Connection, *, with_loads: bool = True) -> Broker:
        """``with_loads=False`` skips the per-queue counts (a scan of active jobs) for jobs all pinned."""
        return cls(queues_db.list_all(conn), jobs_db.queue_loads(conn) if with_loads else {})

    def decide(self, spec: JobSpec, data: DataView | None = None) -> BrokerageDecision:
        """The ranked queues for ``spec`` (weighed by its inputs with ``data``); the caller counts the job
        at the queue it is placed on (``count``)."""
        request = BrokerageRequest(
            resources=spec.resources,
            prod_source_label=spec.prod_source_label,
            included_sites=spec.included_sites,
            excluded_sites=spec.excluded_sites,
            long_queues=spec.special_handling == SCOUT_FLAG,
        )
        return broker(request, self.queues, self.loads, data)

    def count(self, site: QueueName, status: JobStatus = JobStatus.ACTIVATED) -> None:
        """One more job queued at ``site`` in ``status`` (activated or assigned) for the next decisions."""
        load = self.loads.get(site, QueueLoad())
        if status is JobStatus.ASSIGNED:
            self.loads[site] = dataclasses.replace(load, assigned=load.assigned + 1)
        elif status is JobStatus.ACTIVATED:
            self.loads[site] = dataclasses.replace(load, activated=load.activated + 1)


BrokerSource = Callable[[bool], Broker]
"""Gives the batch's brokerage snapshot (``True``: with the queue loads), loading it on first use."""


def load_once(conn: Connection) -> BrokerSource:
    """One snapshot for a whole batch: queues only while every job is pinned, plus the loads (a scan of
    active jobs) the first time a job needs brokerage."""
    cache: dict[bool, Broker] = {}

    def get(with_loads: bool = True) -> Broker:
        if True in cache or (not with_loads and False in cache):
            return cache[True] if True in cache else cache[False]
        cache[with_loads] = Broker.load(conn, with_loads=with_loads)
        return cache[with_loads]

    return get


def _rejections(decision: BrokerageDecision) -> dict[str, dict[str, object]]:
    return {q: {"reason": r.reason, "permanent": r.permanent} for q, r in decision.rejected.items()}


def _brokerage_error(decision: BrokerageDecision) -> JobError:
    code = BrokerageCode.NO_QUEUE if decision.hopeless else 0
    return JobError(ErrorComponent.BROKERAGE, code, decision.summary()[:BROKERAGE_DIAG_LIMIT])


@dataclass(frozen=True, slots=True)
class Planned:
    """A job to create, the decision to store, and the inputs its ``_dis`` block must bring (assigned)."""

    job: NewJob
    decision: BrokerageDecision | None
    to_move: tuple[InputFile, ...] = ()


def _plan(
    spec: JobSpec, lineage: Lineage, reason: str, broker_: Broker, snapshot: InputSnapshot | None
) -> Planned:
    """The new job (initial status, creation path, queue, brokerage error) and the decision to store."""
    base = NewJob(spec, JobStatus.ACTIVATED, lineage=lineage, reason=reason, via=(JobStatus.DEFINED,))
    found = snapshot.inputs_of(spec.files) if snapshot is not None else ()
    if spec.computing_site is not None:
        if spec.computing_site not in broker_.by_name:
            raise InvalidInput(f"computingSite: unknown queue {spec.computing_site!r}", "computingSite")
        return _set_up(base, spec.computing_site, None, broker_, snapshot, found)
    data = snapshot.view(broker_.queues, found) if snapshot is not None and found else None
    decision = broker_.decide(spec, data)
    if decision.chosen is not None:
        seen = data.localities[decision.chosen] if data is not None else None
        return _set_up(base, decision.chosen, decision, broker_, snapshot, found, seen)
    errors = (_brokerage_error(decision),)
    if decision.hopeless:
        return Planned(dataclasses.replace(base, status=JobStatus.FAILED, errors=errors), decision)
    return Planned(dataclasses.replace(base, status=JobStatus.DEFINED, errors=errors, via=()), decision)


def _set_up(
    base: NewJob,
    site: QueueName,
    decision: BrokerageDecision | None,
    broker_: Broker,
    snapshot: InputSnapshot | None,
    found: Sequence[InputFile],
    loc: Locality | None = None,
) -> Planned:
    """The Setupper's decision for the chosen queue: activated, assigned (with a _dis) or waiting.
    ``loc``: the job's locality at ``site`` when brokerage computed it already."""
    if snapshot is None or not found:
        broker_.count(site)
        return Planned(dataclasses.replace(base, computing_site=site), decision)
    queue = broker_.by_name[site]
    loc = loc or snapshot.locality_at(queue, found)
    spec = dataclasses.replace(base.spec, files=input_states(base.spec.files, loc))
    job = dataclasses.replace(base, computing_site=site, spec=spec)
    # a preset queue that cannot receive the inputs (brokerage refused such queues already)
    refusal = DataView({site: loc}, snapshot.unwritable).refusal(queue) if decision is None else None
    if refusal is not None:
        error = JobError(ErrorComponent.BROKERAGE, BrokerageCode.NO_QUEUE, f"{site}: {refusal.reason}")
        return Planned(dataclasses.replace(job, status=JobStatus.FAILED, errors=(error,)), decision)
    action = setup_action(loc)
    if action is SetupAction.WAIT:
        pinned = base.spec.computing_site
        return Planned(dataclasses.replace(job, status=JobStatus.WAITING, computing_site=pinned), decision)
    if action is SetupAction.ASSIGN:
        broker_.count(site, JobStatus.ASSIGNED)
        return Planned(dataclasses.replace(job, status=JobStatus.ASSIGNED), decision, loc.to_move)
    broker_.count(site)
    return Planned(job, decision)


def create_and_place(
    conn: Connection,
    specs: Sequence[tuple[JobSpec, Lineage]],
    now: datetime,
    *,
    reason: str = "submitted",
    broker_: Broker | None = None,
) -> list[Placement]:
    """Create jobs, brokering each one that has no preset queue and setting up its data (the catalog's
    view of the batch's inputs is read once); all in the caller's transaction."""
    broker_ = broker_ or Broker.load(conn, with_loads=any(s.computing_site is None for s, _ in specs))
    snapshot = broker_.prefetched
    if snapshot is None or not snapshot.covers(spec.files for spec, _ in specs):
        snapshot = inputs.load(conn, (spec.files for spec, _ in specs), broker_.storage(conn))
    planned = [_plan(spec, lineage, reason, broker_, snapshot) for spec, lineage in specs]
    new_jobs = [p.job for p in planned]
    ids = lifecycle.create_jobs(conn, new_jobs, now)
    _store_decisions(conn, ids, [p.decision for p in planned], now, new_jobs=True)
    _dispatch_blocks(conn, broker_, ids, planned, now)
    return [
        Placement(pid, nj.status, nj.computing_site, nj.errors[0].diag if nj.errors else "")
        for pid, nj in zip(ids, new_jobs, strict=True)
    ]


def _dispatch_blocks(
    conn: Connection, broker_: Broker, ids: Sequence[PandaID], planned: Sequence[Planned], now: datetime
) -> None:
    assignments = [
        Assignment(pid, broker_.by_name[p.job.computing_site], p.job.spec.task_id, p.to_move)
        for pid, p in zip(ids, planned, strict=True)
        if p.to_move and p.job.computing_site is not None
    ]
    setupper.dispatch(conn, assignments, now, broker_.dis_blocks)


def _store_decisions(
    conn: Connection,
    ids: Sequence[PandaID],
    decisions: Sequence[BrokerageDecision | None],
    now: datetime,
    *,
    new_jobs: bool = False,
) -> None:
    stored = [
        StoredDecision(pid, now, d.chosen, d.summary(), _rejections(d))
        for pid, d in zip(ids, decisions, strict=True)
        if d is not None
    ]
    brokerage_db.save(conn, stored, new_jobs=new_jobs)


def rebroker(
    conn: Connection, job: Job, broker_: Broker, snapshot: InputSnapshot | None, now: datetime
) -> lifecycle.TransitionResult | None:
    """Try again to place a defined job (without a queue, or back from waiting); None when it must keep
    waiting in defined. A job no queue can ever run fails without a retry (a new attempt would meet the
    same queues)."""
    if job.status is not JobStatus.DEFINED:
        return None
    planned = _plan(job.spec, Lineage(), "", broker_, snapshot)
    if planned.decision is not None:
        _store_decisions(conn, [job.panda_id], [planned.decision], now)
    new = planned.job
    if new.status is JobStatus.DEFINED:
        lifecycle.update_job_fields(conn, job.panda_id, JobChange(errors=new.errors, touch=False), now)
        return None
    if new.status is JobStatus.FAILED:
        move = Move(JobStatus.FAILED, "no queue can run this job", change=JobChange(errors=new.errors))
        return lifecycle.transition(conn, job.panda_id, move, now)
    cleared = new.errors or (
        (JobError(ErrorComponent.BROKERAGE, 0, ""),) if planned.decision is not None else ()
    )
    change = JobChange(errors=cleared, computing_site=new.computing_site)
    why = f"brokered to {new.computing_site}" if new.computing_site else "inputs not all produced yet"
    result = lifecycle.transition(conn, job.panda_id, Move(new.status, why, change=change), now)
    if result.accepted:
        lifecycle.set_file_states(conn, job.panda_id, new.spec.files)
        _dispatch_blocks(conn, broker_, [job.panda_id], [planned], now)
    return result


def rebroker_jobs(conn: Connection, ids: Sequence[PandaID], now: datetime) -> int:
    """Re-broker the given defined jobs with one brokerage snapshot and one catalog read; how many moved
    on (activated, assigned, waiting, or failed as hopeless)."""
    jobs = jobs_db.get_jobs(conn, ids, with_files=True)
    if not jobs:
        return 0
    broker_ = Broker.load(conn)
    snapshot = inputs.load(conn, (j.files for j in jobs), broker_.storage(conn))
    moved = 0
    for job in jobs:
        result = rebroker(conn, job, broker_, snapshot, now)
        moved += int(result is not None and result.accepted)
    return moved


@dataclass(frozen=True, slots=True)
class RebrokerBatch:
    examined: int
    moved: int  # left the defined state (activated, or failed as hopeless)
    last_id: int  # pass as ``after`` for the next batch of the same pass


def rebroker_pending(conn: Connection, now: datetime, limit: int, after: int = 0) -> RebrokerBatch:
    """Re-broker up to ``limit`` waiting defined jobs with PandaID > ``after``.

    A pass walks the waiting jobs by PandaID, so jobs that keep waiting never hide the ones behind them.
    """
    ids = jobs_db.unbrokered_ids(conn, limit, after)
    if not ids:
        return RebrokerBatch(0, 0, after)
    return RebrokerBatch(len(ids), rebroker_jobs(conn, ids, now), ids[-1])
