"""The pilot with catalog files against a real server and real storage: the server hands out the turls of
the replicas at the queue's RSE (a real XRootD server) or a nearby one, the pilot stages in, runs, stages
the output and log out to the queue's RSE and reports where they went; a failed stage-out keeps the output."""

from __future__ import annotations

import shlex
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx

from pandawms.bench.storageservers import XRootDServer
from pandawms.ddm.registry import StorageConfig, build_registry
from pandawms.pilot import run_pilot
from pandawms.protocol import errorcodes as ec
from tests.pilot.conftest import Site

SCOPE = "user.alice"
DATA = b"the input of the job\n" * 50
READ_AND_WRITE = (
    "import sys; src = sys.argv[1].removeprefix('file://'); "
    "data = open(src, 'rb').read() if '://' not in src else b''; "
    "open('out.txt', 'wb').write(sys.argv[1].encode() + b' ' + data)"
)


def _ok(resp: httpx.Response) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]


def _catalog(site: Site, rses: list[dict[str, str]], distances: dict[str, dict[str, int]]) -> str:
    """Scope, RSEs, distances and a dataset; returns the dataset's DID."""
    api = site.srv.api
    httpx.post(f"{api}/scope/add", json={"scope": SCOPE, "account": "alice"}, timeout=10)
    _ok(httpx.post(f"{api}/rse/upsert", json={"rses": rses}, timeout=10))
    _ok(httpx.post(f"{api}/rse/set_distances", json={"distances": distances}, timeout=10))
    ds = f"data.{uuid.uuid4().hex[:8]}"
    _ok(
        httpx.post(
            f"{api}/did/add", json={"dids": [{"scope": SCOPE, "name": ds, "type": "dataset"}]}, timeout=10
        )
    )
    return f"{SCOPE}:{ds}"


def _register_input(site: Site, tmp_path: Path, dataset: str, rse: str, prefix: str) -> dict[str, Any]:
    """Upload the input to ``prefix`` (the RSE's) at its replica path and register file and replica."""
    lfn = f"in.{uuid.uuid4().hex[:8]}.dat"
    (tmp_path / lfn).write_bytes(DATA)
    url = f"{prefix.rstrip('/')}/{SCOPE}/{lfn}"
    build_registry(StorageConfig()).for_url(url).upload(tmp_path / lfn, url)
    entry = {"scope": SCOPE, "name": lfn, "bytes": len(DATA), "adler32": f"{zlib.adler32(DATA):08x}"}
    entry["guid"] = str(uuid.uuid4())
    body = {"dataset": dataset, "files": [entry], "rse": rse}
    _ok(httpx.post(f"{site.srv.api}/did/add_files", json=body, timeout=10))
    return {
        **{"lfn": lfn, "type": "input", "scope": SCOPE, "dataset": dataset, "GUID": entry["guid"]},
        **{"fsize": len(DATA), "checksum": f"ad:{entry['adler32']}"},
    }


def _queue(site: Site, rse_in: str, rse_out: str, site_name: str) -> None:
    queue = {
        "name": site.name,
        "site": site_name,
        "ddm_input": rse_in,
        "ddm_output": rse_out,
        "max_walltime": 600,
    }
    _ok(httpx.post(site.srv.api + "/queue/upsert", json=queue, timeout=10))


def _outputs(dataset: str, tag: str) -> list[dict[str, str]]:
    return [
        {"lfn": f"out.txt.{tag}", "type": "output", "scope": SCOPE, "dataset": dataset},
        {"lfn": f"job.{tag}.log.tgz", "type": "log", "scope": SCOPE, "dataset": dataset},
    ]


def _submit(site: Site, inp: dict[str, Any], dataset: str, tag: str) -> int:
    params = "-c " + shlex.quote(READ_AND_WRITE + f"; import os; os.rename('out.txt', 'out.txt.{tag}')")
    return site.submit(
        jobParameters=f"{params} {inp['lfn']}", files=[inp, *_outputs(dataset, tag)], maxAttempt=1
    )


