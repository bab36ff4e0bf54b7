"""The Setupper's data step for assigned jobs (scheduling.md §12): a ``_dis`` dispatch block holding the
inputs a bunch of jobs lacks at its queue, frozen at once, with a 7-day rule to the queue's ``ddm_input``
RSE; each job records it as its ``dispatch_dblock``. Jobs of one batch at one queue needing the same
files share one block. Runs in the caller's transaction (with the jobs' creation or their move).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection

from pandawms.core.changes import JobChange
from pandawms.core.data import DATA_SCOPE, DID, DIDType, dis_name
from pandawms.core.ids import PandaID, QueueName
from pandawms.core.locality import InputFile
from pandawms.core.specs import QueueSpec
from pandawms.core.states import DatasetStatus
from pandawms.services import catalog, lifecycle, lifecycle_data, rules

DIS_LIFETIME = timedelta(days=7)  # PanDA's _dis subscriptions live 7 days (states.md §3)
DIS_ACTIVITY = "Production Input"


@dataclass(frozen=True, slots=True)
class Assignment:
    """A job going to ``assigned`` at ``queue`` and the inputs its ``_dis`` must bring there."""

    panda_id: PandaID
    queue: QueueSpec
    task_id: int | None
    to_move: tuple[InputFile, ...]


BunchKey = tuple[QueueName, frozenset[DID]]
"""A bunch: the jobs at one queue that need the same files brought there."""


def dispatch(
    conn: Connection, assignments: Sequence[Assignment], now: datetime, made: dict[BunchKey, DID]
) -> None:
    """Give each job of ``assignments`` its bunch's ``_dis`` block, creating the block and its rule for a
    bunch not in ``made`` (the blocks of this submission so far, kept across its chunks)."""
    bunches: dict[BunchKey, list[Assignment]] = defaultdict(list)
    for a in assignments:
        bunches[(a.queue.name, frozenset(f.did for f in a.to_move))].append(a)
    for key, jobs in bunches.items():
        if key not in made:
            made[key] = _new_block(conn, jobs[0], key[1], now)
        for a in jobs:
            change = JobChange(dispatch_dblock=made[key].name, touch=False)
            lifecycle.update_job_fields(conn, a.panda_id, change, now)


def _new_block(conn: Connection, first: Assignment, files: frozenset[DID], now: datetime) -> DID:
    catalog.add_scope(conn, DATA_SCOPE, DATA_SCOPE, now)
    block = DID(DATA_SCOPE, dis_name(first.task_id, now, first.panda_id))
    catalog.add_dids(conn, [(block, DIDType.DATASET)], now)
    catalog.attach(conn, block, sorted(files), now)
    lifecycle_data.transition_did(conn, block, DatasetStatus.FROZEN, now)
    rules.add_rule(conn, block, first.queue.ddm_input, now, lifetime=DIS_LIFETIME, activity=DIS_ACTIVITY)
    return block
