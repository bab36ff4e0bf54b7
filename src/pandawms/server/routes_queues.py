"""Queue endpoints: list, get, upsert and live status changes (no restart needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from pandawms.protocol import paths
from pandawms.protocol.bounds import MAX_HOURS
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.queues import RECENT_HOURS, QueueConfig, QueueOverview, QueueStatusRequest
from pandawms.server.context import ServerContext, get_ctx
from pandawms.server.responses import envelope
from pandawms.services import queues as queue_service
from pandawms.services.queries import queue_overview

router = APIRouter(tags=["queues"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]


@router.get(paths.QUEUE_LIST, response_model=Envelope[list[QueueOverview]])
def list_queues(
    ctx: Ctx,
    hours: Annotated[
        float, Query(gt=0, le=MAX_HOURS, description="window of the ended jobs counted in `recent`")
    ] = RECENT_HOURS,
) -> Response:
    """Every queue with its configuration, current job counts and the jobs ended in the last ``hours``."""
    since = ctx.clock() - timedelta(hours=hours)
    with ctx.db.read() as conn:
        overview = queue_overview(conn, since)
    return envelope([QueueOverview.of(q, counts, ended) for q, counts, ended in overview])


@router.get(paths.QUEUE_GET, response_model=Envelope[QueueConfig])
def get_queue(ctx: Ctx, name: Annotated[str, Query(min_length=1)]) -> Response:
    with ctx.db.read() as conn:
        return envelope(QueueConfig.from_spec(queue_service.get(conn, name)))


@router.post(paths.QUEUE_UPSERT, response_model=Envelope[QueueConfig])
def upsert_queue(body: QueueConfig, ctx: Ctx) -> Response:
    """Create or replace a queue's configuration."""
    with ctx.db.write() as conn:
        queue_service.sync(conn, [body.to_spec()], ctx.clock())
        return envelope(
            QueueConfig.from_spec(queue_service.get(conn, body.name)), message=f"queue {body.name} saved"
        )


@router.post(paths.QUEUE_SET_STATUS, response_model=Envelope[QueueConfig])
def set_queue_status(body: QueueStatusRequest, ctx: Ctx) -> Response:
    """online / brokeroff / offline / test; brokerage and dispatch see it on their next call."""
    with ctx.db.write() as conn:
        spec = queue_service.set_status(conn, body.name, body.status, ctx.clock())
    return envelope(QueueConfig.from_spec(spec), message=f"queue {body.name} is now {body.status.value}")
