"""panda-client (pbook, prun and its Python API) unchanged against pandawms: detection and routes.

Where panda-client's call has a path of pandawms's own API, ``PandaClientShapes`` (an ASGI middleware
inside the auth gate, outside the pilot fast path) recognises panda-client's shape and routes the call
to ``/api/v1/panda_client/<path>``; everything else passes untouched, so pandawms's own clients get
their answers byte for byte. The shapes (protocol/legacy_client.py):

- POST job/submit whose ``jobs`` is JSON *text* (ours: a list);
- POST task/submit with ``task_parameters`` (ours: the parameter map itself);
- POST task/<command> with ``task_id`` (ours: ``jediTaskID``): answers PanDA's code as ``data``;
- GET task/get_status and task/get_details with ``Content-Type: application/json`` (panda-client's
  _HttpClient.get sets it on every GET; browsers, curl and pandawms's clients send none on a GET).

The auth gate sees the original path, so its policy applies; the ``panda_client`` paths themselves have
no policy and are refused when called directly with auth on. Calls pandawms has no path for
(job/get_description_incl_archive, task/get_tasks_detailed_info_since, ...) are plain routes here,
hidden from the OpenAPI schema like the rest: they are PanDA's contract, not pandawms's.
Everything translates to the existing services: no second lifecycle.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import PurePosixPath, PureWindowsPath
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pandawms.core.auth import Caller, Role
from pandawms.core.errors import InvalidInput
from pandawms.core.tasks import TaskCommand
from pandawms.core.taskspecs import TaskQuery
from pandawms.protocol import legacy_client as lc
from pandawms.protocol import paths
from pandawms.protocol.bounds import BIGINT_MAX
from pandawms.protocol.jobs import JobRecord, SubmitRequest
from pandawms.protocol.task_commands import TaskCommandCode, TaskCommandRequest
from pandawms.server.bodies import MAX_DECODED_BODY, replay
from pandawms.server.context import ServerContext, get_caller, get_ctx
from pandawms.server.fastpath import _read_body as read_body
from pandawms.server.responses import envelope
from pandawms.server.routes_jobs import place
from pandawms.server.routes_tasks import store_task, task_record
from pandawms.services import task_commands
from pandawms.services import tasks as task_service
from pandawms.services.compat_client import SandboxStore, jobs_with_files, task_metadata
from pandawms.services.tasks import MAX_LIST_LIMIT

router = APIRouter(tags=["panda-client"], include_in_schema=False)
cache = APIRouter(tags=["panda-client"], include_in_schema=False)
Ctx = Annotated[ServerContext, Depends(get_ctx)]
CallerDep = Annotated[Caller | None, Depends(get_caller)]
TaskId = Annotated[int, Query(ge=1, le=BIGINT_MAX)]
SMALL_BODY = 4 * 1024 * 1024  # task/submit and commands: parsed here to see their shape
COMMANDS = {
    c: f"/task/{c.value}"
    for c in (TaskCommand.KILL, TaskCommand.FINISH, TaskCommand.RETRY, TaskCommand.PAUSE, TaskCommand.RESUME,
              TaskCommand.REASSIGN, TaskCommand.AVALANCHE)
}  # fmt: skip
_JOBS_TEXT = re.compile(rb'^\s*\{\s*"jobs"\s*:\s*"')


def _has(key: str) -> Callable[[bytes], bool]:
    def test(body: bytes) -> bool:
        if len(body) > SMALL_BODY:
            return False
        try:
            doc = json.loads(body)
        except ValueError:
            return False
        return isinstance(doc, dict) and key in doc

    return test


POST_SHAPES: dict[str, Callable[[bytes], bool]] = {
    paths.JOB_SUBMIT: lambda body: _JOBS_TEXT.match(body[:64]) is not None,
    paths.TASK_SUBMIT: _has("task_parameters"),
    paths.JOB_GET_DESCRIPTION: _has("job_ids"),  # POST; pandawms's own is GET (a bare POST: 405)
    **{p: _has("task_id") for p in COMMANDS.values()},
}
GET_SHAPES = frozenset({paths.TASK_GET_STATUS, paths.TASK_GET_DETAILS})


def _json_get(scope: Scope) -> bool:
    return any(k == b"content-type" and b"json" in v.lower() for k, v in scope.get("headers", ()))


class PandaClientShapes:
    """Routes panda-client's calls on shared paths to their ``panda_client`` twins (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        sub = path[len(paths.API_PREFIX) :] if path.startswith(paths.API_PREFIX) else ""
        method = scope.get("method", "")
        shaped = False
        if method == "GET" and sub in GET_SHAPES:
            shaped = _json_get(scope)
        elif method == "POST" and sub in POST_SHAPES:
            body = await read_body(receive, MAX_DECODED_BODY)
            if body is not None:  # (over the limit: the guard outside has answered 413 already)
                receive = replay(body, receive)
                shaped = POST_SHAPES[sub](body)
        if shaped:
            twin = paths.API_PREFIX + lc.SHAPE_PREFIX + sub
            scope = {**scope, "path": twin, "raw_path": twin.encode()}
        await self.app(scope, receive, send)


