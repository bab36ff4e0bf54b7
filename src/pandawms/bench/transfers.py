"""``panda bench transfers``: files/s and MB/s of the transfer agent of a real ``panda server`` process,
side by side in one run with the raw tool on the same files.

The files are written once to a POSIX source RSE; each case is one rule (the dataset -> a destination
RSE), timed from rule/add until the rule is ok (every copy verified by size+adler32 and recorded):
POSIX -> POSIX (raw: one ``cp`` of all files), POSIX -> XRootD on a private xrootd (raw: one
``xrdcp --parallel N --cksum adler32``), POSIX -> S3 on a private moto server (raw: boto3
``upload_file`` on N threads). ``cp`` does not verify; xrdcp and the agent do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx

from pandawms.bench.servers import server_process
from pandawms.bench.storageservers import S3Server, XRootDServer

SCOPE = "bench"
DATASET = "bench:transfers"
BUCKET = "panda-bench"
BATCH = 10_000


@dataclass(frozen=True)
class CaseResult:
    case: str
    files: int
    mb: float
    agent_s: float
    agent_files_per_s: float
    agent_mb_per_s: float
    raw_tool: str
    raw_s: float
    raw_files_per_s: float
    raw_mb_per_s: float
    ratio: float  # agent MB/s over the raw tool's

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _make_files(src: Path, n: int, size: int) -> list[dict[str, Any]]:
    """``n`` files of ``size`` random bytes under src/bench/, as catalog entries."""
    out = []
    folder = src / SCOPE
    folder.mkdir(parents=True, exist_ok=True)
    block = os.urandom(min(size, 1 << 20))
    for i in range(n):
        name = f"f.{i:06d}.dat"
        head = i.to_bytes(8, "big")
        checksum = zlib.adler32(head)
        with (folder / name).open("wb") as fh:
            fh.write(head)
            left = size - len(head)
            while left > 0:
                chunk = block[: min(left, len(block))]
                fh.write(chunk)
                checksum = zlib.adler32(chunk, checksum)
                left -= len(chunk)
        guid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{SCOPE}:{name}"))
        out.append({"scope": SCOPE, "name": name, "bytes": size, "adler32": f"{checksum:08x}", "guid": guid})
    return out


def _call(client: httpx.Client, method: str, path: str, **kw: Any) -> Any:
    resp = client.request(method, path, **kw)
    body = resp.json()
    if resp.status_code != 200 or not body.get("success"):
        raise RuntimeError(f"{path}: {resp.status_code} {body.get('message')}")
    return body["data"]


def _register(client: httpx.Client, rses: list[dict[str, str]], entries: list[dict[str, Any]]) -> None:
    _call(client, "POST", "/rse/upsert", json={"rses": rses})
    _call(client, "POST", "/scope/add", json={"scope": SCOPE})
    _call(client, "POST", "/did/add", json={"dids": [{"scope": SCOPE, "name": "transfers"}]})
    for start in range(0, len(entries), BATCH):
        chunk = entries[start : start + BATCH]
        _call(client, "POST", "/did/add_files", json={"dataset": DATASET, "files": chunk, "rse": "SRC_POSIX"})


def _agent_seconds(client: httpx.Client, rse: str, timeout: float) -> float:
    """Seconds from rule/add to the rule being ok; raises with the rule's error if it sticks."""
    started = time.perf_counter()
    rule = _call(client, "POST", "/rule/add", json={"did": DATASET, "rse": rse})
    deadline = time.monotonic() + timeout
    while rule["state"] != "ok":
        if rule["state"] == "stuck" or time.monotonic() > deadline:
            raise RuntimeError(f"rule to {rse} is {rule['state']}: {rule['error']}")
        time.sleep(0.01)
        rule = _call(client, "GET", "/rule/get", params={"id": rule["id"]})
    return time.perf_counter() - started


def _timed(run: Callable[[], None]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({done.returncode}): {done.stderr[-500:]}")


def _s3_raw(s3: S3Server, paths: list[Path], threads: int) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.writer.access_key,
        aws_secret_access_key=s3.writer.secret_key,
        region_name="us-east-1",
    )
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda p: client.upload_file(str(p), BUCKET, f"raw/{p.name}"), paths))


