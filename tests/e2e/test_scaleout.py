"""E2E scale-out on one PostgreSQL: 3 server processes dispatch every job exactly once, the agents run in
one process (the lease holder), and when the holder is SIGKILLed another process takes the agents over.
``panda server --workers 2`` and ``panda agents`` share the same lease."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import func, select

from pandawms.bench.httpclient import MiniHTTP
from pandawms.bench.pgserver import PostgresServer
from pandawms.core.leases import Lease
from pandawms.db.engine import Database
from pandawms.db.schema import agent_leases, job_status_history, jobs
from pandawms.protocol import paths
from pandawms.services import leases
from tests.e2e.conftest import PANDA, free_port, wait_healthy

QUEUE = "SCALE"
QUEUES = f'[[queue]]\nname = "{QUEUE}"\ncores = 8\nmax_memory_per_core = 4000\n'
# short lease, so a take-over is quick; the holder renews every second and may miss a few under load
LEASE_ENV = {"PANDA_LEASE_TTL": "6", "PANDA_LEASE_RENEW_INTERVAL": "1"}
N_JOBS = 1500
N_PILOTS = 12
START_TIMEOUT = 180  # a loaded 2-core machine: imports, migration check, queue sync, per process


@pytest.fixture
def pg_url(pg_server: PostgresServer, pg_template: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"scale{abs(hash(request.node.nodeid)) % 10**8}"
    url = pg_server.create_database(name, template=pg_template)
    yield url
    pg_server.drop_database(name)


@contextlib.contextmanager
def processes(cmds: list[list[str]], logs: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Start every command at once (each in its own session), stop them all after (SIGTERM, then KILL)."""
    logs.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, cmd in enumerate(cmds):
            out = (logs / f"p{i}.log").open("wb")
            env = {**os.environ, **LEASE_ENV}
            procs.append(subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env))
            out.close()
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)


def server_cmd(port: int, url: str, queues: Path, *extra: str) -> list[str]:
    return [*PANDA, "server", "--port", str(port), "--db", url, "--queues", str(queues), *extra]


def wait_all_healthy(apis: list[str], procs: list[subprocess.Popen[bytes]], logs: Path) -> None:
    for api in apis:
        if not wait_healthy(api, timeout=START_TIMEOUT):
            dead = [p.args for p in procs if p.poll() is not None]
            text = "\n".join(f.read_text()[-1500:] for f in sorted(logs.glob("*.log")))
            raise AssertionError(f"{api} not healthy (exited: {dead})\n{text}")


def current_lease(db: Database) -> Lease | None:
    with db.read() as conn:
        return leases.current(conn, "agents")


def holder_pid(lease: Lease) -> int:
    return int(lease.holder.split(":")[1])


def wait_for(what: str, check: Any, timeout: float = 90) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def agent_runs(api: str) -> int:
    """Agent runs a server's runner made (its /health counters): > 0 only in a lease holder."""
    agents = httpx.get(api + paths.HEALTH, timeout=30).json()["data"]["agents"]
    return sum(int(a["runs"]) for a in agents.values())


async def _pilot(api: str, seed: int) -> list[int]:
    """A pilot that claims 1-5 jobs a call on its keep-alive connection until 3 empty answers."""
    http, rng, claimed, misses = MiniHTTP(api), random.Random(seed), [], 0
    try:
        while misses < 3:
            body = {"site_name": QUEUE, "n_jobs": rng.randint(1, 5), "node": f"wn{seed}"}
            status, answer = await http.post_json(paths.PILOT_ACQUIRE_JOBS, body)
            assert status == 200 and answer["success"], answer
            got = [int(j["PandaID"]) for j in answer["data"]["jobs"]]
            claimed += got
            misses = 0 if got else misses + 1
    finally:
        await http.close()
    return claimed


async def _pilots(apis: list[str]) -> list[list[int]]:
    return await asyncio.gather(*(_pilot(apis[i % len(apis)], i) for i in range(N_PILOTS)))


