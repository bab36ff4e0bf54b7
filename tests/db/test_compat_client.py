"""panda-client's calls on both back ends (server/compat_client.py): its encodings and PanDA's answers,
bad input a 4xx naming what is wrong with nothing stored, and pandawms's own shapes on the same paths
answered as before."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from pandawms.protocol.legacy_client import FILE_ATTRIBUTES, JOB_ATTRIBUTES
from tests.db.catalog_helpers import fails
from tests.db.helpers import API, acquire, describe, ok, submit, update

JSON_GET = {"Content-Type": "application/json", "Accept": "application/json"}  # panda-client's GETs


def legacy_job(files: list[dict[str, Any]] | None = None, **attrs: Any) -> list[Any]:
    """A job as JobSpec.dump_to_json_serializable makes it: every attribute ("NULL" when unset), then
    the files' value lists (each ending with the owner, None)."""
    base = {"transformation": "/bin/echo", "jobParameters": "hi", "jobName": "j1", "computingSite": "SMALL"}
    values = {**base, **attrs}
    job: list[Any] = [values.get(a, "NULL") for a in JOB_ATTRIBUTES]
    job.append([[f.get(a, "NULL") for a in FILE_ATTRIBUTES] + [None] for f in files or []])
    return job


def legacy_submit(client: TestClient, *jobs: list[Any]) -> Any:
    return client.post(f"{API}/job/submit", json={"jobs": json.dumps(list(jobs))})


def _count_jobs(client: TestClient) -> int:
    return len(ok(client.get(f"{API}/job/list"))["jobs"])


def test_submit_answers_pandaid_definition_id_and_name_and_stores_the_job(client: TestClient) -> None:
    out = {"lfn": "out.root", "type": "output", "dataset": "user.alice.out", "scope": "user.alice"}
    resp = legacy_submit(
        client,
        legacy_job([out], jobDefinitionID=7, coreCount="1", maxAttempt=2, cloud="US", AtlasRelease="x"),
        legacy_job(jobName="j2"),
    )
    data = ok(resp)
    assert [(row[1], row[2]) for row in data] == [(7, "j1"), (0, "j2")]
    job = describe(client, data[0][0])["job"]
    assert (job["transformation"], job["jobParameters"], job["computingSite"], job["maxAttempt"]) == (
        "/bin/echo",
        "hi",
        "SMALL",
        2,
    )
    assert [(f["lfn"], f["type"], f["scope"]) for f in job["files"]] == [("out.root", "output", "user.alice")]


def test_pandawms_own_submit_keeps_its_answer(client: TestClient) -> None:
    [answer] = submit(client, computingSite="SMALL")
    assert set(answer) == {"PandaID", "jobStatus", "computingSite", "brokerageErrorDiag"}


def test_bad_legacy_jobs_are_400_naming_the_attribute_and_store_nothing(client: TestClient) -> None:
    fails(legacy_submit(client, legacy_job(), legacy_job(coreCount="many")), 400, "jobs[1].coreCount")
    fails(legacy_submit(client, legacy_job(transformation="NULL")), 400, "jobs[0].transformation")
    bad_file = {"lfn": "x", "type": "pseudo_input"}
    fails(legacy_submit(client, legacy_job([bad_file])), 400, "jobs[0].Files[0].type")
    fails(client.post(f"{API}/job/submit", json={"jobs": "[[1, 2"}), 400, "jobs: not valid JSON")
    fails(client.post(f"{API}/job/submit", json={"jobs": "[]"}), 400, "non-empty list")
    fails(legacy_submit(client, legacy_job(computingSite="NOWHERE")), 400, "NOWHERE")
    assert _count_jobs(client) == 0


def test_get_description_posts_job_ids_and_answers_jobspec_dicts(client: TestClient) -> None:
    inp = {"lfn": "in.root", "type": "input", "scope": "user.alice", "fsize": 10, "GUID": "g-1"}
    [[panda_id, _, _]] = ok(legacy_submit(client, legacy_job([inp])))
    for path in ("job/get_description", "job/get_description_incl_archive"):
        data = ok(client.post(f"{API}/{path}", json={"job_ids": [panda_id, 999_999]}))
        spec, missing = data
        assert missing is None
        assert set(JOB_ATTRIBUTES) <= set(spec) and spec["PandaID"] == panda_id
        assert (spec["jobStatus"], spec["computingSite"], spec["prodSourceLabel"]) == (
            "waiting",
            "SMALL",
            "user",
        )  # its input is nowhere yet
        assert set(spec["creationTime"]) == {"__datetime__"}  # panda-client decodes it to a datetime
        [f] = spec["Files"]
        assert (f["lfn"], f["type"], f["GUID"], f["fsize"], f["PandaID"]) == (
            "in.root",
            "input",
            "g-1",
            10,
            panda_id,
        )
    fails(client.post(f"{API}/job/get_description", json={"job_ids": []}), 422, "job_ids")
    assert describe(client, panda_id)["job"]["PandaID"] == panda_id  # GET: pandawms's own answer


