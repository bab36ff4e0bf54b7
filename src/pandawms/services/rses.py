"""RSE use cases: sync the RSE file (and API upserts) into the task buffer, list, distances.

Like queues, RSEs absent from the file are kept (they may come from the API); changes apply without a
restart because every reader looks them up in the task buffer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.data import SITE_RE, RSESpec
from pandawms.core.errors import Conflict, InvalidInput, NotFound
from pandawms.db import rses as rses_db


def sync(
    conn: Connection,
    specs: Sequence[RSESpec],
    distances: Mapping[str, Mapping[str, int]],
    now: datetime,
) -> int:
    """Upsert the RSEs and replace the distances of every source site named."""
    check_distances(distances)
    for spec in specs:
        rses_db.upsert(conn, spec, now)
    rses_db.set_distances(conn, distances)
    return len(specs)


def check_distances(distances: Mapping[str, Mapping[str, int]]) -> None:
    for src, row in distances.items():
        for dst, d in row.items():
            for site in (src, dst):
                if not SITE_RE.match(site):
                    raise InvalidInput(f"bad site name {site!r} in distances", "distances")
            if isinstance(d, bool) or not isinstance(d, int) or d < 0:
                raise InvalidInput(f"distance {src} -> {dst} must be an integer >= 0, got {d!r}", "distances")


def get(conn: Connection, name: str) -> RSESpec:
    spec = rses_db.get(conn, name)
    if spec is None:
        raise NotFound(f"unknown RSE {name!r}")
    return spec


def require(conn: Connection, names: Sequence[str], field: str) -> dict[str, RSESpec]:
    """The named RSEs; InvalidInput naming the unknown ones (so a bad name changes nothing)."""
    known = rses_db.get_many(conn, names)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise InvalidInput(f"unknown RSE(s) in {field}: {', '.join(unknown)}", field)
    return known


def require_writable(conn: Connection, name: str, field: str) -> RSESpec:
    """The named RSE if it takes new replicas: InvalidInput naming ``field`` when unknown, Conflict when
    not available for write (Rucio refuses new replicas there too)."""
    spec = require(conn, [name], field)[name]
    if not spec.availability_write:
        raise Conflict(f"RSE {name} is not available for writing")
    return spec


def list_all(conn: Connection) -> list[RSESpec]:
    return rses_db.list_all(conn)


def distances(conn: Connection) -> dict[str, dict[str, int]]:
    return rses_db.distances(conn)
