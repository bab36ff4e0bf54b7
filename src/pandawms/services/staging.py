"""Where each job file is read and written, for the job descriptions acquire_jobs hands out (turl and
ddmEndPoint per file; issue 9 point 5).

An input with a catalog DID gets the URL of an ``available`` replica at the queue's ``ddm_input`` RSE,
else at the nearest readable RSE near the queue's site (read in place); outputs and the log get the URL to
write at ``ddm_output``. One replica+RSE look-up per acquire call, none for jobs without catalog files;
files outside the catalog (no scope) get nothing and the pilot uses its storage directory, as before.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Connection

from pandawms.core.data import (
    DID,
    FileDID,
    FileLocation,
    RSESpec,
    job_file_did,
    nearby_rses,
    pick_replica,
    replica_path,
)
from pandawms.core.ids import PandaID
from pandawms.core.specs import FileType, Job, QueueSpec
from pandawms.db import replicas as replicas_db
from pandawms.db import rses as rses_db

Locations = dict[PandaID, dict[str, FileLocation]]  # job -> lfn -> where to read or write it


def _dids(jobs: Sequence[Job]) -> tuple[dict[tuple[PandaID, str], DID], dict[tuple[PandaID, str], DID]]:
    inputs: dict[tuple[PandaID, str], DID] = {}
    outputs: dict[tuple[PandaID, str], DID] = {}
    for job in jobs:
        for f in job.files:
            did = job_file_did(f.scope, f.lfn, f.dataset)
            if did is not None:
                (inputs if f.type is FileType.INPUT else outputs)[(job.panda_id, f.lfn)] = did
    return inputs, outputs


def locate(conn: Connection, queue: QueueSpec, jobs: Sequence[Job]) -> Locations:
    """The read and write locations of the jobs' catalog files at ``queue`` (empty without any)."""
    inputs, outputs = _dids(jobs)
    if not inputs and not (outputs and queue.ddm_output):
        return {}
    found = replicas_db.readable(conn, sorted(set(inputs.values()))) if inputs else []
    urls: dict[DID, dict[str, str]] = defaultdict(dict)
    specs: dict[str, RSESpec] = {}
    meta: dict[DID, FileDID] = {}
    for r in found:
        urls[r.file.did][r.rse.name] = r.rse.url(r.path or replica_path(r.file.did))
        specs[r.rse.name] = r.rse
        meta[r.file.did] = r.file
    nearby = _nearby(conn, queue, specs, [urls[d] for d in inputs.values()])
    out: Locations = defaultdict(dict)
    for (panda_id, lfn), did in inputs.items():
        if (where := pick_replica(urls[did], queue.ddm_input, nearby)) is not None:
            f = meta[did]
            out[panda_id][lfn] = dataclasses.replace(where, guid=f.guid, fsize=f.bytes, adler32=f.adler32)
    target = _output_rse(conn, queue, specs) if outputs else None
    for (panda_id, lfn), did in outputs.items():
        if target is not None:
            out[panda_id][lfn] = FileLocation(target.url(replica_path(did)), target.name)
    return dict(out)


def _nearby(
    conn: Connection, queue: QueueSpec, specs: dict[str, RSESpec], wanted: list[dict[str, str]]
) -> list[str]:
    """The RSEs near the queue's site among those holding replicas, closest first; the distances are read
    only when some input has no replica at the queue's own RSE."""
    if all(queue.ddm_input in at for at in wanted) or not specs:
        return []
    distances = rses_db.distances(conn)
    return [r.name for _, r in nearby_rses(list(specs.values()), distances, queue.site)]


def _output_rse(conn: Connection, queue: QueueSpec, specs: dict[str, RSESpec]) -> RSESpec | None:
    if not queue.ddm_output:
        return None
    target = specs.get(queue.ddm_output) or rses_db.get(conn, queue.ddm_output)
    return target if target is not None and target.availability_write else None
