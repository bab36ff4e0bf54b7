"""Contract cases of the catalog routes (tests/db/test_openapi_contract.py): each call gets valid input in
a small catalog world (a scope, an RSE, datasets with files and replicas, a container) built on first use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from fastapi.testclient import TestClient

from tests.db.catalog_helpers import add_files, add_rse, files, setup
from tests.db.helpers import API, ok

DS = "cat.world:data.001"
FILE = "cat.world:f.000000.root"


def _world(client: TestClient) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    if getattr(state, "catalog_world", False):
        return
    setup(client, "cat.world", "data.001", "to.close", "to.freeze", "to.delete", "to.detach")
    setup(client, "cat.world", "cont.1", kind="container")
    add_rse(client, "WORLD_DISK", "WORLD")
    add_rse(client, "OTHER_DISK", "OTHER")
    ok(add_files(client, DS, files("cat.world", 3), rse="WORLD_DISK"))
    ok(add_files(client, "cat.world:to.detach", files("cat.world", 1)))
    state.catalog_world = True


def _get(path: str, **params: Any) -> Callable[[TestClient, object], httpx.Response]:
    def call(client: TestClient, _world_: object) -> httpx.Response:
        _world(client)
        resp: httpx.Response = client.get(f"{API}{path}", params=params)
        return resp

    return call


def _post(path: str, body: dict[str, Any]) -> Callable[[TestClient, object], httpx.Response]:
    def call(client: TestClient, _world_: object) -> httpx.Response:
        _world(client)
        resp: httpx.Response = client.post(f"{API}{path}", json=body)
        return resp

    return call


def _cases() -> dict[tuple[str, str], Callable[[TestClient, object], httpx.Response]]:
    new_file = files("cat.world", 1, start=50)
    rse = {"name": "API_DISK", "site": "API", "prefix": "s3://bucket/api", "kind": "object_store"}
    calls = {
        ("POST", "/scope/add"): _post("/scope/add", {"scope": "cat.other", "account": "bob"}),
        ("GET", "/scope/list"): _get("/scope/list"),
        ("POST", "/did/add"): _post("/did/add", {"dids": [{"scope": "cat.world", "name": "new.1"}]}),
        ("GET", "/did/get"): _get("/did/get", did=DS),
        ("GET", "/did/list"): _get("/did/list", scope="cat.world", limit=2),
        ("POST", "/did/add_files"): _post(
            "/did/add_files", {"dataset": DS, "files": new_file, "rse": "WORLD_DISK"}
        ),
        ("POST", "/did/attach"): _post("/did/attach", {"did": "cat.world:cont.1", "children": [DS]}),
        ("POST", "/did/detach"): _post("/did/detach", {"did": "cat.world:to.detach", "children": [FILE]}),
        ("GET", "/did/list_contents"): _get("/did/list_contents", did=DS, limit=2),
        ("POST", "/did/close"): _post("/did/close", {"dids": ["cat.world:to.close", "cat.world:nope"]}),
        ("POST", "/did/freeze"): _post("/did/freeze", {"dids": ["cat.world:to.freeze"]}),
        ("POST", "/did/delete"): _post("/did/delete", {"dids": ["cat.world:to.delete", DS]}),
        ("GET", "/rse/list"): _get("/rse/list"),
        ("POST", "/rse/upsert"): _post("/rse/upsert", {"rses": [rse]}),
        ("GET", "/rse/distances"): _get("/rse/distances"),
        ("POST", "/rse/set_distances"): _post("/rse/set_distances", {"distances": {"WORLD": {"OTHER": 1}}}),
        ("GET", "/replica/list"): _get("/replica/list", did=DS, limit=2),
        ("POST", "/replica/add"): _post(
            "/replica/add", {"rse": "OTHER_DISK", "files": [FILE], "state": "copying"}
        ),
        ("GET", "/did/get_files"): _get("/did/get_files", dids=[FILE, "cat.world:nope.root"]),
        ("POST", "/replica/add_files"): _post(
            "/replica/add_files", {"rse": "OTHER_DISK", "files": files("cat.world", 1, start=60)}
        ),
    }
    calls |= _transfer_cases()
    return {(method, f"{API}{path}"): call for (method, path), call in calls.items()}


def _new_rule(client: TestClient) -> int:
    """A rule DS -> OTHER_DISK (its files are at WORLD_DISK only): replicating, with queued requests."""
    _world(client)
    rule: dict[str, Any] = ok(client.post(f"{API}/rule/add", json={"did": DS, "rse": "OTHER_DISK"}))
    return int(rule["id"])


def _transfer_cases() -> dict[tuple[str, str], Callable[[TestClient, object], httpx.Response]]:
    def get_rule(client: TestClient, _w: object) -> httpx.Response:
        resp: httpx.Response = client.get(f"{API}/rule/get", params={"id": _new_rule(client)})
        return resp

    def delete_rule(client: TestClient, _w: object) -> httpx.Response:
        resp: httpx.Response = client.post(f"{API}/rule/delete", json={"id": _new_rule(client)})
        return resp

    def list_transfers(client: TestClient, _w: object) -> httpx.Response:
        resp: httpx.Response = client.get(
            f"{API}/transfer/list", params={"rule_id": _new_rule(client), "limit": 2}
        )
        return resp

    bad = {"replicas": [{"did": "cat.world:f.000001.root", "rse": "WORLD_DISK"}], "reason": "corrupt"}
    return {
        ("POST", "/rule/add"): _post("/rule/add", {"did": DS, "rse": "OTHER_DISK", "lifetime": 3600}),
        ("GET", "/rule/get"): get_rule,
        ("GET", "/rule/list"): _get("/rule/list", limit=2),
        ("POST", "/rule/delete"): delete_rule,
        ("GET", "/transfer/list"): list_transfers,
        ("GET", "/transfer/summary"): _get("/transfer/summary"),
        ("POST", "/replica/declare_bad"): _post("/replica/declare_bad", bad),
    }


DATA_CASES = _cases()


def _monitor_page(url: str) -> Callable[[TestClient, object], httpx.Response]:
    def call(client: TestClient, _world_: object) -> httpx.Response:
        _world(client)
        resp: httpx.Response = client.get(url, params={"json": ""})
        return resp

    return call


# the monitor's data pages (JSON twins) over the same world
DATA_CASES.update(
    {
        ("GET", "/datasets/"): _monitor_page("/datasets/"),
        ("GET", "/dataset/{did}/"): _monitor_page(f"/dataset/{DS}/"),
        ("GET", "/rses/"): _monitor_page("/rses/"),
        ("GET", "/rse/{name}/"): _monitor_page("/rse/WORLD_DISK/"),
    }
)
