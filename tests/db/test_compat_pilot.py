"""PanDA's legacy pilot API (server/compat_pilot.py) over real SQLite and PostgreSQL: pilot3's encodings
(JSON, gzip without Content-Encoding, form values as text), its flat replies, and bad input refused with
a 4xx naming the field and nothing stored."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from fastapi.testclient import TestClient

from pandawms.db.engine import Database
from pandawms.protocol.legacy_queuedata import rucio_path
from tests.conftest import FrozenClock
from tests.db.helpers import API, describe, ok, status_of, submit
from tests.db.security_helpers import Secure, secure_server, snapshot

P = "/server/panda"
JSON = {"Accept": "application/json"}
FILES = [
    {"lfn": "in.txt", "type": "input"},
    {"lfn": "out.txt", "type": "output"},
    {"lfn": "log.tgz", "type": "log"},
]


def _form(client: TestClient, method: str, data: dict[str, str], **headers: str) -> Any:
    return client.post(f"{P}/{method}", data=data, headers={**JSON, **headers})


def _get_job(client: TestClient, **fields: str) -> dict[str, Any]:
    resp = _form(client, "getJob", {"siteName": "SMALL", **fields})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _running(client: TestClient) -> int:
    [j] = submit(client, computingSite="SMALL", files=FILES)
    job = _get_job(client, mem="2000.5", diskSpace="10000")
    assert job["PandaID"] == j["PandaID"]
    return int(j["PandaID"])


def test_get_job_answers_a_flat_job_for_form_json_and_headerless_gzip(client: TestClient) -> None:
    # given three jobs for SMALL
    submit(client, 3, computingSite="SMALL", files=FILES)
    # when pilot3 asks with form values as text (curl), with JSON, and with gzip JSON without the header
    form = _get_job(client, mem="2000.5", diskSpace="24105.06", cpu="2400.0", allowOtherCountry="False")
    body = json.dumps({"siteName": "SMALL", "mem": 2000, "node": "wn1"}).encode()
    as_json = client.post(f"{P}/getJob", content=body, headers={**JSON, "Content-Type": "application/json"})
    zipped = client.post(
        f"{P}/getJob", content=gzip.compress(body), headers={**JSON, "Content-Type": "application/json"}
    )
    # then each gets one job as PanDA's flat dict, the file lists comma-joined
    jobs = [form, ok_legacy(as_json), ok_legacy(zipped)]
    assert len({j["PandaID"] for j in jobs}) == 3
    for job in jobs:
        assert job["StatusCode"] == 0 and job["transformation"] == "/bin/echo" and job["jobPars"] == "hello"
        assert (
            job["inFiles"] == "in.txt"
            and job["outFiles"] == "out.txt,log.tgz"
            and job["logFile"] == "log.tgz"
        )
        assert job["logGUID"] and job["taskID"] == "NULL" and job["attemptNr"] == 1
        assert status_of(client, job["PandaID"]) == "sent"


def ok_legacy(resp: Any) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_get_job_without_a_job_is_status_code_20_and_urlencoded_without_accept_json(
    client: TestClient,
) -> None:
    resp = client.post(f"{P}/getJob", data={"siteName": "SMALL"})
    assert resp.status_code == 200
    reply = dict(parse_qsl(resp.text))
    assert reply["StatusCode"] == "20" and "no jobs" in reply["errorDialog"]


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"siteName": "SMALL", "mem": "lots"}, "mem"),
        ({"siteName": "SMALL", "diskSpace": "-5"}, "diskSpace"),
        ({"mem": "100"}, "siteName"),
        ({"siteName": "NOPE"}, "site_name"),
    ],
)
def test_bad_get_job_is_a_4xx_naming_the_field_and_hands_out_nothing(
    client: TestClient, fields: dict[str, str], named: str
) -> None:
    [j] = submit(client, computingSite="SMALL")
    resp = _form(client, "getJob", fields)
    assert 400 <= resp.status_code < 500, resp.text
    assert resp.json()["StatusCode"] == 50 and named in resp.json()["errorDialog"]
    assert status_of(client, j["PandaID"]) == "activated"


def test_update_job_takes_text_values_epoch_times_and_the_output_json(client: TestClient) -> None:
    pid = _running(client)
    beat = {"jobId": str(pid), "state": "running", "attemptNr": "1", "startTime": "1767268800.25"}
    reply = ok_legacy(_form(client, "updateJob", {**beat, "xml": "", "maxRSS": "2048.0", "coreCount": "1"}))
    assert reply == {"StatusCode": 0, "command": "NULL"}
    job = describe(client, pid)["job"]
    assert (
        job["jobStatus"] == "running"
        and job["maxRSS"] == 2048
        and job["startTime"].startswith("2026-01-01T12")
    )
    xml = {"out.txt": {"guid": "", "fsize": 12, "adler32": "0a0b0c0d", "surl": "file:///x/out.txt"}}
    final = {"jobId": str(pid), "state": "finished", "xml": json.dumps(xml), "transExitCode": "0"}
    final |= {"pilotErrorCode": "0", "endTime": "1767268900.5", "pilotLog": "tail", "metaData": "{}"}
    assert ok_legacy(_form(client, "updateJob", final))["StatusCode"] == 0
    job = describe(client, pid)["job"]
    out = {f["lfn"]: f for f in job["files"]}["out.txt"]
    assert job["jobStatus"] == "finished" and out["fsize"] == 12 and out["checksum"] == "ad:0a0b0c0d"
    assert out["GUID"]  # derived: pilot3's generic plugin sends none


def test_a_bad_heartbeat_is_a_4xx_and_writes_nothing(client: TestClient, db: Database) -> None:
    pid = _running(client)
    before = snapshot(db)
    for bad, named in (
        ({"maxRSS": "big"}, "maxRSS"),
        ({"jobId": "abc"}, "jobId"),
        ({"state": "closed"}, "state"),
    ):
        fields = {"jobId": str(pid), "state": "running", **bad}
        resp = _form(client, "updateJob", fields)
        assert resp.status_code == 400 and named in resp.json()["errorDialog"], resp.text
    gz = client.post(f"{P}/updateJob", content=gzip.compress(b"{not json"), headers=JSON)
    assert gz.status_code == 400 and "JSON" in gz.json()["errorDialog"]
    assert snapshot(db) == before


def test_a_final_update_is_taken_as_sent_and_names_what_it_left_out(client: TestClient) -> None:
    pid = _running(client)
    fields = {"jobId": str(pid), "state": "failed", "pilotErrorCode": "1305", "maxRSS": "n/a"}
    fields |= {"pilotErrorDiag": "x" * 10_000}
    reply = ok_legacy(_form(client, "updateJob", fields))
    assert reply["StatusCode"] == 0 and "maxRSS" in reply["errorDialog"]
    job = describe(client, pid)["job"]
    assert job["jobStatus"] == "failed" and job["maxRSS"] is None
    assert any(e["code"] == 1305 for e in job["errors"])


def test_a_server_kill_reaches_the_pilot_as_tobekilled(client: TestClient) -> None:
    pid = _running(client)
    ok(client.post(f"{API}/job/kill", json={"job_ids": [pid]}))
    reply = ok_legacy(_form(client, "updateJob", {"jobId": str(pid), "state": "running"}))
    assert reply["command"] == "tobekilled"
    ok_legacy(_form(client, "updateJob", {"jobId": str(pid), "state": "failed", "pilotErrorCode": "1144"}))
    assert status_of(client, pid) == "cancelled"


def test_get_status_and_the_calls_pandawms_does_not_serve(client: TestClient) -> None:
    pid = _running(client)
    assert ok_legacy(_form(client, "getStatus", {"ids": str(pid)})) == {
        "StatusCode": 0,
        "status": "sent",
        "attemptNr": 1,
    }
    for method in ("getEventRanges", "updateEventRanges"):
        reply = ok_legacy(_form(client, method, {"pandaID": str(pid), "jobsetID": "1"}))
        assert reply["StatusCode"] == 30 and "Event Service is not supported" in reply["errorDialog"]
    for method in ("getProxy", "getKeyPair", "get_access_token", "setDebugMode"):
        reply = ok_legacy(_form(client, method, {"role": "pilot"}))
        assert reply["StatusCode"] == 30 and method in reply["errorDialog"]
    types = ok_legacy(_form(client, "getResourceTypes", {}))
    assert {t["resource_name"] for t in types["ResourceTypes"]} >= {"SCORE", "MCORE"}
    node = client.post(f"{API}/pilot/update_worker_node", json={"site": "SMALL", "host_name": "wn1"})
    assert node.status_code == 200 and node.json()["success"] is False


def test_queue_and_storage_descriptions_for_pilot3(client: TestClient) -> None:
    rse = {"name": "LOCAL_DISK", "site": "S", "prefix": "file:///data/rse"}
    ok(client.post(f"{API}/rse/upsert", json={"rses": [rse]}))
    queue = {"name": "P3", "site": "S", "ddm_input": "LOCAL_DISK", "ddm_output": "LOCAL_DISK"}
    ok(client.post(f"{API}/queue/upsert", json=queue))
    qd = client.get("/cache/schedconfig/P3.all.json").json()
    assert qd["name"] == qd["panda_resource"] == "P3" and qd["state"] == "ACTIVE"
    assert qd["copytools"] == {"mv": {"setup": ""}} and qd["catchall"] == "mv_final_destination"
    assert qd["astorages"]["pw"] == ["LOCAL_DISK"]
    assert client.get("/cache/schedconfig/P3.json").json() == {"P3": qd}
    ddm = client.get("/cache/ddmendpoints.json").json()["LOCAL_DISK"]
    assert ddm["arprotocols"]["write_lan"][0] | {"id": 0} == {
        "endpoint": "file://localhost",
        "path": "/data/rse",
        "flavour": "FILE",
        "id": 0,
    }
    missing = client.get("/cache/schedconfig/NOPE.all.json")
    assert missing.status_code == 404 and "NOPE" in missing.json()["error"]


def test_rucio_path_is_pilot3s_layout() -> None:
    # the example of pilot3's copytool_definitions.get_path
    path = rucio_path("user.jwebb2", "user.jwebb2.66999._000001.top1outDS.tar")
    assert path == "user/jwebb2/01/9f/user.jwebb2.66999._000001.top1outDS.tar"


@pytest.fixture
def secure(db: Database, clock: FrozenClock, tmp_path: Path) -> Iterator[Secure]:
    yield from secure_server(db, clock, tmp_path)


def test_with_auth_the_legacy_calls_need_a_pilot_token_for_its_queue(secure: Secure) -> None:
    c = secure.client
    ok(c.post(f"{API}/job/submit", json={"jobs": [{"transformation": "t", "computingSite": "SMALL"}]},
              headers=secure.headers("production")))  # fmt: skip
    assert c.post(f"{P}/getJob", data={"siteName": "SMALL"}).status_code == 401
    assert (
        c.post(f"{P}/getJob", data={"siteName": "SMALL"}, headers=secure.headers("alice")).status_code == 403
    )
    other = c.post(f"{P}/getJob", data={"siteName": "BIG"}, headers={**JSON, **secure.headers("pilot")})
    assert other.status_code == 403 and other.json()["StatusCode"] == 60
    pilot = {**JSON, **secure.headers("pilot"), "Origin": "atlas.pilot"}
    job = ok_legacy(c.post(f"{P}/getJob", data={"siteName": "SMALL"}, headers=pilot))
    assert job["StatusCode"] == 0
    assert c.get("/cache/schedconfig/SMALL.all.json").status_code == 200  # public, like PanDA's cache
    node = {"site": "SMALL", "host_name": "wn1"}
    assert c.post(f"{API}/pilot/update_worker_node", json=node).status_code == 401
    assert c.post(f"{API}/pilot/update_worker_node", json=node, headers=pilot).status_code == 200
