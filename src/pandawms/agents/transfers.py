"""The transfer agent, the FTS analogue: claim runnable requests under a lease (one short transaction),
copy them outside any transaction with ``concurrency`` threads (ddm.copy: third-party first, else
streamed; size+adler32 verified), record results in short transactions as they end (the copies that
ended at the same moment share one: group commit, so 10 kB files are not bound by one commit each).

Kill-safety: the back ends write to a temporary name and rename only after verification, so a SIGKILL
leaves no half file visible; an expired lease makes a request runnable again; a re-run whose
destination already holds the right file records it without copying again.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pandawms.agents.runner import Agent, utcnow
from pandawms.config import ServerConfig, StorageSettings, TransferConfig
from pandawms.core.checksums import Adler32, FileStat
from pandawms.core.errors import PandaError
from pandawms.core.transfers import RetryPolicy, TransferMethod
from pandawms.db.engine import Database
from pandawms.db.transfers import Finished
from pandawms.ddm import copy as ddm_copy
from pandawms.ddm import s3
from pandawms.ddm.base import ChecksumMismatch
from pandawms.ddm.base import NotFound as StorageNotFound
from pandawms.ddm.registry import BackendRegistry, StorageConfig, build_registry
from pandawms.services import rules
from pandawms.services import transfers as transfer_service
from pandawms.services.lifecycle import Outcome
from pandawms.services.transfers import CopyTask, Failure

log = logging.getLogger("pandawms.agents.transfers")
IN_FLIGHT_PER_THREAD = 16  # claimed copies per copy thread at most (queued ones wait, their lease running)


def storage_config(settings: StorageSettings) -> StorageConfig:
    """The ddm StorageConfig of the server's [storage] section (s3:// only with an endpoint)."""
    if not settings.s3_endpoint_url:
        return StorageConfig()
    return StorageConfig(
        s3=s3.S3Config(
            endpoint_url=settings.s3_endpoint_url,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
            region=settings.s3_region,
        )
    )


def expected_stat(task: CopyTask) -> FileStat:
    return FileStat(task.file.bytes, Adler32.parse(task.file.adler32))


@dataclass(frozen=True, slots=True)
class CopyOutcome:
    """A copy's result: the method and bytes when done, else the failure."""

    method: str = ""
    bytes: int = 0
    failure: Failure | None = None


