"""RSE repository: storage elements and the site-to-site distances (both synced from the RSE file / API)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from pandawms.core.data import RSEKind, RSESpec
from pandawms.db.schema import rses, site_distances

_FIELDS = [f.name for f in dataclasses.fields(RSESpec)]


def spec_of(row: Any) -> RSESpec:
    """An RSESpec from a row holding the rses columns (by name)."""
    values = {name: row._mapping[name] for name in _FIELDS}
    values["kind"] = RSEKind(values["kind"])
    values["availability_read"] = bool(values["availability_read"])
    values["availability_write"] = bool(values["availability_write"])
    return RSESpec(**values)


def upsert(conn: Connection, spec: RSESpec, now: datetime) -> None:
    values = {name: getattr(spec, name) for name in _FIELDS}
    values["kind"] = spec.kind.value
    values["modification_time"] = now
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(rses).values(**values)  # concurrent upserts of one new RSE: one insert wins
    conn.execute(stmt.on_conflict_do_update(index_elements=[rses.c.name], set_=values))


def get(conn: Connection, name: str) -> RSESpec | None:
    row = conn.execute(select(rses).where(rses.c.name == name)).first()
    return spec_of(row) if row is not None else None


def get_many(conn: Connection, names: Iterable[str]) -> dict[str, RSESpec]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    return {s.name: s for s in map(spec_of, conn.execute(select(rses).where(rses.c.name.in_(wanted))))}


def list_all(conn: Connection) -> list[RSESpec]:
    return [spec_of(r) for r in conn.execute(select(rses).order_by(rses.c.name))]


def set_distances(conn: Connection, distances: Mapping[str, Mapping[str, int]]) -> int:
    """Replace the distances of every source site named (other sources are kept)."""
    rows = [
        {"source_site": src, "destination_site": dst, "distance": d}
        for src, row in distances.items()
        for dst, d in row.items()
    ]
    if distances:
        conn.execute(delete(site_distances).where(site_distances.c.source_site.in_(sorted(distances))))
    if rows:
        conn.execute(insert(site_distances), rows)
    return len(rows)


def distances(conn: Connection) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    stmt = select(site_distances).order_by(site_distances.c.source_site, site_distances.c.destination_site)
    for r in conn.execute(stmt):
        out.setdefault(r.source_site, {})[r.destination_site] = r.distance
    return out
