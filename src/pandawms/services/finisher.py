"""The Finisher and the Closer (scheduling.md §12). Finisher: a ``transferring`` job whose ``_sub`` rule
is ok is ``finished`` (its outputs are at the destination), one whose rule is stuck ``failed`` with the
DDM subscription error. Closer: an open ``_sub`` block is closed once the job writing into it has ended.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from pandawms.core.blocks import Verdict
from pandawms.core.data import DID
from pandawms.core.specs import FileSpec, Job
from pandawms.core.states import FINAL_STATES, DatasetStatus, FileState, JobStatus
from pandawms.db import catalog as catalog_db
from pandawms.db import jobs as jobs_db
from pandawms.services import lifecycle, lifecycle_data
from pandawms.services.activator import Batch, block_verdicts, data_failure
from pandawms.services.adder import catalog_outputs, sub_block
from pandawms.services.lifecycle import Move, Outcome
from pandawms.services.termination import JobRetryPolicy, end_job


def finish_transferring(
    conn: Connection, now: datetime, policy: JobRetryPolicy, limit: int, after: int = 0
) -> Batch:
    """transferring -> finished when the job's ``_sub`` rule is ok; failed when it is stuck."""
    ids = jobs_db.ids_in_status(conn, JobStatus.TRANSFERRING, limit, after)
    jobs = jobs_db.get_jobs(conn, ids, with_files=True)
    subs = {j.panda_id: sub_block(j.panda_id, catalog_outputs(j.files)) for j in jobs}
    verdicts = block_verdicts(conn, (s for s in subs.values() if s is not None))
    only = frozenset({JobStatus.TRANSFERRING})
    moved = 0
    for job in jobs:
        sub = subs[job.panda_id]
        if sub is None:
            continue  # a pilot-reported transferring job without catalog outputs: the timeout rule ends it
        verdict = verdicts[sub]
        if verdict.verdict is Verdict.PROCEED:
            move = Move(JobStatus.FINISHED, f"outputs at the destination ({sub})", only_from=only)
            state = FileState.READY
        elif verdict.verdict is Verdict.FAIL:
            move = dataclasses.replace(data_failure(verdict.reason), only_from=only)
            state = FileState.FAILED
        else:
            continue
        result = end_job(conn, job.panda_id, move, now, policy)
        if result.accepted:
            lifecycle.set_file_states(conn, job.panda_id, _outputs_in(job.files, state))
        moved += int(result.accepted)
    return Batch(len(ids), moved, ids[-1] if ids else after)


def _outputs_in(files: tuple[FileSpec, ...], state: FileState) -> list[FileSpec]:
    return [dataclasses.replace(o.row, status=state.value) for o in catalog_outputs(files)]


@dataclass(frozen=True, slots=True)
class ClosePage:
    examined: int
    closed: int
    next: DID | None  # cursor of the next page; None: the pass is over


def close_subs(conn: Connection, now: datetime, limit: int, after: DID | None = None) -> ClosePage:
    """Close the open ``_sub`` blocks whose job has ended (a dataset merely named like one is left alone:
    the job must be the one whose outputs it holds)."""
    page = catalog_db.open_sub_blocks(conn, after, limit)
    ended = jobs_db.get_jobs(conn, [pid for _b, pid in page.blocks], with_files=True)
    jobs: dict[int, Job] = {j.panda_id: j for j in ended}
    closed = 0
    for block, pid in page.blocks:
        job = jobs.get(pid)
        if job is None or job.status not in FINAL_STATES:
            continue
        if sub_block(pid, catalog_outputs(job.files)) != block:
            continue
        outcome = lifecycle_data.transition_did(conn, block, DatasetStatus.CLOSED, now)
        closed += int(outcome.outcome is Outcome.ACCEPTED)
    return ClosePage(page.examined, closed, page.last if page.examined == limit else None)
