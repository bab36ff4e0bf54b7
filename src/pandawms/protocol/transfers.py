"""Transfer service wire models: replication rules and transfer requests with Rucio's field names
(``state``, ``locks_ok_cnt`` / ``locks_replicating_cnt`` / ``locks_stuck_cnt``, ``rse_expression`` is
one RSE name here), per-RSE-pair summaries, and bad-replica declarations. Pages are keyset by id."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pandawms.core.states import RuleStatus, TransferStatus
from pandawms.core.transfers import DEFAULT_ACTIVITY, RuleRecord, TransferRecord
from pandawms.protocol.bounds import BIGINT_MAX
from pandawms.protocol.data import DIDText
from pandawms.protocol.times import UtcDateTime

MAX_LIFETIME = 10 * 365 * 86400  # ten years, in seconds
MAX_DECLARE = 1000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleAddRequest(_Strict):
    did: DIDText = Field(description="a file, dataset or container (scope:name)")
    rse: str = Field(min_length=1, max_length=64, description="the RSE the DID's files must be at")
    lifetime: int | None = Field(
        None, ge=1, le=MAX_LIFETIME, description="seconds; none = forever", strict=True
    )
    activity: str = Field(DEFAULT_ACTIVITY, min_length=1, max_length=64)
    account: str = Field("", max_length=128, description="the owner's token sub; empty: the caller's")


class RuleIdRequest(_Strict):
    id: int = Field(ge=1, le=BIGINT_MAX, strict=True)


class RuleInfo(_Strict):
    id: int
    did: str
    rse: str
    state: RuleStatus
    activity: str
    account: str
    expires_at: UtcDateTime | None
    locks_ok_cnt: int
    locks_replicating_cnt: int
    locks_stuck_cnt: int
    error: str
    created_at: UtcDateTime
    updated_at: UtcDateTime

    @classmethod
    def of(cls, r: RuleRecord) -> RuleInfo:
        return cls(
            id=r.id,
            did=str(r.did),
            rse=r.rse,
            state=r.status,
            activity=r.activity,
            account=r.account,
            expires_at=r.expires_at,
            locks_ok_cnt=r.files_ok,
            locks_replicating_cnt=r.files_replicating,
            locks_stuck_cnt=r.files_stuck,
            error=r.error,
            created_at=r.created_at,
            updated_at=r.modification_time,
        )


class RulePage(_Strict):
    items: list[RuleInfo]
    next: int | None = Field(description="pass as 'after' for the next page; null on the last")


class TransferInfo(_Strict):
    id: int = Field(description="the request id")
    rule_id: int
    did: str
    source_rse: str = Field(description="chosen when the copy runs; empty before")
    dest_rse: str
    state: TransferStatus
    attempt: int
    max_attempts: int
    next_attempt_at: UtcDateTime
    bytes: int
    method: str = Field(description="third-party, streamed, or present (found verified at the destination)")
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    last_error: str
    created_at: UtcDateTime

    @classmethod
    def of(cls, t: TransferRecord) -> TransferInfo:
        return cls(
            id=t.id,
            rule_id=t.rule_id,
            did=str(t.did),
            source_rse=t.source_rse,
            dest_rse=t.dest_rse,
            state=t.status,
            attempt=t.attempt,
            max_attempts=t.max_attempts,
            next_attempt_at=t.next_attempt_at,
            bytes=t.bytes,
            method=t.method,
            started_at=t.started_at,
            finished_at=t.finished_at,
            last_error=t.last_error,
            created_at=t.created_at,
        )


class TransferPage(_Strict):
    items: list[TransferInfo]
    next: int | None = Field(description="pass as 'after' for the next page; null on the last")


class PairSummaryOut(_Strict):
    source_rse: str = Field(description="empty: requests whose source is not chosen yet")
    dest_rse: str
    queued: int
    submitted: int
    done: int
    failed: int
    bytes_done: int
    recent_mb_per_s: float = Field(description="MB/s of the copies that ended in the last window")
    last_errors: list[str]


class BadReplicaIn(_Strict):
    did: DIDText = Field(description="the file (scope:lfn)")
    rse: str = Field(min_length=1, max_length=64)


class DeclareBadRequest(_Strict):
    replicas: list[BadReplicaIn] = Field(min_length=1, max_length=MAX_DECLARE)
    reason: str = Field(min_length=1, max_length=400, description="what was found (missing, corrupt)")


class BadReplicaOut(_Strict):
    did: str
    rse: str
    outcome: str = Field(description="accepted / noop / rejected")
    state: str = Field(description="the replica's state now")
    reason: str
    recopy_request: int | None = Field(
        description="the transfer request copying it again, if a rule needs it"
    )
