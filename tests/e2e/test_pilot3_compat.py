"""The real pilot3 (``panda-pilot`` from PyPI, unchanged) against a real ``panda server`` process.

Given a local RSE and queues configured through the API, and pilot3 started the way a site starts it
(``--url/--port``, ``--queuedata-url`` and ``--storagedata-url`` pointing at the server, the RSE's
directory as ``--input-destination-dir``):
(a) a job stages in its script, runs it, stages its output and log out to the RSE with pilot3's mv
    copytool and ends ``finished``: the output registered in the catalog at the path pilot3 wrote it to,
    with the adler32 of the file there;
(b) a second job stages that output in from the RSE as its catalog input and processes it;
(c) a job killed on the server while running is killed by pilot3 (the heartbeat's ``tobekilled``) and
    ends ``cancelled``.
"""

from __future__ import annotations

import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pandawms.protocol.legacy_queuedata import rucio_path
from tests.e2e import pilot3support as p3
from tests.e2e.conftest import Server, serving
from tests.livesupport.dbtemplate import migrated_sqlite_url

SCOPE = "user.p3"
SITE = "P3SITE"
# The payload a job stages in: writes its first argument from the files after it; "sleep" waits.
SCRIPT = """#!/bin/sh
if [ "$1" = sleep ]; then sleep 300; exit 0; fi
out=$1; shift
{ echo "made by pilot3"; for f in "$@"; do cat "$f"; done; } > "$out"
"""
PILOT_TIMEOUT = 150


@pytest.fixture(scope="module")
def pilot3() -> Path:
    return p3.source()


@pytest.fixture
def world(tmp_path: Path, pilot3: Path) -> Iterator[tuple[Server, Path]]:
    rse = tmp_path / "rse"
    rse.mkdir()
    (tmp_path / "server").mkdir()
    migrated_sqlite_url(tmp_path / "server" / "panda.db")  # the server's migration is then a no-op
    with serving(tmp_path / "server", [], {"PANDA_WATCHDOG_INTERVAL": "0.5"}, start_timeout=120) as srv:
        srv.post("/rse/upsert", {"rses": [{"name": "P3_DISK", "site": SITE, "prefix": rse.as_uri()}]})
        for queue in ("P3Q", "P3KILL"):
            srv.post(
                "/queue/upsert",
                {"name": queue, "site": SITE, "ddm_input": "P3_DISK", "ddm_output": "P3_DISK"},
            )
        srv.post("/scope/add", {"scope": SCOPE, "account": "p3"})
        srv.post("/did/add", {"dids": [{"scope": SCOPE, "name": "data", "type": "dataset"}]})
        # the site's script, outside the catalog, where pilot3 looks for an input without a scope
        script = rse / rucio_path("", "payload.sh")
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(SCRIPT)
        script.chmod(0o755)
        yield srv, rse


def _job(queue: str, params: str, inputs: list[str], outputs: list[str], log: str) -> dict[str, Any]:
    files = [{"lfn": "payload.sh", "type": "input"}]
    files += [{"lfn": f, "type": "input", "scope": SCOPE, "dataset": f"{SCOPE}:data"} for f in inputs]
    files += [{"lfn": f, "type": "output", "scope": SCOPE, "dataset": f"{SCOPE}:data"} for f in outputs]
    files.append({"lfn": log, "type": "log", "scope": SCOPE, "dataset": f"{SCOPE}:data"})
    return {
        "transformation": "payload.sh",
        "jobParameters": params,
        "prodSourceLabel": "ptest",
        "computingSite": queue,
        "maxWalltime": 600,
        "maxAttempt": 1,
        "files": files,
    }


def _submit(srv: Server, job: dict[str, Any]) -> int:
    [entry] = srv.post("/job/submit", {"jobs": [job]})
    return int(entry["PandaID"])


def _start(srv: Server, queue: str, base: Path, rse: Path) -> subprocess.Popen[bytes]:
    workdir = base / f"pilot-{queue}"
    workdir.mkdir(parents=True, exist_ok=True)
    config = p3.site_config(base / f"pilot-{queue}.cfg", heartbeat=2)
    cmd = p3.command(srv.root, queue, SITE, workdir, str(rse))
    out = (workdir / "pilot.out").open("wb")
    env = p3.environment(srv.root, queue, config)
    return subprocess.Popen(cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT)


