"""The real panda-client (PyPI 2.2.0, unchanged) against a real ``panda server --auth`` process.

Its Python API as prun and pbook use it, in a child process configured only by panda-client's own
environment (PANDA_URL_SSL, PANDA_AUTH=oidc, PANDA_AUTH_VO, PANDA_CONFIG_ROOT with its ``.token``):
``hello``; ``submitJobs`` (one job run to ``finished`` by a real pilot, one killed with ``killJobs``);
``getJobStatus`` / ``getFullJobStatus``; a prun-style task with its sandbox (``putFile`` then
``insertTaskParams``), then pbook's ``show``, ``kill`` and ``retry`` of that task.

panda-client is installed once with pip into a cache directory outside the tree
(``$PANDAWMS_TEST_CACHE`` or ``~/.cache/pandawms-tests``) and put on the child's PYTHONPATH: the test
venv is left as it is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import PANDA, Server, serving, start_pilot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

VERSION = "2.2.0"
ENV = {
    "PANDA_WATCHDOG_INTERVAL": "0.5",
    "PANDA_JEDI_INTERVAL": "0.5",
    "PANDA_JEDI_COMMAND_INTERVAL": "0.5",
    "PANDA_JEDI_POSTPROCESSOR_INTERVAL": "0.5",
}
QUEUES = """
[[queue]]
name = "PC_RUN"
cores = 1
max_memory_per_core = 2000
max_walltime = 600

[[queue]]
name = "PC_HOLD"
cores = 1
max_memory_per_core = 2000
max_walltime = 600
"""

# What the child runs: panda-client's API exactly as prun/pbook call it; one JSON line per step.
DRIVER = r"""
import json, os, re, sys, tarfile, time
from pandaclient import Client, PBookCore
from pandaclient.FileSpec import FileSpec
from pandaclient.JobSpec import JobSpec

def out(step, value):
    print(json.dumps({"step": step, "value": value}, default=str), flush=True)

def job(name, site, params, log_dataset=None):
    j = JobSpec()
    j.jobName, j.transformation, j.jobParameters = name, "/bin/sh", params
    j.computingSite, j.prodSourceLabel, j.jobDefinitionID = site, "user", 42
    if log_dataset:  # (a catalog dataset: the Adder registers a finished job's log in it)
        f = FileSpec()
        f.lfn, f.type, f.dataset, f.scope = name + ".log.tgz", "log", log_dataset, "user.alice"
        j.addFile(f)
    return j

step = sys.argv[1]
if step == "jobs":
    out("hello", Client.hello())
    run = job("pc-run", "PC_RUN", "-c 'echo hi'")
    hold = job("pc-hold", "PC_HOLD", "-c 'sleep 600'", "user.alice.pc.log")
    status, ids = Client.submitJobs([run, hold])
    out("submit", [status, ids])
elif step == "status":
    ids = [int(i) for i in sys.argv[2:]]
    for name, call in (("getJobStatus", Client.getJobStatus), ("getFullJobStatus", Client.getFullJobStatus)):
        status, jobs = call(ids)
        out(name, [status, [[j.PandaID, j.jobStatus, j.computingSite, j.jobName, str(type(j.creationTime)),
                             [(f.lfn, f.type) for f in j.Files]] for j in jobs]])
elif step == "kill":
    out("kill", Client.killJobs([int(sys.argv[2])]))
