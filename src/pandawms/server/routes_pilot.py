"""Pilot-side endpoints: acquire_jobs (dispatch), update_job (heartbeat / final), get_job_status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from pandawms.core.errors import InvalidInput, PandaError
from pandawms.core.specs import ErrorComponent, JobErrors, JobMetrics
from pandawms.core.updates import PilotReport
from pandawms.protocol import paths
from pandawms.protocol.bounds import MAX_QUERY_IDS, QueryId
from pandawms.protocol.commands import PilotCommand, StatusCode
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.pilot import (
    AcquireRequest,
    AcquireResponse,
    BulkUpdateResult,
    PilotJob,
    UpdateBulkRequest,
    UpdateBulkResponse,
    UpdateRequest,
    UpdateResponse,
)
from pandawms.protocol.status import PilotJobStatusEntry
from pandawms.server.context import ServerContext, get_ctx
from pandawms.server.responses import envelope
from pandawms.services import pilot, queries

router = APIRouter(tags=["pilot"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]
TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")


@router.post(paths.PILOT_ACQUIRE_JOBS, response_model=Envelope[AcquireResponse])
def acquire_jobs(body: AcquireRequest, ctx: Ctx) -> Response:
    """Claim up to ``n_jobs`` activated jobs for the pilot's queue and resources (activated -> sent)."""
    return handle_acquire(ctx, body)


def handle_acquire(ctx: ServerContext, body: AcquireRequest) -> Response:
    query = pilot.AcquireQuery(
        queue=body.site_name,
        n_jobs=body.n_jobs,
        prod_source_label=body.prod_source_label or body.job_type,
        memory=body.memory,
        disk=body.disk_space,
        cores=body.core_count,
        remaining_time=body.remaining_time,
        node=body.node,
        pilot_id=body.pilot_id,
        worker_id=body.worker_id,
        harvester_id=body.harvester_id,
        request_id=body.request_id,
        shares=ctx.shares.dispatch_order(ctx.db.read, body.site_name, ctx.clock()),
    )
    with ctx.db.write() as conn:
        got = pilot.acquire_jobs(conn, query, ctx.clock())
    if ctx.config.auth.enabled:  # the pilot's updates of these jobs need no ownership read, once stored
        sent = [(j.panda_id, j.computing_site) for j in got.jobs]
        ctx.db.after_commit(lambda: ctx.dispatched.sent(sent))
    jobs = [PilotJob.from_job(j, got.locations.get(j.panda_id)) for j in got.jobs]
    code = StatusCode.OK if jobs else StatusCode.NO_JOBS
    return envelope(AcquireResponse(jobs=jobs, StatusCode=code, message=got.message), message=got.message)


