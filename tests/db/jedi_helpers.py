"""JEDI engine test helpers: a one-site grid with catalog inputs, task submission as task/submit does it,
and the feeder and generator run to completion in the test's transactions."""

from __future__ import annotations

import tempfile
import uuid
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from pandawms.bench.pilots import FailRule, PilotError, Pilots
from pandawms.config import ServerConfig
from pandawms.core.changes import JobChange, JobError
from pandawms.core.data import DID, DIDType, FileDID, RSESpec
from pandawms.core.ids import QueueName
from pandawms.core.specs import ErrorComponent, Job, QueueSpec
from pandawms.core.states import JobStatus
from pandawms.core.tasks import TaskStatus
from pandawms.core.taskspecs import Task, TaskDataset
from pandawms.db import jobs as jobs_db
from pandawms.db import task_files as tf_db
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.db.task_files import TaskFileRow
from pandawms.protocol import paths
from pandawms.protocol.tasks import TaskParams, refine
from pandawms.server.app import create_app
from pandawms.services import catalog, feeder, jobgen, lifecycle, lifecycle_tasks, rses
from pandawms.services import queues as queue_service
from pandawms.services.feeder import FeedCursor, FeedSettings
from pandawms.services.jobgen import Bunch, GenCycle, GenSettings
from pandawms.services.lifecycle import Move

SCOPE = "user.alice"
RSE = "SITE_A_DISK"
QUEUE = QueueName("SITE_A")


def grid(db: Database, now: datetime, **queue: Any) -> None:
    """One site: an RSE and a queue reading and writing there."""
    with db.write() as conn:
        rses.sync(conn, [RSESpec(RSE, "SITE_A", "file:///storage/a")], {}, now)
        spec = QueueSpec(
            name=QUEUE,
            site="SITE_A",
            cores=8,
            max_memory_per_core=4000,
            max_walltime=86400,
            ddm_input=RSE,
            ddm_output=RSE,
            **queue,
        )
        queue_service.sync(conn, [spec], now)


def file_did(name: str, i: int, events: int | None = 100) -> FileDID:
    lfn = f"{name}.{i:06d}.root"
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SCOPE}:{lfn}"))
    return FileDID(DID(SCOPE, lfn), guid, 1_000_000 + i, f"{zlib.adler32(lfn.encode()):08x}", events)


def dataset(
    db: Database, name: str, n: int, now: datetime, *, start: int = 0, events: int | None = 100
) -> DID:
    """An open dataset of ``n`` files (replicas at the RSE); more files with ``start``."""
    did = DID(SCOPE, name)
    with db.write() as conn:
        catalog.add_scope(conn, SCOPE, "alice", now)
        catalog.add_dids(conn, [(did, DIDType.DATASET)], now)
        if n:
            files = [file_did(name, i, events) for i in range(start, start + n)]
            catalog.add_files(conn, did, files, RSE, now)
    return did


def params(inp: str = "in", **kw: Any) -> dict[str, Any]:
    """prun-like task parameters reading ``SCOPE:inp`` and writing ``SCOPE:out``, with a log."""
    base: dict[str, Any] = {
        "taskName": f"task.{inp}",
        "userName": "alice",
        "transPath": "run.sh",
        "jobParameters": [
            {"type": "constant", "value": "python3 ana.py"},
            {"type": "template", "param_type": "input", "dataset": f"{SCOPE}:{inp}", "value": "-i ${IN}"},
            {
                "type": "template",
                "param_type": "output",
                "dataset": f"{SCOPE}:out.{inp}",
                "value": "out.${JEDITASKID}._${SN}.root",
            },
        ],
        "log": {"dataset": f"{SCOPE}:log.{inp}", "value": "log.${JEDITASKID}._${SN}.tgz"},
    }
    base.update(kw)
    return base


def submit(db: Database, raw: Mapping[str, Any], now: datetime, *, parent_mutable: bool = False) -> int:
    """What task/submit does: refine, create (registered) and define."""
    p = TaskParams.model_validate(raw)
    refined = refine(p, parent_mutable=parent_mutable)
    with db.write() as conn:
        task_id = lifecycle_tasks.create_task(
            conn,
            refined.spec,
            p.model_dump_json(by_alias=True),
            refined.datasets,
            now,
            priority=refined.priority,
        )
        lifecycle_tasks.transition_task(conn, task_id, TaskStatus.DEFINED, now, "parameters refined")
    return task_id


