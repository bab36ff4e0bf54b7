"""Jobs waiting for data move on (scheduling.md §12): the Activator activates ``assigned`` jobs whose
``_dis`` rule is ok (a stuck rule fails them with the DDM subscription error, then the retry rules
apply), and ``waiting`` jobs whose inputs all have an available replica somewhere go back to ``defined``
and are brokered at once. One batch of jobs in PandaID order per call, with the rule statuses or
replicas of the whole batch read together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.blocks import BlockVerdict, Verdict, block_verdict
from pandawms.core.changes import JobChange, JobError
from pandawms.core.data import DATA_SCOPE, DID
from pandawms.core.specs import ErrorComponent, FileSpec
from pandawms.core.states import FileState, JobStatus
from pandawms.db import jobs as jobs_db
from pandawms.db import replicas as replicas_db
from pandawms.protocol.errorcodes import DdmCode
from pandawms.services import lifecycle, placement, rules
from pandawms.services.inputs import catalog_inputs
from pandawms.services.lifecycle import Move
from pandawms.services.termination import JobRetryPolicy, end_job


@dataclass(frozen=True, slots=True)
class Batch:
    examined: int
    moved: int
    last_id: int  # pass as ``after`` for the next batch of the same pass


def block_verdicts(conn: Connection, blocks: Iterable[DID]) -> dict[DID, BlockVerdict]:
    """Each block's verdict from its rules (their statuses read in one look-up)."""
    by_block = {b: [r.id for r in rules.rules_of(conn, b)] for b in sorted(set(blocks))}
    status = rules.statuses(conn, [i for ids in by_block.values() for i in ids])
    return {b: block_verdict(str(b), [status.get(i) for i in ids]) for b, ids in by_block.items()}


def data_failure(reason: str) -> Move:
    """The move failing a job whose data cannot arrive (PanDA's ddmErrorCode 201, subscription failure)."""
    error = JobError(ErrorComponent.DDM, DdmCode.SUBSCRIPTION_FAILURE, reason)
    return Move(JobStatus.FAILED, reason, change=JobChange(errors=(error,)))


def activate_assigned(
    conn: Connection, now: datetime, policy: JobRetryPolicy, limit: int, after: int = 0
) -> Batch:
    """assigned -> activated for jobs whose ``_dis`` rule is ok; failed when it is stuck."""
    ids = jobs_db.ids_in_status(conn, JobStatus.ASSIGNED, limit, after)
    jobs = jobs_db.get_jobs(conn, ids, with_files=True)
    verdicts = block_verdicts(conn, (DID(DATA_SCOPE, j.dispatch_dblock) for j in jobs if j.dispatch_dblock))
    moved = 0
    only = frozenset({JobStatus.ASSIGNED})
    for job in jobs:
        block = DID(DATA_SCOPE, job.dispatch_dblock) if job.dispatch_dblock else None
        verdict = verdicts[block] if block else BlockVerdict(Verdict.FAIL, "assigned without a _dis block")
        if verdict.verdict is Verdict.PROCEED:
            move = Move(JobStatus.ACTIVATED, f"inputs arrived ({job.dispatch_dblock})", only_from=only)
            result = lifecycle.transition(conn, job.panda_id, move, now)
            if result.accepted:
                lifecycle.set_file_states(conn, job.panda_id, _arrived(job.files))
        elif verdict.verdict is Verdict.FAIL:
            move = dataclasses.replace(data_failure(verdict.reason), only_from=only)
            result = end_job(conn, job.panda_id, move, now, policy)
        else:
            continue
        moved += int(result.accepted)
    return Batch(len(ids), moved, ids[-1] if ids else after)


def _arrived(files: Sequence[FileSpec]) -> list[FileSpec]:
    return [
        dataclasses.replace(f, status=FileState.READY.value)
        for f, _did in catalog_inputs(files)
        if f.status == FileState.PENDING
    ]


def release_waiting(conn: Connection, now: datetime, limit: int, after: int = 0) -> Batch:
    """waiting -> defined for jobs whose inputs all exist now, then brokered (and set up) at once."""
    ids = jobs_db.ids_in_status(conn, JobStatus.WAITING, limit, after)
    jobs = jobs_db.get_jobs(conn, ids, with_files=True)
    wanted = {did for j in jobs for _f, did in catalog_inputs(j.files)}
    present = replicas_db.available_rses(conn, wanted) if wanted else {}
    released = []
    only = frozenset({JobStatus.WAITING})
    for job in jobs:
        if all(did in present for _f, did in catalog_inputs(job.files)):
            move = Move(JobStatus.DEFINED, "inputs registered", only_from=only)
            if lifecycle.transition(conn, job.panda_id, move, now).accepted:
                released.append(job)
    placement.rebroker_jobs(conn, [j.panda_id for j in released], now)
    return Batch(len(ids), len(released), ids[-1] if ids else after)
