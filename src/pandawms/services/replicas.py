"""Replica use cases: register copies of registered files at an RSE, list where a file or dataset is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.data import DID, DIDRecord, DIDType, RSESpec, path_below, replica_path
from pandawms.core.errors import InvalidInput, NotFound
from pandawms.core.states import ReplicaStatus
from pandawms.db import catalog as catalog_db
from pandawms.db import replicas as replicas_db
from pandawms.db.replicas import NewReplica, ReplicaRow
from pandawms.services import lifecycle_data, rses

MAX_PAGE = 10_000
REGISTERABLE = frozenset({ReplicaStatus.AVAILABLE, ReplicaStatus.COPYING})


def missing_replicas(conn: Connection, files: Sequence[DID], rse: str) -> list[DID]:
    """The files among ``files`` without a replica row at ``rse``."""
    have = replicas_db.existing(conn, [(d, rse) for d in files])
    return [d for d in files if (d, rse) not in have]


def add(
    conn: Connection,
    rse: str,
    files: Sequence[DID],
    status: ReplicaStatus,
    now: datetime,
    urls: Mapping[DID, str] | None = None,
) -> int:
    """Record replicas of registered files at an RSE (existing ones are kept as they are). A file with a
    URL in ``urls`` (where a pilot wrote it) below the RSE's prefix is recorded at that path; the others
    at the RSE's deterministic ``replica_path``."""
    if status not in REGISTERABLE:
        raise InvalidInput(f"a new replica is available or copying, not {status.value}", "state")
    target = rses.require_writable(conn, rse, "rse")
    wanted = sorted(set(files))
    known = catalog_db.get_files(conn, wanted)
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise InvalidInput(f"not registered files: {', '.join(map(str, unknown[:5]))}", "files")
    todo = missing_replicas(conn, wanted, target.name)
    lifecycle_data.add_replicas(
        conn, [NewReplica(d, target.name, status, _path(target.prefix, d, urls)) for d in todo], now
    )
    return len(todo)


def _path(prefix: str, did: DID, urls: Mapping[DID, str] | None) -> str:
    url = (urls or {}).get(did, "")
    return (path_below(prefix, url) if url else None) or replica_path(did)


def list_replicas(
    conn: Connection, did: DID, after: tuple[DID, str] | None, limit: int
) -> tuple[list[ReplicaRow], dict[str, RSESpec], tuple[DID, str] | None]:
    """A file's replicas, or a keyset page of a dataset's; the RSEs they are on; the next cursor."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}, got {limit}", "limit")
    rec: DIDRecord | None = catalog_db.get_did(conn, did)
    if rec is None:
        if did not in catalog_db.get_files(conn, [did]):
            raise NotFound(f"no file, dataset or container {did}")
        rows, cursor = replicas_db.of_files(conn, [did]), None
    elif rec.did_type is DIDType.CONTAINER:
        raise InvalidInput(f"{did} is a container: list the replicas of its datasets", "did")
    else:
        rows = replicas_db.of_dataset(conn, did, after, limit + 1)
        cursor = (rows[limit - 1].did, rows[limit - 1].rse) if len(rows) > limit else None
        rows = rows[:limit]
    return rows, {s.name: s for s in rses.list_all(conn)}, cursor
