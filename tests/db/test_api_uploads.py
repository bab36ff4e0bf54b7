"""/did/get_files and /replica/add_files (what panda upload/download call) on both back ends: metadata by
DID, files registered with their replica outside any dataset, and bad input that writes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.db.catalog_helpers import add_rse, files, setup
from tests.db.helpers import API, ok

SCOPE = "user.alice"


def _add(client: TestClient, rse: str, entries: list[dict[str, Any]]) -> Any:
    return client.post(f"{API}/replica/add_files", json={"rse": rse, "files": entries})


def _get(client: TestClient, *dids: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = ok(client.get(f"{API}/did/get_files", params={"dids": list(dids)}))
    return data


def test_register_files_with_replicas_and_read_them_back(client: TestClient) -> None:
    setup(client, SCOPE)
    add_rse(client, "DISK", "A")
    entries = files(SCOPE, 3)
    done = ok(_add(client, "DISK", entries))
    assert (done["added"], done["existing"], done["replicas"]) == (3, 0, 3)
    got = _get(client, *(f"{SCOPE}:{e['name']}" for e in entries), f"{SCOPE}:unknown.root")
    assert [(g["name"], g["bytes"], g["adler32"], g["guid"]) for g in got] == [
        (e["name"], e["bytes"], e["adler32"], e["guid"]) for e in entries
    ]
    reps = ok(client.get(f"{API}/replica/list", params={"did": f"{SCOPE}:{entries[0]['name']}"}))
    assert [(r["rse"], r["state"]) for r in reps["items"]] == [("DISK", "available")]
    again = ok(_add(client, "DISK", entries))
    assert (again["added"], again["existing"], again["replicas"]) == (0, 3, 0)


def test_bad_registrations_write_nothing(client: TestClient) -> None:
    setup(client, SCOPE)
    add_rse(client, "DISK", "A")
    add_rse(client, "RO", "A", availability_write=False)
    [first] = files(SCOPE, 1)
    ok(_add(client, "DISK", [first]))
    changed = {**first, "adler32": "0000beef"}
    fresh = files(SCOPE, 1, start=5)
    cases = [
        ("DISK", [changed, *fresh], 400, "already registered with another adler32"),
        ("NOPE", fresh, 400, "unknown RSE(s) in rse: NOPE"),
        ("RO", fresh, 409, "not available for writing"),
        ("DISK", files("no.such.scope", 1), 400, "unknown scope(s): no.such.scope"),
    ]
    for rse, entries, status, text in cases:
        resp = _add(client, rse, entries)
        assert resp.status_code == status and text in resp.text, resp.text
    assert _get(client, f"{SCOPE}:{fresh[0]['name']}") == []
    bad = client.get(f"{API}/did/get_files", params={"dids": ["no-colon"]})
    assert bad.status_code == 400 and "expected scope:name" in bad.text
