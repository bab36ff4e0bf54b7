"""What ``panda upload`` and ``panda download`` need besides the catalog calls: file metadata by DID, and
registering uploaded files with their replica at an RSE without a dataset (Rucio's add_replicas).

Registration checks everything first (as did/add_files does, with the same rules): a file registered
with another size/adler32/GUID, an unknown scope or RSE, an RSE not available for writing is refused and
nothing is written; registering the same file again is a no-op.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.data import DID, FileDID, replica_path
from pandawms.core.errors import Conflict, InvalidInput
from pandawms.core.states import ReplicaStatus
from pandawms.db import catalog as catalog_db
from pandawms.db.replicas import NewReplica
from pandawms.services import lifecycle_data, rses
from pandawms.services.catalog import MAX_FILES, _check_against_stored, _require_scopes, _unique_files
from pandawms.services.replicas import missing_replicas

MAX_LOOKUP = 1000  # DIDs per get_files call


@dataclass(frozen=True, slots=True)
class ReplicasRegistered:
    added: int  # new file rows
    existing: int  # files registered already with the same metadata
    replicas: int  # new replica rows at the RSE


def get_files(conn: Connection, wanted: Sequence[DID]) -> list[FileDID]:
    """The registered files among ``wanted`` in (scope, lfn) order (unknown ones are left out)."""
    if len(wanted) > MAX_LOOKUP:
        raise InvalidInput(f"{len(wanted)} DIDs in one call; at most {MAX_LOOKUP}", "dids")
    found = catalog_db.get_files(conn, wanted)
    return [found[d] for d in sorted(found)]


def add_file_replicas(
    conn: Connection, rse: str, new: Sequence[FileDID], now: datetime
) -> ReplicasRegistered:
    """Register files (up to MAX_FILES, outside any dataset) with an available replica of each at ``rse``.
    All or nothing; a replica already recorded there is kept as it is."""
    if not new:
        raise InvalidInput("no files given", "files")
    if len(new) > MAX_FILES:
        raise InvalidInput(f"{len(new)} files in one call; at most {MAX_FILES}", "files")
    files = _unique_files(new)
    _require_scopes(conn, [f.did for f in files])
    target = rses.require(conn, [rse], "rse")[rse]
    if not target.availability_write:
        raise Conflict(f"RSE {target.name} is not available for writing")
    known = _check_against_stored(conn, files)
    fresh = [f for f in files if f.did not in known]
    catalog_db.insert_files(conn, fresh, now)
    todo = missing_replicas(conn, [f.did for f in files], target.name)
    lifecycle_data.add_replicas(
        conn, [NewReplica(d, target.name, ReplicaStatus.AVAILABLE, replica_path(d)) for d in todo], now
    )
    return ReplicasRegistered(len(fresh), len(files) - len(fresh), len(todo))
