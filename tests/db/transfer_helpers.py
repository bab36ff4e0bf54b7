"""A small catalog world for rule and transfer tests: a scope, a dataset of files at a source RSE, and
RSEs whose prefixes point at real directories (file://) so the agent can copy for real."""

from __future__ import annotations

import uuid
import zlib
from datetime import datetime
from pathlib import Path

from pandawms.core.data import DID, DIDType, FileDID, RSESpec
from pandawms.db.engine import Database
from pandawms.services import catalog, rses

SCOPE = "user.alice"
DATASET = DID(SCOPE, "data.001")


def payload(i: int, size: int = 2000) -> bytes:
    """Deterministic file content of ``size`` bytes for file ``i``."""
    seed = f"file {i} ".encode()
    return (seed * (size // len(seed) + 1))[:size]


def file_did(i: int, size: int = 2000) -> FileDID:
    name = f"f.{i:06d}.root"
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SCOPE}:{name}"))
    return FileDID(DID(SCOPE, name), guid, size, f"{zlib.adler32(payload(i, size)):08x}")


def rse_spec(name: str, site: str, root: Path, **kw: bool) -> RSESpec:
    return RSESpec(name=name, site=site, prefix=(root / name).as_uri(), **kw)  # type: ignore[arg-type]


def world(
    db: Database,
    now: datetime,
    root: Path,
    n: int,
    *,
    size: int = 2000,
    write_files: bool = True,
    extra: tuple[RSESpec, ...] = (),
) -> list[FileDID]:
    """SRC (site A, the files written there for real when ``write_files``), DST (site B), RO (site B,
    read-only), plus ``extra`` RSEs; ``n`` files in DATASET with available replicas at SRC."""
    specs = [
        rse_spec("SRC", "A", root),
        rse_spec("DST", "B", root),
        rse_spec("RO", "B", root, availability_write=False),
        *extra,
    ]
    entries = [file_did(i, size) for i in range(n)]
    if write_files:
        for i, f in enumerate(entries):
            path = root / "SRC" / f.did.scope / f.did.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload(i, size))
    with db.write() as conn:
        rses.sync(conn, specs, {"A": {"B": 1}}, now)
        catalog.add_scope(conn, SCOPE, "alice", now)
        catalog.add_dids(conn, [(DATASET, DIDType.DATASET)], now)
        if entries:
            catalog.add_files(conn, DATASET, entries, "SRC", now)
    return entries
