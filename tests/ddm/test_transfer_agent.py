"""The transfer agent on real storage: rules between file://, root:// and s3:// RSEs on their real servers
(third-party within a protocol, streamed across), and a corrupted root:// replica found by the
consistency check, marked bad and copied again."""

from __future__ import annotations

import random
import zlib
from datetime import datetime
from pathlib import Path

import pytest

from pandawms.agents.consistency import verify_replicas
from pandawms.agents.transfers import TransferAgent
from pandawms.config import TransferConfig
from pandawms.core.checksums import FileStat, adler32_of
from pandawms.core.data import DIDType, RSESpec
from pandawms.core.states import ReplicaStatus, RuleStatus
from pandawms.core.transfers import TransferMethod
from pandawms.db import replicas as replicas_db
from pandawms.db import transfers as transfers_db
from pandawms.db.engine import Database
from pandawms.ddm.base import ChecksumMismatch
from pandawms.ddm.copy import copy
from pandawms.ddm.registry import BackendRegistry
from pandawms.services import catalog, rses, rules
from tests.db.transfer_helpers import DATASET, SCOPE, file_did, payload
from tests.ddm.conftest import Store, make_store

NOW = datetime(2026, 1, 1, 12)
PAIRS = [("file", "root"), ("root", "file"), ("root", "root"), ("file", "s3"), ("s3", "root")]
N = 4


def _register(db: Database, src: Store, dst: Store, tmp_path: Path) -> None:
    """SRC and DST RSEs at the stores' prefixes; N files uploaded to SRC and registered there."""
    specs = [
        RSESpec("SRC", "A", src.prefix.rstrip("/")),
        RSESpec("DST", "B", dst.prefix.rstrip("/")),
    ]
    entries = [file_did(i, 50_000) for i in range(N)]
    for i, f in enumerate(entries):
        local = tmp_path / f.did.name
        local.write_bytes(payload(i, 50_000))
        src.backend.upload(local, specs[0].url(f"{f.did.scope}/{f.did.name}"))
    with db.write() as conn:
        rses.sync(conn, specs, {}, NOW)
        catalog.add_scope(conn, SCOPE, "alice", NOW)
        catalog.add_dids(conn, [(DATASET, DIDType.DATASET)], NOW)
        catalog.add_files(conn, DATASET, entries, "SRC", NOW)


def _agent(db: Database, registry: BackendRegistry) -> TransferAgent:
    return TransferAgent(db, registry, TransferConfig(concurrency=3), clock=lambda: NOW, rng=random.Random(3))


@pytest.mark.parametrize(("src_kind", "dst_kind"), PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def test_a_rule_copies_between_real_storages(
    src_kind: str,
    dst_kind: str,
    sqlite_db: Database,
    registry: BackendRegistry,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    src, dst = make_store(src_kind, request), make_store(dst_kind, request)
    _register(sqlite_db, src, dst, tmp_path)
    with sqlite_db.write() as conn:
        rule = rules.add_rule(conn, DATASET, "DST", NOW)
    agent = _agent(sqlite_db, registry)
    try:
        assert agent.run_once(NOW) == N
    finally:
        agent.close()
    with sqlite_db.read() as conn:
        assert rules.get_rule(conn, rule.id).status is RuleStatus.OK
        done = transfers_db.requests_of_rule(conn, rule.id)
    expected = TransferMethod.THIRD_PARTY if src_kind == dst_kind else TransferMethod.STREAMED
    assert {t.method for t in done} == {expected.value}
    assert dst.names() == [f"{SCOPE}/f.{i:06d}.root" for i in range(N)]  # no temporary names left
    for i in range(N):
        stat = dst.backend.stat(dst.url(f"{SCOPE}/f.{i:06d}.root"))
        assert (stat.size, str(stat.adler32)) == (50_000, f"{zlib.adler32(payload(i, 50_000)):08x}")


def test_a_corrupted_xrootd_replica_is_marked_bad_and_copied_again(
    sqlite_db: Database, registry: BackendRegistry, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    src, dst = make_store("file", request), make_store("root", request)
    _register(sqlite_db, src, dst, tmp_path)
    with sqlite_db.write() as conn:
        rule = rules.add_rule(conn, DATASET, "DST", NOW)
    agent = _agent(sqlite_db, registry)
    try:
        agent.run_once(NOW)
        victim = file_did(1, 50_000).did
        dst.corrupt(dst.url(f"{SCOPE}/{victim.name}"), b"bit rot" * 100)
        (bad,) = verify_replicas(sqlite_db, registry, "DST", clock=lambda: NOW)
        assert bad.did == victim and bad.problem.startswith("corrupt:") and bad.recopy_request is not None
        with sqlite_db.read() as conn:
            assert rules.get_rule(conn, rule.id).status is RuleStatus.REPLICATING
        assert agent.run_once(NOW) == 1
    finally:
        agent.close()
    assert verify_replicas(sqlite_db, registry, "DST", clock=lambda: NOW) == []
    with sqlite_db.read() as conn:
        assert rules.get_rule(conn, rule.id).status is RuleStatus.OK
        row = replicas_db.existing(conn, [(victim, "DST")])[(victim, "DST")]
    assert row.status is ReplicaStatus.AVAILABLE
    assert dst.backend.stat(dst.url(f"{SCOPE}/{victim.name}")).size == 50_000


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_copy_against_the_catalog_refuses_a_wrong_source_and_leaves_nothing(
    kind: str, registry: BackendRegistry, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    src, dst = make_store("file", request), make_store(kind, request)
    (tmp_path / "in").write_bytes(payload(1, 50_000))
    src.backend.upload(tmp_path / "in", src.url("in.dat"))
    right = FileStat(50_000, adler32_of(payload(1, 50_000)))
    done = copy(registry, src.url("in.dat"), dst.url("ok.dat"), expected=right)
    assert done.stat == right and dst.backend.stat(dst.url("ok.dat")) == right
    wrong = FileStat(50_000, adler32_of(payload(2, 50_000)))
    with pytest.raises(ChecksumMismatch):
        copy(registry, src.url("in.dat"), dst.url("bad.dat"), expected=wrong)
    assert dst.names() == ["ok.dat"]