def install(app: FastAPI) -> None:
    """Mount the routes and the shape middleware (call it between the fast path and the auth gate)."""
    app.include_router(router, prefix=paths.API_PREFIX)
    app.include_router(cache)
    app.add_middleware(PandaClientShapes)


# --- jobs ---------------------------------------------------------------------------------------------


@router.post(lc.SHAPE_PREFIX + paths.JOB_SUBMIT)
def submit_jobs(body: lc.LegacyJobSubmit, ctx: Ctx, caller: CallerDep) -> Response:
    """Client.submitJobs: answers ``[[PandaID, jobDefinitionID, jobName], ...]``."""
    jobs, definition_ids = lc.parse_jobs(body.jobs)
    placed = place(ctx, SubmitRequest(jobs=jobs), caller)
    data = lc.submitted_answer([p.panda_id for p in placed], definition_ids, [j.job_name for j in jobs])
    return envelope(data, message=f"{len(data)} job(s) submitted")


def _descriptions(ctx: ServerContext, body: lc.JobIdsRequest) -> Response:
    with ctx.db.read() as conn:
        found = jobs_with_files(conn, body.job_ids)
    data = [
        lc.job_spec_dict(JobRecord.from_job(found[i].job), found[i].meta_data) if i in found else None
        for i in body.job_ids
    ]
    return envelope(data)


@router.post(lc.SHAPE_PREFIX + paths.JOB_GET_DESCRIPTION)
def get_description(body: lc.JobIdsRequest, ctx: Ctx) -> Response:
    """Client.getJobStatus: JobSpec dicts with ``Files``; null for an unknown PandaID (as PanDA)."""
    return _descriptions(ctx, body)


@router.post(lc.JOB_GET_DESCRIPTION_INCL_ARCHIVE)
def get_description_incl_archive(body: lc.JobIdsRequest, ctx: Ctx) -> Response:
    """Client.getFullJobStatus (pandawms keeps no separate archive: the same jobs)."""
    return _descriptions(ctx, body)


@router.get(lc.JOB_GET_METADATA)
def get_metadata(ctx: Ctx, task_id: TaskId) -> Response:
    """Client.getUserJobMetadata: ``{PandaID: job report}`` of the task's finished jobs."""
    with ctx.db.read() as conn:
        data = task_metadata(conn, task_id)
    return envelope(data, message="" if data else "No metadata found")


# --- tasks --------------------------------------------------------------------------------------------


def _source_url(request: Request, raw: dict[str, Any]) -> str:
    given = raw.get("sourceURL")
    return given if isinstance(given, str) and given else str(request.base_url).rstrip("/")


@router.post(lc.SHAPE_PREFIX + paths.TASK_SUBMIT)
def submit_task(body: lc.LegacyTaskSubmit, request: Request, ctx: Ctx, caller: CallerDep) -> Response:
    """Client.insertTaskParams (prun, pathena): ``data`` the new jediTaskID, ``message`` naming it."""
    raw = lc.decode_object(body.task_parameters, "task_parameters")
    if body.parent_tid is not None:
        raw.setdefault("parent_tid", body.parent_tid)
    if "userName" not in raw:  # PanDA takes it from the credential
        if caller is None:
            raise InvalidInput("task_parameters.userName: required when the server runs without auth")
        raw["userName"] = caller.display_name
    params, ignored = lc.task_params_of(raw, _source_url(request, raw))
    done = store_task(ctx, params, caller)
    note = f" (ignored: {', '.join(ignored)})" if ignored else ""
    return envelope(done.task_id, message=f"succeeded. new jediTaskID={done.task_id}{note}")


def _command_route(command: TaskCommand) -> Callable[[lc.LegacyTaskCommand, ServerContext], Response]:
    def route(body: lc.LegacyTaskCommand, ctx: Ctx) -> Response:
        new_params = lc.decode_object(body.new_parameters, "new_parameters") if body.new_parameters else {}
        try:
            request = TaskCommandRequest.model_validate(
                {"jediTaskID": body.task_id, "soft": body.soft, "site": body.site, "newParams": new_params}
            )
        except ValueError as exc:
            raise InvalidInput(f"{command.value}: {exc}") from None
        with ctx.db.write() as conn:
            answer = task_commands.queue(conn, command, request, ctx.clock())
        code = int(answer.code)
        if answer.code is TaskCommandCode.ACCEPTED and new_params:
            code = 3  # PanDA's "accepted for incremental execution" of a retry with new parameters
        return envelope(code, success=answer.code is TaskCommandCode.ACCEPTED, message=answer.message)

    route.__name__ = f"legacy_task_{command.value}"
    return route


