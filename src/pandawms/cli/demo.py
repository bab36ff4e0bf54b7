"""``panda demo``: the whole system on one machine — server (SQLite), local pilot factory, a real workload.

It starts ``panda server`` and ``panda factory`` as real processes and submits the workload as tasks
(cli/demo_tasks.py): a Monte Carlo generation task whose first jobs are scouts, a processing task chained
to it (reading its outputs as they appear, two files per job) in which one file needs more memory than
the task asks for and is retried with more, and a task reading an input dataset uploaded at another
site (cli/demo_data.py: jobs run where the data is or wait while it is copied; outputs shipped to
LOCAL_DISK and downloadable with ``panda download``). It follows the tasks live (files finished of all,
jobs running) and prints a summary: tasks, jobs by state, the scouts' measurements, the memory retry.
``--once`` exits when the workload is over: 0 if every task ended done (or finished), 1 otherwise.
"""

from __future__ import annotations

import os
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

import httpx
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from pandawms.cli import demo_data, demo_tasks
from pandawms.cli.task_render import tasks_table
from pandawms.protocol.display import STATE_ORDER
from pandawms.protocol.jobs import JobRecord
from pandawms.protocol.task_records import TaskSummary

DEMO_SCOUTS = 3
MERGE = True  # mergeOutput on the processing task: its outputs are merged by merge jobs (pmerge)
# Demo-scale watchdogs (a pilot that dies is noticed in a minute, not in two hours) and JEDI agents (scouts
# evaluated and finished tasks post-processed within seconds; 3 scouts per task instead of 10).
DEMO_SERVER_ENV = {
    "PANDA_WATCHDOG_INTERVAL": "2",
    "PANDA_WATCHDOG_LOST_HEARTBEAT": "60",
    "PANDA_WATCHDOG_SENT_TIMEOUT": "120",
    "PANDA_TRANSFERS_INTERVAL": "1",
    "PANDA_JEDI_INTERVAL": "1",
    "PANDA_JEDI_N_SCOUTS": str(DEMO_SCOUTS),
    "PANDA_JEDI_COMMAND_INTERVAL": "1",
    "PANDA_JEDI_SCOUT_INTERVAL": "2",
    "PANDA_JEDI_POSTPROCESSOR_INTERVAL": "2",
}
DATA_FILES = 8
FACTORY_TOML = """\
[factory]
token_file = "{token}"
cycle_interval = 2.0
max_new_workers = 10
workdir = "{workdir}"
worker_dir_retention = 0.0

[factory.pilot]
token_file = "{token}"
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


def _histories(client: httpx.Client, jobs: Sequence[JobRecord], task_id: int) -> dict[int, list[str]]:
    """The status histories of the data task's jobs (a few calls)."""
    return {
        j.panda_id: [h.status for h in demo_tasks.describe_job(client, j.panda_id).history]
        for j in jobs
        if j.task_id == task_id
    }


def _progress(tasks: Sequence[TaskSummary], jobs: Sequence[JobRecord], elapsed: float) -> Group:
    """The tasks (one line each: status, files finished/failed of all, jobs running), then jobs per queue."""
    by_queue: dict[str, Counter[str]] = {}
    for j in jobs:
        by_queue.setdefault(j.computing_site or "-", Counter())[j.job_status] += 1
    states = [s for s in STATE_ORDER if any(c[s] for c in by_queue.values())]
    table = Table(title=f"jobs (attempts) per queue, {elapsed:.0f} s", title_justify="left")
    table.add_column("queue")
    for s in states:
        table.add_column(s, justify="right")
    for q in sorted(by_queue):
        table.add_row(q, *[str(by_queue[q][s] or "") for s in states])
    return Group(tasks_table(tasks), table)


def summary(
    client: httpx.Client, ids: demo_tasks.DemoTaskIds, jobs: Sequence[JobRecord], root: str
) -> list[str]:
    records = demo_tasks.task_records(client, ids.all)
    by_id = {r.task_id: r for r in records}
    retry = demo_tasks.memory_retry(client, jobs, ids.proc, demo_tasks.hog_lfn(ids.gen_jobs))
    return [
        *demo_tasks.tasks_lines(records),
        "",
        *demo_tasks.jobs_lines(jobs),
        *demo_tasks.scouts_lines(by_id[ids.gen], jobs),
        *demo_tasks.retry_lines(retry, by_id.get(ids.proc)),
        *demo_tasks.merge_lines(by_id.get(ids.proc), jobs),
        *demo_data.data_summary(ids.data, jobs, _histories(client, jobs, ids.data), root),
        *demo_tasks.links_lines(root, records),
    ]


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
    panda = [sys.executable, "-m", "pandawms.cli.main"]
    tokens = demo_tokens(panda, cfg.data_dir)
    os.environ["PANDA_TOKEN_FILE"] = str(tokens.admin)  # the demo's own `panda upload` ... children
    factory_file = cfg.data_dir / "factory.toml"
    factory_file.write_text(
        FACTORY_TOML.format(
            workdir=cfg.data_dir / "factory", storage=cfg.data_dir / "storage", token=tokens.factory
        )
        + demo_data.REMOTE_FACTORY_TOML
    )
    api = f"http://127.0.0.1:{cfg.port}/api/v1"
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
        "--auth",
    ]
    factory_cmd = [*panda, "factory", "--server", api.removesuffix("/api/v1"), "--config", str(factory_file)]
    console.print(f"[bold]pandawms demo[/] — data in {cfg.data_dir}; logs {server_log}, {factory_log}")
    with (
        _process(server_cmd, server_log, DEMO_SERVER_ENV) as server,
        httpx.Client(base_url=api, timeout=120, headers=tokens.headers()) as client,
    ):
        _wait_healthy(api, server, server_log)
        root = api.removesuffix("/api/v1")
        console.print(f"server up at {api} (OpenAPI: {api}/docs)")
        console.print(f"[bold]monitor: {root}/[/]  (jobs {root}/jobs/, errors {root}/errors/, live)")
        console.print(
            "tokens required; log in with: panda token create --role user --sub $USER --login "
            f"--server {root} --db sqlite:///{cfg.data_dir / 'panda.db'}"
        )
        lfns = demo_data.upload_inputs(panda, cfg.data_dir, root, DATA_FILES, cfg.seed)
        console.print(
            f"uploaded {len(lfns)} input files to REMOTE_DISK ({sites.remote_kind}) as {demo_data.INPUTS}"
        )
        ids = _submit(client, cfg, console)
        with _process(factory_cmd, factory_log, {}):
            tasks, jobs = _follow(client, cfg, console)
            console.print("\n".join(summary(client, ids, jobs, root)), markup=False, highlight=False)
            if not demo_tasks.tasks_ok(tasks):
                console.print(f"[red]{_what_went_wrong(tasks, cfg.timeout)}[/]")
                return 1
            if not cfg.once:
                _serve_until_interrupted(console, api)
    return 0