def feed(db: Database, task_id: int, now: datetime, n_scouts: int = 10, limit: int = 1000) -> FeedCursor:
    cursor = FeedCursor()
    for _ in range(10_000):
        with db.write() as conn:
            feeder.feed_step(conn, task_id, now, limit, cursor, FeedSettings(n_scouts=n_scouts))
        if cursor.done:
            return cursor
    raise AssertionError("feeding did not end")


def generate(db: Database, task_id: int, now: datetime, **kw: Any) -> list[Bunch]:
    """Bunches until the generator makes no more jobs for the task."""
    cycle = GenCycle()
    settings = GenSettings(**kw)
    out = []
    for _ in range(1000):
        with db.write() as conn:
            bunch = jobgen.generate_bunch(conn, task_id, now, settings.bunch_size, cycle, settings)
        if not bunch.jobs:
            if bunch.status:
                out.append(bunch)
            return out
        out.append(bunch)
    raise AssertionError("generation did not end")


def task(db: Database, task_id: int) -> Task:
    with db.read() as conn:
        t = tasks_db.get_task(conn, task_id)
    assert t is not None
    return t


def datasets(db: Database, task_id: int) -> dict[str, TaskDataset]:
    """By type (the first of each type: master input, first output, log)."""
    with db.read() as conn:
        out: dict[str, TaskDataset] = {}
        for d in tasks_db.datasets_of(conn, task_id):
            out.setdefault(d.type.value, d)
        return out


def rows(db: Database, dataset_id: int) -> list[TaskFileRow]:
    with db.read() as conn:
        return tf_db.rows_of_dataset(conn, dataset_id)


def task_jobs(db: Database, task_id: int) -> list[Job]:
    with db.read() as conn:
        ids = [int(r) for r in tf_db.task_job_ids(conn, task_id)]
        return jobs_db.get_jobs(conn, ids, with_files=True)


def end_job(db: Database, panda_id: int, status: JobStatus, now: datetime, *errors: JobError) -> None:
    """End an activated job as its pilot or the system would (the job writer; its hook does the files)."""
    via = {
        JobStatus.FINISHED: (JobStatus.SENT, JobStatus.RUNNING, JobStatus.HOLDING),
        JobStatus.FAILED: (JobStatus.SENT, JobStatus.RUNNING),
    }.get(status, ())
    move = Move(status, f"test: {status.value}", change=JobChange(errors=errors), via=via)
    with db.write() as conn:
        assert lifecycle.transition(conn, panda_id, move, now).accepted


def oom() -> JobError:
    return JobError(ErrorComponent.PILOT, 1212, "payload out of memory")


def by_status(db: Database, dataset_id: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows(db, dataset_id):
        out[r.status.value] = out.get(r.status.value, 0) + 1
    return out


@contextmanager
def api(db: Database, now: datetime) -> Iterator[TestClient]:
    """The server's API over ``db`` in process (no agents), its clock frozen at ``now``."""
    with tempfile.TemporaryDirectory() as data:
        config = ServerConfig(agents=False, db_url=db.url, data_dir=Path(data))
        with TestClient(create_app(config, db, clock=lambda: now)) as client:
            yield client


def run_pilots(
    db: Database,
    now: datetime,
    fail_once: str = "",
    failed: list[str] | None = None,
    *,
    fail: FailRule | None = None,
) -> int:
    """Simulated pilots (pandawms.bench.pilots, over the in-process API) acquire and end every activated
    job of the queue (the Adder registers the outputs); the job reading ``fail_once`` fails once with an
    out-of-memory pilot error (noted in ``failed``), or jobs fail as the ``fail`` rule says. Returns
    how many jobs ran."""
    noted = [] if failed is None else failed

    def once(inputs: Sequence[str]) -> PilotError | None:
        if fail_once and fail_once in inputs and fail_once not in noted:
            noted.append(fail_once)
            return PilotError(1212, "oom")
        return None

    with api(db, now) as client:
        return Pilots(client, paths.API_PREFIX, QUEUE, RSE, fail or once).drain().jobs