for _command, _path in COMMANDS.items():
    router.add_api_route(lc.SHAPE_PREFIX + _path, _command_route(_command), methods=["POST"])


@router.get(lc.SHAPE_PREFIX + paths.TASK_GET_STATUS)
def get_task_status(ctx: Ctx, task_id: TaskId) -> Response:
    """Client.getTaskStatus: the status string."""
    with ctx.db.read() as conn:
        return envelope(task_service.get_status(conn, task_id).status.value)


@router.get(lc.SHAPE_PREFIX + paths.TASK_GET_DETAILS)
def get_task_details(ctx: Ctx, task_id: TaskId, include_parameters: bool = False) -> Response:
    """Client.getJediTaskDetails: the task's attributes (JEDI's names), ``taskParams`` if asked."""
    with ctx.db.read() as conn:
        data: dict[str, Any] = task_record(task_service.get_details(conn, task_id)).model_dump(by_alias=True)
        if include_parameters:
            params = task_service.get_task_parameters(conn, task_id)
            data["taskParams"] = params.model_dump_json(by_alias=True, exclude_none=True)
    return envelope(data)


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise InvalidInput(f"since: {text!r} is not '%Y-%m-%d %H:%M:%S'", "since") from None


def _one_id(filters: dict[str, str]) -> int | None:
    ids = {filters[k] for k in ("jediTaskID", "reqID") if k in filters}  # reqID: = jediTaskID here
    if not ids:
        return None
    if len(ids) > 1 or not next(iter(ids)).isdigit():
        raise InvalidInput(f"filters: jediTaskID/reqID must be one integer, got {sorted(ids)}", "filters")
    return int(next(iter(ids)))


@router.get(lc.TASK_DETAILED_INFO_SINCE)
def tasks_detailed_info_since(
    ctx: Ctx,
    caller: CallerDep,
    since: Annotated[str | None, Query(max_length=32)] = None,
    filters: Annotated[str | None, Query(max_length=4000)] = None,
    n_tasks: Annotated[int, Query(ge=1, le=MAX_LIST_LIMIT)] = 500,
) -> Response:
    """Client.get_tasks_detailed_info_since (pbook show and its task look-ups): the caller's tasks
    (``userName`` to see another user's), newest first, filtered by JEDI attribute."""
    wanted = lc.parse_filters(filters)
    task_id = _one_id(wanted)
    users = (wanted["userName"],) if "userName" in wanted else ()
    if not users and caller is not None and not caller.has(Role.ADMIN):
        users = (caller.display_name,)
    query = TaskQuery(
        statuses=lc.statuses_of(wanted),
        users=users,
        name=wanted.get("taskName", ""),
        since=_since(since),
        before_id=task_id + 1 if task_id is not None else None,
        limit=1 if task_id is not None else n_tasks,
    )
    with ctx.db.read() as conn:
        entries, _ = task_service.list_tasks(conn, query)
    data = [lc.task_info(e.task, e.progress) for e in entries if task_id is None or e.task.task_id == task_id]
    return envelope(data)


# --- the sandbox --------------------------------------------------------------------------------------


def _store(ctx: ServerContext) -> SandboxStore:
    return SandboxStore(ctx.config.data_dir.expanduser() / "cache", lc.MAX_SANDBOX)


def _uploaded_file(content_type: str, body: bytes) -> tuple[str, bytes]:
    """The ``file`` part of a multipart/form-data body: its base name and bytes."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise InvalidInput("file: send multipart/form-data with a 'file' part", "file")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email_policy.HTTP).parsebytes(head + body)
    parts = list(message.iter_parts()) if isinstance(message, EmailMessage) else []
    for part in parts:
        if part.get_param("name", header="content-disposition") == "file":
            filename = str(part.get_filename() or "")
            name = PureWindowsPath(PurePosixPath(filename).name).name  # the client sends its local path
            payload = part.get_payload(decode=True)
            return name, payload if isinstance(payload, bytes) else b""
    raise InvalidInput("file: no 'file' part in the multipart body", "file")


@router.post(lc.FILE_UPLOAD_CACHE)
async def upload_cache_file(request: Request, ctx: Ctx) -> Response:
    """Client.putFile: the user's sandbox, served back at ``<server>/cache/<name>`` for the jobs."""
    body = await request.body()
    name, data = _uploaded_file(request.headers.get("content-type", ""), body)
    path = await run_in_threadpool(_store(ctx).write, name, data)
    return envelope({"name": path.name, "size": len(data)}, message=f"{path.name} stored ({len(data)} bytes)")


@cache.get(lc.CACHE_PATH + "/{name}")
def cache_file(name: str, ctx: Ctx) -> Response:
    """A stored sandbox (what prun's jobs fetch from ``--sourceURL``; Client.getFile)."""
    path = _store(ctx).find(name)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)
