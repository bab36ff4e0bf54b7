"""The bench's servers: a real ``panda server`` in its own process (``server_process``), the database to
benchmark against (``database_for``: the given URL, a fresh SQLite file or a private PostgreSQL, whose
postmaster is kept in ``PRIVATE_POSTMASTERS`` so its CPU can be measured), a process tree's CPU time
from the kernel, and tokens from the issuer on the database."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from pandawms.protocol import paths

QUEUE = "BENCH"
QUEUE_FILE = f'[[queue]]\nname = "{QUEUE}"\ncores = 8\nmax_memory_per_core = 4000\n'
PRIVATE_POSTMASTERS: dict[str, int] = {}  # database_for's private PostgreSQL by URL: its postmaster


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its live children (server workers), from the
    kernel (/proc via psutil), plus the children it already reaped."""
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    own = proc.cpu_times()
    total = own.children_user + own.children_system
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server_process(
    db_url: str,
    workdir: Path,
    *,
    config: str | None = None,
    env: dict[str, str] | None = None,
    queues: str = QUEUE_FILE,
    rses: str | None = None,
    pids: list[int] | None = None,
    auth: bool = False,
    workers: int = 1,
) -> Iterator[str]:
    """A real ``panda server`` in its own process; yields its API base URL (its PID is appended to
    ``pids`` when given, e.g. to sample its memory).

    Agents run only when ``config`` (the text of a config file) is given; ``env`` replaces the child's
    environment (e.g. a PYTHONPATH naming another checkout, to measure old and new code side by side).
    ``queues`` and ``rses`` are the texts of the queue and RSE files. ``auth``: the server requires
    tokens (make them with ``make_token``).
    """
    port = free_port()
    (workdir / "queues.toml").write_text(queues)
    cmd = [
        sys.executable,
        "-m",
        "pandawms.cli.main",
        "server",
        "--port",
        str(port),
        "--db",
        db_url,
        "--queues",
        str(workdir / "queues.toml"),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    if rses is not None:
        (workdir / "rses.toml").write_text(rses)
        cmd += ["--rses", str(workdir / "rses.toml")]
    if auth:
        cmd.append("--auth")
    if config is None:
        cmd.append("--no-agents")
    else:
        (workdir / "server.toml").write_text(config)
        cmd += ["--config", str(workdir / "server.toml")]
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    if pids is not None:
        pids.append(proc.pid)
    base = f"http://127.0.0.1:{port}{paths.API_PREFIX}"
    try:
        _wait_healthy(base, proc, workdir)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], workdir: Path) -> None:
    deadline = time.monotonic() + 120  # a loaded shared machine can take over 30 s to import and migrate
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(workdir / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(base + paths.HEALTH, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become healthy within 120 s")


def make_token(db_url: str, *role_args: str) -> str:
    """A token from the issuer on ``db_url`` (``panda token create``), e.g. ``--role pilot --queue Q``."""
    cmd = [sys.executable, "-m", "pandawms.cli.main", "token", "create", "--db", db_url, *role_args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def database_for(backend: str, db_url: str | None) -> Iterator[tuple[str, Path]]:
    """The URL to benchmark against: the given one, a fresh SQLite file, or a private PostgreSQL."""
    with tempfile.TemporaryDirectory(prefix="panda-bench-") as tmp:
        workdir = Path(tmp)
        if db_url:
            yield db_url, workdir
        elif backend == "sqlite":
            yield f"sqlite:///{workdir / 'bench.db'}", workdir
        else:
            from pandawms.bench.pgserver import PostgresServer

            with PostgresServer(workdir / "pg") as pg:
                url = pg.create_database("bench")
                if pg.pid is not None:
                    PRIVATE_POSTMASTERS[url] = pg.pid
                try:
                    yield url, workdir
                finally:
                    PRIVATE_POSTMASTERS.pop(url, None)