def _server_config(s3: S3Server, concurrency: int) -> str:
    return "\n".join(
        [
            "[server]",
            "[server.transfers]",
            "interval = 1.0",
            "batch_size = 1000",
            f"concurrency = {concurrency}",
            "[server.storage]",
            f's3_endpoint_url = "{s3.endpoint_url}"',
            f's3_access_key = "{s3.writer.access_key}"',
            f's3_secret_key = "{s3.writer.secret_key}"',
            "",
        ]
    )


def bench_transfers(
    files: int, size: int, concurrency: int, workdir: Path | None = None, timeout: float = 3600
) -> list[CaseResult]:
    """Run the three cases; every server and file is private to this run and removed after."""
    work = workdir or Path(tempfile.mkdtemp(prefix="panda-bench-transfers-"))
    try:
        with XRootDServer() as xrd, S3Server() as s3:
            return _bench(work, xrd, s3, files, size, concurrency, timeout)
    finally:
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def _bench(
    work: Path, xrd: XRootDServer, s3: S3Server, files: int, size: int, concurrency: int, timeout: float
) -> list[CaseResult]:
    boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        aws_access_key_id=s3.writer.access_key,
        aws_secret_access_key=s3.writer.secret_key,
        region_name="us-east-1",
    ).create_bucket(Bucket=BUCKET)
    src, raw_dir = work / "src", work / "raw"
    raw_dir.mkdir(parents=True)
    entries = _make_files(src, files, size)
    paths = sorted((src / SCOPE).iterdir())
    rses = [
        {"name": "SRC_POSIX", "site": "A", "prefix": src.as_uri()},
        {"name": "DST_POSIX", "site": "B", "prefix": (work / "dst").as_uri()},
        {"name": "DST_XROOTD", "site": "B", "prefix": f"{xrd.url}/agent"},
        {"name": "DST_S3", "site": "B", "prefix": f"s3://{BUCKET}/agent", "kind": "object_store"},
    ]
    cases: list[tuple[str, str, str, Callable[[], None]]] = [
        ("POSIX -> POSIX", "DST_POSIX", "cp", lambda: _run(["cp", *map(str, paths), str(raw_dir)])),
        (
            "POSIX -> XRootD",
            "DST_XROOTD",
            f"xrdcp --parallel {concurrency}",
            lambda: _run(
                ["xrdcp", "--silent", "--parallel", str(concurrency), "--cksum", "adler32"]
                + [str(p) for p in paths]
                + [f"{xrd.url}/raw/"]
            ),
        ),
        ("POSIX -> S3", "DST_S3", f"boto3 x{concurrency}", lambda: _s3_raw(s3, paths, concurrency)),
    ]
    (xrd.data_dir / "raw").mkdir(mode=0o777)
    os.chmod(xrd.data_dir / "raw", 0o777)  # the xrootd user writes here
    results = []
    db_url = f"sqlite:///{work / 'panda.db'}"
    config = _server_config(s3, concurrency)
    with (
        server_process(db_url, work, config=config) as base,
        httpx.Client(base_url=base, timeout=120) as client,
    ):
        _register(client, rses, entries)
        for name, rse, tool, raw in cases:
            agent_s = _agent_seconds(client, rse, timeout)
            raw_s = _timed(raw)
            results.append(_result(name, files, size, agent_s, tool, raw_s))
    return results


def _result(name: str, files: int, size: int, agent_s: float, tool: str, raw_s: float) -> CaseResult:
    mb = files * size / 1e6
    return CaseResult(
        case=name,
        files=files,
        mb=round(mb, 3),
        agent_s=round(agent_s, 3),
        agent_files_per_s=round(files / agent_s, 1),
        agent_mb_per_s=round(mb / agent_s, 2),
        raw_tool=tool,
        raw_s=round(raw_s, 3),
        raw_files_per_s=round(files / raw_s, 1),
        raw_mb_per_s=round(mb / raw_s, 2),
        ratio=round(raw_s / agent_s, 2),
    )
