"""No double dispatch: many pilot processes race to claim 5,000+ jobs; each is handed out exactly once."""

from __future__ import annotations

import multiprocessing as mp
import random
from collections import Counter
from datetime import datetime

from sqlalchemy import func, select

from pandawms.core.ids import QueueName
from pandawms.core.specs import JobSpec, QueueSpec
from pandawms.db.engine import Database
from pandawms.db.schema import job_status_history, jobs
from pandawms.services import pilot, submission
from tests.conftest import add_queues

N_JOBS = 5200
N_PILOTS = 8
NOW = datetime(2026, 1, 1)


def _pilot_process(url: str, seed: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    db = Database(url, pool_size=1)
    rng = random.Random(seed)
    claimed: list[int] = []
    misses = 0
    while misses < 3:
        n = rng.randint(1, 5)
        with db.write() as conn:
            got = pilot.acquire_jobs(conn, pilot.AcquireQuery(queue="HOT", n_jobs=n, node=f"wn{seed}"), NOW)
        claimed.extend(j.panda_id for j in got.jobs)
        misses = misses + 1 if not got.jobs else 0
    db.dispose()
    out.put(claimed)


def test_concurrent_pilots_never_get_the_same_job(db: Database) -> None:
    # given 5,200 activated jobs on one hot queue, with mixed priorities
    add_queues(db, (QueueSpec(name=QueueName("HOT")),), NOW)
    specs = [
        JobSpec(transformation="x", computing_site=QueueName("HOT"), current_priority=i % 7)
        for i in range(N_JOBS)
    ]
    with db.write() as conn:
        placed = submission.submit(conn, specs, NOW, max_batch=10_000)
    expected = {p.panda_id for p in placed}

    # when 8 pilot processes claim concurrently until the queue is empty
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_pilot_process, args=(db.url, seed, out)) for seed in range(N_PILOTS)]
    for p in procs:
        p.start()
    results = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0

    # then every job was handed out exactly once, to exactly one pilot
    counts = Counter(pid for claimed in results for pid in claimed)
    assert set(counts) == expected
    assert max(counts.values()) == 1
    assert sum(1 for r in results if r) >= 2  # the pilots really did race
    with db.read() as conn:
        statuses: dict[str, int] = dict(
            conn.execute(select(jobs.c.job_status, func.count()).group_by(jobs.c.job_status)).all()
        )
        sent_rows = conn.execute(
            select(func.count())
            .select_from(job_status_history)
            .where(job_status_history.c.job_status == "sent")
        ).scalar_one()
    assert statuses == {"sent": N_JOBS}
    assert sent_rows == N_JOBS
