"""Client-side job endpoints: submit, status, description, list, kill, reassign, retry."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection
from starlette.responses import Response

from pandawms.core.access import label_refusal, refuse
from pandawms.core.auth import Caller, Role
from pandawms.core.errors import InvalidInput
from pandawms.core.specs import JobQuery, JobSpec
from pandawms.core.states import parse_status
from pandawms.protocol import paths
from pandawms.protocol.actions import ACTED_ON
from pandawms.protocol.bounds import BIGINT_MAX, MAX_HOURS, MAX_QUERY_IDS, QueryId
from pandawms.protocol.brokerage import QueueRejection
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.jobs import (
    BrokerageInfo,
    JobActionResult,
    JobDescription,
    JobPage,
    JobRecord,
    KillRequest,
    ReassignRequest,
    RetryRequest,
    StatusChange,
    SubmitRequest,
    SubmittedJob,
)
from pandawms.protocol.status import JobStatusEntry
from pandawms.protocol.times import QueryTime
from pandawms.server.context import ServerContext, get_caller, get_ctx
from pandawms.server.responses import envelope
from pandawms.services import control, queries, submission
from pandawms.services.control import ActionResult
from pandawms.services.placement import Broker, Placement

router = APIRouter(tags=["jobs"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]


@router.post(paths.JOB_SUBMIT, response_model=Envelope[list[SubmittedJob]])
def submit(body: SubmitRequest, ctx: Ctx, caller: Annotated[Caller | None, Depends(get_caller)]) -> Response:
    """Submit up to ``max_submit_batch`` (default 10,000) jobs; a bad job rejects the whole batch before
    anything is stored. PostgreSQL stores the batch in one transaction; SQLite in short ones so pilots never
    wait behind a big submit (a storage failure midway answers how many were stored)."""
    return handle_submit(ctx, body, caller)


def handle_submit(ctx: ServerContext, body: SubmitRequest, caller: Caller | None = None) -> Response:
    placed = place(ctx, body, caller)
    data = [
        SubmittedJob(
            panda_id=p.panda_id,
            job_status=p.status.value,
            computing_site=p.computing_site,
            brokerage_diag=p.diag,
        )
        for p in placed
    ]
    return envelope(data, message=f"{len(data)} job(s) submitted")


def place(ctx: ServerContext, body: SubmitRequest, caller: Caller | None = None) -> list[Placement]:
    """Validate, broker and store a submission (all checked before anything is stored); the placements
    in submission order. Shared with panda-client's job/submit (server/compat_client.py)."""
    specs = owned(caller, [j.to_spec(ctx.config.default_max_attempt) for j in body.jobs])
    now = ctx.clock()
    submission.validate(specs, ctx.config.max_submit_batch)
    with ctx.db.read() as conn:
        submission.check_queues(conn, specs)
        if caller is not None:
            submission.check_output_scopes(conn, caller, specs)
        broker_ = Broker.load(conn)
        broker_.prefetch(conn, specs)

    def store(conn: Connection, chunk: Sequence[JobSpec]) -> list[Placement]:
        return submission.submit(conn, chunk, now, ctx.config.max_submit_batch, broker_, ctx.config.shares)

    return ctx.db.write_chunks(specs, store)


def owned(caller: Caller | None, specs: list[JobSpec]) -> list[JobSpec]:
    """The caller's jobs: owner = its token sub; a user's display name is its token's; production labels
    need the production role (Forbidden). Unchanged when auth is off."""
    if caller is None:
        return specs
    refuse("job/submit", [("prodSourceLabel", why)] if (why := label_refusal(caller, _labels(specs))) else [])
    on_behalf = caller.has(Role.PRODUCTION, Role.ADMIN)  # production submits in the users' names
    return [
        dataclasses.replace(
            s,
            prod_user_id=caller.sub,
            prod_user_name=s.prod_user_name if on_behalf and s.prod_user_name else caller.display_name,
        )
        for s in specs
    ]


def _labels(specs: Sequence[JobSpec]) -> set[str]:
    return {s.prod_source_label.value for s in specs}


@router.get(paths.JOB_GET_STATUS, response_model=Envelope[list[JobStatusEntry]])
def get_status(
    ctx: Ctx, job_ids: Annotated[list[QueryId], Query(min_length=1, max_length=MAX_QUERY_IDS)]
) -> Response:
    """Status and attempt of each job (unknown ids are reported with jobStatus null)."""
    with ctx.db.read() as conn:
        found = queries.jobs_by_id(conn, job_ids)
    return envelope([JobStatusEntry.of(i, found.get(i)) for i in job_ids])