def test_a_failed_job_carries_its_error_codes(client: TestClient) -> None:
    [[panda_id, _, _]] = ok(legacy_submit(client, legacy_job()))
    acquire(client, "SMALL")
    update(client, panda_id, "failed", pilot_error_code=1099, pilot_error_diag="stage-in", attempt_nr=1)
    [spec] = ok(client.post(f"{API}/job/get_description", json={"job_ids": [panda_id]}))
    assert (spec["pilotErrorCode"], spec["pilotErrorDiag"]) == (1099, "stage-in")


def prun_params(**over: Any) -> dict[str, Any]:
    """The shape of prun's parameter map (PrunScript.py), without rucio: noInput jobs."""
    base: dict[str, Any] = {
        "taskName": "user.alice.prun.v1/",
        "vo": "atlas",
        "architecture": "",
        "transUses": "",
        "transHome": None,
        "transPath": "https://example.org/runGen-00-00-02",
        "processingType": "panda-client-2.2.0-jedi-run",
        "prodSourceLabel": "user",
        "site": None,
        "excludedSite": [],
        "includedSite": None,
        "cliParams": "prun --exec 'echo hi' --outDS user.alice.prun.v1",
        "osInfo": "Linux",
        "respectSplitRule": True,
        "noInput": True,
        "nEvents": 2,
        "nEventsPerJob": 1,
        "sourceURL": "https://cache.example.org:25443",
        "log": {
            "dataset": "user.alice.prun.v1.log/",
            "container": "user.alice.prun.v1.log/",
            "type": "template",
            "param_type": "log",
            "value": "user.alice.prun.v1.log.$JEDITASKID.${SN}.log.tgz",
        },
        "jobParameters": [
            {"type": "constant", "value": '-j "" --sourceURL ${SURL}'},
            {"type": "constant", "value": "-r ."},
            {"type": "constant", "value": "__delimiter__", "hidden": True},
            {"type": "constant", "value": "-a sources.abc.tar.gz"},
            {
                "type": "template",
                "param_type": "output",
                "value": "user.alice.$JEDITASKID._${SN}.out.txt",
                "dataset": "user.alice.prun.v1_out.txt/",
                "container": "user.alice.prun.v1_out.txt/",
                "consolidate": "user.alice.x/",
            },
        ],
    }
    base.update(over)
    return base


def legacy_task(client: TestClient, **over: Any) -> Any:
    body = {"task_parameters": prun_params(**over), "parent_tid": None}
    return client.post(f"{API}/task/submit", json=body)


def _tasks(client: TestClient) -> list[Any]:
    return list(ok(client.get(f"{API}/task/list"))["tasks"])


def test_task_submit_takes_prun_parameters(client: TestClient) -> None:
    resp = legacy_task(client, userName="alice")
    body = resp.json()
    assert resp.status_code == 200 and body["success"] is True, body
    task_id = body["data"]
    assert f"jediTaskID={task_id}" in body["message"] and "cliParams" in body["message"]  # ignored, named
    params = ok(client.get(f"{API}/task/get_task_parameters", params={"task_id": task_id}))
    values = [p["value"] for p in params["jobParameters"]]
    assert values[0] == '-j "" --sourceURL https://cache.example.org:25443'
    assert values[-1] == "user.alice.${JEDITASKID}._${SN}.out.txt"
    assert params["log"]["value"] == "user.alice.prun.v1.log.${JEDITASKID}.${SN}.log.tgz"


def test_task_submit_as_json_text_and_the_server_as_source_url(client: TestClient) -> None:
    params = prun_params(userName="alice")
    del params["sourceURL"]
    task_id = ok(client.post(f"{API}/task/submit", json={"task_parameters": json.dumps(params)}))
    stored = ok(client.get(f"{API}/task/get_task_parameters", params={"task_id": task_id}))
    assert stored["jobParameters"][0]["value"] == '-j "" --sourceURL http://testserver'


def test_bad_task_parameters_are_400_naming_the_key_and_store_nothing(client: TestClient) -> None:
    fails(legacy_task(client, userName="alice", nEventsPerJob="x"), 400, "nEventsPerJob")
    fails(legacy_task(client), 400, "userName")  # auth off: nobody to take the name from
    lib = [{"type": "constant", "value": "-l ${LIB}"}]
    fails(legacy_task(client, userName="alice", jobParameters=lib), 400, "jobParameters[0]")
    fails(client.post(f"{API}/task/submit", json={"task_parameters": "{"}), 400, "not valid JSON")
    fails(client.post(f"{API}/task/submit", json={"task_parameters": {}, "x": 1}), 422, "x")
    assert _tasks(client) == []


def _task(client: TestClient) -> int:
    return int(ok(legacy_task(client, userName="alice")))


