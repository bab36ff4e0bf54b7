"""The transfer agent and its requests on both back ends, copying for real between file:// RSEs:
claims never overlap, leases expire, failures retry then stick, a file is copied once for two rules,
a corrupt replica is found, declared bad and copied again."""

from __future__ import annotations

import random
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from pandawms.agents.consistency import verify_replicas
from pandawms.agents.transfers import CopyOutcome, TransferAgent
from pandawms.config import TransferConfig
from pandawms.core.data import DID
from pandawms.core.errors import InvalidInput, NotFound
from pandawms.core.states import ReplicaStatus, RuleStatus, TransferStatus
from pandawms.core.transfers import RuleRecord, TransferMethod, TransferRecord
from pandawms.db import replicas as replicas_db
from pandawms.db import transfers as transfers_db
from pandawms.db.engine import Database
from pandawms.ddm.registry import StorageConfig, build_registry
from pandawms.services import rules
from pandawms.services import transfers as transfer_service
from pandawms.services.lifecycle import Outcome
from tests.conftest import FrozenClock
from tests.db.transfer_helpers import DATASET, payload, world

CONFIG = TransferConfig(concurrency=4, batch_size=50, lease_seconds=60, backoff_base=10, backoff_cap=60)
REGISTRY = build_registry(StorageConfig())


@contextmanager
def agent(db: Database, clock: FrozenClock, owner: str = "agent-1") -> Iterator[TransferAgent]:
    worker = TransferAgent(db, REGISTRY, CONFIG, owner=owner, clock=clock, rng=random.Random(7))
    try:
        yield worker
    finally:
        worker.close()


def add_rule(db: Database, did: DID, rse: str, clock: FrozenClock, max_attempts: int = 3) -> RuleRecord:
    with db.write() as conn:
        return rules.add_rule(conn, did, rse, clock(), max_attempts=max_attempts)


def requests(db: Database) -> list[TransferRecord]:
    with db.read() as conn:
        return transfers_db.list_transfers(conn, None, None, None, 0, 10_000)


def replica_status(db: Database, did: DID, rse: str) -> ReplicaStatus:
    with db.read() as conn:
        return replicas_db.existing(conn, [(did, rse)])[(did, rse)].status


def rule(db: Database, rule_id: int) -> RuleRecord:
    with db.read() as conn:
        return rules.get_rule(conn, rule_id)


def test_agent_copies_a_dataset_and_the_rule_becomes_ok(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 6)
    made = add_rule(db, DATASET, "DST", clock)
    with agent(db, clock) as worker:
        assert worker.run_once(clock()) == 6
        assert worker.run_once(clock()) == 0
    done = rule(db, made.id)
    assert done.status is RuleStatus.OK and (done.files_ok, done.files_replicating) == (6, 0)
    for i, f in enumerate(files):
        copied = tmp_path / "DST" / f.did.scope / f.did.name
        assert f"{zlib.adler32(copied.read_bytes()):08x}" == f.adler32 == f"{zlib.adler32(payload(i)):08x}"
        assert replica_status(db, f.did, "DST") is ReplicaStatus.AVAILABLE
    reqs = requests(db)
    assert {(r.status, r.source_rse, r.bytes, r.method) for r in reqs} == {
        (TransferStatus.DONE, "SRC", 2000, TransferMethod.THIRD_PARTY.value)
    }
    assert sorted(p.name for p in (tmp_path / "DST" / "user.alice").iterdir()) == [f.did.name for f in files]


