"""Catalog API on both back ends: scopes, datasets/containers, bulk file registration (10k per call, all or
nothing), keyset pages, close/freeze/delete rules and their refusals."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from pandawms.core.data import DID, FileDID
from pandawms.core.errors import Transient
from pandawms.db import catalog as catalog_db
from pandawms.db.engine import Database
from tests.db.catalog_helpers import add_files, add_rse, contents, fails, file_entry, files, info, setup
from tests.db.helpers import API, ok

DS = "user.alice:data.001"


def test_scopes_and_datasets_are_created_once(client: TestClient) -> None:
    setup(client, "user.alice", "data.001")
    again = ok(client.post(f"{API}/scope/add", json={"scope": "user.alice"}))
    assert again["created"] is False
    done = ok(client.post(f"{API}/did/add", json={"dids": [{"scope": "user.alice", "name": "data.001"}]}))
    assert done == [{"did": DS, "created": False}]
    got = info(client, DS)
    assert (got["type"], got["state"], got["length"], got["bytes"]) == ("dataset", "open", 0, 0)
    assert ok(client.get(f"{API}/scope/list")) == [
        {"scope": "user.alice", "account": "alice", "created": False}
    ]


def test_bad_dids_are_refused_naming_the_problem(client: TestClient) -> None:
    setup(client, "user.alice", "data.001")
    unknown = {"dids": [{"scope": "user.alice", "name": "ok.1"}, {"scope": "nobody", "name": "x"}]}
    fails(client.post(f"{API}/did/add", json=unknown), 400, "unknown scope(s): nobody")
    fails(client.get(f"{API}/did/get", params={"did": "user.alice:ok.1"}), 404, "no dataset or container")
    clash = {"dids": [{"scope": "user.alice", "name": "data.001", "type": "container"}]}
    fails(client.post(f"{API}/did/add", json=clash), 400, "exist with another type: user.alice:data.001")
    bad_name = {"dids": [{"scope": "user.alice", "name": "a/b"}]}
    fails(client.post(f"{API}/did/add", json=bad_name), 400, "bad name 'a/b'")
    fails(client.get(f"{API}/did/get", params={"did": "nocolon"}), 400, "expected scope:name")
    fails(client.post(f"{API}/scope/add", json={"scope": "a b"}), 400, "bad scope 'a b'")


def test_bulk_registration_of_10k_files_in_one_call(client: TestClient, backend: str) -> None:
    setup(client, "user.alice", "data.001")
    add_rse(client, "LOCAL_DISK", "LOCAL")
    entries = files("user.alice", 10_000)
    started = time.perf_counter()
    done = ok(add_files(client, DS, entries, rse="LOCAL_DISK"))
    took = time.perf_counter() - started
    print(f"\n[{backend}] registered 10,000 files + replicas in {took:.2f} s: {10_000 / took:,.0f} files/s")
    assert done == {"dataset": DS, "added": 10_000, "existing": 0, "attached": 10_000, "replicas": 10_000}
    got = info(client, DS)
    assert got["length"] == 10_000
    assert got["bytes"] == sum(e["bytes"] for e in entries)
    repeat = ok(add_files(client, DS, entries, rse="LOCAL_DISK"))  # same metadata: a no-op
    assert repeat == {"dataset": DS, "added": 0, "existing": 10_000, "attached": 0, "replicas": 0}
    spoiled = [*files("user.alice", 9_999, prefix="g"), {**entries[-1], "bytes": 1}]  # the last one conflicts
    fails(
        add_files(client, DS, spoiled, rse="LOCAL_DISK"),
        400,
        "f.009999.root is already registered with another bytes",
    )
    assert info(client, DS)["length"] == 10_000  # none of the 9,999 new files went in
    too_many = files("user.alice", 10_001, prefix="g")
    fails(add_files(client, DS, too_many), 422, "files: List should have at most 10000 items")


def test_keyset_pages_walk_every_file_once_in_order(client: TestClient) -> None:
    setup(client, "user.alice", "data.001")
    ok(add_files(client, DS, files("user.alice", 2_500)))
    ok(client.post(f"{API}/scope/add", json={"scope": "mc23"}))
    ok(add_files(client, DS, files("mc23", 3)))
    got = contents(client, DS, limit=1000)
    keys = [(c["scope"], c["name"]) for c in got]
    assert len(keys) == 2_503 and keys == sorted(set(keys))
    first = got[0]
    assert first == {**file_entry("mc23", 0), "type": "file"}
    page = ok(client.get(f"{API}/did/list_contents", params={"did": DS, "limit": 2503}))
    assert page["next"] is None and len(page["items"]) == 2_503
    fails(client.get(f"{API}/did/list_contents", params={"did": DS, "limit": 0}), 422, "limit")


def test_same_lfn_with_another_checksum_is_refused_and_changes_nothing(client: TestClient) -> None:
    setup(client, "user.alice", "data.001", "data.002")
    ok(add_files(client, DS, files("user.alice", 10)))
    changed = [*files("user.alice", 5, start=100), {**file_entry("user.alice", 3), "adler32": "deadbeef"}]
    fails(
        add_files(client, "user.alice:data.002", changed),
        400,
        "user.alice:f.000003.root is already registered with another adler32",
    )
    assert info(client, "user.alice:data.002")["length"] == 0  # the 5 new files were not registered either
    reuse = ok(add_files(client, "user.alice:data.002", files("user.alice", 5, start=100)))
    assert reuse["added"] == 5  # they were not half-written by the refused call
    stolen = {**file_entry("user.alice", 200), "guid": file_entry("user.alice", 1)["guid"]}
    fails(add_files(client, DS, [stolen]), 400, "already belongs to user.alice:f.000001.root")
    twice = [file_entry("user.alice", 300), {**file_entry("user.alice", 300), "bytes": 1}]
    fails(add_files(client, DS, twice), 400, "user.alice:f.000300.root is given twice with different bytes")
    bad = [{**file_entry("user.alice", 400), "adler32": "xyz12345"}]
    fails(add_files(client, DS, bad), 400, "bad adler32 of user.alice:f.000400.root")
    assert info(client, DS)["length"] == 10


def test_unknown_or_unwritable_rse_changes_nothing(client: TestClient) -> None:
    setup(client, "user.alice", "data.001")
    fails(add_files(client, DS, files("user.alice", 3), rse="NOWHERE"), 400, "unknown RSE(s) in rse: NOWHERE")
    add_rse(client, "RO_DISK", "LOCAL", availability_write=False)
    fails(
        add_files(client, DS, files("user.alice", 3), rse="RO_DISK"),
        409,
        "RO_DISK is not available for writing",
    )
    assert info(client, DS)["length"] == 0
    unknown_scope = files("nobody", 1)
    fails(add_files(client, DS, unknown_scope), 400, "unknown scope(s): nobody")


def test_close_and_freeze_follow_the_table(client: TestClient) -> None:
    setup(client, "user.alice", "data.001", "data.002")
    ok(add_files(client, DS, files("user.alice", 2)))
    closed = ok(client.post(f"{API}/did/close", json={"dids": [DS, DS, "user.alice:missing"]}))
    assert [(c["outcome"], c["state"]) for c in closed] == [
        ("accepted", "closed"),
        ("noop", "closed"),
        ("rejected", ""),
    ]
    assert closed[2]["reason"] == "no dataset or container user.alice:missing"
    fails(
        add_files(client, DS, files("user.alice", 1, start=50)), 409, "dataset user.alice:data.001 is closed"
    )
    frozen = ok(client.post(f"{API}/did/freeze", json={"dids": [DS]}))
    assert frozen[0]["outcome"] == "accepted" and info(client, DS)["state"] == "frozen"
    again = ok(client.post(f"{API}/did/close", json={"dids": [DS]}))
    assert again[0] == {
        "did": DS,
        "outcome": "rejected",
        "state": "frozen",
        "reason": "dataset user.alice:data.001 is frozen: it cannot become closed",
    }
    detach = {"did": DS, "children": ["user.alice:f.000000.root"]}
    fails(client.post(f"{API}/did/detach", json=detach), 409, "is frozen: its contents cannot change")


def test_delete_refuses_non_empty_frozen_and_fixed_parents(client: TestClient) -> None:
    setup(client, "user.alice", "data.001", "empty.1", "empty.2", "cold.1")
    setup(client, "user.bob", "cont.1", "cont.2", kind="container")
    ok(add_files(client, DS, files("user.alice", 2)))
    ok(client.post(f"{API}/did/freeze", json={"dids": ["user.alice:cold.1"]}))
    attach = {"did": "user.bob:cont.1", "children": ["user.alice:empty.1"]}
    assert ok(client.post(f"{API}/did/attach", json=attach))["changed"] == 1
    ok(client.post(f"{API}/did/attach", json={"did": "user.bob:cont.2", "children": ["user.alice:empty.2"]}))
    ok(client.post(f"{API}/did/close", json={"dids": ["user.bob:cont.2"]}))
    dids = [DS, "user.alice:cold.1", "user.alice:empty.1", "user.alice:empty.2", "user.alice:nope"]
    out = {d["did"]: d for d in ok(client.post(f"{API}/did/delete", json={"dids": dids}))}
    assert (
        out[DS]["reason"]
        == "dataset user.alice:data.001 is not empty (2 attached): detach its contents first"
    )
    assert out["user.alice:cold.1"]["reason"] == "dataset user.alice:cold.1 is frozen: it is never deleted"
    assert out["user.alice:empty.1"] == {
        "did": "user.alice:empty.1",
        "outcome": "accepted",
        "state": "deleted",
        "reason": "",
    }
    assert out["user.alice:empty.2"]["reason"] == "user.alice:empty.2 is in closed container user.bob:cont.2"
    assert out["user.alice:nope"]["outcome"] == "rejected"
    assert info(client, "user.bob:cont.1")["length"] == 0  # its attachment went with it
    fails(client.get(f"{API}/did/get", params={"did": "user.alice:empty.1"}), 404, "no dataset or container")
    assert info(client, DS)["length"] == 2


def test_containers_hold_datasets_and_detach_frees_a_dataset(client: TestClient) -> None:
    setup(client, "user.alice", "data.001", "data.002")
    setup(client, "user.bob", "cont.1", kind="container")
    ok(add_files(client, DS, files("user.alice", 1)))
    body = {"did": "user.bob:cont.1", "children": [DS, "user.alice:data.002", DS]}
    assert ok(client.post(f"{API}/did/attach", json=body))["changed"] == 2
    assert ok(client.post(f"{API}/did/attach", json=body))["changed"] == 0
    kids = contents(client, "user.bob:cont.1")
    assert [(k["name"], k["type"], k["bytes"]) for k in kids] == [
        ("data.001", "dataset", None),
        ("data.002", "dataset", None),
    ]
    a_file = {"did": "user.bob:cont.1", "children": ["user.alice:f.000000.root"]}
    fails(
        client.post(f"{API}/did/attach", json=a_file),
        400,
        "a container holds datasets; not one: user.alice:f.000000.root",
    )
    into_dataset = {"did": DS, "children": ["user.alice:data.002"]}
    fails(client.post(f"{API}/did/attach", json=into_dataset), 400, "a dataset holds registered files")
    out = ok(client.post(f"{API}/did/detach", json={"did": "user.bob:cont.1", "children": [DS]}))
    assert out["changed"] == 1 and info(client, "user.bob:cont.1")["length"] == 1
    fails(
        add_files(client, "user.bob:cont.1", files("user.alice", 1)),
        400,
        "is a container: files go into datasets",
    )
    page = ok(client.get(f"{API}/did/list", params={"scope": "user.alice", "limit": 1}))
    assert page == {
        "items": [{"scope": "user.alice", "name": "data.001", "type": "dataset", "state": "open"}],
        "next": "data.001",
    }
    rest = ok(client.get(f"{API}/did/list", params={"scope": "user.alice", "after": "data.001"}))
    assert [d["name"] for d in rest["items"]] == ["data.002"] and rest["next"] is None


def test_a_row_inserted_concurrently_is_transient_not_a_500(db: Database) -> None:
    # The services check before they insert; only a racing transaction can hit the key (PostgreSQL).
    did = DID("user.alice", "f.1")
    now = datetime(2026, 1, 1)
    with db.write() as conn:
        catalog_db.insert_files(
            conn, [FileDID(did, "6f1c3b1e-8d1c-4c4e-9a52-0b0f3c2a9e11", 1, "00000001")], now
        )
    with (
        pytest.raises(Transient, match="files: a row was registered concurrently, retry"),
        db.write() as conn,
    ):
        catalog_db.insert_files(
            conn, [FileDID(did, "7f1c3b1e-8d1c-4c4e-9a52-0b0f3c2a9e11", 1, "00000001")], now
        )
    with db.read() as conn:
        assert catalog_db.get_files(conn, [did])[did].guid.startswith("6f1c")
