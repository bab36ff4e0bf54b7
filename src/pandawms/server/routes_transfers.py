"""Transfer service endpoints: replication rules, transfer requests, their per-RSE-pair summary, and
bad-replica declarations (thin: parse, call a service in one transaction, answer the envelope)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from pandawms.core.access import owner_of_new
from pandawms.core.auth import Caller
from pandawms.core.data import parse_did
from pandawms.core.states import RuleStatus, TransferStatus
from pandawms.protocol import paths
from pandawms.protocol.bounds import BIGINT_MAX
from pandawms.protocol.envelope import Envelope
from pandawms.protocol.transfers import (
    BadReplicaOut,
    DeclareBadRequest,
    PairSummaryOut,
    RuleAddRequest,
    RuleIdRequest,
    RuleInfo,
    RulePage,
    TransferInfo,
    TransferPage,
)
from pandawms.server.context import ServerContext, get_caller, get_ctx
from pandawms.server.responses import envelope
from pandawms.services import rules
from pandawms.services import transfers as transfer_service

router = APIRouter(tags=["transfers"])
Ctx = Annotated[ServerContext, Depends(get_ctx)]
CallerDep = Annotated[Caller | None, Depends(get_caller)]
Limit = Annotated[int, Query(ge=1, le=rules.MAX_PAGE)]
After = Annotated[int, Query(ge=0, le=BIGINT_MAX, description="the previous page's 'next'")]
RuleId = Annotated[int, Query(ge=1, le=BIGINT_MAX)]
RSEName = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.post(paths.RULE_ADD, response_model=Envelope[RuleInfo])
def add_rule(
    body: RuleAddRequest, ctx: Ctx, caller: Annotated[Caller | None, Depends(get_caller)]
) -> Response:
    """A replication rule DID -> RSE: one transfer request per file not yet there (nothing written when
    the DID or RSE is unknown or the RSE is not writable). It belongs to ``account`` (the caller's
    ``sub`` when empty); a user may add and delete only rules of their own."""
    account = owner_of_new(caller, body.account, scope=False) if caller is not None else body.account
    lifetime = timedelta(seconds=body.lifetime) if body.lifetime is not None else None
    with ctx.db.write() as conn:
        rec = rules.add_rule(
            conn,
            parse_did(body.did),
            body.rse,
            ctx.clock(),
            lifetime=lifetime,
            activity=body.activity,
            account=account,
            max_attempts=ctx.config.transfers.max_attempts,
        )
    return envelope(RuleInfo.of(rec), message=f"rule {rec.id}: {rec.did} -> {rec.rse} is {rec.status.value}")


@router.get(paths.RULE_GET, response_model=Envelope[RuleInfo])
def get_rule(ctx: Ctx, id: RuleId) -> Response:
    with ctx.db.read() as conn:
        return envelope(RuleInfo.of(rules.get_rule(conn, id)))


@router.get(paths.RULE_LIST, response_model=Envelope[RulePage])
def list_rules(
    ctx: Ctx,
    did: Annotated[str | None, Query(min_length=3, max_length=277, description="scope:name")] = None,
    rse: RSEName = None,
    state: Annotated[RuleStatus | None, Query()] = None,
    after: After = 0,
    limit: Limit = 1000,
) -> Response:
    """A keyset page of rules by id, optionally of one DID, RSE or state."""
    wanted = parse_did(did) if did else None
    with ctx.db.read() as conn:
        rows, cursor = rules.list_rules(conn, did=wanted, rse=rse, status=state, after=after, limit=limit)
    return envelope(RulePage(items=[RuleInfo.of(r) for r in rows], next=cursor))


@router.post(paths.RULE_DELETE, response_model=Envelope[RuleInfo])
def delete_rule(body: RuleIdRequest, ctx: Ctx) -> Response:
    """Remove a rule: its queued requests are dropped (or handed to another rule needing the file);
    replicas stay."""
    with ctx.db.write() as conn:
        rec = rules.delete_rule(conn, body.id, ctx.clock())
    return envelope(RuleInfo.of(rec), message=f"rule {rec.id} deleted")


@router.get(paths.TRANSFER_LIST, response_model=Envelope[TransferPage])
def list_transfers(
    ctx: Ctx,
    rule_id: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
    state: Annotated[TransferStatus | None, Query()] = None,
    rse: RSEName = None,
    after: After = 0,
    limit: Limit = 1000,
) -> Response:
    """A keyset page of transfer requests by id (of a rule, in a state, from or to an RSE)."""
    with ctx.db.read() as conn:
        rows, cursor = transfer_service.list_transfers(
            conn, rule_id=rule_id, status=state, rse=rse, after=after, limit=limit
        )
    return envelope(TransferPage(items=[TransferInfo.of(t) for t in rows], next=cursor))


@router.get(paths.TRANSFER_SUMMARY, response_model=Envelope[list[PairSummaryOut]])
def transfer_summary(
    ctx: Ctx, window: Annotated[int, Query(ge=1, le=86400, description="seconds of recent throughput")] = 600
) -> Response:
    """Per (source, destination) RSE pair: requests per state, bytes copied, recent MB/s, last errors."""
    with ctx.db.read() as conn:
        pairs = transfer_service.summary(conn, ctx.clock(), timedelta(seconds=window))
    out = [
        PairSummaryOut(
            source_rse=p.source_rse,
            dest_rse=p.dest_rse,
            queued=p.counts.get(TransferStatus.QUEUED, 0),
            submitted=p.counts.get(TransferStatus.SUBMITTED, 0),
            done=p.counts.get(TransferStatus.DONE, 0),
            failed=p.counts.get(TransferStatus.FAILED, 0),
            bytes_done=p.bytes_done,
            recent_mb_per_s=round(p.recent_mb_per_s, 3),
            last_errors=p.last_errors,
        )
        for p in pairs
    ]
    return envelope(out)


@router.post(paths.REPLICA_DECLARE_BAD, response_model=Envelope[list[BadReplicaOut]])
def declare_bad(body: DeclareBadRequest, ctx: Ctx) -> Response:
    """Replicas found missing or corrupt -> bad; one a rule still needs is copied again from another
    replica. All or nothing: an unknown file, RSE or replica refuses the call."""
    out = []
    with ctx.db.write() as conn:
        for rep in body.replicas:
            did = parse_did(rep.did)
            done = transfer_service.declare_bad(conn, did, rep.rse, body.reason, ctx.clock())
            t = done.transition
            out.append(
                BadReplicaOut(
                    did=str(did),
                    rse=rep.rse,
                    outcome=t.outcome.value,
                    state=t.status,
                    reason=t.reason,
                    recopy_request=done.recopy_request,
                )
            )
    return envelope(out)
