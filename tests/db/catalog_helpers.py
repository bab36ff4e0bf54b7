"""Catalog helpers for API tests: make files with valid metadata, create scopes/datasets/RSEs over the API."""

from __future__ import annotations

import uuid
import zlib
from typing import Any

from fastapi.testclient import TestClient

from tests.db.helpers import API, ok


def file_entry(scope: str, i: int, prefix: str = "f") -> dict[str, Any]:
    """A file DID with a deterministic GUID (from the LFN) and the adler32 of its name."""
    name = f"{prefix}.{i:06d}.root"
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}:{name}"))
    return {
        "scope": scope,
        "name": name,
        "bytes": 1000 + i,
        "adler32": f"{zlib.adler32(name.encode()):08x}",
        "guid": guid,
        "events": 10,
    }


def files(scope: str, n: int, start: int = 0, prefix: str = "f") -> list[dict[str, Any]]:
    return [file_entry(scope, i, prefix) for i in range(start, start + n)]


def add_rse(client: TestClient, name: str, site: str, **kw: Any) -> None:
    rse = {"name": name, "site": site, "prefix": f"file:///storage/{name}", **kw}
    ok(client.post(f"{API}/rse/upsert", json={"rses": [rse]}))


def setup(client: TestClient, scope: str = "user.alice", *datasets: str, kind: str = "dataset") -> None:
    ok(client.post(f"{API}/scope/add", json={"scope": scope, "account": "alice"}))
    if datasets:
        dids = [{"scope": scope, "name": n, "type": kind} for n in datasets]
        ok(client.post(f"{API}/did/add", json={"dids": dids}))


def add_files(client: TestClient, dataset: str, entries: list[dict[str, Any]], rse: str | None = None) -> Any:
    return client.post(f"{API}/did/add_files", json={"dataset": dataset, "files": entries, "rse": rse})


def info(client: TestClient, did: str) -> dict[str, Any]:
    data: dict[str, Any] = ok(client.get(f"{API}/did/get", params={"did": did}))
    return data


def contents(client: TestClient, did: str, limit: int = 1000) -> list[dict[str, Any]]:
    """Every child, walking the keyset pages."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params: dict[str, Any] = {"did": did, "limit": limit, **({"after": after} if after else {})}
        page = ok(client.get(f"{API}/did/list_contents", params=params))
        out += page["items"]
        after = page["next"]
        if after is None:
            return out


def fails(resp: Any, status: int, message: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["success"] is False and message in body["message"], body
