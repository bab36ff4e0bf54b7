"""Gzip request bodies on every route (fast path and FastAPI routes), as PanDA's pilots send them."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pandawms.server.bodies import MAX_DECODED_BODY, BodyError, gunzip
from tests.db.helpers import API, acquire, ok, status_of, submit

JSON = {"Content-Type": "application/json"}
GZ = {**JSON, "Content-Encoding": "gzip"}


def gz(payload: Any) -> bytes:
    return gzip.compress(json.dumps(payload).encode())


def test_gzip_update_job_with_the_header_is_decoded(client: TestClient) -> None:
    # given a dispatched job
    [j] = submit(client, computingSite="SMALL")
    acquire(client, "SMALL")
    # when the pilot reports with a gzip body, as PanDA's pilot does
    body = gz({"job_id": j["PandaID"], "job_status": "running"})
    data = ok(client.post(f"{API}/pilot/update_job", content=body, headers=GZ))
    # then the update is applied
    assert data["jobStatus"] == "running" and status_of(client, j["PandaID"]) == "running"


def test_gzip_without_the_header_is_sniffed_by_its_magic_bytes(client: TestClient) -> None:
    [j] = submit(client, computingSite="SMALL")
    body = gz({"site_name": "SMALL", "n_jobs": 1})
    data = ok(client.post(f"{API}/pilot/acquire_jobs", content=body, headers=JSON))
    assert [pj["PandaID"] for pj in data["jobs"]] == [j["PandaID"]]


def test_gzip_reaches_the_fastapi_routes_too(client: TestClient) -> None:
    # submit and kill are plain FastAPI routes, not the pilot fast path
    job = {"transformation": "/bin/echo", "computingSite": "SMALL"}
    [sub] = ok(client.post(f"{API}/job/submit", content=gz({"jobs": [job]}), headers=GZ))
    kill = {"job_ids": [sub["PandaID"]]}
    [res] = ok(
        client.post(f"{API}/job/kill", content=gz(kill), headers={**JSON, "Content-Encoding": "x-gzip"})
    )
    assert res["outcome"] == "done" and status_of(client, sub["PandaID"]) == "cancelled"


def test_plain_bodies_are_untouched(client: TestClient) -> None:
    submit(client, computingSite="SMALL")
    assert len(acquire(client, "SMALL")) == 1


def test_gzip_bomb_gets_413_naming_the_limit(client: TestClient) -> None:
    bomb = gzip.compress(b" " * (MAX_DECODED_BODY + 1), compresslevel=1)
    assert len(bomb) < 1024 * 1024  # small on the wire
    for headers in (GZ, JSON):  # declared and sniffed
        r = client.post(f"{API}/pilot/update_job", content=bomb, headers=headers)
        assert r.status_code == 413, r.text
        assert r.json()["success"] is False and str(MAX_DECODED_BODY) in r.json()["message"]


def test_corrupt_gzip_gets_400_naming_it(client: TestClient) -> None:
    good = gz({"site_name": "SMALL"})
    for bad in (good[:-6], good[:12] + b"\x00garbage" + good[20:], b"\x1f\x8bnot gzip at all"):
        r = client.post(f"{API}/pilot/acquire_jobs", content=bad, headers=GZ)
        assert r.status_code == 400, r.text
        assert "corrupt gzip" in r.json()["message"]
    r = client.post(f"{API}/job/submit", content=b"plain, not gzip", headers=GZ)
    assert r.status_code == 400 and "corrupt gzip" in r.json()["message"]


def test_unsupported_content_encoding_gets_415(client: TestClient) -> None:
    r = client.post(f"{API}/pilot/acquire_jobs", content=b"{}", headers={**JSON, "Content-Encoding": "br"})
    assert r.status_code == 415 and "'br'" in r.json()["message"]


def test_log_tarball_upload_is_stored_as_sent_not_decoded(client: TestClient) -> None:
    # a log tarball starts with the gzip magic bytes but is the payload itself, not an encoding
    [j] = submit(client, computingSite="SMALL")
    tarball = gzip.compress(b"pilot log contents\n" * 100)
    params = {"job_id": j["PandaID"], "filename": "log.tgz"}
    raw = {"Content-Type": "application/octet-stream"}
    stored = ok(client.post(f"{API}/file_server/upload_log", params=params, content=tarball, headers=raw))
    assert stored["size"] == len(tarball)
    got = client.get(f"{API}/file_server/download_log", params={"job_id": j["PandaID"]})
    assert got.status_code == 200 and got.content == tarball
    # with Content-Encoding: gzip over it, the encoding is removed and the tarball stored
    twice = gzip.compress(tarball)
    stored = ok(
        client.post(f"{API}/file_server/upload_log", params=params, content=twice, headers={**raw, **GZ})
    )
    assert stored["size"] == len(tarball)


def test_gunzip_reads_concatenated_members_and_bounds_the_total() -> None:
    data = gzip.compress(b"a" * 10) + gzip.compress(b"b" * 10)
    assert gunzip(data) == b"a" * 10 + b"b" * 10
    with pytest.raises(BodyError, match="more than 15 bytes") as info:
        gunzip(data, limit=15)
    assert info.value.status == 413
    assert gunzip(b"") == b""
