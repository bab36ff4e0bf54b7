"""acquire_jobs tells the pilot where each catalog file is read and written (turl, ddmEndPoint), on
SQLite and PostgreSQL: the replica at the queue's RSE, else a nearby one, and nothing outside the catalog."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.db.catalog_helpers import add_files, add_rse, files, setup
from tests.db.helpers import API, acquire, ok, submit

SCOPE = "user.alice"
DS = f"{SCOPE}:data.001"


def _queue(client: TestClient, name: str, site: str, rse: str) -> None:
    ok(
        client.post(
            f"{API}/queue/upsert",
            json={"name": name, "site": site, "ddm_input": rse, "ddm_output": rse},
        )
    )


def _world(client: TestClient) -> list[dict[str, Any]]:
    """Files 0-1 at A_DISK (site A) and B_DISK (site B), file 2 only at B_DISK, file 3 only at far C."""
    setup(client, SCOPE, "data.001")
    for rse, site in (("A_DISK", "A"), ("B_DISK", "B"), ("C_DISK", "C")):
        add_rse(client, rse, site)
    entries = files(SCOPE, 4)
    ok(add_files(client, DS, entries[:2], rse="A_DISK"))
    ok(add_files(client, DS, entries[2:3], rse="B_DISK"))
    ok(add_files(client, DS, entries[3:], rse="C_DISK"))
    lfns = [f"{SCOPE}:{e['name']}" for e in entries[:2]]
    ok(client.post(f"{API}/replica/add", json={"rse": "B_DISK", "files": lfns}))
    ok(client.post(f"{API}/rse/set_distances", json={"distances": {"A": {"B": 1, "C": 5}}}))
    _queue(client, "QA", "A", "A_DISK")
    return entries


def _job_files(entries: list[dict[str, Any]], *, scope: str = SCOPE) -> list[dict[str, Any]]:
    """The job's files; without a scope the datasets are bare names too (no catalog DID at all)."""
    ds, out = (DS, f"{SCOPE}:out.001") if scope else ("data.001", "out.001")
    inputs = [
        {
            **{"lfn": e["name"], "type": "input", "scope": scope, "dataset": ds},
            **{"GUID": e["guid"], "fsize": e["bytes"], "checksum": f"ad:{e['adler32']}"},
        }
        for e in entries
    ]
    return [
        *inputs,
        {"lfn": "out.001.root", "type": "output", "scope": scope, "dataset": out},
        {"lfn": "job.log.tgz", "type": "log", "scope": scope, "dataset": out},
    ]


def test_inputs_get_the_replica_at_the_queue_rse_else_a_nearby_one(client: TestClient) -> None:
    # given files at the queue's RSE and at a nearby RSE only (a far-only input would make the job wait in
    # assigned for a copy: tests/db/test_follow_data.py)
    entries = _world(client)[:3]
    submit(client, computingSite="QA", files=_job_files(entries))
    # when a pilot of QA takes the job
    [job] = acquire(client, "QA")
    got = {f["lfn"]: (f["turl"], f["ddmEndPoint"]) for f in job["files"]}
    # then each input is read from the queue's RSE where it is there, else from the nearby one
    names = [e["name"] for e in entries]
    assert got[names[0]] == (f"file:///storage/A_DISK/{SCOPE}/{names[0]}", "A_DISK")
    assert got[names[1]] == (f"file:///storage/A_DISK/{SCOPE}/{names[1]}", "A_DISK")
    assert got[names[2]] == (f"file:///storage/B_DISK/{SCOPE}/{names[2]}", "B_DISK")
    # and outputs and the log are written at the queue's output RSE
    assert got["out.001.root"] == (f"file:///storage/A_DISK/{SCOPE}/out.001.root", "A_DISK")
    assert got["job.log.tgz"] == (f"file:///storage/A_DISK/{SCOPE}/job.log.tgz", "A_DISK")
    # and the legacy comma-joined lists follow the files
    assert job["ddmEndPointIn"] == "A_DISK,A_DISK,B_DISK"
    assert job["ddmEndPointOut"] == "A_DISK,A_DISK" and job["scopeOut"] == SCOPE and job["scopeLog"] == SCOPE
    assert job["inFiles"] == ",".join(names) and job["GUID"] == ",".join(e["guid"] for e in entries)
    assert job["fsize"] == ",".join(str(e["bytes"]) for e in entries)
    assert job["checksum"] == ",".join(f"ad:{e['adler32']}" for e in entries)
    assert job["scopeIn"] == ",".join([SCOPE] * 3) and job["realDatasetsIn"] == ",".join([DS] * 3)


def test_an_unreadable_rse_is_not_handed_out(client: TestClient) -> None:
    # given a job whose one input is only at nearby B_DISK, and B_DISK closed for reading
    entries = _world(client)
    add_rse(client, "B_DISK", "B", availability_read=False)
    [pid] = [j["PandaID"] for j in submit(client, computingSite="QA", files=_job_files(entries[2:3]))]
    # then no pilot is given the job to read it there: it is not dispatchable until its input is readable
    assert acquire(client, "QA") == []
    status = ok(client.get(f"{API}/job/get_description", params={"job_id": pid}))["job"]["jobStatus"]
    assert status != "activated", status


def test_files_without_a_scope_keep_the_storage_directory(client: TestClient) -> None:
    entries = _world(client)
    submit(client, computingSite="QA", files=_job_files(entries[:1], scope=""))
    [job] = acquire(client, "QA")
    assert {(f["turl"], f["ddmEndPoint"]) for f in job["files"]} == {("", "")}
    assert job["ddmEndPointIn"] == "" and job["ddmEndPointOut"] == ""


def test_inputs_without_metadata_get_the_catalogs_guid_size_and_adler32(client: TestClient) -> None:
    # given a job whose input rows name only the LFN (and one row with its own checksum)
    entries = _world(client)
    rows = [{"lfn": e["name"], "type": "input", "scope": SCOPE, "dataset": DS} for e in entries[:2]]
    rows[1]["checksum"] = "ad:0000beef"
    submit(client, computingSite="QA", files=rows)
    # when a pilot takes it
    [job] = acquire(client, "QA")
    # then the description carries the catalog's metadata where the row had none, the row's otherwise
    first, second = job["files"]
    assert (first["GUID"], first["fsize"], first["checksum"]) == (
        entries[0]["guid"],
        entries[0]["bytes"],
        f"ad:{entries[0]['adler32']}",
    )
    assert second["checksum"] == "ad:0000beef" and second["fsize"] == entries[1]["bytes"]
    assert job["GUID"] == f"{entries[0]['guid']},{entries[1]['guid']}"