def test_task_commands_answer_pandas_code(client: TestClient) -> None:
    task_id = _task(client)
    killed = client.post(f"{API}/task/kill", json={"task_id": task_id}).json()
    assert (killed["success"], killed["data"]) == (True, 0)
    again = client.post(f"{API}/task/pause", json={"task_id": 999_999}).json()
    assert (again["success"], again["data"]) == (False, 2)
    ours = ok(client.post(f"{API}/task/finish", json={"jediTaskID": task_id}))
    assert ours["jediTaskID"] == task_id and "code" in ours  # pandawms's own shape unchanged
    fails(
        client.post(f"{API}/task/retry", json={"task_id": task_id, "new_parameters": "{"}),
        400,
        "new_parameters",
    )
    fails(client.post(f"{API}/task/kill", json={"task_id": "one"}), 422, "task_id")


def test_task_status_and_details_in_pandas_shape_on_json_gets(client: TestClient) -> None:
    task_id = _task(client)
    assert (
        ok(client.get(f"{API}/task/get_status", params={"task_id": task_id}, headers=JSON_GET)) == "defined"
    )
    assert ok(client.get(f"{API}/task/get_status", params={"task_id": task_id}))["status"] == "defined"
    q = {"task_id": task_id, "include_parameters": "True", "include_status": "False"}
    details = ok(client.get(f"{API}/task/get_details", params=q, headers=JSON_GET))
    assert details["jediTaskID"] == task_id and json.loads(details["taskParams"])["noInput"] is True
    missing = client.get(f"{API}/task/get_status", params={"task_id": 999_999}, headers=JSON_GET)
    fails(missing, 404, "task 999999 not found")


def test_tasks_detailed_info_since_filters_as_pbook_asks(client: TestClient) -> None:
    first = _task(client)
    second = int(ok(legacy_task(client, userName="bob", taskName="user.bob.prun.v1/")))
    path = f"{API}/task/get_tasks_detailed_info_since"
    everything = ok(client.get(path, params={"n_tasks": 10}, headers=JSON_GET))
    assert [t["jediTaskID"] for t in everything] == [second, first]
    one = ok(client.get(path, params={"filters": json.dumps({"jediTaskID": str(first)})}, headers=JSON_GET))
    assert [(t["jediTaskID"], t["reqID"], t["status"], t["superStatus"]) for t in one] == [
        (first, first, "defined", "registered")
    ]
    by_req = ok(client.get(path, params={"filters": json.dumps({"reqID": str(second)})}))
    assert [t["userName"] for t in by_req] == ["bob"]
    by_user = ok(
        client.get(path, params={"filters": json.dumps({"userName": "alice", "superStatus": "registered"})})
    )
    assert [t["jediTaskID"] for t in by_user] == [first]
    assert ok(client.get(path, params={"since": "2100-01-01 00:00:00"})) == []
    fails(client.get(path, params={"filters": json.dumps({"colour": "red"})}), 400, "colour")
    fails(client.get(path, params={"filters": json.dumps({"status": "sleeping"})}), 400, "sleeping")
    fails(client.get(path, params={"since": "yesterday"}), 400, "since")


def test_metadata_of_a_tasks_finished_jobs(client: TestClient) -> None:
    task_id = _task(client)
    got = client.get(f"{API}/job/get_metadata_for_analysis_jobs", params={"task_id": task_id}).json()
    assert (got["success"], got["data"], got["message"]) == (True, {}, "No metadata found")
    fails(client.get(f"{API}/job/get_metadata_for_analysis_jobs", params={"task_id": 999}), 404, "task 999")


def test_sandbox_upload_is_served_back_under_cache(client: TestClient) -> None:
    tarball = b"\x1f\x8b\x08\x00" + bytes(range(256)) * 40 + b"\r\n--x\r\n\x00"
    files = {"file": ("/home/alice/work/sources.abc.tar.gz", tarball, "application/octet-stream")}
    stored = ok(client.post(f"{API}/file_server/upload_cache_file", files=files))
    assert stored == {"name": "sources.abc.tar.gz", "size": len(tarball)}
    got = client.get("/cache/sources.abc.tar.gz")
    assert got.status_code == 200 and got.content == tarball
    fails(client.get("/cache/nothing.tar.gz"), 404, "nothing.tar.gz")
    bad_name = {"file": ("..", b"x", "application/octet-stream")}
    fails(client.post(f"{API}/file_server/upload_cache_file", files=bad_name), 400, "file")
    fails(
        client.post(f"{API}/file_server/upload_cache_file", files={"other": ("a", b"x")}), 400, "'file' part"
    )
    fails(client.post(f"{API}/file_server/upload_cache_file", content=b"raw"), 400, "multipart")
    empty = {"file": ("sources.empty.tar.gz", b"", "application/octet-stream")}
    fails(client.post(f"{API}/file_server/upload_cache_file", files=empty), 400, "empty")
    assert client.get("/cache/sources.empty.tar.gz").status_code == 404


def test_a_post_to_get_description_without_job_ids_is_a_405_as_for_pandawms(client: TestClient) -> None:
    """Only panda-client's shape (a JSON body with job_ids) is its POST; anything else meets pandawms's GET
    route, which answers an undeclared method 405 (the fuzzer's check)."""
    bare = client.post(f"{API}/job/get_description", params={"job_id": 2})
    assert bare.status_code == 405, bare.text
