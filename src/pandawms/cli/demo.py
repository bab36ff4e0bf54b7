"""``panda demo``: the whole system on one machine — server (SQLite), local pilot factory, a real workload.

It starts ``panda server`` and ``panda factory`` as real processes, submits Monte Carlo jobs
(pandawms.examples.mc_pi) with a few that fail on purpose (exit codes, a memory hog, a walltime overrun)
so retries and error codes show up, follows progress live and prints a summary by state and error code.
Two sites have their own storage (cli/demo_data.py): an input dataset is uploaded at one, and jobs reading
it run where the data is or wait in ``assigned`` until their inputs are copied; outputs are shipped to
LOCAL_DISK and downloadable with ``panda download``.
``--once`` exits when the workload is done: 0 if every job reached a final state, 1 if any is stuck.
"""

from __future__ import annotations

import os
import random
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from pandawms.cli import demo_data
from pandawms.core.states import FINAL_STATES
from pandawms.protocol.display import STATE_ORDER
from pandawms.protocol.errorcodes import describe

FINAL = {s.value for s in FINAL_STATES}
# Demo-scale watchdogs: a pilot that dies is noticed in a minute, not in two hours.
DEMO_SERVER_ENV = {
    "PANDA_WATCHDOG_INTERVAL": "2",
    "PANDA_WATCHDOG_LOST_HEARTBEAT": "60",
    "PANDA_WATCHDOG_SENT_TIMEOUT": "120",
    "PANDA_TRANSFERS_INTERVAL": "1",
}
DATA_JOBS = 8
FACTORY_TOML = """\
[factory]
cycle_interval = 2.0
max_new_workers = 10
workdir = "{workdir}"
worker_dir_retention = 0.0

[factory.pilot]
heartbeat = 5.0
lifetime = 3600.0
kill_grace = 3.0
memory_factor = 2.0
looping_timeout = 300.0
max_empty = 2
storage_dir = "{storage}"

[[queue]]
name = "LOCAL_SMALL"
max_workers = 2
max_queued = 2
[queue.backend]
type = "local"
cancel_grace = 15.0

[[queue]]
name = "LOCAL_MEDIUM"
max_workers = 3
max_queued = 3
[queue.backend]
type = "local"
cancel_grace = 15.0

[[queue]]
name = "LOCAL_HIMEM"
max_workers = 1
max_queued = 1
[queue.backend]
type = "local"
cancel_grace = 15.0
"""


@dataclass(frozen=True)
class DemoConfig:
    port: int
    data_dir: Path
    jobs: int
    once: bool
    timeout: float
    seed: int = 20261122