@router.get(paths.JOB_GET_DESCRIPTION, response_model=Envelope[JobDescription])
def get_description(ctx: Ctx, job_id: Annotated[int, Query(ge=1, le=BIGINT_MAX)]) -> Response:
    """Every attribute of one job, its status history, its brokerage decision and its retries."""
    with ctx.db.read() as conn:
        d = queries.describe(conn, job_id)
    brokerage = None
    if d.brokerage is not None:
        brokerage = BrokerageInfo(
            time=d.brokerage.time,
            chosen=d.brokerage.chosen,
            summary=d.brokerage.summary,
            rejected={q: QueueRejection.model_validate(r) for q, r in d.brokerage.rejected.items()},
        )
    desc = JobDescription(
        job=JobRecord.from_job(d.job),
        history=[
            StatusChange(status=h.status, previous=h.previous, time=h.time, host=h.host, reason=h.reason)
            for h in d.history
        ],
        brokerage=brokerage,
        retries=list(d.retries),
        meta_data=d.report.meta_data if d.report else "",
        pilot_log=d.report.pilot_log if d.report else "",
    )
    return envelope(desc)


def _multi(values: list[str] | None) -> tuple[str, ...]:
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.replace("|", ",").split(",") if p.strip())
    return tuple(out)


@router.get(paths.JOB_LIST, response_model=Envelope[JobPage])
def list_jobs(
    ctx: Ctx,
    status: Annotated[list[str] | None, Query(description="job status(es); comma or | separated")] = None,
    queue: Annotated[list[str] | None, Query(description="computingSite(s)")] = None,
    user: Annotated[list[str] | None, Query(description="prodUserName(s)")] = None,
    label: Annotated[list[str] | None, Query(description="prodSourceLabel(s)")] = None,
    parent_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    since: Annotated[QueryTime | None, Query(description="modified at or after (UTC)")] = None,
    until: Annotated[QueryTime | None, Query(description="modified before (UTC)")] = None,
    hours: Annotated[
        float | None, Query(gt=0, le=MAX_HOURS, description="modified in the last N hours")
    ] = None,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=BIGINT_MAX, description="keyset cursor: next_before_id of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Response:
    """Jobs newest first, filtered; page with ``before_id``."""
    statuses = _multi(status)
    for s in statuses:
        try:
            parse_status(s)
        except ValueError as exc:
            raise InvalidInput(f"status: {exc}", "status") from None
    if hours is not None:
        since = ctx.clock() - timedelta(hours=hours)
    q = JobQuery(
        statuses=statuses,
        sites=_multi(queue),
        users=_multi(user),
        labels=_multi(label),
        parent_id=parent_id,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
    with ctx.db.read() as conn:
        page, cursor = queries.list_jobs(conn, q)
    return envelope(JobPage(jobs=[JobRecord.from_job(j) for j in page], next_before_id=cursor))


def _actions(results: list[ActionResult]) -> Response:
    data = [
        JobActionResult(
            panda_id=r.panda_id,
            outcome=r.outcome,
            job_status=r.status,
            message=r.message,
            new_panda_id=r.new_panda_id,
        )
        for r in results
    ]
    done = sum(r.outcome in ACTED_ON for r in results)
    return envelope(data, message=f"{done} of {len(results)} job(s) acted on")


@router.post(paths.JOB_KILL, response_model=Envelope[list[JobActionResult]])
def kill(body: KillRequest, ctx: Ctx) -> Response:
    """Kill jobs with a PanDA kill code; running jobs are killed by their pilot at its next heartbeat."""
    with ctx.db.write() as conn:
        return _actions(control.kill(conn, body.job_ids, body.code, body.reason, ctx.clock()))


@router.post(paths.JOB_REASSIGN, response_model=Envelope[list[JobActionResult]])
def reassign(body: ReassignRequest, ctx: Ctx) -> Response:
    """Close not-yet-running jobs and create new attempts at ``site`` or re-brokered elsewhere."""
    with ctx.db.write() as conn:
        return _actions(control.reassign(conn, body.job_ids, body.site, ctx.clock()))


@router.post(paths.JOB_RETRY, response_model=Envelope[list[JobActionResult]])
def retry(body: RetryRequest, ctx: Ctx) -> Response:
    """Retry failed/cancelled/closed jobs as new attempts."""
    with ctx.db.write() as conn:
        return _actions(control.retry(conn, body.job_ids, ctx.clock()))
