"""A realistic job history for demos and benchmarks: ``seed_jobs(db, n, now=...)`` (``panda seed --jobs N``).

Queues come through services.queues.sync, jobs only through services.lifecycle.import_jobs (each with its
real path of states), workers through lifecycle.create_workers/transition_worker. Jobs arrive over days
to weeks (about 35,000 a day), run with lognormal waits and walltimes, fail with per-queue error mixes
(one queue has a storage incident) and are retried with parent links. Deterministic for a given seed.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from pandawms.core.fields import spec_columns
from pandawms.core.ids import QueueName
from pandawms.core.specs import (
    FileSpec,
    FileType,
    JobSpec,
    ProdSourceLabel,
    QueueSpec,
    QueueStatus,
    ResourceRequest,
)
from pandawms.core.states import JobStatus, WorkerStatus
from pandawms.db import job_stats_fold, migrate
from pandawms.db import monitor as monitor_db
from pandawms.db import seeding as seeding_db
from pandawms.db.brokerage import StoredDecision, save
from pandawms.db.engine import Database
from pandawms.monitor import seed_data as data
from pandawms.services import lifecycle
from pandawms.services import queues as queue_service
from pandawms.services.lifecycle import ImportedJob

S = JobStatus
BATCH = 500
COMMIT_EVERY = 20_000
JOBS_PER_DAY = 35_000
_PRE = (S.DEFINED, S.ACTIVATED, S.SENT, S.STARTING, S.RUNNING)
# Every row of one INSERT must name the same columns.
_ROW_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(("start_time", "end_time", "trans_exit_code", "cpu_consumption_time", "max_rss")),
    **dict.fromkeys(("max_pss", "actual_core_count", "n_events")),
    "pilot_id": "",
    "batch_id": "",
    **{f"{c}_error_code": 0 for c in monitor_db.COMPONENTS},
    **{f"{c}_error_diag": "" for c in monitor_db.COMPONENTS},
}


@dataclass
class _Plan:
    created: datetime
    attempt: int = 1
    parent: _Plan | None = None
    user: str = ""
    panda_id: int | None = None
    template: dict[str, Any] = field(default_factory=dict)


def _queues(now: datetime) -> list[QueueSpec]:
    return [
        QueueSpec(
            name=QueueName(q.name),
            status=QueueStatus(q.status),
            site=q.site,
            cores=q.cores,
            max_memory_per_core=q.memory,
            max_walltime=q.walltime,
            max_running=q.max_running,
            max_queued=q.max_running * 2,
            storage_element=f"{q.site}_DATADISK",
            copy_tool="rucio",
            description=q.description,
        )
        for q in data.QUEUES
    ]


class _Generator:
    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now

    def lifetimes(self) -> tuple[float, float]:
        wait = self.rng.lognormvariate(math.log(600), 1.1)
        run = min(self.rng.lognormvariate(math.log(4000), 0.9), 170_000)
        return wait, run

    def outcome(self, queue: data.Queue, created: datetime) -> tuple[S, data.Failure | None]:
        rng = self.rng
        incident = queue.incident and (self.now - timedelta(hours=30)) <= created <= (
            self.now - timedelta(hours=26)
        )
        if incident and rng.random() < 0.7:
            return S.FAILED, data.INCIDENT_FAILURE
        r = rng.random()
        if r < queue.fail_rate:
            return S.FAILED, rng.choices(data.FAILURES, [f.weight for f in data.FAILURES])[0]
        if r < queue.fail_rate + 0.03:
            return S.CANCELLED, None
        if r < queue.fail_rate + 0.05:
            return S.CLOSED, None
        return S.FINISHED, None

    def job(self, plan: _Plan) -> tuple[ImportedJob, data.Failure | None]:
        rng = self.rng
        t = plan.template or self.template(plan.user)
        plan.template = t
        queue: data.Queue = t["queue"]
        wait, run = self.lifetimes()
        start = plan.created + timedelta(seconds=wait)
        end = start + timedelta(seconds=run)
        status, failure = self.outcome(queue, plan.created)
        cols: dict[str, Any] = {
            **_ROW_DEFAULTS,
            **t["columns"],
            "attempt_nr": plan.attempt,
            "parent_id": plan.parent.panda_id if plan.parent else None,
            "relation_type": "retry" if plan.parent else "",
            "computing_site": queue.name,
            "modification_host": f"wn{rng.randrange(1, 400):03d}.{queue.site.lower()}.example.org",
        }
        if end > self.now:  # not over yet: an active state by how far it got
            status, failure, via = self.active(plan.created, start, end, cols)
        else:
            via = self.final_path(status, failure, cols, start, end, run, t)
        files = (
            FileSpec(
                lfn=f"{t['dataset']}._{rng.randrange(1, 99999):06d}.root", type=FileType.INPUT, scope="mc23"
            ),
            FileSpec(lfn=f"log.{rng.getrandbits(40):010x}.tgz", type=FileType.LOG, scope=t["scope"]),
        )
        return ImportedJob(status, cols, files, "seeded", via), failure

    def active(
        self, created: datetime, start: datetime, end: datetime, cols: dict[str, Any]
    ) -> tuple[S, None, tuple[S, ...]]:
        if start > self.now:
            if self.rng.random() < 0.04:
                cols["computing_site"] = None
                cols["brokerage_error_diag"] = data.WAITING_DIAG
                return S.DEFINED, None, ()
            return S.ACTIVATED, None, (S.DEFINED,)
        cols["start_time"] = start
        remaining = (end - self.now).total_seconds()
        if remaining < 120:
            return S.HOLDING, None, _PRE
        if (self.now - start).total_seconds() < 90:
            return S.STARTING, None, (S.DEFINED, S.ACTIVATED, S.SENT)
        return S.RUNNING, None, (S.DEFINED, S.ACTIVATED, S.SENT, S.STARTING)

    def final_path(
        self,
        status: S,
        failure: data.Failure | None,
        cols: dict[str, Any],
        start: datetime,
        end: datetime,
        run: float,
        t: dict[str, Any],
    ) -> tuple[S, ...]:
        rng = self.rng
        cores = t["columns"]["core_count"]
        if status in (S.CANCELLED, S.CLOSED):
            cols["end_time"] = start
            cols["taskbuffer_error_code"] = 100 if status is S.CANCELLED else 105
            cols["taskbuffer_error_diag"] = (
                "killed by user" if status is S.CANCELLED else "reassigned by JEDI"
            )
            return (S.DEFINED, S.ACTIVATED)
        if failure is not None and failure.phase == "brokerage":
            cols.update(computing_site=None, end_time=start)
            cols.update(brokerage_error_code=failure.code, brokerage_error_diag=failure.diag)
            return (S.DEFINED,)
        if failure is not None and failure.phase == "stagein":
            end = start + timedelta(seconds=rng.uniform(30, 900))
            run = (end - start).total_seconds()
        pss_core = rng.lognormvariate(math.log(1_400_000), 0.3)
        if failure is not None and failure.acronym == "PAYLOADOUTOFMEMORY":
            pss_core = rng.uniform(4_200_000, 6_000_000)
        cols.update(
            start_time=start,
            end_time=end,
            cpu_consumption_time=int(run * cores * rng.uniform(0.45, 0.95)),
            max_pss=int(pss_core * cores),
            max_rss=int(pss_core * cores * 1.15),
            actual_core_count=cores,
            n_events=rng.choice((100, 200, 500, 1000)),
            pilot_id=f"pilot-{rng.getrandbits(32):08x}",
            batch_id=str(rng.randrange(10**6, 10**7)),
        )
        if failure is not None:
            cols[f"{failure.component}_error_code"] = failure.code
            cols[f"{failure.component}_error_diag"] = failure.diag
            if failure.exe_code:  # the transform's exit code (the catalogue has no exe codes yet)
                cols["trans_exit_code"] = failure.exe_code
            if failure.phase == "stagein":
                return (S.DEFINED, S.ACTIVATED, S.SENT, S.STARTING)
            if failure.phase == "heartbeat":
                return _PRE
        return (*_PRE, S.HOLDING)

    def template(self, user: str) -> dict[str, Any]:
        rng = self.rng
        profile = data.USERS[user]
        queue = rng.choices(data.QUEUES_ACCEPTING, [q.share for q in data.QUEUES_ACCEPTING])[0]
        cores = queue.cores if profile.label == "managed" else 1
        trf = rng.choice(data.PROD_TRFS if profile.label == "managed" else data.USER_TRFS)
        task = rng.randrange(30_000_000, 30_000_400)
        spec = JobSpec(
            transformation=trf,
            job_name=f"{profile.scope}.{task}.{_short(trf)}._{rng.randrange(1, 9999):05d}",
            job_parameters=f"--inputFile=%IN --maxEvents={rng.choice((100, 500, 1000))}",
            prod_source_label=ProdSourceLabel(profile.label),
            prod_user_name=user,
            current_priority=rng.choice((900, 1000, 1100))
            if profile.label == "user"
            else rng.choice((200, 500, 800)),
            resources=ResourceRequest(
                memory=cores * rng.choice((1500, 2000)), cores=cores, walltime=queue.walltime // 2
            ),
            task_id=task,
        )
        return {
            "queue": queue,
            "columns": spec_columns(spec),
            "dataset": f"mc23_13p6TeV.{task}",
            "scope": profile.scope,
        }


def _short(trf: str) -> str:
    return trf.split("/")[-1].split()[-1].split("_")[0].split(".")[0]


def _arrivals(rng: random.Random, n: int, now: datetime) -> list[datetime]:
    """n creation times over span days, denser in working hours, sorted."""
    span = max(2.0, min(28.0, n / JOBS_PER_DAY)) * 86400
    out: list[datetime] = []
    while len(out) < n:
        offset = rng.random() * span
        t = now - timedelta(seconds=offset)
        if rng.random() < 0.65 + 0.35 * math.sin(math.pi * t.hour / 24):
            out.append(t)
    return sorted(out)


class _Seeder:
    """Turns arrival times into jobs: fresh ones, or the retry of a failed job that is due."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.gen = _Generator(rng, now)
        self.users = list(data.USERS)
        self.weights = [data.USERS[u].weight for u in self.users]
        self.retries: list[tuple[datetime, int, _Plan]] = []
        self.pending: list[tuple[_Plan, ImportedJob]] = []

    def add(self, conn: Connection, i: int, t: datetime) -> None:
        rng = self.rng
        if self.retries and self.retries[0][0] <= t:
            _, _, parent = heapq.heappop(self.retries)
            plan = _Plan(t, parent.attempt + 1, parent, parent.user, template=parent.template)
            if parent.panda_id is None:  # its parent is still in the batch: ids are needed now
                _flush(conn, self.pending)
        else:
            plan = _Plan(t, user=rng.choices(self.users, self.weights)[0])
        new_job, failure = self.gen.job(plan)
        self.pending.append((plan, new_job))
        if failure is not None and failure.retry and plan.attempt < 3 and rng.random() < 0.7:
            due = new_job.columns["end_time"] + timedelta(minutes=rng.uniform(2, 30))
            heapq.heappush(self.retries, (due, i, plan))
        if len(self.pending) >= BATCH or (t - self.pending[0][0].created) > timedelta(minutes=10):
            _flush(conn, self.pending)


