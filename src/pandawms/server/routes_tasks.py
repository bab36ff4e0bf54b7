"""Task endpoints (PanDA's task/<method>): submit, get_details, get_status, get_task_parameters,
get_job_ids, list. The commands (task/kill ...) are server/routes_task_commands.py."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import Response

from pandawms.core.access import label_refusal, refuse
from pandawms.core.auth import Caller, Role
from pandawms.core.errors import InvalidInput
from pandawms.core.tasks import TaskStatus
from pandawms.core.taskspecs import TaskQuery
from pandawms.protocol import paths
from pandawms.protocol.bounds import BIGINT_MAX, MAX_HOURS
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.task_records import (
    ScoutMeasurements,
    SubmitTaskAnswer,
    TaskHistoryOut,
    TaskListPage,
    TaskRecord,
    TaskStatusOut,
    TaskSummary,
)
from pandawms.protocol.tasks import TaskParams
from pandawms.server.context import ServerContext, get_caller, get_ctx
from pandawms.server.responses import envelope, validation_message
from pandawms.server.routes_jobs import _multi
from pandawms.services import tasks as task_service
from pandawms.services.tasks import MAX_LIST_LIMIT, SubmittedTask, TaskDetail

router = APIRouter(tags=["tasks"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]
TaskId = Annotated[int, Query(ge=1, le=2**63 - 1, description="jediTaskID")]


def params_message(errors: Sequence[Any]) -> str:
    """The bad task parameters, each named: malformed JSON and a missing body get their own words."""
    for err in errors:
        if err.get("type") == "json_invalid":
            where = err.get("loc", ("body", "?"))[-1]
            why = err.get("ctx", {}).get("error", "JSON decode error")
            return f"task parameters: not valid JSON (at character {where}: {why})"
        if tuple(err.get("loc", ())) == ("body",):
            if err.get("type") == "missing":
                return "task parameters: the request body (the task-parameter JSON) is missing"
            return "task parameters: the body must be one JSON object (Content-Type: application/json)"
    return validation_message(errors, TaskParams)


class TaskParamsRoute(APIRoute):
    """task/submit answers bad parameters 400 naming the field, like the checks across fields (refine):
    the body is one document, PanDA's task-parameter JSON, whatever is wrong with it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return envelope(success=False, message=params_message(exc.errors()), status_code=400)

        return checked


def submit(body: TaskParams, ctx: Ctx, caller: Annotated[Caller | None, Depends(get_caller)]) -> Response:
    """Submit a task: the body is the task-parameter JSON itself (PanDA's insertTaskParams). Answers the
    new jediTaskID (the task is ``defined``); 400 names a bad field, 409 a duplicate active taskName
    or a user over the active-task cap."""
    done = store_task(ctx, body, caller)
    answer = SubmitTaskAnswer(task_id=done.task_id, status=done.status)
    return envelope(answer, message=f"task {done.task_id} submitted")


def store_task(ctx: ServerContext, body: TaskParams, caller: Caller | None) -> SubmittedTask:
    """The submission with the caller's rights and name applied (shared with panda-client's task/submit,
    server/compat_client.py)."""
    if caller is not None:  # production labels need the production role; the owner is the token's sub
        why = label_refusal(caller, [body.prod_source_label.value])
        refuse("task/submit", [("prodSourceLabel", why)] if why else [])
        if not caller.has(Role.PRODUCTION, Role.ADMIN):  # a user's tasks carry its token's name
            body = body.model_copy(update={"user_name": caller.display_name})
    with ctx.db.write() as conn:
        return task_service.submit(
            conn,
            body,
            ctx.clock(),
            max_active_per_user=ctx.config.max_active_tasks_per_user,
            shares=ctx.config.shares,
            writer=caller,
        )


router.add_api_route(
    paths.TASK_SUBMIT,
    submit,
    methods=["POST"],
    response_model=Envelope[SubmitTaskAnswer],
    route_class_override=TaskParamsRoute,
)


