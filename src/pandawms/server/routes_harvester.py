"""Factory endpoints: atomic worker grants, worker status reports, worker statistics per queue."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from pandawms.core.factory import WorkerLimits
from pandawms.core.states import WorkerStatus
from pandawms.protocol import paths
from pandawms.protocol.actions import WorkerReportOutcome
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.factory import (
    AddWorkersRequest,
    AddWorkersResponse,
    GrantedWorker,
    HeartbeatRequest,
    HeartbeatResponse,
    UpdateWorkersRequest,
    WorkerStats,
    WorkerUpdateResult,
)
from pandawms.server.context import ServerContext, get_ctx
from pandawms.server.responses import envelope
from pandawms.services import workers

router = APIRouter(tags=["factory"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]


@router.post(paths.HARVESTER_ADD_WORKERS, response_model=Envelope[AddWorkersResponse])
def add_workers(body: AddWorkersRequest, ctx: Ctx) -> Response:
    """Grant new workers for a queue, sized over every factory serving it (never over-submits)."""
    limits = WorkerLimits(body.max_workers, body.max_queued, body.max_new)
    with ctx.db.write() as conn:
        grant = workers.add_workers(
            conn,
            body.harvester_id,
            body.queue,
            limits,
            ctx.clock(),
            request_id=body.request_id,
            jobs_per_worker=body.jobs_per_worker,
        )
    data = AddWorkersResponse(
        workers=[GrantedWorker(worker_id=w) for w in grant.worker_ids],
        granted=len(grant.worker_ids),
        reason=grant.decision.reason,
        activated=grant.activated,
        queued=grant.queued,
        running=grant.running,
    )
    return envelope(data, message=grant.decision.reason)


@router.post(paths.HARVESTER_UPDATE_WORKERS, response_model=Envelope[list[WorkerUpdateResult]])
def update_workers(body: UpdateWorkersRequest, ctx: Ctx) -> Response:
    """Report workers' states (running, finished, failed, cancelled, missed); repeats are no-ops."""
    reports = [
        workers.WorkerReport(
            w.worker_id, WorkerStatus(w.status), w.batch_id, w.exit_code, w.diag, w.batch_state
        )
        for w in body.workers
    ]
    with ctx.db.write() as conn:
        results = workers.update_workers(conn, body.harvester_id, reports, ctx.clock())
    data = [
        WorkerUpdateResult(
            worker_id=r.worker_id,
            outcome=WorkerReportOutcome(r.outcome),
            status=WorkerStatus(r.status) if r.status is not None else None,
            message=r.message,
        )
        for r in results
    ]
    return envelope(data)


@router.get(paths.HARVESTER_GET_WORKER_STATS, response_model=Envelope[WorkerStats])
def get_worker_stats(ctx: Ctx, queue: Annotated[str | None, Query(max_length=128)] = None) -> Response:
    """Worker counts by status for one queue or all."""
    with ctx.db.read() as conn:
        return envelope(workers.stats(conn, queue))


@router.post(paths.HARVESTER_HEARTBEAT, response_model=Envelope[HeartbeatResponse])
def heartbeat(body: HeartbeatRequest, ctx: Ctx) -> Response:
    """A factory is alive (send every cycle). Workers of a factory silent for the watchdog's
    ``factory_silence`` end as missed; add_workers and update_workers count as calls too. The native
    batch states that changed and new batch-command errors ride along (the monitor's site page)."""
    states = [(s.worker_id, s.batch_state) for s in body.batch_states]
    errors = [
        workers.BatchCommandError(e.report_id, e.queue, e.time, e.reason, e.exit_code, e.batch_id)
        for e in body.batch_errors
    ]
    now = ctx.clock()
    with ctx.db.write() as conn:
        n = workers.heartbeat(conn, body.harvester_id, body.host, body.alive_workers, now, states, errors)
    data = HeartbeatResponse(harvester_id=body.harvester_id, last_seen=now.isoformat(), batch_states=n)
    return envelope(data)
