"""The ONLY code that writes the status of datasets/containers, replicas, rules and transfer requests.

Datasets follow core.states.DATASET_TRANSITIONS, replicas REPLICA_TRANSITIONS, rules RULE_TRANSITIONS,
transfer requests TRANSFER_TRANSITIONS (a claim is the queued/expired -> submitted move of
db.transfers.claim_transfers, compare-and-set per row); each change locks the row,
checks the table and writes with compare-and-set. A repeat is a no-op, a refusal carries the reason and
the current status (services.lifecycle.Outcome, as for jobs and workers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from pandawms.core.data import DID, DIDType, replica_path
from pandawms.core.errors import NotFound
from pandawms.core.states import (
    DatasetStatus,
    ReplicaStatus,
    RuleStatus,
    TransferStatus,
    dataset_allowed,
    replica_allowed,
    rule_allowed,
    transfer_allowed,
)
from pandawms.core.transfers import TransferRecord
from pandawms.db import catalog as catalog_db
from pandawms.db import replicas as replicas_db
from pandawms.db import rules as rules_db
from pandawms.db import transfers as transfers_db
from pandawms.db.replicas import NewReplica
from pandawms.db.rules import NewRule
from pandawms.db.transfers import Finished, NewTransfer
from pandawms.services.lifecycle import Outcome


@dataclass(frozen=True, slots=True)
class DataTransition:
    """What a status change did: accepted / noop / rejected, the status now, and why when refused."""

    outcome: Outcome
    status: str
    reason: str = ""


def create_dids(conn: Connection, new: Sequence[tuple[DID, DIDType]], now: datetime) -> None:
    """New datasets and containers start open."""
    catalog_db.insert_dids(conn, new, now)


def transition_did(conn: Connection, did: DID, target: DatasetStatus, now: datetime) -> DataTransition:
    """Move one dataset/container along DATASET_TRANSITIONS; NotFound if it does not exist."""
    rec = catalog_db.get_did(conn, did, lock=True)
    if rec is None:
        raise NotFound(f"no dataset or container {did}")
    if rec.status is target:
        return DataTransition(Outcome.NOOP, target.value, f"{did} is already {target.value}")
    if not dataset_allowed(rec.status, target):
        reason = f"{rec.did_type.value} {did} is {rec.status.value}: it cannot become {target.value}"
        return DataTransition(Outcome.REJECTED, rec.status.value, reason)
    if not catalog_db.write_did_status(conn, did, rec.status, target, now):
        return DataTransition(Outcome.REJECTED, rec.status.value, f"{did} changed concurrently")
    return DataTransition(Outcome.ACCEPTED, target.value)


def add_replicas(conn: Connection, new: Sequence[NewReplica], now: datetime) -> None:
    """New replica rows, each in the status it is registered with (available, or copying for a transfer)."""
    replicas_db.insert_replicas(conn, new, now)


def transition_replica(
    conn: Connection, did: DID, rse: str, target: ReplicaStatus, now: datetime
) -> DataTransition:
    """Move one replica along REPLICA_TRANSITIONS; NotFound if the file has no replica at ``rse``."""
    row = replicas_db.existing(conn, [(did, rse)], lock=True).get((did, rse))
    if row is None:
        raise NotFound(f"no replica of {did} at {rse}")
    if row.status is target:
        return DataTransition(
            Outcome.NOOP, target.value, f"replica of {did} at {rse} is already {target.value}"
        )
    if not replica_allowed(row.status, target):
        reason = f"replica of {did} at {rse} is {row.status.value}: it cannot become {target.value}"
        return DataTransition(Outcome.REJECTED, row.status.value, reason)
    if not replicas_db.write_replica_status(conn, did, rse, row.status, target, now):
        return DataTransition(
            Outcome.REJECTED, row.status.value, f"replica of {did} at {rse} changed concurrently"
        )
    return DataTransition(Outcome.ACCEPTED, target.value)


def create_rule(conn: Connection, new: NewRule, now: datetime) -> int:
    """A new rule in the status its counters give (ok when nothing is left to copy)."""
    return rules_db.insert_rule(conn, new, now)


def transition_rule(conn: Connection, rule_id: int, target: RuleStatus, now: datetime) -> DataTransition:
    """Move one rule along RULE_TRANSITIONS; NotFound if there is no such rule."""
    rec = rules_db.get_rule(conn, rule_id, lock=True)
    if rec is None:
        raise NotFound(f"no rule {rule_id}")
    return _move(
        f"rule {rule_id}",
        rec.status,
        target,
        rule_allowed(rec.status, target),
        lambda: rules_db.write_rule_status(conn, rule_id, rec.status, target, now),
    )


def _move(
    what: str, current: StrEnum, target: StrEnum, allowed: bool, write: Callable[[], bool]
) -> DataTransition:
    """The shared steps of a rule's or request's move: a repeat is a no-op, the table may refuse, and the
    compare-and-set ``write`` may find the row changed meanwhile."""
    if current is target:
        return DataTransition(Outcome.NOOP, target.value, f"{what} is already {target.value}")
    if not allowed:
        return DataTransition(
            Outcome.REJECTED, current.value, f"{what} is {current.value}: it cannot become {target.value}"
        )
    if not write():
        return DataTransition(Outcome.REJECTED, current.value, f"{what} changed concurrently")
    return DataTransition(Outcome.ACCEPTED, target.value)


def create_transfers(conn: Connection, new: Sequence[NewTransfer], now: datetime) -> None:
    """New transfer requests start queued, runnable at once."""
    transfers_db.insert_transfers(conn, new, now)


def claim_transfers(
    conn: Connection, owner: str, now: datetime, lease_until: datetime, limit: int
) -> list[TransferRecord]:
    """queued (due) or submitted with an expired lease -> submitted under ``owner``'s lease."""
    return transfers_db.claim_transfers(conn, owner, now, lease_until, limit)


