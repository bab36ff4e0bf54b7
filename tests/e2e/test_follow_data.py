"""Jobs follow the data with real processes: a ``panda server`` (its transfer agent, Activator, waiting
agent, Finisher and Closer running) and real pilots staging through file:// RSEs.

(a) a job whose input is only at another site's RSE waits in ``assigned`` while its ``_dis`` block is
    copied to its queue's RSE, is activated, runs, and its output, shipped by the ``_sub`` rule to the
    job's destination RSE, is found there with the adler32 the pilot reported;
(d) a job waits for an input that another job produces, then runs on it.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, kill_session, serving, start_pilot

SCOPE = "user.e2e"
DATA = b"input of the job, copied between sites\n" * 40
FAST_AGENTS = {
    "PANDA_WATCHDOG_INTERVAL": "0.5",  # the data agents and brokerage run at the watchdogs' interval
    "PANDA_TRANSFERS_INTERVAL": "0.3",
}
# Reads its first argument (a file the pilot staged in, or a turl) and writes it, tagged, to the output.
PAYLOAD = (
    "import sys; src = sys.argv[1].removeprefix('file://'); "
    "open(sys.argv[2], 'wb').write(b'seen: ' + open(src, 'rb').read())"
)


@pytest.fixture
def data_server(tmp_path: Path) -> Iterator[Server]:
    with serving(tmp_path / "server", [], FAST_AGENTS) as srv:
        yield srv


def _world(server: Server, storage: Path) -> None:
    """SRC_DISK at site A and DST_DISK at site B (far apart), queue QB at B on DST_DISK, a dataset."""
    rses = [
        {"name": "SRC_DISK", "site": "A", "prefix": (storage / "SRC").as_uri()},
        {"name": "DST_DISK", "site": "B", "prefix": (storage / "DST").as_uri()},
    ]
    server.post("/rse/upsert", {"rses": rses})
    queue = {
        "name": "QB",
        "site": "B",
        "ddm_input": "DST_DISK",
        "ddm_output": "DST_DISK",
        "max_walltime": 600,
    }
    server.post("/queue/upsert", queue)
    server.post("/scope/add", {"scope": SCOPE, "account": "e2e"})
    server.post("/did/add", {"dids": [{"scope": SCOPE, "name": "data", "type": "dataset"}]})


def _put(storage: Path, rse_dir: str, lfn: str, content: bytes) -> dict[str, Any]:
    path = storage / rse_dir / SCOPE / lfn
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SCOPE}:{lfn}"))
    return {
        "scope": SCOPE,
        "name": lfn,
        "bytes": len(content),
        "adler32": f"{zlib.adler32(content):08x}",
        "guid": guid,
    }


def _job(lfn_in: str, lfn_out: str, **kw: Any) -> dict[str, Any]:
    files = [
        {"lfn": lfn_in, "type": "input", "scope": SCOPE, "dataset": f"{SCOPE}:data"},
        {"lfn": lfn_out, "type": "output", "scope": SCOPE, "dataset": f"{SCOPE}:data"},
    ]
    params = f'-c "{PAYLOAD}" {lfn_in} {lfn_out}'
    job = {"transformation": "python3", "jobParameters": params, "maxWalltime": 120, "maxAttempt": 1}
    return {**job, "computingSite": "QB", "files": files, **kw}


def _submit(server: Server, *jobs: dict[str, Any]) -> list[int]:
    return [int(j["PandaID"]) for j in server.post("/job/submit", {"jobs": list(jobs)})]


def _run_pilot(server: Server, workdir: Path) -> None:
    pilot = start_pilot(server, "QB", workdir)
    try:
        pilot.wait(120)
    finally:
        if pilot.poll() is None:
            kill_session(pilot)


def test_a_job_follows_its_input_to_its_queue_and_ships_its_output_to_the_destination(
    data_server: Server, tmp_path: Path
) -> None:
    storage = tmp_path / "storage"
    _world(data_server, storage)
    entry = _put(storage, "SRC", "in.a.dat", DATA)
    data_server.post("/did/add_files", {"dataset": f"{SCOPE}:data", "files": [entry], "rse": "SRC_DISK"})
    # given a job at QB (site B) whose input is only at SRC_DISK (site A), outputs going to SRC_DISK
    [pid] = _submit(data_server, _job("in.a.dat", "out.a.dat", destinationSE="SRC_DISK"))
    job = data_server.job(pid)["job"]
    assert job["jobStatus"] == "assigned" and job["dispatchDBlock"].endswith(f"_dis{pid}")
    # when the transfer agent has copied the _dis block to DST_DISK, the Activator activates the job
    data_server.wait_for(pid, {"activated"}, timeout=60)
    assert (storage / "DST" / SCOPE / "in.a.dat").read_bytes() == DATA
    # and a pilot runs it, its output shipped back to the destination by the _sub rule
    _run_pilot(data_server, tmp_path / "pilot")
    d = data_server.wait_for(pid, {"finished", "failed"}, timeout=90)
    assert d["job"]["jobStatus"] == "finished", d["job"]["errors"]
    states = [h["status"] for h in d["history"]]
    assert states[:3] == ["defined", "assigned", "activated"] and "transferring" in states
    out = {f["lfn"]: f for f in d["job"]["files"]}["out.a.dat"]
    at_destination = (storage / "SRC" / SCOPE / "out.a.dat").read_bytes()
    assert at_destination == b"seen: " + DATA
    assert out["checksum"] == f"ad:{zlib.adler32(at_destination):08x}" and out["status"] == "ready"
    replicas = data_server.get("/replica/list", did=f"{SCOPE}:out.a.dat")["items"]
    assert {(r["rse"], r["state"]) for r in replicas} == {
        ("DST_DISK", "available"),
        ("SRC_DISK", "available"),
    }
    sub = f"{SCOPE}:{d['job']['destinationDBlock']}"
    deadline = time.monotonic() + 30
    while data_server.get("/did/get", did=sub)["state"] != "closed":  # the Closer, after the Finisher
        assert time.monotonic() < deadline, "the _sub was not closed"
        time.sleep(0.3)


def test_a_job_waits_for_an_input_another_job_produces_then_runs(data_server: Server, tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    _world(data_server, storage)
    entry = _put(storage, "DST", "in.d.dat", DATA)
    data_server.post("/did/add_files", {"dataset": f"{SCOPE}:data", "files": [entry], "rse": "DST_DISK"})
    # given a consumer of mid.d.dat, submitted before its producer exists
    [consumer] = _submit(data_server, _job("mid.d.dat", "out.d.dat"))
    assert data_server.job(consumer)["job"]["jobStatus"] == "waiting"
    [producer] = _submit(data_server, _job("in.d.dat", "mid.d.dat"))
    # when a pilot runs the producer (and then whatever is activated)
    _run_pilot(data_server, tmp_path / "pilot-1")
    assert (
        data_server.wait_for(producer, {"finished", "failed"}, timeout=60)["job"]["jobStatus"] == "finished"
    )
    # then the consumer is released by the waiting agent, brokered at QB (the input is at DST_DISK) and runs
    data_server.wait_for(consumer, {"activated", "finished"}, timeout=60)
    _run_pilot(data_server, tmp_path / "pilot-2")
    d = data_server.wait_for(consumer, {"finished", "failed"}, timeout=60)
    assert d["job"]["jobStatus"] == "finished", d["job"]["errors"]
    assert [h["status"] for h in d["history"]][:4] == ["defined", "waiting", "defined", "activated"]
    assert (storage / "DST" / SCOPE / "out.d.dat").read_bytes() == b"seen: seen: " + DATA
    httpx.get(data_server.api + "/health", timeout=5).raise_for_status()