def build_workload(n: int, python: str, seed: int) -> list[dict[str, Any]]:
    """n Monte Carlo jobs; about 1 in 25 fails on purpose in one of three ways."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        lfn = f"mc_pi.{i:05d}.json"
        args = [
            "--seed",
            str(rng.randrange(1 << 30)),
            "--samples",
            str(rng.randrange(300_000, 1_500_000)),
            "--output",
            lfn,
        ]
        job: dict[str, Any] = {
            "jobName": f"demo.mc_pi.{i:05d}",
            "prodUserName": "demo",
            "maxAttempt": 2,
            "minRamCount": 500,
            "maxWalltime": 120,
            "files": [{"lfn": lfn, "type": "output", "dataset": "demo.mc_pi"}],
        }
        kind = i % 25
        if kind == 7:
            args += ["--exit-code", "3"]  # payload failure -> retried, fails again
        elif kind == 13:
            args += ["--hog-mb", "900", "--sleep", "30"]  # > 2 x 300 MB -> memory kill 1235
            job["minRamCount"] = 300
        elif kind == 19:
            args += ["--sleep", "60"]  # exceeds maxWalltime 8 s -> walltime kill 1213
            job["maxWalltime"] = 8
        elif kind % 5 == 0:
            job["coreCount"] = 2  # multicore jobs go to the bigger queues
        job["transformation"] = f"{shlex.quote(python)} -m pandawms.examples.mc_pi"
        job["jobParameters"] = shlex.join(args)
        out.append(job)
    return out


@contextmanager
def _process(cmd: Sequence[str], log: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(api: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(api + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not start within 60 s; see {log}")


def _all_jobs(client: httpx.Client) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 5000, **({"before_id": cursor} if cursor else {})}
        page = client.get("/job/list", params=params).json()["data"]
        out.extend(page["jobs"])
        cursor = page["next_before_id"]
        if cursor is None:
            return out


def _histories(client: httpx.Client, jobs: list[dict[str, Any]]) -> dict[int, list[str]]:
    """The status histories of the data jobs (a few calls)."""
    out: dict[int, list[str]] = {}
    for j in jobs:
        if str(j.get("jobName", "")).startswith(demo_data.JOB_PREFIX):
            page = client.get("/job/get_description", params={"job_id": j["PandaID"]}).json()["data"]
            out[j["PandaID"]] = [h["status"] for h in page["history"]]
    return out


def _progress_table(jobs: list[dict[str, Any]], elapsed: float) -> Table:
    by_queue: dict[str, Counter[str]] = {}
    for j in jobs:
        by_queue.setdefault(j["computingSite"] or "-", Counter())[j["jobStatus"]] += 1
    states = [s for s in STATE_ORDER if any(c[s] for c in by_queue.values())]
    table = Table(title=f"pandawms demo — {len(jobs)} jobs (incl. retries), {elapsed:.0f} s")
    table.add_column("queue")
    for s in states:
        table.add_column(s, justify="right")
    for q in sorted(by_queue):
        table.add_row(q, *[str(by_queue[q][s] or "") for s in states])
    return table


def summary(jobs: list[dict[str, Any]], api: str) -> str:
    states = Counter(j["jobStatus"] for j in jobs)
    lines = ["", "Summary by state: " + ", ".join(f"{s} {states[s]}" for s in STATE_ORDER if states[s])]
    errors: Counter[tuple[str, int]] = Counter()
    for j in jobs:
        for e in j["errors"]:
            errors[(e["component"], e["code"])] += 1
    if errors:
        lines.append("Errors (component:code, jobs, meaning):")
        for (comp, code), n in errors.most_common():
            info = describe(comp, code)
            lines.append(f"  {comp}:{code:<5} {n:>4}  {info.acronym}: {info.description}")
    retried = sum(1 for j in jobs if j["attemptNr"] > 1)
    lines.append(f"Retries: {retried} job(s) are second attempts of failed ones.")
    server = api.removesuffix("/api/v1")
    failed = next((j["PandaID"] for j in jobs if j["jobStatus"] == "failed"), None)
    lines += [
        "",
        "Where to look next:",
        f"  {server}/errors/                 # the monitor: failures by code, per queue and user",
        f"  {server}/jobs/?jobstatus=failed  # the failed jobs; click any value to filter",
        f"  export PANDA_URL={server}",
        "  .venv/bin/panda jobs --status failed        # the failures, with their error codes",
    ]
    if failed is not None:
        lines += [
            f"  {server}/job/{failed}/           # one job: attributes, history, errors, its log files",
            f"  .venv/bin/panda job {failed}                     # attributes, history, errors explained",
            f"  .venv/bin/panda logs {failed}                    # payload stdout/stderr and pilot log",
        ]
    lines += [
        "  .venv/bin/panda submit --exec 'python3 -c \"print(42)\"'   # your own job",
        f"  {api}/docs                                   # the API",
    ]
    return "\n".join(lines)


def _exit_on_sigterm() -> None:
    """SIGTERM (``kill``, a service manager) exits through the normal path, so the server and factory
    processes this demo started are stopped too instead of being left running."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def run_demo(cfg: DemoConfig, console: Console) -> int:
    _exit_on_sigterm()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    packaged = (resources.files("pandawms.examples") / "queues.toml").read_text()
    with demo_data.demo_sites(cfg.data_dir, packaged) as sites:
        return _run(cfg, console, sites)