elif step == "task":
    src = os.path.join(os.environ["WORK"], "sources.pc-test.tar.gz")
    payload = os.path.join(os.environ["WORK"], "run.sh")
    with open(payload, "w") as f:
        f.write("echo from the sandbox\n")
    with tarfile.open(src, "w:gz") as t:
        t.add(payload, arcname="run.sh")
    out("putFile", Client.putFile(src))
    m = re.search("(http.*://[^/]+)/", Client.baseURLCSRVSSL)  # as PrunScript sets sourceURL
    params = {
        "taskName": "user.alice.pc.v1/", "vo": "atlas", "transPath": "https://example.org/runGen-00-00-02",
        "transHome": None, "processingType": "panda-client-2.2.0-jedi-run", "prodSourceLabel": "user",
        "site": "PC_HOLD", "excludedSite": [], "includedSite": None, "cliParams": "prun --exec run.sh",
        "osInfo": "Linux", "respectSplitRule": True, "noInput": True, "nEvents": 1, "nEventsPerJob": 1,
        "sourceURL": m.group(1),
        "log": {"dataset": "user.alice.pc.v1.log/", "container": "user.alice.pc.v1.log/", "type": "template",
                "param_type": "log", "value": "user.alice.pc.v1.log.$JEDITASKID.${SN}.log.tgz"},
        "jobParameters": [
            {"type": "constant", "value": '-j "" --sourceURL ${SURL}'},
            {"type": "constant", "value": "-r ."},
            {"type": "constant", "value": "-a sources.pc-test.tar.gz"},
            {"type": "template", "param_type": "output", "value": "user.alice.$JEDITASKID._${SN}.out.txt",
             "dataset": "user.alice.pc.v1_out.txt/", "container": "user.alice.pc.v1_out.txt/"},
        ],
    }
    status, (code, message) = Client.insertTaskParams(params)
    out("insertTaskParams", [status, code, message])
else:
    task_id = int(sys.argv[2])
    pbook = PBookCore.PBookCore()
    pbook.init()
    if step == "show":
        out("show", pbook.show(task_id, format="json"))
    elif step == "pbook-kill":
        out("kill", pbook.kill(task_id))
    else:
        out("retry", pbook.retry(task_id))
"""


def _cache_dir() -> Path:
    root = os.environ.get("PANDAWMS_TEST_CACHE") or str(Path.home() / ".cache" / "pandawms-tests")
    return Path(root) / f"panda-client-{VERSION}"


@pytest.fixture(scope="module")
def panda_client() -> Path:
    """panda-client from PyPI in a cached directory (installed on first use, 20 s)."""
    target = _cache_dir()
    if not (target / "pandaclient" / "Client.py").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(tmp)]
        subprocess.run([*pip, f"panda-client=={VERSION}"], check=True, timeout=240)
        tmp.rename(target)
    return target


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data = tmp_path / "server"
    data.mkdir()
    (data / "queues.toml").write_text(QUEUES)
    with serving(data, ["--queues", str(data / "queues.toml"), "--auth"], ENV) as srv:
        yield srv


def _token(server: Server, path: Path, *args: str) -> str:
    db = f"sqlite:///{server.data_dir / 'panda.db'}"
    cmd = [*PANDA, "token", "create", *args, "--lifetime", "1d", "--out", str(path), "--db", db]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    return path.read_text().strip()


class PandaClient:
    """Runs DRIVER steps in a child with panda-client's environment only."""

    def __init__(self, server: Server, lib: Path, work: Path, token: str) -> None:
        config_root = work / "panda-config"
        config_root.mkdir(parents=True)
        (config_root / ".token").write_text(json.dumps({"id_token": token}))  # openidc_utils' cache
        (work / "driver.py").write_text(DRIVER)
        self.work = work
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(work),
            "PYTHONPATH": str(lib),
            "PANDA_URL": server.root + "/server/panda",
            "PANDA_URL_SSL": server.root + "/server/panda",
            "PANDACACHE_URL": server.root + "/server/panda",
            "PANDA_AUTH": "oidc",
            "PANDA_AUTH_VO": "atlas",
            "PANDA_CONFIG_ROOT": str(config_root),
            "PANDA_VERIFY_HOST": "off",
            "PANDA_BEHIND_REAL_LB": "1",
            "WORK": str(work),
        }

    def run(self, *args: object) -> dict[str, Any]:
        cmd = [sys.executable, str(self.work / "driver.py"), *map(str, args)]
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith('{"step"')]
        assert lines, done.stdout + done.stderr
        return {line["step"]: line["value"] for line in lines}


