"""Catalog use cases: scopes, datasets and containers, bulk file registration, contents, close/freeze/delete.

Every call runs in the caller's one transaction and checks all its input before writing, so bad input
(unknown scope or RSE, an LFN registered with another checksum, a closed dataset) raises and changes
nothing. Status changes go through services/lifecycle_data.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.data import DID, SCOPE_RE, ContentRow, DIDRecord, DIDType, FileDID, replica_path
from pandawms.core.errors import Conflict, InvalidInput, NotFound
from pandawms.core.states import DATASET_DELETABLE, DATASET_MUTABLE, DatasetStatus, ReplicaStatus
from pandawms.db import catalog as catalog_db
from pandawms.db.replicas import NewReplica
from pandawms.services import lifecycle_data, rses
from pandawms.services.lifecycle import Outcome
from pandawms.services.lifecycle_data import DataTransition
from pandawms.services.replicas import missing_replicas

MAX_FILES = 10_000  # files per add_files call (PanDA/Rucio bulk registration)
MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class FilesAdded:
    added: int  # new file rows
    existing: int  # already registered with the same metadata (no-op)
    attached: int  # new dataset -> file attachments
    replicas: int  # new replica rows


def _names(items: Sequence[DID], n: int = 5) -> str:
    shown = ", ".join(str(d) for d in items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


# -- scopes ------------------------------------------------------------------------------------------


def add_scope(conn: Connection, scope: str, account: str, now: datetime) -> bool:
    """True when created, False when it existed."""
    if not SCOPE_RE.match(scope):
        raise InvalidInput(f"bad scope {scope!r}: 1-25 characters of letters, digits, '_', '.', '-'", "scope")
    return catalog_db.insert_scope(conn, scope, account, now)


def scope_account(conn: Connection, scope: str) -> str:
    """A scope's owner ("" when it has none); NotFound when there is no such scope."""
    account = catalog_db.scope_account(conn, scope)
    if account is None:
        raise NotFound(f"no scope {scope!r}")
    return account


def list_scopes(conn: Connection) -> list[tuple[str, str]]:
    """(scope, account) of every scope."""
    return catalog_db.list_scopes(conn)


def _require_scopes(conn: Connection, dids: Sequence[DID]) -> None:
    wanted = {d.scope for d in dids}
    unknown = sorted(wanted - catalog_db.known_scopes(conn, wanted))
    if unknown:
        raise InvalidInput(f"unknown scope(s): {', '.join(unknown)} (add them with scope/add)", "scope")


# -- datasets and containers -------------------------------------------------------------------------


def add_dids(conn: Connection, new: Sequence[tuple[DID, DIDType]], now: datetime) -> list[tuple[DID, bool]]:
    """Create open datasets/containers: (did, created) each; an existing one of that type is a no-op."""
    types: dict[DID, DIDType] = {}
    for did, kind in new:
        if kind is DIDType.FILE:
            raise InvalidInput(f"{did}: files are registered with did/add_files, not did/add", "type")
        if types.setdefault(did, kind) is not kind:
            raise InvalidInput(f"{did} is named twice with different types", "type")
    _require_scopes(conn, list(types))
    stored = catalog_db.get_dids(conn, types)
    clash = [d for d, rec in stored.items() if rec.did_type is not types[d]]
    if clash:
        raise InvalidInput(f"exist with another type: {_names(sorted(clash))}", "type")
    files = sorted(catalog_db.get_files(conn, types))
    if files:
        raise InvalidInput(f"already registered as files: {_names(files)}", "name")
    lifecycle_data.create_dids(conn, [(d, t) for d, t in types.items() if d not in stored], now)
    return [(d, d not in stored) for d in types]


def get_did(conn: Connection, did: DID) -> tuple[DIDRecord, int, int]:
    """The dataset/container with its number of children and bytes of its files."""
    rec = catalog_db.get_did(conn, did)
    if rec is None:
        raise NotFound(f"no dataset or container {did}")
    length, size = catalog_db.count_contents(conn, did)
    return rec, length, size


