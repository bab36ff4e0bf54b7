"""PanDA's legacy pilot API (``/server/panda/*``) for an unchanged pilot3, translated to the v1 services.

Each call decodes its parameters (protocol/legacy_pilot.py), builds the v1 request model, runs the same
service as the v1 route (services/pilot.py: dispatch and updates through the one status writer) and
answers a flat dict with ``StatusCode``. Errors are answered in the same flat form (StatusCode +
errorDialog) with the HTTP status of the error table, because pilot3's curl path reads the body, not the
status. The resource checks of the v1 policies (a pilot's queue, a job's owner) run here after decoding,
since a form body cannot be read by the auth gate. Queue and storage descriptions for pilot3's
``--queuedata-url`` / ``--storagedata-url`` are served from the queue and RSE configuration.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from pandawms.core.access import Action, queue_refusal, refuse
from pandawms.core.auth import Caller
from pandawms.core.errors import Forbidden, InvalidInput, NotFound, PandaError
from pandawms.core.specs import FileType
from pandawms.core.states import WorkerStatus
from pandawms.protocol import legacy_pilot as legacy
from pandawms.protocol import legacy_queuedata as queuedata
from pandawms.protocol.commands import PilotCommand, StatusCode
from pandawms.protocol.pilot import AcquireRequest, PilotJob, UpdateRequest
from pandawms.server.context import ServerContext, get_caller, get_ctx
from pandawms.server.responses import ERROR_STATUS, validation_message
from pandawms.server.routes_pilot import apply_update, to_report
from pandawms.services import pilot, queries, queues, rses, workers
from pandawms.services.access import check_jobs

log = logging.getLogger("pandawms.server.compat_pilot")
router = APIRouter(include_in_schema=False)  # PanDA's contract, not the v1 API's
T = TypeVar("T")
EVENT_SERVICE = "the Event Service is not supported by pandawms yet (no event ranges to hand out or take)"


def _status_code(exc: PandaError) -> int:
    if isinstance(exc, Forbidden):
        return legacy.SC_PERMISSION
    return StatusCode.INVALID if isinstance(exc, InvalidInput) else StatusCode.FAILED


def _answer(request: Request, reply: dict[str, Any], status: int = 200) -> Response:
    body, media = legacy.encode_reply(reply, legacy.wants_json(request.headers.get("accept", "")))
    return Response(body, status_code=status, media_type=media)


def _refusal(request: Request, exc: PandaError) -> Response:
    status = next((code for cls, code in ERROR_STATUS.items() if isinstance(exc, cls)), 500)
    return _answer(request, legacy.error_reply(_status_code(exc), str(exc)), status)


async def _fields(request: Request) -> legacy.Fields:
    raw = await request.body()
    fields = legacy.decode_fields(raw, request.headers.get("content-type", ""))
    return {**dict(request.query_params), **fields}  # a GET's parameters count too (curl -G, old pilots)


def _model(cls: type[T], body: dict[str, Any]) -> T:
    try:
        return cls.model_validate(body)  # type: ignore[attr-defined,no-any-return]
    except ValidationError as exc:
        raise InvalidInput(validation_message(exc.errors())) from None


Work = Callable[[ServerContext, Caller | None, legacy.Fields], dict[str, Any]]


async def _run(request: Request, work: Work) -> Response:
    ctx = get_ctx(request)
    try:
        fields = await _fields(request)
        reply = await anyio.to_thread.run_sync(work, ctx, get_caller(request), fields)
    except PandaError as exc:
        return _refusal(request, exc)
    return _answer(request, reply)


# getJob / updateJob / getStatus ---------------------------------------------------------------------


def _get_job(ctx: ServerContext, caller: Caller | None, fields: legacy.Fields) -> dict[str, Any]:
    body = _model(AcquireRequest, legacy.acquire_request(fields))
    if caller is not None and (why := queue_refusal(caller, Action.ACQUIRE, body.site_name)):
        refuse("pilot acquire", [(body.site_name, why)])
    query = pilot.AcquireQuery(
        queue=body.site_name,
        n_jobs=body.n_jobs,
        prod_source_label=body.prod_source_label or body.job_type,
        memory=body.memory,
        disk=body.disk_space,
        cores=body.core_count,
        remaining_time=body.remaining_time,
        node=body.node,
        worker_id=body.worker_id,
        harvester_id=body.harvester_id,
        shares=ctx.shares.dispatch_order(ctx.db.read, body.site_name, ctx.clock()),
    )
    with ctx.db.write() as conn:
        got = pilot.acquire_jobs(conn, query, ctx.clock())
    if not got.jobs:
        return legacy.error_reply(StatusCode.NO_JOBS, got.message or "no jobs")
    jobs = [legacy.legacy_job(j, PilotJob.from_job(j, got.locations.get(j.panda_id))) for j in got.jobs]
    return jobs[0] if len(jobs) == 1 else {"StatusCode": StatusCode.OK, "jobs": jobs}


def _update_job(ctx: ServerContext, caller: Caller | None, fields: legacy.Fields) -> dict[str, Any]:
    body, dropped = legacy.update_request(fields)
    if caller is not None:
        with ctx.db.read() as conn:
            check_jobs(conn, caller, Action.UPDATE, [body["job_id"]])
    if "job_output_report" in body:
        body["job_output_report"] = _with_endpoints(ctx, body["job_id"], body["job_output_report"])
    res = apply_update(ctx, to_report(_model(UpdateRequest, body)))
    reply: dict[str, Any] = {"StatusCode": StatusCode.OK, "command": res.command or PilotCommand.NONE.value}
    notes = [n for n in (res.message, *dropped) if n]
    if notes:
        reply["errorDialog"] = "; ".join(notes)
    return reply


def _with_endpoints(ctx: ServerContext, job_id: int, files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """pilot3 reports where it wrote each output (surl) but not the RSE: the RSE whose prefix holds the
    surl, else the one the description named for that file (its ddmEndPointOut)."""
    with ctx.db.read() as conn:
        known = rses.list_all(conn)
        job = queries.jobs_by_id(conn, [job_id]).get(job_id)
    named = {f.lfn: f.destination_se for f in job.files if f.type is not FileType.INPUT} if job else {}
    out: dict[str, Any] = {}
    for lfn, info in files.items():
        surl = str(info.get("surl") or "")
        at = [r.name for r in known if surl and _under(surl, r.prefix)]
        out[lfn] = info | {"endpoint": at[0] if at else named.get(lfn, "")}
    return out


def _under(url: str, prefix: str) -> bool:
    local = url.replace("file://localhost/", "file:///", 1)
    return local.startswith(prefix.rstrip("/") + "/")


def _get_status(ctx: ServerContext, _caller: Caller | None, fields: legacy.Fields) -> dict[str, Any]:
    job_id = legacy.to_int(fields, "ids", 1)
    if job_id is None:
        raise InvalidInput("ids: the PandaID to look up is required", "ids")
    with ctx.db.read() as conn:
        job = queries.jobs_by_id(conn, [job_id]).get(job_id)
    if job is None:
        return {"StatusCode": StatusCode.OK, "status": "notfound", "attemptNr": 0}
    return {"StatusCode": StatusCode.OK, "status": job.status.value, "attemptNr": job.attempt_nr}


@router.post(legacy.GET_JOB)
async def get_job(request: Request) -> Response:
    """Claim a job for the pilot's queue (activated -> sent); StatusCode 20 when there is none."""
    return await _run(request, _get_job)