def _finish(proc: subprocess.Popen[bytes], base: Path, queue: str) -> None:
    """Wait for a pilot; one that hangs is killed (by its pid, and with it its namespace) and fails."""
    try:
        proc.wait(PILOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        tail = (base / f"pilot-{queue}" / "pilot.out").read_text()[-4000:]
        raise AssertionError(f"pilot3 on {queue} did not end in {PILOT_TIMEOUT} s:\n{tail}") from None


def _pilot_log(base: Path, queue: str) -> str:
    return (base / f"pilot-{queue}" / "pilot.out").read_text()[-6000:]


def _replica_file(srv: Server, rse: Path, lfn: str) -> tuple[dict[str, Any], Path]:
    [rep] = srv.get("/replica/list", did=f"{SCOPE}:{lfn}")["items"]
    return rep, Path(rep["url"].removeprefix("file://"))


def test_pilot3_runs_whole_jobs_with_staging_and_obeys_a_server_kill(
    world: tuple[Server, Path], tmp_path: Path
) -> None:
    srv, rse = world
    # given a producer job and a job that will be killed, on two queues, each with its own pilot3
    producer = _submit(srv, _job("P3Q", "out.a.txt", [], ["out.a.txt"], "log.a.tgz"))
    victim = _submit(srv, _job("P3KILL", "sleep", [], [], "log.k.tgz"))
    pilots = {q: _start(srv, q, tmp_path, rse) for q in ("P3Q", "P3KILL")}
    # when the victim runs, the server kills it
    srv.wait_for(victim, {"running"}, timeout=90)
    killed = srv.post("/job/kill", {"job_ids": [victim]})
    assert killed[0]["outcome"] not in ("notfound", "rejected"), killed
    for queue, proc in pilots.items():
        _finish(proc, tmp_path, queue)

    # then the producer finished and its output is in the catalog where pilot3 wrote it
    done = srv.wait_for(producer, {"finished", "failed", "cancelled"}, timeout=30)
    assert done["job"]["jobStatus"] == "finished", (done["job"]["errors"], _pilot_log(tmp_path, "P3Q"))
    rep, path = _replica_file(srv, rse, "out.a.txt")
    assert rep["rse"] == "P3_DISK" and path == rse / rucio_path(SCOPE, "out.a.txt"), rep
    assert path.read_text() == "made by pilot3\n"
    out = {f["lfn"]: f for f in done["job"]["files"]}["out.a.txt"]
    assert out["checksum"].removeprefix("ad:") == f"{zlib.adler32(path.read_bytes()):08x}"
    # and pilot3 obeyed the kill: the payload stopped and the job ended cancelled
    gone = srv.wait_for(victim, {"cancelled", "failed", "finished"}, timeout=30)
    assert gone["job"]["jobStatus"] == "cancelled", (gone, _pilot_log(tmp_path, "P3KILL"))
    assert (
        "pilot received a panda server signal to kill job"
        in (tmp_path / "pilot-P3KILL" / "pilot.out").read_text()
    )

    # when a consumer of that output runs under pilot3
    consumer = _submit(srv, _job("P3Q", "out.b.txt out.a.txt", ["out.a.txt"], ["out.b.txt"], "log.b.tgz"))
    (tmp_path / "pilot-P3Q").rename(tmp_path / "pilot-P3Q-first")
    _finish(_start(srv, "P3Q", tmp_path, rse), tmp_path, "P3Q")
    # then it staged the catalog input in from the RSE and its own output is registered
    done = srv.wait_for(consumer, {"finished", "failed", "cancelled"}, timeout=30)
    assert done["job"]["jobStatus"] == "finished", (done["job"]["errors"], _pilot_log(tmp_path, "P3Q"))
    _, path = _replica_file(srv, rse, "out.b.txt")
    assert path.read_text() == "made by pilot3\nmade by pilot3\n"
