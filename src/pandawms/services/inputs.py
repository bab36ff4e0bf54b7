"""The catalog's view of a batch of jobs' inputs, for brokerage and the Setupper: the files' sizes, the
RSEs with an available replica of each, and which RSEs every queue reads, loaded in one query set per
batch (not per job). A batch without catalog inputs (no scope on its input rows) costs no query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from pandawms.core.brokerage import DataView
from pandawms.core.data import DID, job_file_did, nearby_rses
from pandawms.core.locality import InputFile, Locality, locality, readable_rses
from pandawms.core.specs import FileSpec, FileType, QueueSpec
from pandawms.db import catalog as catalog_db
from pandawms.db import replicas as replicas_db
from pandawms.db import rses as rses_db


def catalog_inputs(files: Iterable[FileSpec]) -> list[tuple[FileSpec, DID]]:
    """The input rows that name a catalog file (a scope on the row or its dataset), with their DID."""
    out = []
    for f in files:
        if f.type is FileType.INPUT:
            did = job_file_did(f.scope, f.lfn, f.dataset)
            if did is not None:
                out.append((f, did))
    return out


@dataclass(frozen=True, slots=True)
class InputSnapshot:
    """Sizes and available replicas of a batch's catalog inputs; per queue the RSEs it reads."""

    files: dict[DID, InputFile]
    readable: dict[str, frozenset[str]]
    unwritable: frozenset[str]

    def inputs_of(self, files: Iterable[FileSpec]) -> tuple[InputFile, ...]:
        return tuple(self.files[did] for _f, did in catalog_inputs(files))

    def locality_at(self, queue: QueueSpec, inputs: Sequence[InputFile]) -> Locality:
        return locality(inputs, self.readable.get(str(queue.name), frozenset()), queue.ddm_input)

    def view(self, queues: Sequence[QueueSpec], inputs: Sequence[InputFile]) -> DataView:
        return DataView({q.name: self.locality_at(q, inputs) for q in queues}, self.unwritable)


def load(
    conn: Connection, files: Iterable[Iterable[FileSpec]], queues: Sequence[QueueSpec]
) -> InputSnapshot | None:
    """The snapshot for jobs with these file rows; None when none of them has a catalog input."""
    rows = {did: f for job_files in files for f, did in catalog_inputs(job_files)}
    if not rows:
        return None
    stored = catalog_db.get_files(conn, rows)
    where = replicas_db.available_rses(conn, stored)
    inputs = {
        did: InputFile(
            did,
            stored[did].bytes if did in stored else f.fsize,
            frozenset(where.get(did, ())),
        )
        for did, f in rows.items()
    }
    rses = rses_db.list_all(conn)
    distances = rses_db.distances(conn)
    sites = {q.site for q in queues}
    nearby = {site: frozenset(r.name for _d, r in nearby_rses(rses, distances, site)) for site in sites}
    unwritable = frozenset(r.name for r in rses if not r.availability_write)
    return InputSnapshot(inputs, readable_rses(queues, nearby), unwritable)
