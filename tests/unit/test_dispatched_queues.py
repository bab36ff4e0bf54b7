"""The gate's cache of jobs seen past dispatch: it only ever answers "allowed" for a pilot of the job's
own queue, and only for jobs read from the database in a dispatched state."""

from __future__ import annotations

from datetime import datetime

from pandawms.core.access import JobFacts
from pandawms.core.auth import Caller, Identity, Role
from pandawms.core.states import JobStatus
from pandawms.services.access import DispatchedQueues

NOW = datetime(2026, 1, 1)


def _pilot(queue: str, *more: Role) -> Caller:
    return Caller(Identity(sub=f"p-{queue}", roles=frozenset({Role.PILOT, *more}), queue=queue), "j", NOW)


def _job(pid: int, queue: str, status: JobStatus) -> JobFacts:
    return JobFacts(pid, "alice", "", "user", queue, status)


def test_only_dispatched_jobs_of_the_pilots_queue_are_allowed() -> None:
    seen = DispatchedQueues()
    seen.learn(
        [_job(1, "A", JobStatus.RUNNING), _job(2, "A", JobStatus.ACTIVATED), _job(3, "B", JobStatus.SENT)]
    )
    assert len(seen) == 2  # the activated job is not kept: it may still be re-brokered or closed
    assert seen.allows(_pilot("A"), [1])
    assert not seen.allows(_pilot("A"), [1, 2])  # one unknown id: read and decide
    assert not seen.allows(_pilot("A"), [3])  # another queue's job
    assert not seen.allows(_pilot("B"), [1])
    assert not seen.allows(_pilot("A"), [])
    user = Caller(Identity(sub="alice", roles=frozenset({Role.USER})), "j", NOW)
    assert not seen.allows(user, [1])


def test_the_cache_is_bounded() -> None:
    seen = DispatchedQueues()
    seen.MAX = 10
    seen.learn(_job(i, "A", JobStatus.RUNNING) for i in range(11))
    assert len(seen) == 6  # the older half went
    assert seen.allows(_pilot("A"), [10]) and not seen.allows(_pilot("A"), [0])


def test_the_acquires_own_claims_are_kept() -> None:
    seen = DispatchedQueues()
    seen.sent([(1, "A"), (2, None), (3, "B")])  # a job without a queue is never kept
    assert len(seen) == 2
    assert seen.allows(_pilot("A"), [1]) and not seen.allows(_pilot("A"), [2])
    assert not seen.allows(_pilot("A"), [3]) and seen.allows(_pilot("B"), [3])