FOLD_ROWS = 50_000


def seed_jobs(db: Database, n: int, *, now: datetime, seed: int = 1) -> int:
    """Create ``n`` jobs (with retries, history, files, brokerage decisions and workers); returns n."""
    rng = random.Random(seed)
    times = _arrivals(rng, n, now)
    with db.write() as conn:
        queue_service.sync(conn, _queues(now), times[0] if times else now)
    seeder = _Seeder(rng, now)
    for first in range(0, n, COMMIT_EVERY):
        with db.write() as conn:
            for i in range(first, min(n, first + COMMIT_EVERY)):
                seeder.add(conn, i, times[i])
            _flush(conn, seeder.pending)
        _fold(db)
    with db.write() as conn:
        _decisions(conn)
        _workers(conn, rng, now)
    return n


def _fold(db: Database) -> None:
    """The triggers' deltas into the hourly aggregates (the server's job_stats agent does it later too)."""
    while True:
        with db.write() as conn:
            if job_stats_fold.fold(conn, FOLD_ROWS) < FOLD_ROWS:
                return


def _flush(conn: Connection, pending: list[tuple[_Plan, ImportedJob]]) -> None:
    if not pending:
        return
    batch_time = pending[0][0].created
    # A job's last change is its end (or start): inserted so, its stats trigger writes one delta for the
    # right hour and no UPDATE of the batch has to fire the trigger again (half of PostgreSQL's work).
    timed = [
        dataclasses.replace(nj, columns={**nj.columns, **_last_change(nj, batch_time)}) for _, nj in pending
    ]
    ids = lifecycle.import_jobs(conn, timed, batch_time, host="seed")
    for (plan, _), pid in zip(pending, ids, strict=True):
        plan.panda_id = int(pid)
    seeding_db.retime_history(conn, int(ids[0]), int(ids[-1]))
    pending.clear()


