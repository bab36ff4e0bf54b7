"""The ONLY code that writes the status of datasets/containers and replicas.

Datasets follow core.states.DATASET_TRANSITIONS, replicas REPLICA_TRANSITIONS; each change locks the row,
checks the table and writes with compare-and-set. A repeat is a no-op, a refusal carries the reason and
the current status (services.lifecycle.Outcome, as for jobs and workers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.data import DID, DIDType
from pandawms.core.errors import NotFound
from pandawms.core.states import DatasetStatus, ReplicaStatus, dataset_allowed, replica_allowed
from pandawms.db import catalog as catalog_db
from pandawms.db import replicas as replicas_db
from pandawms.db.replicas import NewReplica
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
