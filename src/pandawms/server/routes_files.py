"""Log tarball upload (pilot) and download (CLI, monitor)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from pandawms.protocol import paths
from pandawms.protocol.bounds import BIGINT_MAX
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.files import LogStored
from pandawms.server.context import ServerContext, get_ctx
from pandawms.server.responses import envelope

router = APIRouter(tags=["files"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]


@router.post(paths.FILE_UPLOAD_LOG, response_model=Envelope[LogStored])
async def upload_log(
    request: Request,
    ctx: Ctx,
    job_id: Annotated[int, Query(ge=1, le=BIGINT_MAX)],
    filename: Annotated[str, Query(min_length=1, max_length=128)],
    attempt_nr: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
) -> Response:
    """Store the job's log tarball (raw body, application/octet-stream)."""
    data = await request.body()
    # up to 50 MB of disk and a write transaction: in a worker thread, never on the event loop
    path = await run_in_threadpool(_save_log, ctx, job_id, attempt_nr, filename, data)
    return envelope(LogStored(filename=path.name, size=len(data)), message="log stored")


def _save_log(ctx: ServerContext, job_id: int, attempt_nr: int | None, filename: str, data: bytes) -> Path:
    with ctx.db.write() as conn:  # short: the disk write comes after the commit
        attempt = ctx.logs.check(conn, job_id, attempt_nr, filename, len(data))
    return ctx.logs.write(job_id, attempt, filename, data)


@router.get(paths.FILE_DOWNLOAD_LOG, response_class=FileResponse)
def download_log(ctx: Ctx, job_id: Annotated[int, Query(ge=1, le=BIGINT_MAX)]) -> Response:
    """The job's log tarball (404 with a message when none was uploaded)."""
    with ctx.db.read() as conn:
        path = ctx.logs.find(conn, job_id)
    return FileResponse(path, media_type="application/gzip", filename=path.name)
