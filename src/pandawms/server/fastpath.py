"""ASGI fast path for the hot pilot calls (acquire_jobs, update_job).

They carry nearly all the load (every job: one acquire, a few heartbeats, one final update) and in
FastAPI most of their CPU went to routing, dependency solving and threadpool hops, not to the task
buffer. This middleware answers exactly those two POSTs with the same handlers, models, envelope and
error table as the documented FastAPI routes (which stay in the OpenAPI spec and serve as fallback;
tests/db/test_fastpath_parity.py holds the two to the same answers). Bodies arrive already decoded
(server/bodies.py). On SQLite the handler runs on the event loop only when this process's writer turn
is free (the write then takes well under a millisecond); when another writer holds or waits for it (a
big submit chunk, an agent batch) the call goes to a worker thread and waits its turn there, so the
loop never blocks on the lock. On PostgreSQL it always runs in a worker thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from pandawms.core.errors import PandaError
from pandawms.protocol import paths
from pandawms.protocol.pilot import AcquireRequest, UpdateRequest
from pandawms.server.context import ServerContext
from pandawms.server.responses import envelope, error_response, validation_message
from pandawms.server.routes_pilot import handle_acquire, handle_update

Handler = tuple[type[BaseModel], Callable[[ServerContext, Any], Response]]
MAX_BODY = 16 * 1024 * 1024


class PilotFastPath:
    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx
        self.handlers: dict[str, Handler] = {
            paths.API_PREFIX + paths.PILOT_ACQUIRE_JOBS: (AcquireRequest, handle_acquire),
            paths.API_PREFIX + paths.PILOT_UPDATE_JOB: (UpdateRequest, handle_update),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        handler = self.handlers.get(scope["path"]) if scope["type"] == "http" else None
        if handler is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        response = await self._respond(handler, body)
        await response(scope, receive, send)

    async def _respond(self, handler: Handler, body: bytes | None) -> Response:
        model, func = handler
        if body is None:
            return envelope(success=False, message=f"body: larger than {MAX_BODY} bytes", status_code=413)
        try:
            request = model.model_validate_json(body)
        except ValidationError:
            return envelope(success=False, message=_route_error(model, body), status_code=422)
        try:
            with self.ctx.db.writer_if_free() as free:
                if free:
                    return func(self.ctx, request)
            return await anyio.to_thread.run_sync(func, self.ctx, request)
        except PandaError as exc:
            return error_response(exc)


def _route_error(model: type[BaseModel], body: bytes) -> str:
    """The message FastAPI's route gives for this bad body (it decodes JSON, then validates objects).

    Only on the error path, so the hot path keeps pydantic's one-step JSON validation.
    """
    if not body:
        return validation_message([{"loc": ("body",), "msg": "Field required"}])
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        return validation_message([{"loc": ("body", exc.pos), "msg": "JSON decode error"}])
    try:
        model.model_validate(data, from_attributes=True)  # as FastAPI validates bodies
    except ValidationError as exc:
        return validation_message(exc.errors())
    return "request: invalid body"


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
