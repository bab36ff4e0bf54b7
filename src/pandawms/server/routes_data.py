"""Data catalog endpoints: scopes, datasets/containers and their files, RSEs, replicas (thin: parse,
call a service in one transaction, answer the envelope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from pandawms.core.access import owner_of_new
from pandawms.core.auth import Caller
from pandawms.core.data import DID, DIDType, parse_did
from pandawms.core.states import DatasetStatus, ReplicaStatus
from pandawms.protocol import paths
from pandawms.protocol.data import (
    AddDIDsRequest,
    AddFilesRequest,
    AddReplicasRequest,
    AttachOut,
    AttachRequest,
    ContentEntry,
    ContentPage,
    DIDAction,
    DIDCreated,
    DIDEntry,
    DIDInfo,
    DIDPage,
    DIDsRequest,
    FilesAddedOut,
    ReplicaPage,
    ReplicasAdded,
    ScopeInfo,
    ScopeRequest,
    parse_replica_cursor,
    replica_entry,
)
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.rses import DistancesBody, RSEConfig, RSEUpsertRequest
from pandawms.server.context import ServerContext, get_caller, get_ctx
from pandawms.server.responses import envelope
from pandawms.services import catalog, replicas, rses
from pandawms.services.lifecycle_data import DataTransition

router = APIRouter(tags=["data"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]
CallerDep = Annotated[Caller | None, Depends(get_caller)]
Limit = Annotated[int, Query(ge=1, le=catalog.MAX_PAGE)]
DIDParam = Annotated[str, Query(min_length=3, description="scope:name")]
After = Annotated[str | None, Query(description="the previous page's 'next'")]


# -- scopes ----------------------------------------------------------------------------------------


@router.post(paths.SCOPE_ADD, response_model=Envelope[ScopeInfo])
def add_scope(body: ScopeRequest, ctx: Ctx, caller: CallerDep) -> Response:
    """Add a scope owned by ``account`` (a token ``sub``; a user's own when empty); a repeat is a no-op
    that answers the existing owner."""
    account = owner_of_new(caller, body.account, scope=True) if caller is not None else body.account
    with ctx.db.write() as conn:
        created = catalog.add_scope(conn, body.scope, account, ctx.clock())
        owner = account if created else catalog.scope_account(conn, body.scope)
    return envelope(ScopeInfo(scope=body.scope, account=owner, created=created))


@router.get(paths.SCOPE_LIST, response_model=Envelope[list[ScopeInfo]])
def list_scopes(ctx: Ctx) -> Response:
    with ctx.db.read() as conn:
        found = catalog.list_scopes(conn)
    return envelope([ScopeInfo(scope=s, account=a) for s, a in found])


# -- datasets and containers -----------------------------------------------------------------------


@router.post(paths.DID_ADD, response_model=Envelope[list[DIDCreated]])
def add_dids(body: AddDIDsRequest, ctx: Ctx) -> Response:
    """Create open datasets/containers (all or nothing; an existing one of the same type is a no-op)."""
    new = [d.to_core() for d in body.dids]
    with ctx.db.write() as conn:
        done = catalog.add_dids(conn, new, ctx.clock())
    return envelope([DIDCreated(did=str(d), created=c) for d, c in done])


@router.get(paths.DID_GET, response_model=Envelope[DIDInfo])
def get_did(ctx: Ctx, did: DIDParam) -> Response:
    with ctx.db.read() as conn:
        rec, length, size = catalog.get_did(conn, parse_did(did))
    return envelope(DIDInfo.of(rec, length, size))


@router.get(paths.DID_LIST, response_model=Envelope[DIDPage])
def list_dids(
    ctx: Ctx,
    scope: Annotated[str, Query(min_length=1, max_length=25)],
    type: Annotated[DIDType | None, Query(description="dataset or container")] = None,
    after: After = None,
    limit: Limit = 1000,
) -> Response:
    """A keyset page of a scope's datasets and containers by name."""
    with ctx.db.read() as conn:
        rows, cursor = catalog.list_dids(conn, scope, type, after, limit)
    items = [DIDEntry(scope=r.did.scope, name=r.did.name, type=r.did_type, state=r.status) for r in rows]
    return envelope(DIDPage(items=items, next=cursor))


@router.post(paths.DID_ADD_FILES, response_model=Envelope[FilesAddedOut])
def add_files(body: AddFilesRequest, ctx: Ctx) -> Response:
    """Register up to 10,000 files into an open dataset in one transaction (all or nothing)."""
    dataset = parse_did(body.dataset)
    new = [f.to_core() for f in body.files]
    with ctx.db.write() as conn:
        done = catalog.add_files(conn, dataset, new, body.rse, ctx.clock())
    out = FilesAddedOut(
        dataset=str(dataset),
        added=done.added,
        existing=done.existing,
        attached=done.attached,
        replicas=done.replicas,
    )
    return envelope(out, message=f"{done.added} new file(s), {done.attached} attached to {dataset}")


@router.post(paths.DID_ATTACH, response_model=Envelope[AttachOut])
def attach(body: AttachRequest, ctx: Ctx) -> Response:
    """Attach registered files to a dataset, or datasets to a container."""
    parent, children = parse_did(body.did), [parse_did(c) for c in body.children]
    with ctx.db.write() as conn:
        changed = catalog.attach(conn, parent, children, ctx.clock())
    return envelope(AttachOut(did=str(parent), changed=changed))


@router.post(paths.DID_DETACH, response_model=Envelope[AttachOut])
def detach(body: AttachRequest, ctx: Ctx) -> Response:
    parent, children = parse_did(body.did), [parse_did(c) for c in body.children]
    with ctx.db.write() as conn:
        changed = catalog.detach(conn, parent, children)
    return envelope(AttachOut(did=str(parent), changed=changed))


@router.get(paths.DID_LIST_CONTENTS, response_model=Envelope[ContentPage])
def list_contents(ctx: Ctx, did: DIDParam, after: After = None, limit: Limit = 1000) -> Response:
    """A keyset page of a dataset's files (with their metadata) or a container's datasets."""
    start = parse_did(after, "after") if after else None
    with ctx.db.read() as conn:
        rows, cursor = catalog.list_contents(conn, parse_did(did), start, limit)
    return envelope(
        ContentPage(items=[ContentEntry.of(r) for r in rows], next=str(cursor) if cursor else None)
    )


def _actions(done: list[tuple[DID, DataTransition]]) -> list[DIDAction]:
    return [DIDAction(did=str(d), outcome=t.outcome.value, state=t.status, reason=t.reason) for d, t in done]


def _set_status(body: DIDsRequest, ctx: ServerContext, target: DatasetStatus) -> Response:
    with ctx.db.write() as conn:
        done = catalog.set_status(conn, [parse_did(d) for d in body.dids], target, ctx.clock())
    return envelope(_actions(done))


@router.post(paths.DID_CLOSE, response_model=Envelope[list[DIDAction]])
def close(body: DIDsRequest, ctx: Ctx) -> Response:
    """open -> closed: no more content (per-DID outcome)."""
    return _set_status(body, ctx, DatasetStatus.CLOSED)


@router.post(paths.DID_FREEZE, response_model=Envelope[list[DIDAction]])
def freeze(body: DIDsRequest, ctx: Ctx) -> Response:
    """open/closed -> frozen: never changes nor is deleted again (per-DID outcome)."""
    return _set_status(body, ctx, DatasetStatus.FROZEN)


@router.post(paths.DID_DELETE, response_model=Envelope[list[DIDAction]])
def delete(body: DIDsRequest, ctx: Ctx) -> Response:
    """Delete empty, unfrozen datasets/containers; a refusal says why (per-DID outcome)."""
    with ctx.db.write() as conn:
        done = catalog.delete(conn, [parse_did(d) for d in body.dids])
    return envelope(_actions(done))


# -- RSEs ------------------------------------------------------------------------------------------


@router.get(paths.RSE_LIST, response_model=Envelope[list[RSEConfig]])
def list_rses(ctx: Ctx) -> Response:
    with ctx.db.read() as conn:
        return envelope([RSEConfig.from_spec(s) for s in rses.list_all(conn)])


@router.post(paths.RSE_UPSERT, response_model=Envelope[list[RSEConfig]])
def upsert_rses(body: RSEUpsertRequest, ctx: Ctx) -> Response:
    """Create or replace RSEs (takes effect at once, as the RSE file does)."""
    with ctx.db.write() as conn:
        rses.sync(conn, [r.to_spec() for r in body.rses], {}, ctx.clock())
    return envelope(body.rses, message=f"{len(body.rses)} RSE(s) saved")


@router.get(paths.RSE_DISTANCES, response_model=Envelope[DistancesBody])
def get_distances(ctx: Ctx) -> Response:
    with ctx.db.read() as conn:
        return envelope(DistancesBody(distances=rses.distances(conn)))


@router.post(paths.RSE_SET_DISTANCES, response_model=Envelope[DistancesBody])
def set_distances(body: DistancesBody, ctx: Ctx) -> Response:
    """Replace the distances from each source site named."""
    with ctx.db.write() as conn:
        rses.sync(conn, [], body.distances, ctx.clock())
        return envelope(DistancesBody(distances=rses.distances(conn)))


# -- replicas --------------------------------------------------------------------------------------


@router.get(paths.REPLICA_LIST, response_model=Envelope[ReplicaPage])
def list_replicas(ctx: Ctx, did: DIDParam, after: After = None, limit: Limit = 1000) -> Response:
    """Where a file is, or a keyset page of where a dataset's files are (file x RSE with state and URL)."""
    start = parse_replica_cursor(after) if after else None
    with ctx.db.read() as conn:
        rows, specs, cursor = replicas.list_replicas(conn, parse_did(did), start, limit)
    items = [replica_entry(r.did, r.rse, r.status, r.path, specs.get(r.rse)) for r in rows]
    nxt = f"{cursor[0]}@{cursor[1]}" if cursor else None
    return envelope(ReplicaPage(items=items, next=nxt))


@router.post(paths.REPLICA_ADD, response_model=Envelope[ReplicasAdded])
def add_replicas(body: AddReplicasRequest, ctx: Ctx) -> Response:
    """Record replicas of registered files at an RSE (existing ones are kept)."""
    with ctx.db.write() as conn:
        added = replicas.add(
            conn, body.rse, [parse_did(f) for f in body.files], ReplicaStatus(body.state), ctx.clock()
        )
    return envelope(ReplicasAdded(rse=body.rse, added=added))