def _open_parent(conn: Connection, did: DID) -> DIDRecord:
    rec = catalog_db.get_did(conn, did, lock=True)
    if rec is None:
        raise NotFound(f"no dataset or container {did}")
    if rec.status not in DATASET_MUTABLE:
        raise Conflict(f"{rec.did_type.value} {did} is {rec.status.value}: its contents cannot change")
    return rec


def _unique_files(new: Sequence[FileDID]) -> list[FileDID]:
    """One entry per LFN; the same LFN twice with other metadata, or one GUID for two LFNs, is refused."""
    by_did: dict[DID, FileDID] = {}
    by_guid: dict[str, DID] = {}
    for f in new:
        seen = by_did.setdefault(f.did, f)
        if seen.differs(f):
            raise InvalidInput(f"{f.did} is given twice with different {', '.join(seen.differs(f))}", "files")
        if by_guid.setdefault(f.guid, f.did) != f.did:
            raise InvalidInput(f"guid {f.guid} is given for {by_guid[f.guid]} and {f.did}", "guid")
    return list(by_did.values())


def _check_against_stored(conn: Connection, files: Sequence[FileDID]) -> set[DID]:
    """The LFNs registered already (with the same metadata); any disagreement is InvalidInput."""
    stored = catalog_db.get_files(conn, [f.did for f in files])
    for f in files:
        old = stored.get(f.did)
        if old is not None and old.differs(f):
            diff = ", ".join(f"{k} {getattr(old, k)} (given {getattr(f, k)})" for k in old.differs(f))
            raise InvalidInput(f"{f.did} is already registered with another {diff}", "files")
    new_guids = {f.guid: f.did for f in files if f.did not in stored}
    taken = sorted(catalog_db.dids_of_guids(conn, new_guids).items())
    if taken:
        guid, owner = taken[0]
        raise InvalidInput(f"guid {guid} of {new_guids[guid]} already belongs to {owner}", "guid")
    named = sorted(catalog_db.get_dids(conn, [f.did for f in files]))
    if named:
        raise InvalidInput(f"already datasets or containers, not files: {_names(named)}", "files")
    return set(stored)


def add_files(
    conn: Connection, dataset: DID, new: Sequence[FileDID], rse: str | None, now: datetime
) -> FilesAdded:
    """Register files (up to MAX_FILES), attach them to an open dataset and, with ``rse``, record an
    available replica of each there. All or nothing; re-registering an LFN with the same metadata is a
    no-op, with another checksum/size/GUID an InvalidInput naming the LFN."""
    if not new:
        raise InvalidInput("no files given", "files")
    if len(new) > MAX_FILES:
        raise InvalidInput(f"{len(new)} files in one call; at most {MAX_FILES}", "files")
    rec = _open_parent(conn, dataset)
    if rec.did_type is not DIDType.DATASET:
        raise InvalidInput(f"{dataset} is a {rec.did_type.value}: files go into datasets", "dataset")
    files = _unique_files(new)
    _require_scopes(conn, [f.did for f in files])
    target = rses.require_writable(conn, rse, "rse") if rse is not None else None
    known = _check_against_stored(conn, files)
    fresh = [f for f in files if f.did not in known]
    catalog_db.insert_files(conn, fresh, now)
    done = catalog_db.attached(conn, dataset, [f.did for f in files])
    attach = [(f.did, DIDType.FILE) for f in files if f.did not in done]
    catalog_db.attach(conn, dataset, attach, now)
    replicas: list[NewReplica] = []
    if target is not None:
        todo = missing_replicas(conn, [f.did for f in files], target.name)
        replicas = [NewReplica(d, target.name, ReplicaStatus.AVAILABLE, replica_path(d)) for d in todo]
        lifecycle_data.add_replicas(conn, replicas, now)
    return FilesAdded(len(fresh), len(files) - len(fresh), len(attach), len(replicas))


