"""Catalog value objects and tables: DID parsing, file metadata, RSE specs, distances, dataset and replica
state machines (every pair of states is either listed allowed or refused)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest

from pandawms.core.data import (
    DID,
    NEARBY_DISTANCE,
    FileDID,
    RSEKind,
    RSESpec,
    adler32_hex,
    distance,
    nearby,
    nearby_rses,
    parse_did,
    replica_path,
)
from pandawms.core.errors import InvalidInput
from pandawms.core.states import (
    DATASET_DELETABLE,
    DATASET_MUTABLE,
    DATASET_TRANSITIONS,
    REPLICA_TRANSITIONS,
    DatasetStatus,
    ReplicaStatus,
    dataset_allowed,
    replica_allowed,
)
from pandawms.protocol.rses import parse_rse_file

GUID = "6f1c3b1e-8d1c-4c4e-9a52-0b0f3c2a9e11"


@pytest.mark.parametrize(
    ("text", "scope", "name"),
    [
        ("user.alice:data.001", "user.alice", "data.001"),
        ("mc23:EVNT.123_tid0001._000001.pool.root.1", "mc23", "EVNT.123_tid0001._000001.pool.root.1"),
        ("s:a:b", None, None),  # a name may not hold ':'
    ],
)
def test_parse_did(text: str, scope: str | None, name: str | None) -> None:
    if scope is None:
        with pytest.raises(InvalidInput, match="bad name 'a:b'"):
            parse_did(text)
        return
    did = parse_did(text)
    assert (did.scope, did.name) == (scope, name)
    assert str(did) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("noscope", "bad DID 'noscope' in did: expected scope:name"),
        (":name", "expected scope:name"),
        ("scope:", "expected scope:name"),
        ("a" * 26 + ":x", "bad scope"),
        ("user alice:x", "bad scope 'user alice'"),
        ("user:.hidden", "bad name '.hidden' in scope 'user'"),
        ("user:" + "n" * 251, "up to 250"),
        ("user:x/y", "bad name 'x/y'"),
    ],
)
def test_bad_dids_name_the_part_that_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_did(text)


def test_file_metadata_is_normalised_and_validated() -> None:
    f = FileDID(DID("user", "f.1"), GUID.upper(), 10, "AD:0A0B0C0D", 5)
    assert (f.guid, f.adler32) == (GUID, "0a0b0c0d")
    assert f.differs(FileDID(DID("user", "f.1"), GUID, 10, "0a0b0c0d", 99)) == []  # events are not identity
    assert f.differs(FileDID(DID("user", "f.1"), GUID, 11, "0a0b0c0e")) == ["bytes", "adler32"]
    did = DID("user", "f.1")
    cases: list[tuple[Callable[[], FileDID], str]] = [
        (
            lambda: FileDID(did, GUID, 1, "0a0b0c0g"),
            "bad adler32 of user:f.1 '0a0b0c0g': expected 8 hex digits",
        ),
        (lambda: FileDID(did, GUID, 1, "123456789"), "bad adler32"),
        (lambda: FileDID(did, "nope", 1, "00000001"), "bad guid of user:f.1 'nope': expected a UUID"),
        (lambda: FileDID(did, GUID, -1, "00000001"), "bad bytes of user:f.1: -1 < 0"),
        (lambda: FileDID(did, GUID, 1, "00000001", -2), "bad events of user:f.1: -2 < 0"),
    ]
    for make, message in cases:
        with pytest.raises(InvalidInput, match=message):
            make()
    assert adler32_hex("ad:FFFFFFFF") == "ffffffff"
    # one parser with storage (core.checksums): a short form is zero-padded, XRootD's prefix is read
    assert adler32_hex("123") == adler32_hex("adler32:00000123") == "00000123"


def test_rse_spec_validation_and_urls() -> None:
    rse = RSESpec("CERN-PROD_DATADISK", "CERN-PROD", "root://eos.example//atlas/", RSEKind.DISK)
    did = DID("mc23", "f.root")
    assert rse.url(replica_path(did)) == "root://eos.example//atlas/mc23/f.root"
    for kwargs, message in (
        ({"name": "lower_disk"}, "bad RSE name 'lower_disk'"),
        ({"site": "a b"}, "bad site 'a b' of RSE X"),
        ({"prefix": "/no/scheme"}, "bad prefix '/no/scheme' of RSE X: expected a URL"),
        ({"total_bytes": -1}, "RSE X: space must be >= 0"),
    ):
        args = {"name": "X", "site": "S", "prefix": "file:///d", **kwargs}
        with pytest.raises(InvalidInput, match=message):
            RSESpec(**args)  # type: ignore[arg-type]


DIST = {"CERN": {"BNL": 1, "NDGF": 3}, "TRIUMF": {"BNL": 1}}


@pytest.mark.parametrize(
    ("src", "dst", "d", "near"),
    [
        ("CERN", "CERN", 0, True),
        ("CERN", "BNL", 1, True),
        ("BNL", "CERN", 1, True),  # either direction counts
        ("CERN", "NDGF", 3, False),
        ("NDGF", "TRIUMF", None, False),  # unknown = far
        ("TRIUMF", "CERN", None, False),  # not transitive
    ],
)
def test_distance_and_nearby(src: str, dst: str, d: int | None, near: bool) -> None:
    assert distance(DIST, src, dst) == d
    assert nearby(DIST, src, dst) is near
    assert nearby(DIST, "CERN", "NDGF", limit=3)


def test_nearby_rses_closest_first_and_only_readable() -> None:
    rses = [
        RSESpec("BNL_DISK", "BNL", "file:///b"),
        RSESpec("CERN_TAPE", "CERN", "file:///t", RSEKind.TAPE),
        RSESpec("CERN_DISK", "CERN", "file:///c"),
        RSESpec("CERN_OFF", "CERN", "file:///o", availability_read=False),
        RSESpec("NDGF_DISK", "NDGF", "file:///n"),
    ]
    got = [(d, r.name) for d, r in nearby_rses(rses, DIST, "CERN")]
    assert got == [(0, "CERN_DISK"), (0, "CERN_TAPE"), (NEARBY_DISTANCE, "BNL_DISK")]


D = DatasetStatus
DATASET_ALLOWED = {(D.OPEN, D.CLOSED), (D.OPEN, D.FROZEN), (D.CLOSED, D.FROZEN), (D.CLOSED, D.OPEN)}
R = ReplicaStatus
REPLICA_ALLOWED = {
    (R.COPYING, R.AVAILABLE),
    (R.COPYING, R.UNAVAILABLE),
    (R.COPYING, R.BAD),
    (R.AVAILABLE, R.UNAVAILABLE),
    (R.AVAILABLE, R.BAD),
    (R.UNAVAILABLE, R.AVAILABLE),
    (R.UNAVAILABLE, R.COPYING),
    (R.UNAVAILABLE, R.BAD),
    (R.BAD, R.COPYING),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(DatasetStatus, DatasetStatus)))
def test_dataset_table(current: DatasetStatus, target: DatasetStatus) -> None:
    assert dataset_allowed(current, target) is ((current, target) in DATASET_ALLOWED)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(ReplicaStatus, ReplicaStatus)))
def test_replica_table(current: ReplicaStatus, target: ReplicaStatus) -> None:
    assert replica_allowed(current, target) is ((current, target) in REPLICA_ALLOWED)


def test_tables_cover_every_state_and_frozen_is_final() -> None:
    assert set(DATASET_TRANSITIONS) == set(DatasetStatus)
    assert set(REPLICA_TRANSITIONS) == set(ReplicaStatus)
    assert DATASET_TRANSITIONS[D.FROZEN] == frozenset()
    assert {D.OPEN} == DATASET_MUTABLE and D.FROZEN not in DATASET_DELETABLE


def test_rse_file_parses_rses_and_distances(tmp_path: Path) -> None:
    f = tmp_path / "rses.toml"
    f.write_text(
        '[[rse]]\nname = "A_DISK"\nsite = "A"\nprefix = "file:///a"\n'
        '[[rse]]\nname = "B_TAPE"\nsite = "B"\nprefix = "root://b//t"\nkind = "tape"\n'
        "[distances]\nA = { B = 2 }\n"
    )
    parsed = parse_rse_file(f)
    assert [(r.name, r.kind) for r in parsed.rses] == [("A_DISK", RSEKind.DISK), ("B_TAPE", RSEKind.TAPE)]
    assert parsed.distances == {"A": {"B": 2}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[rse]]\nname = "a"\nsite = "A"\nprefix = "file:///a"\n',
            r"rse #1 \(a\): rse: Value error, bad RSE name",
        ),
        ('[[rse]]\nname = "A"\nsite = "A"\n', r"rse #1 \(A\): prefix: Field required"),
        (
            '[[rse]]\nname = "A"\nsite = "A"\nprefix = "file:///a"\nkind = "nfs"\n',
            r"rse #1 \(A\): kind: Input",
        ),
        (
            '[[rse]]\nname="A"\nsite="A"\nprefix="file:///a"\n[[rse]]\nname="A"\nsite="B"\nprefix="file:///b"\n',
            "duplicate RSE name",
        ),
        ("[distances]\nA = { B = -1 }\n", r"\[distances\] A.B: Input should be greater than or equal to 0"),
        ("[rse]\n", "'rse' must be an array of tables"),
        ("[sites]\n", "unknown key\\(s\\) sites"),
        ("rse = [", "cannot read RSE file"),
    ],
)
def test_bad_rse_file_names_file_rse_and_field(tmp_path: Path, text: str, message: str) -> None:
    f = tmp_path / "rses.toml"
    f.write_text(text)
    with pytest.raises(ValueError, match=message):
        parse_rse_file(f)