def test_a_job_reads_and_writes_the_queues_xrootd_rse(
    site: Site, tmp_path: Path, xrootd_server: XRootDServer
) -> None:
    # given an input replica on a real XRootD RSE that is the queue's input and output RSE
    area = f"pilot-{uuid.uuid4().hex[:8]}"
    prefix = f"{xrootd_server.url}/{area}"
    dataset = _catalog(site, [{"name": "XRD_DISK", "site": "XRD", "prefix": prefix}], {})
    inp = _register_input(site, tmp_path, dataset, "XRD_DISK", prefix)
    _queue(site, "XRD_DISK", "XRD_DISK", "XRD")
    pid = _submit(site, inp, dataset, "x")
    # when a pilot runs the job
    assert run_pilot(site.config()) == ec.PilotExit.OK
    # then it finished, and output and log are on the XRootD RSE with the URLs, sizes and adler32 reported
    job = site.job(pid)
    assert job["jobStatus"] == "finished", (job["jobStatus"], job["errors"])
    stored = xrootd_server.data_dir / area / SCOPE
    out = {f["lfn"]: f for f in job["files"]}
    content = (stored / "out.txt.x").read_bytes()
    assert content == inp["lfn"].encode() + b" " + DATA  # the payload read the staged-in copy
    assert out["out.txt.x"]["surl"] == f"{prefix}/{SCOPE}/out.txt.x"
    assert out["out.txt.x"]["checksum"] == f"ad:{zlib.adler32(content):08x}"
    assert out["out.txt.x"]["fsize"] == len(content)
    assert (stored / "job.x.log.tgz").read_bytes()[:2] == b"\x1f\x8b"
    assert out["job.x.log.tgz"]["surl"] == f"{prefix}/{SCOPE}/job.x.log.tgz"


def test_a_nearby_replica_is_read_in_place_through_its_turl(site: Site, tmp_path: Path) -> None:
    # given the input only at a file:// RSE of a nearby site (distance 1), not at the queue's own RSE
    near, own = tmp_path / "near", tmp_path / "own"
    rses = [
        {"name": "NEAR_DISK", "site": "NEAR", "prefix": near.as_uri()},
        {"name": "OWN_DISK", "site": "OWN", "prefix": own.as_uri()},
    ]
    dataset = _catalog(site, rses, {"OWN": {"NEAR": 1}})
    inp = _register_input(site, tmp_path, dataset, "NEAR_DISK", near.as_uri())
    _queue(site, "OWN_DISK", "OWN_DISK", "OWN")
    pid = _submit(site, inp, dataset, "n")
    # when a pilot runs it
    assert run_pilot(site.config()) == ec.PilotExit.OK
    # then the payload got the turl in place of the LFN and read the replica where it is
    assert site.job(pid)["jobStatus"] == "finished"
    turl = f"{near.as_uri()}/{SCOPE}/{inp['lfn']}"
    assert (own / SCOPE / "out.txt.n").read_bytes() == turl.encode() + b" " + DATA


def test_a_stage_out_that_keeps_failing_fails_the_job_with_1137_and_keeps_the_output(
    site: Site, tmp_path: Path
) -> None:
    # given an output RSE whose directory cannot be created (a file is in the way)
    own = tmp_path / "own"
    rses = [{"name": "OWN_DISK", "site": "OWN", "prefix": own.as_uri()}]
    dataset = _catalog(site, rses, {})
    inp = _register_input(site, tmp_path, dataset, "OWN_DISK", own.as_uri())
    (own / "blocked").mkdir()
    (own / "blocked" / SCOPE).write_text("in the way")  # where the scope's directory should be
    _ok(
        httpx.post(
            f"{site.srv.api}/rse/upsert", json={"rses": [{**rses[0], "prefix": (own / "blocked").as_uri()}]}
        )
    )
    _ok(
        httpx.post(
            f"{site.srv.api}/rse/upsert",
            json={"rses": [{"name": "IN_DISK", "site": "OWN", "prefix": own.as_uri()}]},
        )
    )
    _queue(site, "IN_DISK", "OWN_DISK", "OWN")
    _ok(
        httpx.post(f"{site.srv.api}/replica/add", json={"rse": "IN_DISK", "files": [f"{SCOPE}:{inp['lfn']}"]})
    )
    pid = _submit(site, inp, dataset, "f")
    # when a pilot runs it (two tries per output)
    assert run_pilot(site.config(stageout_attempts=2)) == ec.PilotExit.OK
    # then the job failed with the stage-out code, after both tries, and the output is still on the worker
    job = site.job(pid)
    assert job["jobStatus"] == "failed"
    assert site.pilot_errors(pid)[0] == ec.PilotCode.STAGEOUTFAILED
    assert "try 2 of 2" in str(job["errors"])
    assert (site.workdir / f"PanDA_Pilot-{pid}" / "out.txt.f").is_file()
