"""ASGI fast path for the hot pilot calls (acquire_jobs, update_job) and the heavy job/submit.

They carry nearly all the load (every job: one acquire, a few heartbeats, one final update) and in
FastAPI most of their CPU went to routing, dependency solving and threadpool hops, not to the task
buffer. This middleware answers exactly those two POSTs with the same handlers, models, envelope and
error table as the documented FastAPI routes (which stay in the OpenAPI spec and serve as fallback;
tests/db/test_fastpath_parity.py holds the two to the same answers). Bodies arrive already decoded
(server/bodies.py). On SQLite a short call (an update, or an acquire of at most ``INLINE_MAX_JOBS``: the
write takes about a millisecond) joins the short calls that arrived with it in one transaction
(server/groupcommit.py), run on the event loop when this process's writer turn is free; when another
writer holds or waits for it (a big submit chunk, an agent batch) the group goes to a worker thread and
waits its turn there, so the loop never blocks on the lock. Longer acquires run alone in a worker
thread. On PostgreSQL every call runs in a worker thread.

With auth on, the gate in front (server/auth.AuthGate) has checked the token, the role and the rate
for these calls and left the caller in the scope; their resource check (``RoutePolicy.parsed``: the
pilot's queue, the jobs dispatched to it) runs here on the validated request, where the handler runs,
so the body is parsed once.

job/submit takes 10,000 jobs: FastAPI would validate that body on the event loop in one ~100 ms
pydantic call that holds the GIL. Here it is decoded and validated in a worker thread in slices of
``SUBMIT_SLICE`` jobs, so the loop gets the GIL back between slices; errors are the route's, with the
job index of the whole batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pandawms.core.auth import Caller
from pandawms.core.errors import PandaError
from pandawms.protocol import paths
from pandawms.protocol.jobs import SubmitRequest
from pandawms.protocol.pilot import AcquireRequest, UpdateRequest
from pandawms.server.bodies import MAX_DECODED_BODY
from pandawms.server.context import ServerContext
from pandawms.server.groupcommit import GroupCommit
from pandawms.server.policies import ParsedCheck, policy_for
from pandawms.server.responses import envelope, error_response, validation_message
from pandawms.server.routes_jobs import handle_submit
from pandawms.server.routes_pilot import handle_acquire, handle_update

Handler = tuple[type[BaseModel], Callable[[ServerContext, Any], Response], ParsedCheck | None]
_CALLS: dict[str, tuple[type[BaseModel], Callable[[ServerContext, Any], Response]]] = {
    paths.API_PREFIX + paths.PILOT_ACQUIRE_JOBS: (AcquireRequest, handle_acquire),
    paths.API_PREFIX + paths.PILOT_UPDATE_JOB: (UpdateRequest, handle_update),
}
PATHS = frozenset(_CALLS)  # the gate (server/auth.AuthGate) leaves their resource check to this middleware
MAX_BODY = 16 * 1024 * 1024
SUBMIT_SLICE = 250
INLINE_MAX_JOBS = 4  # acquires of more jobs always run in a worker thread


class PilotFastPath:
    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx
        # with each, its policy's check on the validated request (the gate skips the body for PATHS)
        self.handlers: dict[str, Handler] = {
            path: (model, func, policy_for(path, False).parsed) for path, (model, func) in _CALLS.items()
        }
        self.submit_path = paths.API_PREFIX + paths.JOB_SUBMIT
        self.groups = GroupCommit(ctx.db) if ctx.db.is_sqlite else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"] if scope["type"] == "http" and scope["method"] == "POST" else ""
        handler = self.handlers.get(path)
        if handler is not None:
            caller = scope.get("state", {}).get("caller")  # the gate's (its resource check is ours)
            response = await self._respond(handler, await _read_body(receive), caller)
        elif path == self.submit_path:
            body = await _read_body(receive, MAX_DECODED_BODY)
            caller = scope.get("state", {}).get("caller")  # server/auth.AuthGate's, None when auth is off
            response = await anyio.to_thread.run_sync(self._submit, body, caller)
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _submit(self, body: bytes | None, caller: Caller | None) -> Response:
        if body is None:
            return _too_large(MAX_DECODED_BODY)
        try:
            request = _validate_submit(body)
        except (ValidationError, ValueError):  # ValueError: not JSON
            return envelope(success=False, message=_route_error(SubmitRequest, body), status_code=422)
        except _SliceErrors as exc:
            return envelope(
                success=False, message=validation_message(exc.errors, SubmitRequest), status_code=422
            )
        try:
            return handle_submit(self.ctx, request, caller)
        except PandaError as exc:
            return error_response(exc)

    async def _respond(self, handler: Handler, body: bytes | None, caller: Caller | None) -> Response:
        model, func, check = handler
        if body is None:
            return _too_large(MAX_BODY)
        try:
            request = model.model_validate_json(body)
        except ValidationError:
            return envelope(success=False, message=_route_error(model, body), status_code=422)
        checked = None if caller is None or check is None else (check, caller)
        try:
            if self.groups is not None and _short(request):
                return await self.groups.run(lambda: self._run(func, checked, request))
            return await anyio.to_thread.run_sync(self._run, func, checked, request)
        except PandaError as exc:
            return error_response(exc)

    def _run(
        self,
        func: Callable[[ServerContext, Any], Response],
        checked: tuple[ParsedCheck, Caller] | None,
        request: BaseModel,
    ) -> Response:
        """The resource check (Forbidden naming why; a read only for a job not known dispatched), then
        the handler, on the same thread."""
        if checked is not None:
            check, caller = checked
            check(self.ctx.db.read, self.ctx.dispatched, caller, request)
        return func(self.ctx, request)


def _short(request: BaseModel) -> bool:
    """Small enough to run on the loop: claiming (and describing) many jobs takes tens of ms."""
    return not isinstance(request, AcquireRequest) or request.n_jobs <= INLINE_MAX_JOBS


class _SliceErrors(Exception):
    def __init__(self, errors: list[Any]) -> None:
        self.errors = errors


def _validate_submit(body: bytes) -> SubmitRequest:
    """SubmitRequest from JSON, ``SUBMIT_SLICE`` jobs per pydantic call (each holds the GIL briefly).

    A body that is not ``{"jobs": [...]}`` raises the whole model's ValidationError; bad jobs raise
    _SliceErrors with every slice's errors, job indexes counted over the whole batch, like the route.
    """
    data = json.loads(body) if body else None
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(jobs, list) or not jobs:
        return SubmitRequest.model_validate(data, from_attributes=True)
    parsed: list[Any] = []
    errors: list[Any] = []
    for start in range(0, len(jobs), SUBMIT_SLICE):
        try:
            part = {**data, "jobs": jobs[start : start + SUBMIT_SLICE]}
            parsed.extend(SubmitRequest.model_validate(part, from_attributes=True).jobs)
        except ValidationError as exc:
            errors.extend(_shifted(err, start) for err in exc.errors())
    if errors:
        raise _SliceErrors(errors)
    return SubmitRequest.model_construct(jobs=parsed)


def _shifted(err: Any, offset: int) -> Any:
    loc = tuple(err.get("loc", ()))
    if len(loc) > 1 and loc[0] == "jobs" and isinstance(loc[1], int):
        loc = ("jobs", loc[1] + offset, *loc[2:])
    return {**err, "loc": loc}


def _too_large(limit: int) -> Response:
    return envelope(success=False, message=f"body: larger than {limit} bytes", status_code=413)


def _route_error(model: type[BaseModel], body: bytes) -> str:
    """The message FastAPI's route gives for this bad body (it decodes JSON, then validates objects).

    Only on the error path, so the hot path keeps pydantic's one-step JSON validation.
    """
    if not body:
        return validation_message([{"loc": ("body",), "msg": "Field required"}])
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        return validation_message([{"loc": ("body", getattr(exc, "pos", 0)), "msg": "JSON decode error"}])
    try:
        model.model_validate(data, from_attributes=True)  # as FastAPI validates bodies
    except ValidationError as exc:
        return validation_message(exc.errors(), model)
    return "request: invalid body"


async def _read_body(receive: Receive, limit: int = MAX_BODY) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
