"""The catalog's view of a batch of jobs' inputs, for brokerage and the Setupper: the files' sizes, the
RSEs with an available replica of each, and which RSEs every queue reads, loaded in one query set per
batch (not per job). A batch without catalog inputs (no scope on its input rows) costs no query.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from pandawms.core.brokerage import DataView
from pandawms.core.data import DID, job_file_did, nearby_rses
from pandawms.core.locality import InputFile, Locality, locality, readable_rses
from pandawms.core.specs import FileSpec, FileType, QueueSpec
from pandawms.db import replicas as replicas_db
from pandawms.db import rses as rses_db

# A row's DID is built (and validated) once per distinct (scope, lfn, dataset): brokerage, the Setupper
# and the Activator ask for the same rows several times per batch. DIDs are frozen, so sharing is safe.
# Bounded to a few batches' inputs: the JobGenerator asks for each input of a task once, and at 1 << 17
# entries the cache held ~60 MB of a 100,000-file task's DIDs in the server (RSS growing all along).
_file_did = functools.lru_cache(maxsize=1 << 15)(job_file_did)


def catalog_inputs(files: Iterable[FileSpec]) -> list[tuple[FileSpec, DID]]:
    """The input rows that name a catalog file (a scope on the row or its dataset), with their DID."""
    out = []
    for f in files:
        if f.type is FileType.INPUT:
            did = _file_did(f.scope, f.lfn, f.dataset)
            if did is not None:
                out.append((f, did))
    return out


@dataclass(frozen=True, slots=True)
class InputSnapshot:
    """Sizes and available replicas of a batch's catalog inputs; per queue the RSEs it reads."""

    files: dict[DID, InputFile]
    readable: dict[str, frozenset[str]]
    unwritable: frozenset[str]

    def covers(self, jobs: Iterable[Iterable[FileSpec]]) -> bool:
        """Whether every catalog input of these jobs' rows is in the snapshot."""
        return all(did in self.files for files in jobs for _f, did in catalog_inputs(files))

    def inputs_of(self, files: Iterable[FileSpec]) -> tuple[InputFile, ...]:
        return tuple(self.files[did] for _f, did in catalog_inputs(files))

    def locality_at(self, queue: QueueSpec, inputs: Sequence[InputFile]) -> Locality:
        return locality(inputs, self.readable.get(str(queue.name), frozenset()), queue.ddm_input)

    def view(self, queues: Sequence[QueueSpec], inputs: Sequence[InputFile]) -> DataView:
        return DataView({q.name: self.locality_at(q, inputs) for q in queues}, self.unwritable)


@dataclass(frozen=True, slots=True)
class Storage:
    """Per queue the RSEs it reads (its ddm_input and the RSEs near its site); the RSEs taking no writes."""

    readable: dict[str, frozenset[str]]
    unwritable: frozenset[str]


def load_storage(conn: Connection, queues: Sequence[QueueSpec]) -> Storage:
    """RSEs and site distances, read once per brokerage snapshot (a submission's chunks share it)."""
    rses = rses_db.list_all(conn)
    distances = rses_db.distances(conn)
    sites = {q.site for q in queues}
    nearby = {site: frozenset(r.name for _d, r in nearby_rses(rses, distances, site)) for site in sites}
    unwritable = frozenset(r.name for r in rses if not r.availability_write)
    return Storage(readable_rses(queues, nearby), unwritable)


def load(
    conn: Connection, files: Iterable[Iterable[FileSpec]], storage: Callable[[], Storage]
) -> InputSnapshot | None:
    """The snapshot for jobs with these file rows (one statement per scope group); None when none of
    them has a catalog input. ``storage`` gives the RSE view, loaded on first use."""
    rows = {did: f for job_files in files for f, did in catalog_inputs(job_files)}
    if not rows:
        return None
    stored = replicas_db.sizes_and_sources(conn, rows)
    nothing: tuple[int, frozenset[str]] = (-1, frozenset())
    inputs = {}
    for did, f in rows.items():
        size, where = stored.get((did.scope, did.name), nothing)
        inputs[did] = InputFile(did, size if size >= 0 else f.fsize, where)
    places = storage()
    return InputSnapshot(inputs, places.readable, places.unwritable)
