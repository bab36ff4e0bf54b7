"""The Adder (scheduling.md §12, states.md §1.1): a finished job's outputs and log enter the catalog.

Each output/log row with a catalog DID (``scope:lfn`` and an output dataset) is registered with the
pilot's guid, size and adler32, attached to the job's ``_sub`` block (``<dataset>_sub<PandaID>``) and to
its output dataset (both created open when missing), with an available replica at the RSE the pilot wrote
it to, at the path of the surl it reported when that lies below the RSE's prefix (pilot3 writes Rucio's
hashed layout), else at the RSE's deterministic path. Outputs already at the destination (the job's
destinationSE, else its queue's ``ddm_output``) -> ``finished``; else a rule ships the ``_sub`` there and
the job is ``transferring`` (the Finisher ends it). A failed job's outputs are not registered. Every step
is idempotent and runs in the final update's transaction; a registration the catalog refuses (bad
metadata, unknown RSE, a closed dataset, an LFN known with another checksum) is rolled back whole and
fails the job with the Adder's DDM error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.blocks import outputs_at_destination
from pandawms.core.data import DID, DIDType, FileDID, dataset_did, job_file_did, sub_did
from pandawms.core.errors import Conflict, InvalidInput, NotFound
from pandawms.core.specs import FileSpec, FileType, Job
from pandawms.core.states import FileState, JobStatus, ReplicaStatus, RuleStatus
from pandawms.db import queues as queues_db
from pandawms.services import catalog, replicas, rules

OUTPUT_ACTIVITY = "Production Output"


@dataclass(frozen=True, slots=True)
class CatalogOutput:
    """One output/log row of a job that names a catalog file and its output dataset."""

    row: FileSpec
    did: DID
    dataset: DID


def catalog_outputs(files: Sequence[FileSpec]) -> list[CatalogOutput]:
    out = []
    for f in files:
        if f.type is FileType.INPUT:
            continue
        did = job_file_did(f.scope, f.lfn, f.dataset)
        dataset = dataset_did(f.dataset, did.scope) if did is not None else None
        if did is not None and dataset is not None:
            out.append(CatalogOutput(f, did, dataset))
    return out


def sub_block(panda_id: int, outputs: Sequence[CatalogOutput]) -> DID | None:
    """The job's ``_sub``: beside the dataset of its first catalog output (None: it has none)."""
    return sub_did(outputs[0].dataset, panda_id) if outputs else None


@dataclass(frozen=True, slots=True)
class Added:
    """What the Adder did: the job's next state, its ``_sub``, the output rows' states, or the refusal."""

    target: JobStatus
    sub: DID | None = None
    states: Mapping[str, str] | None = None  # output row lfn -> FileState value
    error: str = ""


def add_outputs(
    conn: Connection, job: Job, report: Mapping[str, Mapping[str, object]], now: datetime
) -> Added | None:
    """Register a finished job's catalog outputs; None when it has none (today's path, unchanged)."""
    outputs = catalog_outputs(job.files)
    sub = sub_block(job.panda_id, outputs)
    if sub is None:
        return None
    try:
        with conn.begin_nested():  # a refusal half-way leaves nothing behind
            return _register(conn, job, outputs, sub, report, now)
    except (InvalidInput, Conflict, NotFound) as exc:
        return Added(JobStatus.FAILED, error=f"Adder: outputs not registered: {exc}")


def _metadata(out: CatalogOutput, report: Mapping[str, Mapping[str, object]]) -> tuple[FileDID, str]:
    meta = report.get(out.row.lfn)
    if meta is None:
        raise InvalidInput(f"no file report for output {out.did}", "job_output_report")
    endpoint = str(meta.get("endpoint") or "")
    if not endpoint:
        raise InvalidInput(f"output {out.did}: the report names no endpoint RSE", "endpoint")
    size = meta.get("fsize")
    file = FileDID(
        out.did,
        str(meta.get("guid") or ""),
        size if isinstance(size, int) else -1,
        str(meta.get("adler32") or ""),
    )
    return file, endpoint


def _register(
    conn: Connection,
    job: Job,
    outputs: Sequence[CatalogOutput],
    sub: DID,
    report: Mapping[str, Mapping[str, object]],
    now: datetime,
) -> Added:
    found = [(_metadata(o, report), o) for o in outputs]
    owner = job.spec.prod_user_id or job.spec.prod_user_name  # the token sub (the name when auth is off)
    for scope in sorted({sub.scope} | {o.did.scope for o in outputs} | {o.dataset.scope for o in outputs}):
        catalog.add_scope(conn, scope, owner, now)
    datasets = sorted({o.dataset for o in outputs})
    catalog.add_dids(conn, [(d, DIDType.DATASET) for d in [sub, *datasets]], now)
    catalog.add_files(conn, sub, [f for (f, _e), _o in found], None, now)
    for d in datasets:
        catalog.attach(conn, d, [o.did for _m, o in found if o.dataset == d], now)
    endpoints = sorted({e for (_f, e), _o in found})
    urls = {o.did: str(report[o.row.lfn].get("surl") or "") for o in outputs}  # where the pilot wrote each
    for rse in endpoints:
        dids = [f.did for (f, e), _o in found if e == rse]
        replicas.add(conn, rse, dids, ReplicaStatus.AVAILABLE, now, urls)
    destination = _destination(conn, job)
    if outputs_at_destination(destination, endpoints):
        return Added(JobStatus.FINISHED, sub, _states(outputs, FileState.READY))
    rule = rules.add_rule(
        conn,
        sub,
        destination,
        now,
        activity=OUTPUT_ACTIVITY,
        account=job.spec.prod_user_id or job.spec.prod_user_name,
    )
    if rule.status is RuleStatus.OK:
        return Added(JobStatus.FINISHED, sub, _states(outputs, FileState.READY))
    return Added(JobStatus.TRANSFERRING, sub, _states(outputs, FileState.TRANSFERRING))


def _destination(conn: Connection, job: Job) -> str:
    if job.spec.destination_se:
        return job.spec.destination_se
    queue = queues_db.get(conn, job.computing_site) if job.computing_site else None
    return queue.ddm_output if queue is not None else ""


def _states(outputs: Sequence[CatalogOutput], state: FileState) -> dict[str, str]:
    return {o.row.lfn: state.value for o in outputs}


def failed_states(files: Sequence[FileSpec]) -> dict[str, str] | None:
    """A failed job's catalog outputs are marked failed (and never registered); None when it has none."""
    outputs = catalog_outputs(files)
    return _states(outputs, FileState.FAILED) if outputs else None