@router.post(legacy.UPDATE_JOB)
async def update_job(request: Request) -> Response:
    """Heartbeat or final update; ``command`` carries tobekilled and the other pilot commands."""
    return await _run(request, _update_job)


@router.api_route(legacy.GET_STATUS, methods=["GET", "POST"])
async def get_status(request: Request) -> Response:
    return await _run(request, _get_status)


# resource types, worker status, debug mode, tokens -------------------------------------------------


def _resource_types(_ctx: ServerContext, _caller: Caller | None, _fields: legacy.Fields) -> dict[str, Any]:
    return {"StatusCode": StatusCode.OK, "ResourceTypes": list(legacy.RESOURCE_TYPES)}


def _worker_status(ctx: ServerContext, _caller: Caller | None, fields: legacy.Fields) -> dict[str, Any]:
    """pilot3 (3.11, Harvester mode) tells the server its worker started or finished."""
    worker = legacy.to_int(fields, "workerID", 1)
    harvester = legacy.to_str(fields, "harvesterID", 50)
    word = legacy.to_str(fields, "status", 32)
    if worker is None or harvester is None:
        raise InvalidInput("workerID and harvesterID: both are required", "workerID")
    if word not in legacy.WORKER_PILOT_STATUS:
        allowed = ", ".join(sorted(legacy.WORKER_PILOT_STATUS))
        raise InvalidInput(f"status: {word!r} is not a pilot status; expected one of: {allowed}", "status")
    report = workers.WorkerReport(worker, WorkerStatus(legacy.WORKER_PILOT_STATUS[word]))
    with ctx.db.write() as conn:
        [res] = workers.update_workers(conn, harvester, [report], ctx.clock())
    if res.outcome in ("notfound", "rejected"):
        return legacy.error_reply(StatusCode.FAILED, res.message)
    return {"StatusCode": StatusCode.OK, "status": res.status or "", "errorDialog": res.message}


@router.api_route(legacy.GET_RESOURCE_TYPES, methods=["GET", "POST"])
async def get_resource_types(request: Request) -> Response:
    return await _run(request, _resource_types)


@router.post(legacy.UPDATE_WORKER_PILOT_STATUS)
async def update_worker_pilot_status(request: Request) -> Response:
    return await _run(request, _worker_status)


@router.api_route(legacy.SET_DEBUG_MODE, methods=["GET", "POST"])
async def set_debug_mode(request: Request) -> Response:
    """Not yet: pandawms relays only ``tobekilled`` to pilots (core/updates.py); debug mode needs the
    ``debug``/``debugoff`` commands relayed there first."""
    why = "setDebugMode: pandawms does not relay debug commands to pilots yet (only tobekilled)"
    return await _run(request, _not_supported(why))


