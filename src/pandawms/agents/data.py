"""The data-service agents of the job flow: the Activator (assigned jobs whose ``_dis`` is complete),
the waiting-jobs agent (inputs now registered), the Finisher (transferring jobs whose ``_sub`` rule is
ok) and the Closer (``_sub`` blocks of ended jobs). Each pass walks its jobs (or blocks) by key in short
write transactions, so jobs that keep waiting never hide the ones behind them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from pandawms.agents.runner import Agent
from pandawms.core.data import DID
from pandawms.db.engine import Database
from pandawms.services import activator, finisher
from pandawms.services.activator import Batch
from pandawms.services.termination import JobRetryPolicy

_Step = Callable[[Connection, datetime, int, int], Batch]


def batch_pass(db: Database, name: str, interval: float, batch_size: int, step: _Step) -> Agent:
    def run_once(now: datetime) -> int:
        """One pass in key order (PandaID, task id), batch after batch; returns how many moved on."""
        after, moved = 0, 0

        def one(conn: Connection, limit: int) -> int:
            nonlocal after, moved
            batch = step(conn, now, limit, after)
            after, moved = batch.last_id, moved + batch.moved
            return batch.examined

        db.write_until_short(one, batch_size)
        return moved

    return Agent(name, interval, run_once)


def data_agents(db: Database, interval: float, batch_size: int, policy: JobRetryPolicy) -> list[Agent]:
    """The Activator, waiting, Finisher and Closer agents."""

    def activate(conn: Connection, now: datetime, limit: int, after: int) -> Batch:
        return activator.activate_assigned(conn, now, policy, limit, after)

    def finish(conn: Connection, now: datetime, limit: int, after: int) -> Batch:
        return finisher.finish_transferring(conn, now, policy, limit, after)

    return [
        batch_pass(db, "activator", interval, batch_size, activate),
        batch_pass(db, "waiting", interval, batch_size, activator.release_waiting),
        batch_pass(db, "finisher", interval, batch_size, finish),
        closer_agent(db, interval, batch_size),
    ]


def closer_agent(db: Database, interval: float, batch_size: int) -> Agent:
    def run_once(now: datetime) -> int:
        """One pass over the open ``_sub`` blocks by key; returns how many were closed."""
        after: DID | None = None
        closed = 0

        def one(conn: Connection, limit: int) -> int:
            nonlocal after, closed
            page = finisher.close_subs(conn, now, limit, after)
            after, closed = page.next, closed + page.closed
            return page.examined if page.next is not None else 0

        db.write_until_short(one, batch_size)
        return closed

    return Agent("closer", interval, run_once)