def test_three_servers_dispatch_each_job_once_and_hand_the_agents_over(pg_url: str, tmp_path: Path) -> None:
    queues = tmp_path / "queues.toml"
    queues.write_text(QUEUES)
    ports = [free_port() for _ in range(3)]
    apis = [f"http://127.0.0.1:{p}/api/v1" for p in ports]
    db = Database(pg_url, pool_size=2)
    with processes([server_cmd(p, pg_url, queues) for p in ports], tmp_path / "logs") as procs:
        wait_all_healthy(apis, procs, tmp_path / "logs")
        # given 3 servers on one database: exactly one holds the agents' lease and runs the agents
        lease = wait_for("a lease holder", lambda: current_lease(db))
        by_pid = {p.pid: api for p, api in zip(procs, apis, strict=True)}
        assert holder_pid(lease) in by_pid
        holder_api = by_pid[holder_pid(lease)]
        wait_for("the holder's first agent runs", lambda: agent_runs(holder_api) > 0)
        assert [agent_runs(a) for a in apis if a != holder_api] == [0, 0]

        # when 12 pilots spread over the 3 servers race to claim 1,500 jobs
        job = {"transformation": "/bin/true", "computingSite": QUEUE, "prodUserName": "scale"}
        r = httpx.post(apis[0] + paths.JOB_SUBMIT, json={"jobs": [job] * N_JOBS}, timeout=300)
        assert r.status_code == 200, r.text
        expected = {int(j["PandaID"]) for j in r.json()["data"]}
        results = asyncio.run(_pilots(apis))

        # then every job was handed out exactly once, and every server handed out some
        counts = Counter(pid for claimed in results for pid in claimed)
        assert set(counts) == expected and max(counts.values()) == 1
        per_server = [sum(len(results[i]) for i in range(s, N_PILOTS, 3)) for s in range(3)]
        assert all(n > 0 for n in per_server), per_server
        status_count = select(jobs.c.job_status, func.count()).group_by(jobs.c.job_status)
        history = job_status_history.c
        sent_rows = select(func.count()).select_from(job_status_history).where(history.job_status == "sent")
        with db.read() as conn:
            statuses: dict[str, int] = {str(s): int(n) for s, n in conn.execute(status_count).all()}
            sent = conn.execute(sent_rows).scalar_one()
        assert statuses == {"sent": N_JOBS} and sent == N_JOBS

        # when the lease holder is SIGKILLed (no release)
        lease = wait_for("the lease", lambda: current_lease(db))
        victim = next(p for p in procs if p.pid == holder_pid(lease))
        victim.kill()
        victim.wait(30)
        last = current_lease(db)
        assert last is not None and holder_pid(last) == victim.pid

        # then another server takes it over once it expired, never before, and runs the agents
        def new_lease() -> Lease | None:
            now = current_lease(db)
            return now if now is not None and now.holder != last.holder else None

        taken = wait_for("a take-over", new_lease)
        assert taken.acquired_at >= last.expires_at
        assert holder_pid(taken) in by_pid and holder_pid(taken) != victim.pid
        new_api = by_pid[holder_pid(taken)]
        wait_for("the new holder's agent runs", lambda: agent_runs(new_api) > 0)
        [third] = [a for a in apis if a not in (new_api, by_pid[victim.pid])]
        assert agent_runs(third) == 0
    db.dispose()


def test_workers_and_panda_agents_share_the_lease(pg_url: str, tmp_path: Path) -> None:
    queues = tmp_path / "queues.toml"
    queues.write_text(QUEUES)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api/v1"
    agents_cmd = [*PANDA, "agents", "--db", pg_url, "--queues", str(queues)]
    db = Database(pg_url, pool_size=2)
    cmds = [server_cmd(port, pg_url, queues, "--workers", "2"), agents_cmd]
    with processes(cmds, tmp_path / "logs") as (supervisor, standalone):
        wait_all_healthy([api], [supervisor, standalone], tmp_path / "logs")

        def workers() -> list[int]:  # the supervisor's server processes (not multiprocessing's helper)
            kids = psutil.Process(supervisor.pid).children()
            return [k.pid for k in kids if "resource_tracker" not in " ".join(k.cmdline())]

        first = set(wait_for("2 workers", lambda: len(workers()) == 2 and workers()))
        # given 2 workers and a `panda agents` process: one of the three holds the lease
        lease = wait_for("a lease holder", lambda: current_lease(db))
        contenders = first | {standalone.pid}
        assert holder_pid(lease) in contenders

        # when the holder is SIGKILLed, another takes over after the expiry
        os.kill(holder_pid(lease), signal.SIGKILL)
        last = wait_for("the last renewal", lambda: current_lease(db))

        def new_lease() -> Lease | None:
            now = current_lease(db)
            return now if now is not None and now.holder != last.holder else None

        taken = wait_for("a take-over", new_lease)
        assert taken.acquired_at >= last.expires_at
        if holder_pid(lease) in first:  # a dead worker is replaced by the supervisor
            wait_for("a replacement worker", lambda: len(set(workers()) - first) == 1 and len(workers()) == 2)
        assert httpx.get(api + paths.HEALTH, timeout=30).status_code == 200

        # then on SIGTERM every process stops and the holder releases the lease
        for p in (supervisor, standalone):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        assert {p.wait(60) for p in (supervisor, standalone) if p.pid != holder_pid(lease)} == {0}
        assert released_at(db) is not None  # the survivor holding it let go (renewed_at == expires_at)
    db.dispose()


def released_at(db: Database) -> datetime | None:
    """When the lease was released, or None while it is held (a renewal sets expires_at past renewed_at)."""
    t = agent_leases.c
    with db.read() as conn:
        row = conn.execute(select(t.renewed_at, t.expires_at)).one()
    return row.expires_at if row.expires_at == row.renewed_at else None
