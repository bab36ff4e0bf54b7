"""Replica consistency check: stat every available replica at an RSE on its storage and declare a
missing or corrupt one bad (services.transfers.declare_bad), which re-copies it if a rule needs it.

Reads pages in short transactions, stats outside any transaction, writes one short transaction per
bad replica found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pandawms.agents.runner import utcnow
from pandawms.core.checksums import Adler32, FileStat
from pandawms.core.data import DID
from pandawms.db.engine import Database
from pandawms.ddm.base import NotFound as StorageNotFound
from pandawms.ddm.registry import BackendRegistry
from pandawms.services import transfers as transfer_service


@dataclass(frozen=True, slots=True)
class BadReplica:
    did: DID
    rse: str
    problem: str
    recopy_request: int | None


def verify_replicas(
    db: Database,
    registry: BackendRegistry,
    rse: str,
    *,
    page: int = 1000,
    clock: Callable[[], datetime] = utcnow,
) -> list[BadReplica]:
    """Check each available replica at ``rse`` (size and adler32 against the catalog); returns the bad."""
    found: list[BadReplica] = []
    after: DID | None = None
    while True:
        with db.read() as conn:
            spec = transfer_service.rse_spec(conn, rse)
            batch = transfer_service.replicas_to_verify(conn, rse, after, page)
        for stored in batch:
            url = spec.url(stored.path)
            problem = _problem(registry, url, FileStat(stored.file.bytes, Adler32.parse(stored.file.adler32)))
            if problem is None:
                continue
            with db.write() as conn:
                done = transfer_service.declare_bad(conn, stored.file.did, rse, problem, clock())
            found.append(BadReplica(stored.file.did, rse, problem, done.recopy_request))
        if len(batch) < page:
            return found
        after = batch[-1].file.did


def _problem(registry: BackendRegistry, url: str, expected: FileStat) -> str | None:
    try:
        actual = registry.for_url(url).stat(url)
    except StorageNotFound:
        return f"missing: {url}"
    mismatch = expected.mismatch(actual)
    return None if mismatch is None else f"corrupt: {url}: {mismatch}"