class TransferAgent:
    """One agent process's transfer loop; several may share a database (claims never overlap)."""

    def __init__(
        self,
        db: Database,
        registry: BackendRegistry,
        config: TransferConfig,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.config = config
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.clock = clock
        self.rng = rng or random.Random()
        self.spool_dir = spool_dir
        self.policy = RetryPolicy(config.backoff_base, config.backoff_cap)
        self._pool = ThreadPoolExecutor(config.concurrency, thread_name_prefix="panda-transfer")
        self._pending: dict[Future[CopyOutcome], CopyTask] = {}

    def run_once(self, now: datetime) -> int:
        """One whole cycle, waiting for every copy: claim up to batch_size requests, copy them, record
        them as they end; returns how many ended (tests and one-shot use; the server runs ``step``)."""
        self._claim(now, self.config.batch_size)
        ended = 0
        while self._pending:
            ended += self._record_ended(None)
        return ended

    def step(self, now: datetime) -> int:
        """One runner cycle that never holds the runner longer than ``interval``: claim up to batch_size
        requests, as slots free up (at most IN_FLIGHT_PER_THREAD x concurrency claimed and not ended, so
        a claim does not wait in the queue past its lease), and record copies as they end. Copies still
        running at the deadline keep their lease and are recorded by the next cycle."""
        deadline = time.monotonic() + self.config.interval
        self._renew(now)
        budget, ended = self.config.batch_size, 0
        cap = IN_FLIGHT_PER_THREAD * self.config.concurrency
        while True:
            at = now if budget == self.config.batch_size else self.clock()
            budget -= self._claim(at, min(budget, cap - len(self._pending)))
            remaining = deadline - time.monotonic()
            if not self._pending or remaining <= 0:
                return ended
            ended += self._record_ended(remaining)

    def _renew(self, now: datetime) -> None:
        """Claims older than half their lease, still copying or waiting for a thread, get a new lease."""
        lease = timedelta(seconds=self.config.lease_seconds)
        old = [t.request.id for t in self._pending.values() if t.renew_after(lease) <= now]
        if old:
            with self.db.write() as conn:
                transfer_service.extend_leases(conn, self.owner, old, now, lease)
            for future, task in list(self._pending.items()):
                if task.request.id in old:
                    self._pending[future] = task.renewed(now)

    def _claim(self, now: datetime, limit: int) -> int:
        if limit <= 0:
            return 0
        lease = timedelta(seconds=self.config.lease_seconds)
        with self.db.write() as conn:
            tasks = transfer_service.claim(conn, self.owner, now, lease, limit)
        self._pending.update({self._pool.submit(self.copy_one, t): t for t in tasks})
        return len(tasks)

    def _record_ended(self, timeout: float | None) -> int:
        """Wait (up to ``timeout``) for a copy to end, then record every copy that has ended, together:
        copies that end at once share one short transaction (group commit)."""
        ended, _ = wait(self._pending, timeout=timeout, return_when=FIRST_COMPLETED)
        self.record([(self._pending.pop(f), f.result()) for f in ended])
        return len(ended)

    def copy_one(self, task: CopyTask) -> CopyOutcome:
        """Run one copy (never raises: every error becomes the request's failure)."""
        if task.problem:
            return CopyOutcome(failure=Failure(task.problem))
        expected = expected_stat(task)
        try:
            if task.request.attempt > 1 and self._already_there(task.dst_url, expected):
                return CopyOutcome(TransferMethod.PRESENT.value, expected.size)
            result = ddm_copy.copy(
                self.registry, task.src_url, task.dst_url, expected=expected, spool_dir=self.spool_dir
            )
            return CopyOutcome(result.method.value, result.bytes)
        except ChecksumMismatch as exc:
            return CopyOutcome(failure=self._mismatch(task, expected, exc))
        except PandaError as exc:
            return CopyOutcome(failure=Failure(f"{type(exc).__name__}: {exc}", task.source_rse))
        except Exception as exc:  # a back end's unexpected error fails this request, not the batch
            log.exception("transfer %d: unexpected error", task.request.id)
            return CopyOutcome(failure=Failure(f"{type(exc).__name__}: {exc}", task.source_rse))

    def _mismatch(self, task: CopyTask, expected: FileStat, exc: ChecksumMismatch) -> Failure:
        """What arrived was not the catalog's file (and was removed): a source that is not it is bad."""
        try:
            problem = expected.mismatch(self.registry.for_url(task.src_url).stat(task.src_url))
        except PandaError as stat_error:  # not known to be bad: retry later
            return Failure(f"ChecksumMismatch: {exc}; then the source: {stat_error}", task.source_rse)
        if problem is None:  # the source is right: the copy went wrong on the way, retry
            return Failure(f"ChecksumMismatch: {exc}", task.source_rse)
        return Failure(
            f"source {task.src_url} differs from the catalog: {problem}", task.source_rse, bad_source=True
        )

    def _already_there(self, dst_url: str, expected: FileStat) -> bool:
        """A previous attempt (killed after its rename) left the right file: record it, copy nothing."""
        try:
            return expected.mismatch(self.registry.for_url(dst_url).stat(dst_url)) is None
        except StorageNotFound:
            return False

    def record(self, results: list[tuple[CopyTask, CopyOutcome]]) -> None:
        """Results in one short transaction: the copies done in bulk, each failure on its own; a lease
        lost meanwhile is logged, not recorded."""
        if not results:
            return
        now = self.clock()
        done = [
            Finished(t.request.id, t.source_rse, o.bytes, o.method) for t, o in results if o.failure is None
        ]
        refused: dict[int, str] = {}
        with self.db.write() as conn:
            refused |= transfer_service.record_done_many(conn, self.owner, done, now)
            for task, outcome in results:
                if outcome.failure is not None:
                    moved = transfer_service.record_failure(
                        conn, self.owner, task.request.id, outcome.failure, now, self.policy, self.rng
                    )
                    if moved.outcome is not Outcome.ACCEPTED:
                        refused[task.request.id] = moved.reason
        for request_id, reason in sorted(refused.items()):
            log.warning("transfer %d not recorded: %s", request_id, reason)

    def close(self) -> None:
        """Wait for the copies in flight and record them, then stop the threads."""
        while self._pending:
            self._record_ended(None)
        self._pool.shutdown(wait=True)


def transfer_agent(db: Database, config: ServerConfig) -> Agent:
    """The server's transfer agent: storage from [storage], its settings from [transfers]."""
    registry = build_registry(storage_config(config.storage))
    spool = config.data_dir.expanduser() / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    loop = TransferAgent(db, registry, config.transfers, spool_dir=spool)
    return Agent("transfers", config.transfers.interval, loop.step)


def rule_expiry_agent(db: Database, config: TransferConfig) -> Agent:
    """Deletes rules whose lifetime ended, in short batches (Rucio's judge-cleaner)."""

    def run_once(now: datetime) -> int:
        return db.write_until_short(lambda conn, limit: rules.expire_rules(conn, now, limit), 10_000)

    return Agent("rule_expiry", max(config.interval, 30.0), run_once)