@dataclass(frozen=True)
class DemoTokens:
    admin: Path  # the demo's own calls (submit, follow, upload)
    factory: Path  # the factory's and its pilots' (factory + production roles)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin.read_text().strip()}"}


def demo_tokens(panda: Sequence[str], data_dir: Path) -> DemoTokens:
    """The demo's admin token and the factory's (for it and its pilots), from the server's issuer."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{data_dir / 'panda.db'}"
    tokens = DemoTokens(admin=data_dir / "admin.token", factory=data_dir / "factory.token")
    for path, roles in ((tokens.admin, ["admin"]), (tokens.factory, ["factory", "production"])):
        role_args = [a for r in roles for a in ("--role", r)]
        cmd = [*panda, "token", "create", *role_args, "--sub", f"demo-{roles[0]}", "--lifetime", "2d"]
        done = subprocess.run(
            [*cmd, "--out", str(path), "--db", db], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"panda token create failed: {done.stderr.strip()}")
    return tokens


def _submit(client: httpx.Client, cfg: DemoConfig, console: Console) -> demo_tasks.DemoTaskIds:
    python = sys.executable
    gen = demo_tasks.submit(client, demo_tasks.generation_task(python, cfg.jobs, cfg.seed))
    console.print(
        f"task {gen} {demo_tasks.GEN}: {cfg.jobs} jobs of {demo_tasks.EVENTS_PER_JOB} Monte Carlo events "
        f"into {demo_tasks.GEN_DS}, the first {min(DEMO_SCOUTS, cfg.jobs)} of them scouts"
    )
    proc = demo_tasks.submit(client, demo_tasks.processing_task(python, gen, cfg.jobs, merge=MERGE))
    console.print(
        f"task {proc} {demo_tasks.PROC}: chained to task {gen}, combines its outputs 2 files per job "
        f"at {demo_tasks.PROC_RAM_MB} MB; one file needs {demo_tasks.HOG_MB} MB"
    )
    data = demo_tasks.submit(client, demo_data.data_task(python, cfg.seed))
    console.print(
        f"task {data} {demo_data.TASK}: one job per file of {demo_data.INPUTS}, outputs to LOCAL_DISK"
    )
    return demo_tasks.DemoTaskIds(gen, proc, data, cfg.jobs)


def _what_went_wrong(tasks: Sequence[TaskSummary], timeout: float) -> str:
    if not demo_tasks.tasks_over(tasks):
        open_ = ", ".join(
            f"{t.task_id} {t.status.value}" for t in tasks if t.status not in demo_tasks.FINAL_TASK
        )
        return f"task(s) not final within {timeout:.0f} s: {open_}"
    bad = ", ".join(f"{t.task_id} {t.status.value}" for t in tasks if t.status not in demo_tasks.OK_STATUSES)
    return f"task(s) that did not end done or finished: {bad}"


def _follow(
    client: httpx.Client, cfg: DemoConfig, console: Console
) -> tuple[list[TaskSummary], list[JobRecord]]:
    """Live progress until every task is final (or the timeout); the last tasks and jobs seen."""
    started = time.monotonic()
    tasks, jobs = demo_tasks.task_list(client), demo_tasks.all_jobs(client)
    with Live(_progress(tasks, jobs, 0), console=console, refresh_per_second=2, transient=False) as live:
        while time.monotonic() - started < cfg.timeout:
            tasks, jobs = demo_tasks.task_list(client), demo_tasks.all_jobs(client)
            live.update(_progress(tasks, jobs, time.monotonic() - started))
            if demo_tasks.tasks_over(tasks):
                break
            time.sleep(1.0)
    return tasks, jobs


def _serve_until_interrupted(console: Console, api: str) -> None:
    root = api.removesuffix("/api/v1")
    console.print(f"\nThe server keeps running: monitor {root}/, API {api} — press Ctrl-C to stop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping")
