"""Placing jobs on queues: run brokerage for new or unbrokered jobs and record why.

A chosen queue -> the job is activated there (no data motion yet, so no ``assigned`` step). Only
temporary rejections (offline, brokeroff, full) -> the job stays ``defined`` and the brokerage agent
tries again. Permanent rejections everywhere -> the job fails with a brokerage error naming each reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pandawms.core.brokerage import BrokerageDecision, BrokerageRequest, broker
from pandawms.core.errors import InvalidInput
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.specs import JobSpec, QueueLoad, QueueSpec
from pandawms.core.states import JobStatus
from pandawms.db import brokerage as brokerage_db
from pandawms.db import jobs as jobs_db
from pandawms.db import queues as queues_db
from pandawms.db.brokerage import StoredDecision
from pandawms.db.rows import spec_to_row
from pandawms.protocol.errorcodes import BROKERAGE_NO_QUEUE
from pandawms.services import lifecycle
from pandawms.services.lifecycle import NewJob

BROKERAGE_DIAG_LIMIT = 500
# Every new row carries the same keys, so one executemany inserts a mixed batch.
_PLACEMENT_DEFAULTS: dict[str, Any] = {
    "computing_site": None,
    "brokerage_error_code": 0,
    "brokerage_error_diag": "",
    "end_time": None,
}


@dataclass(frozen=True, slots=True)
class Placement:
    panda_id: PandaID
    status: JobStatus
    computing_site: str | None
    diag: str


@dataclass(frozen=True, slots=True)
class Lineage:
    """How a new job relates to an earlier attempt."""

    attempt_nr: int = 1
    parent_id: int | None = None
    relation_type: str = ""


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


def _rejections(decision: BrokerageDecision) -> dict[str, dict[str, object]]:
    return {q: {"reason": r.reason, "permanent": r.permanent} for q, r in decision.rejected.items()}


def _plan(
    spec: JobSpec, broker_: Broker
) -> tuple[JobStatus, tuple[JobStatus, ...], dict[str, Any], BrokerageDecision | None]:
    """Initial status, creation path and extra columns for one new job."""
    if spec.computing_site is not None:
        if spec.computing_site not in broker_.by_name:
            raise InvalidInput(f"computingSite: unknown queue {spec.computing_site!r}", "computingSite")
        broker_.count_activated(spec.computing_site)
        return JobStatus.ACTIVATED, (JobStatus.DEFINED,), {"computing_site": spec.computing_site}, None
    decision = broker_.decide(spec)
    if decision.chosen is not None:
        return JobStatus.ACTIVATED, (JobStatus.DEFINED,), {"computing_site": decision.chosen}, decision
    diag: dict[str, Any] = {"brokerage_error_diag": decision.summary()[:BROKERAGE_DIAG_LIMIT]}
    if decision.hopeless:
        diag["brokerage_error_code"] = BROKERAGE_NO_QUEUE
        return JobStatus.FAILED, (JobStatus.DEFINED,), diag, decision
    return JobStatus.DEFINED, (), diag, decision


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
    new_jobs: list[NewJob] = []
    decisions: list[BrokerageDecision | None] = []
    for spec, lineage in specs:
        status, via, extra, decision = _plan(spec, broker_)
        columns = {
            **_PLACEMENT_DEFAULTS,
            **spec_to_row(spec),
            **extra,
            "attempt_nr": lineage.attempt_nr,
            "parent_id": lineage.parent_id,
            "relation_type": lineage.relation_type,
        }
        if status is JobStatus.FAILED:
            columns["end_time"] = now
        new_jobs.append(NewJob(status, columns, spec.files, reason, via))
        decisions.append(decision)
    ids = lifecycle.create_jobs(conn, new_jobs, now)
    _store_decisions(conn, ids, decisions, now)
    return [
        Placement(
            pid, nj.status, nj.columns.get("computing_site"), nj.columns.get("brokerage_error_diag", "")
        )
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
    """Try again to place a defined job without a queue; None when it must keep waiting."""
    job = jobs_db.get_job(conn, panda_id)
    if job is None or job.status is not JobStatus.DEFINED or job.computing_site is not None:
        return None
    decision = broker_.decide(job.spec)
    _store_decisions(conn, [panda_id], [decision], now)
    if decision.chosen is not None:
        return lifecycle.transition(
            conn,
            panda_id,
            JobStatus.ACTIVATED,
            now,
            reason=f"brokered to {decision.chosen}",
            fields={"computing_site": decision.chosen, "brokerage_error_diag": ""},
        )
    diag = decision.summary()[:BROKERAGE_DIAG_LIMIT]
    if decision.hopeless:
        return lifecycle.transition(
            conn,
            panda_id,
            JobStatus.FAILED,
            now,
            reason="no queue can run this job",
            fields={
                "brokerage_error_code": BROKERAGE_NO_QUEUE,
                "brokerage_error_diag": diag,
                "end_time": now,
            },
        )
    jobs_db.update_fields(conn, panda_id, {"brokerage_error_diag": diag})
    return None


def rebroker_pending(conn: Connection, now: datetime, limit: int) -> int:
    """Re-broker up to ``limit`` waiting defined jobs; returns how many left the defined state."""
    ids = jobs_db.unbrokered_ids(conn, limit)
    if not ids:
        return 0
    broker_ = Broker.load(conn)
    moved = 0
    for pid in ids:
        result = rebroker(conn, pid, broker_, now)
        moved += int(result is not None and result.accepted)
    return moved