def _last_change(job: ImportedJob, created: datetime) -> dict[str, datetime]:
    when = job.columns.get("end_time") or job.columns.get("start_time") or created
    return {"modification_time": when, "state_change_time": when}


def _decisions(conn: Connection) -> None:
    """Brokerage decisions for the newest jobs: the offline/brokeroff/small queues refuse them."""
    rows = seeding_db.newest_ids(conn, 3000)
    decisions = [
        StoredDecision(
            pid,
            created,
            site,
            f"{site}: weight 1.0" if site else "no queue",
            {
                q: {"reason": why, "permanent": permanent}
                for q, why, permanent in data.REJECTIONS
                if q != site
            },
        )
        for pid, site, created in rows
    ]
    save(conn, decisions)


def _workers(conn: Connection, rng: random.Random, now: datetime) -> None:
    for q in data.QUEUES:
        if q.status == "offline":
            continue
        running = seeding_db.running_count(conn, q.name)
        plan = [(WorkerStatus.RUNNING, min(running, 300)), (WorkerStatus.SUBMITTED, rng.randrange(0, 25))]
        plan += [(WorkerStatus.FINISHED, rng.randrange(20, 80)), (WorkerStatus.FAILED, rng.randrange(0, 8))]
        for status, count in plan:
            for wid in lifecycle.create_workers(
                conn, "harvester-seed", q.name, count, now - timedelta(hours=1)
            ):
                if status is WorkerStatus.SUBMITTED:
                    continue
                if status is not WorkerStatus.RUNNING:
                    lifecycle.transition_worker(conn, wid, WorkerStatus.RUNNING, now - timedelta(minutes=50))
                lifecycle.transition_worker(conn, wid, status, now - timedelta(minutes=rng.uniform(0, 45)))


def seed_url(url: str, n: int, *, now: datetime, seed: int = 1) -> int:
    """``seed_jobs`` on the task buffer at ``url`` (migrated first): the entry point of ``panda seed``."""
    db = Database(url)
    try:
        migrate.upgrade(db)
        return seed_jobs(db, n, now=now, seed=seed)
    finally:
        db.dispose()
