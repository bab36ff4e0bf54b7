"""The catalog calls of ``panda upload`` and ``panda download``: file metadata by DID, and uploaded files
registered with their replica at an RSE (thin: parse, one transaction, the envelope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from pandawms.core.data import ContentRow, DIDType, parse_did
from pandawms.protocol import paths
from pandawms.protocol.data import ContentEntry
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.uploads import AddFileReplicasRequest, FileReplicasAdded
from pandawms.server.context import ServerContext, get_ctx
from pandawms.server.responses import envelope
from pandawms.services import uploads

router = APIRouter(tags=["data"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]


@router.get(paths.DID_GET_FILES, response_model=Envelope[list[ContentEntry]])
def get_files(
    ctx: Ctx,
    dids: Annotated[list[str], Query(min_length=1, max_length=uploads.MAX_LOOKUP, description="scope:lfn")],
) -> Response:
    """The registered files among ``dids`` with their size, adler32, GUID and events (unknown ones are
    left out of the answer)."""
    wanted = [parse_did(d, "dids") for d in dids]
    with ctx.db.read() as conn:
        found = uploads.get_files(conn, wanted)
    return envelope([ContentEntry.of(ContentRow(f.did, DIDType.FILE, f)) for f in found])


@router.post(paths.REPLICA_ADD_FILES, response_model=Envelope[FileReplicasAdded])
def add_file_replicas(body: AddFileReplicasRequest, ctx: Ctx) -> Response:
    """Register files (outside any dataset) with an available replica of each at an RSE, all or nothing:
    what ``panda upload`` records after the copy was verified."""
    new = [f.to_core() for f in body.files]
    with ctx.db.write() as conn:
        done = uploads.add_file_replicas(conn, body.rse, new, ctx.clock())
    out = FileReplicasAdded(rse=body.rse, added=done.added, existing=done.existing, replicas=done.replicas)
    return envelope(out, message=f"{done.added} new file(s), {done.replicas} replica(s) at {body.rse}")
