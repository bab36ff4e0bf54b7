"""The rule and transfer routes on both back ends: answers in Rucio's names, and bad input refused
with a 4xx naming the field while nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.db.catalog_helpers import add_files, add_rse, fails, files, setup
from tests.db.helpers import API, ok

DS = "user.alice:data.001"


@pytest.fixture
def world(client: TestClient) -> TestClient:
    setup(client, "user.alice", "data.001")
    add_rse(client, "SRC_DISK", "A")
    add_rse(client, "DST_DISK", "B")
    add_rse(client, "RO_DISK", "B", availability_write=False)
    ok(add_files(client, DS, files("user.alice", 3), rse="SRC_DISK"))
    return client


def nothing_written(client: TestClient) -> None:
    assert ok(client.get(f"{API}/rule/list"))["items"] == []
    assert ok(client.get(f"{API}/transfer/list"))["items"] == []
    reps = ok(client.get(f"{API}/replica/list", params={"did": DS}))["items"]
    assert {(r["rse"], r["state"]) for r in reps} == {("SRC_DISK", "available")}


def test_rule_add_list_get_and_transfers(world: TestClient) -> None:
    rule = ok(world.post(f"{API}/rule/add", json={"did": DS, "rse": "DST_DISK", "lifetime": 60}))
    assert (rule["state"], rule["locks_replicating_cnt"], rule["locks_ok_cnt"]) == ("replicating", 3, 0)
    assert rule["expires_at"] is not None
    assert ok(world.get(f"{API}/rule/get", params={"id": rule["id"]})) == rule
    assert [r["id"] for r in ok(world.get(f"{API}/rule/list", params={"did": DS}))["items"]] == [rule["id"]]
    page = ok(world.get(f"{API}/transfer/list", params={"rule_id": rule["id"], "limit": 2}))
    rest = ok(world.get(f"{API}/transfer/list", params={"rule_id": rule["id"], "after": page["next"]}))
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next"] is None
    assert {t["state"] for t in page["items"] + rest["items"]} == {"queued"}
    (pair,) = ok(world.get(f"{API}/transfer/summary"))
    assert (pair["source_rse"], pair["dest_rse"], pair["queued"], pair["done"]) == ("", "DST_DISK", 3, 0)
    gone = ok(world.post(f"{API}/rule/delete", json={"id": rule["id"]}))
    assert gone["id"] == rule["id"]
    fails(world.get(f"{API}/rule/get", params={"id": rule["id"]}), 404, f"no rule {rule['id']}")
    assert ok(world.get(f"{API}/transfer/list"))["items"] == []


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"did": DS, "rse": "NOWHERE"}, 400, "unknown RSE 'NOWHERE' in rse"),
        ({"did": DS, "rse": "RO_DISK"}, 400, "RSE RO_DISK is not available for writing"),
        ({"did": "user.alice:nothing", "rse": "DST_DISK"}, 404, "no file, dataset or container"),
        ({"did": "no-colon", "rse": "DST_DISK"}, 422, "did"),
        ({"did": DS, "rse": "DST_DISK", "lifetime": 0}, 422, "lifetime"),
        ({"did": DS, "rse": "DST_DISK", "extra": 1}, 422, "extra"),
    ],
)
def test_bad_rules_are_refused_and_write_nothing(
    world: TestClient, body: dict[str, Any], status: int, message: str
) -> None:
    fails(world.post(f"{API}/rule/add", json=body), status, message)
    nothing_written(world)


@pytest.mark.parametrize(
    ("method", "path", "args", "status", "message"),
    [
        ("get", "/rule/get", {"id": 0}, 422, "id"),
        ("get", "/rule/get", {"id": 999}, 404, "no rule 999"),
        ("post", "/rule/delete", {"id": 999}, 404, "no rule 999"),
        ("post", "/rule/delete", {"id": "x"}, 422, "id"),
        ("get", "/transfer/list", {"rule_id": 999}, 404, "no rule 999"),
        ("get", "/transfer/list", {"state": "lost"}, 422, "state"),
        ("get", "/rule/list", {"state": "lost"}, 422, "state"),
        ("get", "/rule/list", {"did": "no-colon"}, 400, "did"),
    ],
)
def test_bad_ids_and_filters_name_the_field(
    world: TestClient, method: str, path: str, args: dict[str, Any], status: int, message: str
) -> None:
    url = f"{API}{path}"
    resp = world.get(url, params=args) if method == "get" else world.post(url, json=args)
    fails(resp, status, message)
    nothing_written(world)


def test_declare_bad(world: TestClient) -> None:
    file = "user.alice:f.000000.root"
    for replicas, status, message in [
        ([{"did": file, "rse": "NOWHERE"}], 400, "unknown RSE 'NOWHERE'"),
        ([{"did": file, "rse": "DST_DISK"}], 404, "no replica of"),
        (
            [{"did": file, "rse": "SRC_DISK"}, {"did": "user.alice:f.999.root", "rse": "SRC_DISK"}],
            404,
            "no file",
        ),
    ]:
        fails(
            world.post(f"{API}/replica/declare_bad", json={"replicas": replicas, "reason": "x"}),
            status,
            message,
        )
        nothing_written(world)  # the first replica of the refused call is not bad either
    (out,) = ok(
        world.post(
            f"{API}/replica/declare_bad",
            json={"replicas": [{"did": file, "rse": "SRC_DISK"}], "reason": "corrupt"},
        )
    )
    assert (out["outcome"], out["state"], out["recopy_request"]) == ("accepted", "bad", None)