def transition_transfer(
    conn: Connection,
    request_id: int,
    target: TransferStatus,
    now: datetime,
    *,
    owner: str | None = None,
    fields: dict[str, Any] | None = None,
) -> DataTransition:
    """Move one request along TRANSFER_TRANSITIONS, setting ``fields`` (db.transfers.TRANSFER_FIELDS).
    With ``owner``, a submitted request must still be under that agent's lease (else its lease expired
    and another agent holds it: the result is refused, not recorded twice)."""
    rec = transfers_db.get_transfer(conn, request_id, lock=True)
    if rec is None:
        raise NotFound(f"no transfer request {request_id}")
    if owner is not None and (rec.status is not TransferStatus.SUBMITTED or rec.lease_owner != owner):
        holder = rec.lease_owner or "no lease"
        reason = f"request {request_id} is {rec.status.value} under {holder}, not {owner}"
        return DataTransition(Outcome.REJECTED, rec.status.value, reason)
    return _move(
        f"request {request_id}",
        rec.status,
        target,
        transfer_allowed(rec.status, target),
        lambda: transfers_db.write_transfer_status(conn, request_id, rec.status, target, now, fields or {}),
    )


def finish_transfers(
    conn: Connection, owner: str, done: Sequence[Finished], now: datetime
) -> tuple[list[TransferRecord], dict[int, str]]:
    """Many verified copies at once: submitted (under ``owner``'s lease) -> done. Returns the requests
    moved and, per refused request id, why (its lease expired and another agent holds it, or it is gone)."""
    locked = {t.id: t for t in transfers_db.lock_transfers(conn, [d.request_id for d in done])}
    mine, refused = [], {}
    for d in done:
        rec = locked.get(d.request_id)
        if rec is None:
            refused[d.request_id] = f"no transfer request {d.request_id}"
        elif rec.status is not TransferStatus.SUBMITTED or rec.lease_owner != owner:
            holder = rec.lease_owner or "no lease"
            refused[d.request_id] = f"request {rec.id} is {rec.status.value} under {holder}, not {owner}"
        else:
            mine.append(d)
    transfers_db.finish_transfers(conn, owner, mine, now)
    return [locked[d.request_id] for d in mine], refused


def replicas_available(
    conn: Connection, keys: Sequence[tuple[DID, str]], now: datetime
) -> list[tuple[DID, str]]:
    """Replicas whose copy arrived -> available (registered if missing, a bad/unavailable one via
    copying); returns the keys that changed (an already available one did not)."""
    rows = replicas_db.existing(conn, keys, lock=True)
    missing = [k for k in keys if k not in rows]
    copying = [k for k in keys if k in rows and rows[k].status is ReplicaStatus.COPYING]
    other = [
        k
        for k in keys
        if k in rows and rows[k].status not in (ReplicaStatus.COPYING, ReplicaStatus.AVAILABLE)
    ]
    replicas_db.insert_replicas(
        conn, [NewReplica(d, r, ReplicaStatus.AVAILABLE, replica_path(d)) for d, r in missing], now
    )
    transfers_db.copying_to_available(conn, copying, now)
    for did, rse in other:
        transition_replica(conn, did, rse, ReplicaStatus.COPYING, now)
        transition_replica(conn, did, rse, ReplicaStatus.AVAILABLE, now)
    return [*missing, *copying, *other]
