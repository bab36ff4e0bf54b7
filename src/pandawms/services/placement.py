"""Placing jobs on queues: run brokerage for new or unbrokered jobs and record why.

A chosen queue -> the job is activated there (no data motion yet, so no ``assigned`` step). Only
temporary rejections (offline, brokeroff, full) -> the job stays ``defined`` and the brokerage agent
tries again. Permanent rejections everywhere -> the job fails with a brokerage error naming each reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.brokerage import BrokerageDecision, BrokerageRequest, broker
from pandawms.core.changes import JobChange, JobError, Lineage, NewJob
from pandawms.core.errors import InvalidInput
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.specs import ErrorComponent, JobSpec, QueueLoad, QueueSpec
from pandawms.core.states import JobStatus
from pandawms.db import brokerage as brokerage_db
from pandawms.db import jobs as jobs_db
from pandawms.db import queues as queues_db
from pandawms.db.brokerage import StoredDecision
from pandawms.protocol.errorcodes import BrokerageCode
from pandawms.services import lifecycle
from pandawms.services.lifecycle import Move

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

    @classmethod
    def load(cls, conn: Connection, *, with_loads: bool = True) -> Broker:
        """``with_loads=False`` skips the per-queue counts (a scan of active jobs) for jobs all pinned."""
        return cls(queues_db.list_all(conn), jobs_db.queue_loads(conn) if with_loads else {})

    def decide(self, spec: JobSpec) -> BrokerageDecision:
        request = BrokerageRequest(
            resources=spec.resources,
            prod_source_label=spec.prod_source_label,
            included_sites=spec.included_sites,
            excluded_sites=spec.excluded_sites,
        )
        decision = broker(request, self.queues, self.loads)
        if decision.chosen is not None:
            self.count_activated(decision.chosen)
        return decision

    def count_activated(self, site: QueueName) -> None:
        load = self.loads.get(site, QueueLoad())
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


def _plan(
    spec: JobSpec, lineage: Lineage, reason: str, broker_: Broker
) -> tuple[NewJob, BrokerageDecision | None]:
    """The new job (initial status, creation path, queue, brokerage error) and the decision to store."""
    base = NewJob(spec, JobStatus.ACTIVATED, lineage=lineage, reason=reason, via=(JobStatus.DEFINED,))
    if spec.computing_site is not None:
        if spec.computing_site not in broker_.by_name:
            raise InvalidInput(f"computingSite: unknown queue {spec.computing_site!r}", "computingSite")
        broker_.count_activated(spec.computing_site)
        return dataclasses.replace(base, computing_site=spec.computing_site), None
    decision = broker_.decide(spec)
    if decision.chosen is not None:
        return dataclasses.replace(base, computing_site=decision.chosen), decision
    errors = (_brokerage_error(decision),)
    if decision.hopeless:
        return dataclasses.replace(base, status=JobStatus.FAILED, errors=errors), decision
    return dataclasses.replace(base, status=JobStatus.DEFINED, errors=errors, via=()), decision


def create_and_place(
    conn: Connection,
    specs: Sequence[tuple[JobSpec, Lineage]],
    now: datetime,
    *,
    reason: str = "submitted",
    broker_: Broker | None = None,
) -> list[Placement]:
    """Create jobs, brokering each one that has no preset queue; all in the caller's transaction."""
    broker_ = broker_ or Broker.load(conn, with_loads=any(s.computing_site is None for s, _ in specs))
    planned = [_plan(spec, lineage, reason, broker_) for spec, lineage in specs]
    new_jobs = [nj for nj, _ in planned]
    ids = lifecycle.create_jobs(conn, new_jobs, now)
    _store_decisions(conn, ids, [d for _, d in planned], now)
    return [
        Placement(pid, nj.status, nj.computing_site, nj.errors[0].diag if nj.errors else "")
        for pid, nj in zip(ids, new_jobs, strict=True)
    ]


def _store_decisions(
    conn: Connection, ids: Sequence[PandaID], decisions: Sequence[BrokerageDecision | None], now: datetime
) -> None:
    stored = [
        StoredDecision(pid, now, d.chosen, d.summary(), _rejections(d))
        for pid, d in zip(ids, decisions, strict=True)
        if d is not None
    ]
    brokerage_db.save(conn, stored)


def rebroker(
    conn: Connection, panda_id: PandaID, broker_: Broker, now: datetime
) -> lifecycle.TransitionResult | None:
    """Try again to place a defined job without a queue; None when it must keep waiting.

    A job no queue can ever run fails without a retry (a new attempt would meet the same queues).
    """
    job = jobs_db.get_job(conn, panda_id)
    if job is None or job.status is not JobStatus.DEFINED or job.computing_site is not None:
        return None
    decision = broker_.decide(job.spec)
    _store_decisions(conn, [panda_id], [decision], now)
    error = _brokerage_error(decision)
    if decision.chosen is not None:
        change = JobChange(errors=(dataclasses.replace(error, diag=""),), computing_site=decision.chosen)
        return lifecycle.transition(
            conn, panda_id, Move(JobStatus.ACTIVATED, f"brokered to {decision.chosen}", change=change), now
        )
    if decision.hopeless:
        move = Move(JobStatus.FAILED, "no queue can run this job", change=JobChange(errors=(error,)))
        return lifecycle.transition(conn, panda_id, move, now)
    lifecycle.update_job_fields(conn, panda_id, JobChange(errors=(error,), touch=False), now)
    return None


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
    broker_ = Broker.load(conn)
    moved = 0
    for pid in ids:
        result = rebroker(conn, pid, broker_, now)
        moved += int(result is not None and result.accepted)
    return RebrokerBatch(len(ids), moved, ids[-1])
