"""Rules and transfers on the monitor's pages: a dataset's rules, transfer activity per RSE (queued, active,
done, failed in and out; what arrived recently and at what rate; the latest errors), and a job's stage-in
and stage-out, its _dis and _sub blocks with their rules, and the transfer requests of its files.

Rules and requests are read through db/rules.py and db/transfers.py (the transfer service's
repositories), services/transfers.summary and db/monitor_data.py; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.core.data import DATA_SCOPE, DID, dataset_did, job_file_did
from pandawms.core.errors import InvalidInput
from pandawms.core.specs import FileType, Job
from pandawms.core.states import TransferStatus
from pandawms.core.transfers import RuleRecord, TransferRecord
from pandawms.db import monitor_data as mdd
from pandawms.db import queues as queues_db
from pandawms.db import replicas as replicas_db
from pandawms.db import rules as rules_db
from pandawms.db import transfers as transfers_db
from pandawms.monitor.models import DataBlock, RuleOut, StageRow, TransferOut
from pandawms.monitor.models_data import TransferActivity
from pandawms.services import transfers as transfers_service

RECENT = timedelta(minutes=10)  # the window of the recent MB/s on the RSE pages
ERRORS_SHOWN = 20
ERRORS_READ = 500  # the newest errors read to pick an RSE's own
JOB_TRANSFERS = 100
# the monitor says "active" for a request an agent holds (TransferStatus.SUBMITTED)
ACTIVITY_NAMES = {
    TransferStatus.QUEUED: "queued",
    TransferStatus.SUBMITTED: "active",
    TransferStatus.DONE: "done",
    TransferStatus.FAILED: "failed",
}


def rule_out(rec: RuleRecord) -> RuleOut:
    return RuleOut(
        rule_id=rec.id,
        did=str(rec.did),
        rse=rec.rse,
        state=rec.status.value,
        files_ok=rec.files_ok,
        files_replicating=rec.files_replicating,
        files_stuck=rec.files_stuck,
        expires_at=rec.expires_at,
        error=rec.error,
        rse_url=f"/rse/{rec.rse}/",
    )


def transfer_out(rec: TransferRecord) -> TransferOut:
    return TransferOut(
        request_id=rec.id,
        rule_id=rec.rule_id,
        did=str(rec.did),
        source_rse=rec.source_rse,
        dest_rse=rec.dest_rse,
        state=rec.status.value,
        attempt=rec.attempt,
        max_attempts=rec.max_attempts,
        bytes=rec.bytes,
        method=rec.method,
        started_at=rec.started_at,
        finished_at=rec.finished_at,
        last_error=rec.last_error,
        modification_time=rec.modification_time,
    )


def dataset_rules(conn: Connection, did: DID) -> list[RuleOut]:
    return [rule_out(r) for r in rules_db.rules_of(conn, did)]


def rse_rules(conn: Connection, rse: str) -> list[RuleOut]:
    return [rule_out(r) for r in rules_db.list_rules(conn, None, rse, None, 0, 100)]


def _empty() -> dict[str, int]:
    return dict.fromkeys(ACTIVITY_NAMES.values(), 0)


def rse_activity(conn: Connection, now: datetime) -> dict[str, TransferActivity]:
    """Per RSE, from the transfer service's per-pair summary (what ``panda transfers`` shows): requests
    in and out by state, and the MB/s of the copies into it that ended in the last RECENT."""
    incoming: dict[str, dict[str, int]] = {}
    outgoing: dict[str, dict[str, int]] = {}
    rate: dict[str, float] = {}
    for pair in transfers_service.summary(conn, now, RECENT):
        into = incoming.setdefault(pair.dest_rse, _empty())
        out = outgoing.setdefault(pair.source_rse, _empty()) if pair.source_rse else _empty()
        for status, n in pair.counts.items():
            into[ACTIVITY_NAMES[status]] += n
            out[ACTIVITY_NAMES[status]] += n
        rate[pair.dest_rse] = rate.get(pair.dest_rse, 0.0) + pair.recent_mb_per_s
    return {
        rse: TransferActivity(
            incoming=incoming.get(rse, _empty()),
            outgoing=outgoing.get(rse, _empty()),
            recent_mb_per_s=round(rate.get(rse, 0.0), 3),
        )
        for rse in sorted({*incoming, *outgoing})
    }


def transfer_errors(conn: Connection, rse: str | None = None) -> list[TransferOut]:
    """The latest requests carrying an error (of ``rse`` as source or destination when given)."""
    found = transfers_db.with_errors(conn, ERRORS_READ if rse else ERRORS_SHOWN)
    mine = [t for t in found if rse is None or rse in (t.source_rse, t.dest_rse)]
    return [transfer_out(t) for t in mine[:ERRORS_SHOWN]]


def _file_did(scope: str, lfn: str, dataset: str) -> DID | None:
    try:
        return job_file_did(scope, lfn, dataset)
    except InvalidInput:  # a job file whose name is not a catalog LFN
        return None


def job_stage(conn: Connection, job: Job) -> tuple[list[StageRow], list[TransferOut]]:
    """Each catalog file of the job at the RSE it is read from or written to, with the replica's state
    there, and the newest transfer requests of those files."""
    queue = queues_db.get(conn, job.computing_site) if job.computing_site else None
    wanted: list[tuple[str, DID | None, str, str]] = []
    for f in job.files:
        did = _file_did(f.scope, f.lfn, f.dataset)
        if f.type is FileType.INPUT:
            rse = queue.ddm_input if queue else ""
        else:
            rse = f.destination_se or job.spec.destination_se or (queue.ddm_output if queue else "")
        wanted.append((f.type.value, did, rse, f.status))
    keys = [(did, rse) for _t, did, rse, _s in wanted if did is not None and rse]
    found = replicas_db.existing(conn, keys)
    rows = [
        StageRow(
            type=kind,
            did=str(did) if did else "",
            rse=rse,
            replica=found[(did, rse)].status.value if did and (did, rse) in found else "missing",
            status=status,
        )
        for kind, did, rse, status in wanted
    ]
    dids: Sequence[DID] = [did for _t, did, _r, _s in wanted if did is not None]
    return rows, [transfer_out(t) for t in mdd.transfers_of_files(conn, dids, JOB_TRANSFERS)]


def _output_scope(job: Job) -> str | None:
    """The scope of the job's first output dataset: the Adder puts the _sub block beside it."""
    for f in job.files:
        if f.type is not FileType.INPUT:
            try:
                did = dataset_did(f.dataset, f.scope)
            except InvalidInput:
                continue
            if did is not None:
                return did.scope
    return None


def job_blocks(conn: Connection, job: Job) -> list[DataBlock]:
    """The job's _dis block (DATA_SCOPE) and _sub block (beside its output dataset) with their rules."""
    named = [
        ("dispatch", DATA_SCOPE, job.dispatch_dblock),
        ("destination", _output_scope(job), job.destination_dblock),
    ]
    out = []
    for role, scope, name in named:
        if not name or scope is None:
            continue
        try:
            did = DID(scope, name)
        except InvalidInput:  # not a catalog name (a block named by an older server)
            continue
        rules = [rule_out(r) for r in rules_db.rules_of(conn, did)]
        out.append(DataBlock(role=role, did=str(did), url=f"/dataset/{did}/", rules=rules))
    return out