@router.api_route(legacy.GET_ACCESS_TOKEN, methods=["GET", "POST"])
async def get_access_token(request: Request) -> Response:
    """Not PanDA's token keys: a pilot's token is made with ``panda token create`` and renewed by whoever
    launched the pilot (the factory); a token that renewed itself would never expire."""
    why = (
        "get_access_token: pandawms pilot tokens are issued by 'panda token create' (renewed by the factory)"
    )
    return await _run(request, _not_supported(why))


# calls pandawms answers without a PanDA counterpart ----------------------------------------------


def _not_supported(what: str) -> Work:
    def work(_ctx: ServerContext, _caller: Caller | None, _fields: legacy.Fields) -> dict[str, Any]:
        return legacy.error_reply(legacy.SC_NOT_SUPPORTED, what)

    return work


@router.api_route(legacy.GET_EVENT_RANGES, methods=["GET", "POST"])
async def get_event_ranges(request: Request) -> Response:
    return await _run(request, _not_supported(EVENT_SERVICE))


@router.api_route(legacy.UPDATE_EVENT_RANGES, methods=["GET", "POST"])
async def update_event_ranges(request: Request) -> Response:
    return await _run(request, _not_supported(EVENT_SERVICE))


@router.api_route(legacy.GET_PROXY, methods=["GET", "POST"])
async def get_proxy(request: Request) -> Response:
    """pandawms keeps no X.509 proxies: pilots authenticate with tokens (issuer: ``panda token create``)."""
    return await _run(request, _not_supported("getProxy: pandawms keeps no X.509 proxies; pilots use tokens"))


@router.api_route(legacy.GET_KEY_PAIR, methods=["GET", "POST"])
async def get_key_pair(request: Request) -> Response:
    """No key pairs (PanDA keeps object-store keys for its pilots); storage credentials are site-local."""
    why = "getKeyPair: pandawms keeps no key pairs; storage credentials come from the site's configuration"
    return await _run(request, _not_supported(why))


# queue and storage descriptions (pilot3's --queuedata-url and --storagedata-url) -----------------


def _queue_description(ctx: ServerContext, queue: str) -> dict[str, Any]:
    with ctx.db.read() as conn:
        spec = queues.get(conn, queue)
        known = rses.list_all(conn)
    return queuedata.schedconfig(spec, known)


def _json(data: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


async def _description(request: Request, build: Callable[[ServerContext], dict[str, Any]]) -> Response:
    """Always JSON, whatever the Accept header says: these are files to pilot3 (urllib, no Accept)."""
    ctx = get_ctx(request)
    try:
        data = await anyio.to_thread.run_sync(build, ctx)
    except NotFound as exc:
        return _json({"error": str(exc)}, 404)  # pilot3 reads a dict with "error" as a failed source
    return _json(data)


@router.get("/cache/schedconfig/{name}")
async def schedconfig(request: Request, name: str) -> Response:
    """``<queue>.all.json``: the queue as PanDA's cache has it; ``<queue>.json``: CRIC's {queue: {...}}."""
    if name.endswith(".all.json"):
        queue = name.removesuffix(".all.json")
        return await _description(request, lambda ctx: _queue_description(ctx, queue))
    if name.endswith(".json"):
        queue = name.removesuffix(".json")
        return await _description(request, lambda ctx: {queue: _queue_description(ctx, queue)})
    return _json({"error": f"{name}: expected <queue>.all.json or <queue>.json"}, 404)


def _storages(ctx: ServerContext) -> dict[str, Any]:
    with ctx.db.read() as conn:
        return queuedata.ddmendpoints(rses.list_all(conn))


@router.get(legacy.DDMENDPOINTS)
async def ddmendpoints(request: Request) -> Response:
    """Every RSE as a CRIC DDM endpoint (pilot3's storage data)."""
    return await _description(request, _storages)


# pilot3 3.11's /api/v1/pilot/update_worker_node -------------------------------------------------
v1_router = APIRouter(include_in_schema=False)  # mounted under /api/v1; not part of the v1 contract


@v1_router.post(legacy.UPDATE_WORKER_NODE)
async def update_worker_node(request: Request) -> Response:
    """pilot3 3.11 describes its worker node (CPU, memory, ...) for PanDA's worker-node table; pandawms has
    none yet, so the call is answered (the v1 envelope, success false) with that and stores nothing."""
    try:
        fields = await _fields(request)
    except PandaError as exc:
        return _json({"success": False, "message": str(exc), "data": None}, 400)
    if not isinstance(fields.get("site"), str) and not isinstance(fields.get("host_name"), str):
        why = "update_worker_node: expected the worker node's site and host_name"
        return _json({"success": False, "message": why, "data": None}, 400)
    why = "update_worker_node: pandawms keeps no worker-node table yet; nothing was stored"
    return _json({"success": False, "message": why, "data": None})