def task_record(d: TaskDetail) -> TaskRecord:
    history = [
        TaskHistoryOut(status=h.status, previous=h.previous_status, time=h.change_time, reason=h.reason)
        for h in d.history
    ]
    scouts = None
    if d.scouted is not None:
        s = d.task.spec
        scouts = ScoutMeasurements(
            cpu_time=s.cpu_time,
            ram_count=s.ram_count,
            out_disk_count=s.out_disk_count,
            time=d.scouted.change_time,
            reason=d.scouted.reason,
        )
    return TaskRecord.record(d.task, d.datasets, history, d.job_counts, scouts)


@router.get(paths.TASK_GET_DETAILS, response_model=Envelope[TaskRecord])
def get_details(ctx: Ctx, task_id: TaskId) -> Response:
    """Every attribute of one task, its datasets with file counters, its status history, its jobs by
    status and what the scouts measured."""
    with ctx.db.read() as conn:
        return envelope(task_record(task_service.get_details(conn, task_id)))


@router.get(paths.TASK_GET_STATUS, response_model=Envelope[TaskStatusOut])
def get_status(ctx: Ctx, task_id: TaskId) -> Response:
    """The task's status, the status pending/paused return to, and the error dialog."""
    with ctx.db.read() as conn:
        return envelope(TaskStatusOut.of(task_service.get_status(conn, task_id)))


@router.get(paths.TASK_GET_PARAMETERS, response_model=Envelope[TaskParams])
def get_task_parameters(ctx: Ctx, task_id: TaskId) -> Response:
    """The task-parameter JSON as submitted (defaults filled in)."""
    with ctx.db.read() as conn:
        return envelope(task_service.get_task_parameters(conn, task_id))


@router.get(paths.TASK_GET_JOB_IDS, response_model=Envelope[list[int]])
def get_job_ids(ctx: Ctx, task_id: TaskId) -> Response:
    """PandaIDs of the task's jobs, oldest first."""
    with ctx.db.read() as conn:
        return envelope(task_service.get_job_ids(conn, task_id))


def _statuses(values: list[str] | None) -> tuple[TaskStatus, ...]:
    out = []
    for v in _multi(values):
        try:
            out.append(TaskStatus(v))
        except ValueError:
            known = ", ".join(s.value for s in TaskStatus)
            raise InvalidInput(f"status: unknown task status {v!r} (one of: {known})", "status") from None
    return tuple(out)


@router.get(paths.TASK_LIST, response_model=Envelope[TaskListPage])
def list_tasks(
    ctx: Ctx,
    status: Annotated[list[str] | None, Query(description="task status(es); comma or | separated")] = None,
    user: Annotated[list[str] | None, Query(description="userName(s)")] = None,
    label: Annotated[list[str] | None, Query(description="prodSourceLabel(s)")] = None,
    working_group: Annotated[list[str] | None, Query(description="workingGroup(s)")] = None,
    name: Annotated[
        str | None,
        Query(
            max_length=256,
            pattern=r"^[A-Za-z0-9_.:+/\-*?]+$",
            description="taskName, or a glob with * and ? (user.alice.*)",
        ),
    ] = None,
    parent_tid: Annotated[int | None, Query(ge=1, le=BIGINT_MAX, description="children of this task")] = None,
    hours: Annotated[
        float | None, Query(gt=0, le=MAX_HOURS, description="modified in the last N hours")
    ] = None,
    before_id: Annotated[
        int | None,
        Query(ge=1, le=BIGINT_MAX, description="keyset cursor: next_before_id of the previous page"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 100,
) -> Response:
    """Tasks newest first, filtered, with their progress in files; page with ``before_id``."""
    query = TaskQuery(
        statuses=_statuses(status),
        users=_multi(user),
        labels=_multi(label),
        working_groups=_multi(working_group),
        name=name or "",
        parent_task_id=parent_tid,
        since=ctx.clock() - timedelta(hours=hours) if hours is not None else None,
        before_id=before_id,
        limit=limit,
    )
    with ctx.db.read() as conn:
        entries, cursor = task_service.list_tasks(conn, query)
    tasks = [TaskSummary.summary(e.task, e.progress, e.running_jobs) for e in entries]
    return envelope(TaskListPage(tasks=tasks, next_before_id=cursor))