def attach(conn: Connection, parent: DID, children: Sequence[DID], now: datetime) -> int:
    """Attach registered files to a dataset, or datasets to a container; returns the new attachments."""
    rec = _open_parent(conn, parent)
    wanted = sorted(set(children))
    if rec.did_type is DIDType.DATASET:
        found: set[DID] = set(catalog_db.get_files(conn, wanted))
        kind, what = DIDType.FILE, "registered files"
    else:
        found = {d for d, r in catalog_db.get_dids(conn, wanted).items() if r.did_type is DIDType.DATASET}
        kind, what = DIDType.DATASET, "datasets"
    unknown = [d for d in wanted if d not in found]
    if unknown:
        raise InvalidInput(f"a {rec.did_type.value} holds {what}; not one: {_names(unknown)}", "children")
    done = catalog_db.attached(conn, parent, wanted)
    new = [(d, kind) for d in wanted if d not in done]
    catalog_db.attach(conn, parent, new, now)
    return len(new)


def detach(conn: Connection, parent: DID, children: Sequence[DID]) -> int:
    """Detach children from an open dataset/container; returns how many were attached."""
    _open_parent(conn, parent)
    return catalog_db.detach(conn, parent, children)


def _page(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1..{MAX_PAGE}, got {limit}", "limit")
    return limit


def list_contents(
    conn: Connection, did: DID, after: DID | None, limit: int
) -> tuple[list[ContentRow], DID | None]:
    """A keyset page of children in (scope, name) order and the cursor of the next page (None: last)."""
    if catalog_db.get_did(conn, did) is None:
        raise NotFound(f"no dataset or container {did}")
    rows = catalog_db.list_contents(conn, did, after, _page(limit) + 1)
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].did if more else None


def list_dids(
    conn: Connection, scope: str, did_type: DIDType | None, after: str | None, limit: int
) -> tuple[list[DIDRecord], str | None]:
    rows = catalog_db.list_dids(conn, scope, did_type, after, _page(limit) + 1)
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].did.name if more else None


# -- close, freeze, delete (per-item outcomes) -------------------------------------------------------


def set_status(
    conn: Connection, dids: Sequence[DID], target: DatasetStatus, now: datetime
) -> list[tuple[DID, DataTransition]]:
    out = []
    for did in dids:
        try:
            out.append((did, lifecycle_data.transition_did(conn, did, target, now)))
        except NotFound as exc:
            out.append((did, DataTransition(Outcome.REJECTED, "", str(exc))))
    return out


def _delete_refusal(conn: Connection, did: DID) -> DataTransition | None:
    """Why ``did`` may not be deleted (a rejected outcome with its status), or None when it may."""
    rec = catalog_db.get_did(conn, did, lock=True)
    if rec is None:
        return DataTransition(Outcome.REJECTED, "", f"no dataset or container {did}")
    what, status = f"{rec.did_type.value} {did}", rec.status.value
    if rec.status not in DATASET_DELETABLE:
        return DataTransition(Outcome.REJECTED, status, f"{what} is {status}: it is never deleted")
    length, _size = catalog_db.count_contents(conn, did)
    if length:
        reason = f"{what} is not empty ({length} attached): detach its contents first"
        return DataTransition(Outcome.REJECTED, status, reason)
    fixed = [p for p in catalog_db.parents(conn, did) if p.status not in DATASET_MUTABLE]
    if fixed:
        where = f"{fixed[0].status.value} {fixed[0].did_type.value} {fixed[0].did}"
        return DataTransition(Outcome.REJECTED, status, f"{did} is in {where}")
    return None


def delete(conn: Connection, dids: Sequence[DID]) -> list[tuple[DID, DataTransition]]:
    """Delete empty, unfrozen datasets/containers (and their attachments to open parents)."""
    out = []
    for did in dids:
        refusal = _delete_refusal(conn, did)
        if refusal is None:
            catalog_db.delete_did(conn, did)
        out.append((did, refusal or DataTransition(Outcome.ACCEPTED, "deleted")))
    return out