def _parse_time(field: str, value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    raise InvalidInput(f"{field}: expected 'YYYY-MM-DD HH:MM:SS', got {value!r}", field)


def to_report(body: UpdateRequest) -> PilotReport:
    codes: dict[ErrorComponent, int] = {}
    diags: dict[ErrorComponent, str] = {}
    for comp, code, diag in (
        (ErrorComponent.PILOT, body.pilot_error_code, body.pilot_error_diag),
        (ErrorComponent.EXE, body.exe_error_code, body.exe_error_diag),
    ):
        if code is not None:
            codes[comp] = code
        if diag is not None:
            diags[comp] = diag
    metrics = JobMetrics(
        cpu_consumption_time=body.cpu_consumption_time,
        max_rss=body.max_rss,
        max_pss=body.max_pss,
        max_vmem=body.max_vmem,
        max_swap=body.max_swap,
        avg_rss=body.avg_rss,
        avg_pss=body.avg_pss,
        actual_core_count=body.core_count,
        n_events=body.n_events,
        job_metrics=body.job_metrics or "",
    )
    report = {lfn: f.model_dump() for lfn, f in (body.job_output_report or {}).items()}
    return PilotReport(
        panda_id=body.job_id,
        status=body.job_status,
        attempt_nr=body.attempt_nr,
        sub_status=body.job_sub_status,
        node=body.node,
        pilot_id=body.pilot_id,
        batch_id=body.batch_id,
        start_time=_parse_time("start_time", body.start_time),
        end_time=_parse_time("end_time", body.end_time),
        trans_exit_code=body.trans_exit_code,
        errors=JobErrors(codes=codes, diags=diags),
        metrics=metrics,
        output_report=report,
        site_name=body.site_name,
        meta_data=body.meta_data_text(),
        pilot_log=body.pilot_log,
    )


@router.post(paths.PILOT_UPDATE_JOB, response_model=Envelope[UpdateResponse])
def update_job(body: UpdateRequest, ctx: Ctx) -> Response:
    """Heartbeat or final update; the answer's ``command`` tells the pilot to go on, kill or stop."""
    return handle_update(ctx, body)


def handle_update(ctx: ServerContext, body: UpdateRequest) -> Response:
    res = apply_update(ctx, to_report(body))
    resp = UpdateResponse(
        StatusCode=StatusCode.OK,
        command=res.command or PilotCommand.NONE.value,
        jobStatus=res.status,
        message=res.message,
    )
    return envelope(resp, message=res.message)


def apply_update(ctx: ServerContext, report: PilotReport) -> pilot.UpdateResult:
    """One pilot update. On PostgreSQL a heartbeat or a move that is not final is one compare-and-set
    statement in autocommit (services.pilot.update_job_unlocked), and only a job that changed between
    its read and that write, or a report with more to write, takes the transaction with the row lock.
    SQLite runs every update in a transaction (or a group commit's savepoint)."""
    now = ctx.clock()
    if not ctx.db.is_sqlite and pilot.one_statement(report):
        with ctx.db.autocommit() as conn:
            res = pilot.update_job_unlocked(conn, report, now, ctx.policy)
        if not res.raced:
            return res
    with ctx.db.write() as conn:
        return pilot.update_job(conn, report, now, ctx.policy)


@router.post(paths.PILOT_UPDATE_JOBS_BULK, response_model=Envelope[UpdateBulkResponse])
def update_jobs_bulk(body: UpdateBulkRequest, ctx: Ctx) -> Response:
    """Many update_job bodies at once (``job_list``, PanDA's updateJobsInBulk): one result per entry, in
    order. The body is typed like update_job's (a schema violation anywhere is a 422 naming
    ``job_list.N.field``, nothing stored); a well-formed entry the server refuses (a bad time, an update
    that fails) gets its reason in its result with nothing of it stored, and the others are applied."""
    return handle_update_bulk(ctx, body)


def handle_update_bulk(ctx: ServerContext, body: UpdateBulkRequest) -> Response:
    results: dict[int, BulkUpdateResult] = {}
    reports: list[tuple[int, PilotReport]] = []
    for i, entry in enumerate(body.job_list):
        try:
            reports.append((i, to_report(entry)))
        except InvalidInput as exc:
            results[i] = _refused(i, entry.job_id, f"job_list.{i}.{exc}")
    if reports:
        with ctx.db.write() as conn:
            done = pilot.update_jobs(
                conn, [r for _, r in reports], ctx.clock(), ctx.policy, body.harvester_id
            )
        for (i, report), res in zip(reports, done, strict=True):
            results[i] = _applied(i, report.panda_id, res)
    return envelope(UpdateBulkResponse(results=[results[i] for i in range(len(body.job_list))]))


def _refused(index: int, job_id: int, message: str) -> BulkUpdateResult:
    return BulkUpdateResult(
        index=index, job_id=job_id, success=False, StatusCode=StatusCode.INVALID, message=message
    )


def _applied(index: int, job_id: int, res: pilot.UpdateResult | PandaError) -> BulkUpdateResult:
    if isinstance(res, PandaError):
        return BulkUpdateResult(
            index=index, job_id=job_id, success=False, StatusCode=StatusCode.FAILED, message=str(res)
        )
    return BulkUpdateResult(
        index=index,
        job_id=job_id,
        success=True,
        StatusCode=StatusCode.OK,
        command=res.command or PilotCommand.NONE.value,
        jobStatus=res.status,
        message=res.message,
    )


@router.get(paths.PILOT_GET_JOB_STATUS, response_model=Envelope[list[PilotJobStatusEntry]])
def get_job_status(
    ctx: Ctx, job_ids: Annotated[list[QueryId], Query(min_length=1, max_length=MAX_QUERY_IDS)]
) -> Response:
    """Status, attempt and pending command of each job (the pilot's view)."""
    with ctx.db.read() as conn:
        found = queries.jobs_by_id(conn, job_ids)
    return envelope([PilotJobStatusEntry.of(i, found.get(i)) for i in job_ids])