def _run(cfg: DemoConfig, console: Console, sites: demo_data.DemoSites) -> int:
    factory_file = cfg.data_dir / "factory.toml"
    factory_file.write_text(
        FACTORY_TOML.format(workdir=cfg.data_dir / "factory", storage=cfg.data_dir / "storage")
        + demo_data.REMOTE_FACTORY_TOML
    )
    api = f"http://127.0.0.1:{cfg.port}/api/v1"
    panda = [sys.executable, "-m", "pandawms.cli.main"]
    server_log, factory_log = cfg.data_dir / "server.log", cfg.data_dir / "factory.log"
    server_cmd = [
        *panda,
        "server",
        "--port",
        str(cfg.port),
        "--data-dir",
        str(cfg.data_dir),
        "--queues",
        str(sites.queues_file),
        "--rses",
        str(sites.rses_file),
        "--log-level",
        "warning",
    ]
    factory_cmd = [*panda, "factory", "--server", api.removesuffix("/api/v1"), "--config", str(factory_file)]
    console.print(f"[bold]pandawms demo[/] — data in {cfg.data_dir}; logs {server_log}, {factory_log}")
    with (
        _process(server_cmd, server_log, DEMO_SERVER_ENV) as server,
        httpx.Client(base_url=api, timeout=120) as client,
    ):
        _wait_healthy(api, server, server_log)
        root = api.removesuffix("/api/v1")
        console.print(f"server up at {api} (OpenAPI: {api}/docs)")
        console.print(f"[bold]monitor: {root}/[/]  (jobs {root}/jobs/, errors {root}/errors/, live)")
        lfns = demo_data.upload_inputs(panda, cfg.data_dir, root, DATA_JOBS, cfg.seed)
        console.print(
            f"uploaded {len(lfns)} input files to REMOTE_DISK ({sites.remote_kind}) as {demo_data.INPUTS}"
        )
        workload = build_workload(cfg.jobs, sys.executable, cfg.seed)
        client.post("/job/submit", json={"jobs": workload}).raise_for_status()
        n_bad = sum(1 for i in range(cfg.jobs) if i % 25 in (7, 13, 19))
        console.print(f"submitted {len(workload)} Monte Carlo jobs, {n_bad} of them designed to fail")
        data = demo_data.data_jobs(lfns, sys.executable, cfg.seed)
        client.post("/job/submit", json={"jobs": data}).raise_for_status()
        console.print(f"submitted {len(data)} jobs reading {demo_data.INPUTS}, outputs to LOCAL_DISK")
        with _process(factory_cmd, factory_log, {}):
            jobs = _follow(client, cfg, console)
            console.print(summary(jobs, api))
            console.print("\n".join(demo_data.data_summary(jobs, _histories(client, jobs), root)))
            stuck = [j for j in jobs if j["jobStatus"] not in FINAL]
            if stuck:
                console.print(
                    f"[red]{len(stuck)} job(s) did not reach a final state within {cfg.timeout:.0f} s[/]"
                )
                return 1
            if not cfg.once:
                _serve_until_interrupted(console, api)
    return 0


def _follow(client: httpx.Client, cfg: DemoConfig, console: Console) -> list[dict[str, Any]]:
    started = time.monotonic()
    jobs = _all_jobs(client)
    with Live(_progress_table(jobs, 0), console=console, refresh_per_second=2, transient=False) as live:
        while time.monotonic() - started < cfg.timeout:
            jobs = _all_jobs(client)
            live.update(_progress_table(jobs, time.monotonic() - started))
            if jobs and all(j["jobStatus"] in FINAL for j in jobs):
                break
            time.sleep(1.0)
    return jobs


def _serve_until_interrupted(console: Console, api: str) -> None:
    root = api.removesuffix("/api/v1")
    console.print(f"\nThe server keeps running: monitor {root}/, API {api} — press Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping")
