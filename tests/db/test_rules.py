"""Replication rules on both back ends: what add_rule creates, refuses (writing nothing), reuses, and
what delete_rule leaves behind."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from pandawms.agents.transfers import rule_expiry_agent
from pandawms.config import TransferConfig
from pandawms.core.data import DID, DIDType
from pandawms.core.errors import InvalidInput, NotFound
from pandawms.core.states import ReplicaStatus, RuleStatus, TransferStatus
from pandawms.db import replicas as replicas_db
from pandawms.db import rules as rules_db
from pandawms.db import transfers as transfers_db
from pandawms.db.engine import Database
from pandawms.services import catalog, rules
from tests.conftest import FrozenClock
from tests.db.transfer_helpers import DATASET, SCOPE, world


def _state(db: Database) -> tuple[int, int, dict[tuple[DID, str], ReplicaStatus]]:
    """(rules, transfer requests, every replica's status): what a refused call must leave unchanged."""
    with db.read() as conn:
        n_rules = len(rules_db.list_rules(conn, None, None, None, 0, 10_000))
        n_requests = len(transfers_db.list_transfers(conn, None, None, None, 0, 10_000))
        files = rules_db.files_of(conn, DATASET)
        reps = replicas_db.of_files(conn, [f.did for f in files])
    return n_rules, n_requests, {(r.did, r.rse): r.status for r in reps}


def test_rule_on_a_dataset_queues_one_request_per_missing_file(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 5, write_files=False)
    with db.write() as conn:
        rule = rules.add_rule(conn, DATASET, "DST", clock(), lifetime=timedelta(hours=1), account="alice")
    assert rule.status is RuleStatus.REPLICATING
    assert (rule.files_ok, rule.files_replicating, rule.files_stuck) == (0, 5, 0)
    assert rule.expires_at == clock() + timedelta(hours=1) and rule.account == "alice"
    with db.read() as conn:
        reqs = transfers_db.requests_of_rule(conn, rule.id)
        reps = replicas_db.existing(conn, [(f.did, "DST") for f in files])
        assert rules.get_rule(conn, rule.id) == rule
        assert rules.rules_of(conn, DATASET) == [rule]
    assert sorted(r.did for r in reqs) == [f.did for f in files]
    assert {r.status for r in reqs} == {TransferStatus.QUEUED}
    assert {r.status for r in reps.values()} == {ReplicaStatus.COPYING} and len(reps) == 5


def test_rule_with_nothing_to_copy_is_ok_at_once(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    files = world(db, clock(), tmp_path, 3, write_files=False)
    with db.write() as conn:
        on_dataset = rules.add_rule(conn, DATASET, "SRC", clock())
        on_file = rules.add_rule(conn, files[0].did, "SRC", clock())
    assert on_dataset.status is RuleStatus.OK and on_dataset.files_ok == 3
    assert on_file.status is RuleStatus.OK and on_file.files_ok == 1
    with db.read() as conn:
        assert transfers_db.list_transfers(conn, None, None, None, 0, 100) == []


@pytest.mark.parametrize(
    ("did", "rse", "error", "field"),
    [
        (DATASET, "NOWHERE", InvalidInput, "rse"),
        (DATASET, "RO", InvalidInput, "rse"),
        (DID(SCOPE, "no.such.dataset"), "DST", NotFound, ""),
    ],
)
def test_refused_rules_write_nothing(
    db: Database, clock: FrozenClock, tmp_path: Path, did: DID, rse: str, error: type[Exception], field: str
) -> None:
    world(db, clock(), tmp_path, 3, write_files=False)
    before = _state(db)
    with pytest.raises(error) as info, db.write() as conn:
        rules.add_rule(conn, did, rse, clock())
    if field:
        assert getattr(info.value, "field", None) == field and rse in str(info.value)
    assert _state(db) == before


def test_bad_lifetime_is_refused_by_name(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    world(db, clock(), tmp_path, 1, write_files=False)
    before = _state(db)
    with pytest.raises(InvalidInput, match="lifetime"), db.write() as conn:
        rules.add_rule(conn, DATASET, "DST", clock(), lifetime=timedelta(0))
    assert _state(db) == before


def test_a_second_rule_reuses_the_active_request(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    files = world(db, clock(), tmp_path, 4, write_files=False)
    with db.write() as conn:
        first = rules.add_rule(conn, DATASET, "DST", clock())
        second = rules.add_rule(conn, files[0].did, "DST", clock())
        third = rules.add_rule(conn, DATASET, "DST", clock())
    with db.read() as conn:
        assert len(transfers_db.requests_of_rule(conn, first.id)) == 4
        assert transfers_db.requests_of_rule(conn, second.id) == []
        assert transfers_db.requests_of_rule(conn, third.id) == []
        statuses = rules.statuses(conn, [first.id, second.id, third.id, 999])
    assert second.files_replicating == 1 and third.files_replicating == 4
    assert statuses == dict.fromkeys([first.id, second.id, third.id], RuleStatus.REPLICATING)


def test_a_rule_on_a_container_covers_its_datasets_files(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 3, write_files=False)
    box = DID(SCOPE, "box.001")
    with db.write() as conn:
        catalog.add_dids(conn, [(box, DIDType.CONTAINER)], clock())
        catalog.attach(conn, box, [DATASET], clock())
        rule = rules.add_rule(conn, box, "DST", clock())
    with db.read() as conn:
        reqs = transfers_db.requests_of_rule(conn, rule.id)
        covering = rules_db.covering_rules(conn, files[1].did, "DST")
    assert sorted(r.did for r in reqs) == [f.did for f in files]
    assert [r.id for r in covering] == [rule.id]


def test_delete_rule_drops_queued_requests_or_hands_them_on(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 3, write_files=False)
    with db.write() as conn:
        first = rules.add_rule(conn, DATASET, "DST", clock())
        heir = rules.add_rule(conn, files[0].did, "DST", clock())
        rules.delete_rule(conn, first.id, clock())
    with db.read() as conn:
        with pytest.raises(NotFound):
            rules.get_rule(conn, first.id)
        left = transfers_db.list_transfers(conn, None, None, None, 0, 100)
        reps = replicas_db.existing(conn, [(f.did, "DST") for f in files])
    assert [(r.rule_id, r.did) for r in left] == [(heir.id, files[0].did)]
    assert reps[(files[0].did, "DST")].status is ReplicaStatus.COPYING
    assert {reps[(f.did, "DST")].status for f in files[1:]} == {ReplicaStatus.UNAVAILABLE}
    with db.write() as conn:  # a new rule copies the dropped files again
        again = rules.add_rule(conn, DATASET, "DST", clock())
        assert len(transfers_db.requests_of_rule(conn, again.id)) == 2
        assert replicas_db.existing(conn, [(files[1].did, "DST")])[(files[1].did, "DST")].status is (
            ReplicaStatus.COPYING
        )


def test_list_rules_pages_by_id(db: Database, clock: FrozenClock, tmp_path: Path) -> None:
    files = world(db, clock(), tmp_path, 5, write_files=False)
    with db.write() as conn:
        made = [rules.add_rule(conn, f.did, "DST", clock()).id for f in files]
    seen: list[int] = []
    after: int | None = 0
    with db.read() as conn:
        while after is not None:
            page, after = rules.list_rules(conn, rse="DST", after=after, limit=2)
            seen += [r.id for r in page]
        with pytest.raises(InvalidInput, match="limit"):
            rules.list_rules(conn, limit=0)
    assert seen == made


def test_expired_rules_are_deleted_by_the_expiry_agent(
    db: Database, clock: FrozenClock, tmp_path: Path
) -> None:
    files = world(db, clock(), tmp_path, 2, write_files=False)
    with db.write() as conn:
        short = rules.add_rule(conn, files[0].did, "DST", clock(), lifetime=timedelta(seconds=30))
        forever = rules.add_rule(conn, files[1].did, "DST", clock())
    agent = rule_expiry_agent(db, TransferConfig())
    assert agent.run_once(clock.advance(seconds=29)) == 0
    assert agent.run_once(clock.advance(seconds=1)) == 1
    with db.read() as conn:
        assert [r.id for r in rules.list_rules(conn)[0]] == [forever.id]
        assert transfers_db.requests_of_rule(conn, short.id) == []