def _wait(server: Server, headers: dict[str, str], path: str, params: dict[str, Any], want: Any) -> Any:
    deadline = time.monotonic() + 60
    got: Any = None
    while time.monotonic() < deadline:
        resp = httpx.get(server.api + path, params=params, headers=headers, timeout=30)
        got = resp.json()["data"]
        if want(got):
            return got
        time.sleep(0.3)
    raise AssertionError(f"{path} {params}: still {got}")


def test_panda_client_jobs_tasks_and_pbook(server: Server, panda_client: Path, tmp_path: Path) -> None:
    token = _token(server, tmp_path / "alice.token", "--role", "user", "--sub", "alice", "--name", "alice")
    pilot_token = tmp_path / "pilot.token"
    _token(server, pilot_token, "--role", "pilot", "--queue", "PC_RUN")
    headers = {"Authorization": f"Bearer {token}"}
    pc = PandaClient(server, panda_client, tmp_path / "client", token)

    # jobs: submit, one runs to finished under a real pilot, the other is killed
    first = pc.run("jobs")
    assert first["hello"][0] == 0
    status, ids = first["submit"]
    assert status == 0 and [(i[1], i[2]) for i in ids] == [(42, "pc-run"), (42, "pc-hold")]
    run_id, hold_id = ids[0][0], ids[1][0]
    pilot = start_pilot(server, "PC_RUN", tmp_path / "pilot", "--token-file", str(pilot_token))
    try:
        server_job = _wait(server, headers, "/job/get_description", {"job_id": run_id},
                           lambda d: d["job"]["jobStatus"] in ("finished", "failed"))  # fmt: skip
    finally:
        pilot.wait(60)
    assert server_job["job"]["jobStatus"] == "finished", server_job
    assert pc.run("kill", hold_id)["kill"][0] == 0
    _wait(server, headers, "/job/get_description", {"job_id": hold_id},
          lambda d: d["job"]["jobStatus"] == "cancelled")  # fmt: skip
    seen = pc.run("status", run_id, hold_id)
    for call in ("getJobStatus", "getFullJobStatus"):
        status, jobs = seen[call]
        assert status == 0
        assert [(j[0], j[1], j[2], j[3]) for j in jobs] == [
            (run_id, "finished", "PC_RUN", "pc-run"),
            (hold_id, "cancelled", "PC_HOLD", "pc-hold"),
        ]
        assert jobs[0][4] == "<class 'datetime.datetime'>" and jobs[1][5] == [["pc-hold.log.tgz", "log"]]

    # a prun-style task with its sandbox
    task = pc.run("task")
    assert task["putFile"] == [0, "True"]
    status, code, message = task["insertTaskParams"]
    assert (status, code) == (0, 0), message
    task_id = int(message.split("jediTaskID=")[1].split()[0])
    sandbox = httpx.get(server.root + "/cache/sources.pc-test.tar.gz", timeout=30)
    assert sandbox.content == (tmp_path / "client" / "sources.pc-test.tar.gz").read_bytes()
    params = _wait(server, headers, "/task/get_task_parameters", {"task_id": task_id}, bool)
    assert params["jobParameters"][0]["value"] == f'-j "" --sourceURL {server.root}'

    # the gate: panda-client's shapes pass under the shared path's policy; their twins are not callable
    json_get = {**headers, "Content-Type": "application/json"}
    anonymous = httpx.get(server.api + "/task/get_status", params={"task_id": task_id}, timeout=30)
    assert anonymous.status_code == 401
    twin = httpx.get(
        server.api + "/panda_client/task/get_status", params={"task_id": task_id}, headers=json_get
    )
    assert twin.status_code == 403

    # pbook: show, kill, retry
    [shown] = pc.run("show", task_id)["show"]
    assert (shown["jediTaskID"], shown["taskName"], shown["userName"]) == (
        task_id,
        "user.alice.pc.v1/",
        "alice",
    )
    assert pc.run("pbook-kill", task_id)["kill"] is True
    _wait(server, headers, "/task/get_status", {"task_id": task_id}, lambda d: d["status"] == "aborted")
    assert pc.run("pbook-retry", task_id)["retry"] is True
    _wait(server, headers, "/task/get_status", {"task_id": task_id}, lambda d: d["status"] != "aborted")