def test_racing_claimers_never_share_a_request(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    files = world(db, clock(), tmp_path, 120, write_files=False)
    for f in files:
        add_rule(db, f.did, "DST", clock)
    got: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def claimer(owner: str) -> None:
        start.wait()
        mine: list[int] = []
        for _ in range(100):  # bounded: 120 requests in claims of 7 need far fewer rounds
            with db.write() as conn:
                batch = transfer_service.claim(conn, owner, clock(), timedelta(minutes=5), 7)
            if not batch:
                break
            mine += [t.request.id for t in batch]
        got[owner] = mine

    threads = [threading.Thread(target=claimer, args=(f"c{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    claimed = [i for ids in got.values() for i in ids]
    assert len(got) == 4 and len(claimed) == len(set(claimed)) == 120
    owners = {r.id: r.lease_owner for r in requests(db)}
    assert all(owners[i] == owner for owner, ids in got.items() for i in ids)


def test_an_expired_lease_makes_the_request_runnable_again(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 1)
    add_rule(db, files[0].did, "DST", clock)
    with db.write() as conn:
        (first,) = transfer_service.claim(conn, "dead-agent", clock(), timedelta(seconds=60), 10)
        assert (
            transfer_service.claim(conn, "other", clock() + timedelta(seconds=59), timedelta(seconds=60), 10)
            == []
        )
    clock.advance(seconds=61)
    with agent(db, clock, "alive-agent") as worker:
        assert worker.run_once(clock()) == 1
    (req,) = requests(db)
    assert (req.status, req.attempt, req.method) == (TransferStatus.DONE, 2, TransferMethod.THIRD_PARTY.value)
    with db.write() as conn:  # the dead agent's late answer is refused, not recorded twice
        late = transfer_service.record_done(
            conn, "dead-agent", first.request.id, "SRC", 2000, "streamed", clock()
        )
    assert late.outcome is Outcome.REJECTED and "alive-agent" not in late.reason


def test_a_rerun_finds_the_file_a_killed_attempt_left_and_copies_nothing(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 1)
    add_rule(db, files[0].did, "DST", clock)
    with db.write() as conn:
        (task,) = transfer_service.claim(conn, "killed", clock(), timedelta(seconds=60), 10)
    with agent(db, clock, "killed") as killed:  # the copy was renamed into place, the agent died then
        assert killed.copy_one(task).failure is None
    clock.advance(seconds=61)
    with agent(db, clock, "restarted") as worker:
        assert worker.run_once(clock()) == 1
    (req,) = requests(db)
    assert (req.status, req.method) == (TransferStatus.DONE, TransferMethod.PRESENT.value)
    assert replica_status(db, files[0].did, "DST") is ReplicaStatus.AVAILABLE


def test_failures_retry_with_backoff_then_the_rule_is_stuck(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 2, write_files=False)  # the source files are missing
    made = add_rule(db, DATASET, "DST", clock, max_attempts=2)
    with agent(db, clock) as worker:
        assert worker.run_once(clock()) == 2
        retrying = requests(db)
        assert {r.status for r in retrying} == {TransferStatus.QUEUED}
        assert all(clock() <= r.next_attempt_at <= clock() + timedelta(seconds=10) for r in retrying)
        assert all("NotFound" in r.last_error for r in retrying)
        assert rule(db, made.id).status is RuleStatus.REPLICATING
        clock.advance(seconds=11)
        assert worker.run_once(clock()) == 2
    stuck = rule(db, made.id)
    assert stuck.status is RuleStatus.STUCK and (stuck.files_stuck, stuck.files_replicating) == (2, 0)
    assert "NotFound" in stuck.error
    assert {r.status for r in requests(db)} == {TransferStatus.FAILED}
    assert {replica_status(db, f.did, "DST") for f in files} == {ReplicaStatus.UNAVAILABLE}
    # a new rule once the source is there copies them again and unsticks the old rule
    for i, f in enumerate(files):
        (tmp_path / "SRC" / f.did.scope).mkdir(parents=True, exist_ok=True)
        (tmp_path / "SRC" / f.did.scope / f.did.name).write_bytes(payload(i))
    again = add_rule(db, DATASET, "DST", clock)
    assert rule(db, made.id).status is RuleStatus.REPLICATING
    with agent(db, clock) as worker:
        worker.run_once(clock())
    assert rule(db, made.id).status is RuleStatus.OK and rule(db, again.id).status is RuleStatus.OK


def test_two_rules_on_one_file_copy_it_once(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    files = world(db, clock(), tmp_path, 3)
    first = add_rule(db, DATASET, "DST", clock)
    second = add_rule(db, files[1].did, "DST", clock)
    with agent(db, clock) as worker:
        assert worker.run_once(clock()) == 3
    assert len(requests(db)) == 3
    assert rule(db, first.id).status is RuleStatus.OK
    ok = rule(db, second.id)
    assert ok.status is RuleStatus.OK and (ok.files_ok, ok.files_replicating) == (1, 0)


def test_a_corrupt_replica_is_detected_marked_bad_and_copied_again(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 3)
    made = add_rule(db, DATASET, "DST", clock)
    with agent(db, clock) as worker:
        worker.run_once(clock())
        broken = tmp_path / "DST" / files[2].did.scope / files[2].did.name
        broken.write_bytes(b"garbage" * 10)
        (tmp_path / "DST" / files[0].did.scope / files[0].did.name).unlink()
        found = verify_replicas(db, REGISTRY, "DST", page=2, clock=clock)
        assert sorted((b.did, b.problem.split(":")[0]) for b in found) == [
            (files[0].did, "missing"),
            (files[2].did, "corrupt"),
        ]
        assert rule(db, made.id).status is RuleStatus.REPLICATING
        assert replica_status(db, files[2].did, "DST") is ReplicaStatus.COPYING
        assert worker.run_once(clock()) == 2
    assert broken.read_bytes() == payload(2)
    assert rule(db, made.id).status is RuleStatus.OK
    assert {replica_status(db, f.did, "DST") for f in files} == {ReplicaStatus.AVAILABLE}
    assert verify_replicas(db, REGISTRY, "DST", clock=clock) == []


def test_a_corrupt_source_is_declared_bad_and_its_copy_not_kept(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 1)
    (tmp_path / "SRC" / files[0].did.scope / files[0].did.name).write_bytes(b"not the file")
    add_rule(db, files[0].did, "DST", clock)
    with agent(db, clock) as worker:
        worker.run_once(clock())
    (req,) = requests(db)
    assert req.status is TransferStatus.QUEUED and "differs from the catalog" in req.last_error
    assert replica_status(db, files[0].did, "SRC") is ReplicaStatus.BAD
    assert not (tmp_path / "DST" / files[0].did.scope / files[0].did.name).exists()


def test_declare_bad_refuses_unknown_names(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    files = world(db, clock(), tmp_path, 1, write_files=False)
    with pytest.raises(InvalidInput, match="rse"), db.write() as conn:
        transfer_service.declare_bad(conn, files[0].did, "NOWHERE", "lost", clock())
    with pytest.raises(NotFound), db.write() as conn:
        transfer_service.declare_bad(conn, files[0].did, "DST", "lost", clock())
    assert replica_status(db, files[0].did, "SRC") is ReplicaStatus.AVAILABLE


def test_a_runner_step_keeps_claiming_as_copies_end(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    files = world(db, clock(), tmp_path, 40)
    made = add_rule(db, DATASET, "DST", clock)
    config = TransferConfig(concurrency=1, batch_size=35, interval=30)  # at most 16 claimed at once
    worker = TransferAgent(db, REGISTRY, config, owner="stepper", clock=clock, rng=random.Random(1))
    try:
        assert worker.step(clock()) == 35  # the cycle's batch, claimed 16 at a time as slots freed
        assert worker.step(clock()) == 5
    finally:
        worker.close()
    assert rule(db, made.id).status is RuleStatus.OK
    assert max(r.attempt for r in requests(db)) == 1 and len(files) == 40


def test_a_long_copy_keeps_its_claim_by_renewing_the_lease(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 1)
    add_rule(db, files[0].did, "DST", clock)
    config = TransferConfig(lease_seconds=60, interval=0.05)
    worker = TransferAgent(db, REGISTRY, config, owner="slow", clock=clock, rng=random.Random(1))
    with db.write() as conn:
        (task,) = transfer_service.claim(conn, "slow", clock(), timedelta(seconds=60), 1)
    running: Future[CopyOutcome] = Future()  # a copy that has not ended yet
    worker._pending[running] = task
    try:
        assert worker.step(clock.advance(seconds=31)) == 0  # past half the lease: renewed, still running
        with db.write() as conn:
            assert (
                transfer_service.claim(conn, "other", clock.advance(seconds=40), timedelta(seconds=60), 1)
                == []
            )
        (req,) = requests(db)
        assert req.lease_owner == "slow" and req.lease_until == clock() - timedelta(seconds=40) + timedelta(
            seconds=60
        )
        running.set_result(CopyOutcome(TransferMethod.STREAMED.value, 2000))
        assert worker.step(clock()) == 1
    finally:
        worker.close()
    (req,) = requests(db)
    assert (req.status, req.attempt) == (TransferStatus.DONE, 1)
