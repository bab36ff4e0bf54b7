"""``panda``: one command for the server, benchmarks and (later) pilots, factory and users."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from pandawms import __version__
from pandawms.cli.auth import register as register_auth_commands
from pandawms.cli.bench_data import bench_heartbeat, bench_jedi, bench_submit_inputs
from pandawms.cli.data import register as register_data_commands
from pandawms.cli.login import register as register_login_command
from pandawms.cli.tasks import register as register_task_commands
from pandawms.cli.transfer_data import register as register_upload_commands
from pandawms.cli.transfers import register as register_transfer_commands
from pandawms.cli.user import register as register_user_commands
from pandawms.protocol.pilot_options import DEFAULTS as _PILOT
from pandawms.protocol.pilot_options import PilotOptions, option_field

app = typer.Typer(name="panda", help="pandawms: the PanDA workload management system.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (figures go in docs/benchmarks.md).", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pandawms {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """pandawms command line."""


@app.command()
def server(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 25080).")] = None,
    db: Annotated[
        str | None, typer.Option("--db", help="SQLAlchemy URL; default a SQLite file in the data dir.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default ~/.local/share/pandawms).")
    ] = None,
    queues: Annotated[Path | None, typer.Option(help="Queue file (TOML, [[queue]] tables).")] = None,
    rses: Annotated[
        Path | None, typer.Option(help="RSE file (TOML: rse tables and a distances table).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Config file (TOML, [server] table).")] = None,
    no_agents: Annotated[
        bool, typer.Option("--no-agents", help="Do not run watchdog agents in-process.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=256,
            help="Server processes on this port (default 1; more need PostgreSQL). The agents run in one "
            "process of all servers on the database (a lease).",
        ),
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
    auth: Annotated[
        bool | None, typer.Option("--auth/--no-auth", help="Require tokens (default: [server.auth] enabled).")
    ] = None,
    ssl_certfile: Annotated[Path | None, typer.Option(help="TLS certificate (PEM) to serve https.")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    ssl_ca_certs: Annotated[
        Path | None,
        typer.Option(
            help="CA bundle: clients may present a certificate it verifies ([server.auth] cert_roles)."
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The URL users reach this server at, behind a proxy (https://host/prefix): the links "
            "panda login hands out start there ([server] public_url, PANDA_PUBLIC_URL)."
        ),
    ] = None,
) -> None:
    """Serve the REST API under /api/v1/ (and run the watchdog agents)."""
    import ssl

    from pandawms.config import load_config
    from pandawms.server.processes import check_workers, configure_logging, serve
    from pandawms.server.tls import ClientCertProtocol

    overrides = {
        "host": host,
        "port": port,
        "db_url": db,
        "data_dir": data_dir,
        "queues_file": queues,
        "rses_file": rses,
        "log_level": log_level,
        "agents": False if no_agents else None,
        "workers": workers,
        "ssl_certfile": ssl_certfile,
        "ssl_keyfile": ssl_keyfile,
        "ssl_ca_certs": ssl_ca_certs,
        "public_url": public_url,
        "auth": {"enabled": auth} if auth is not None else None,
    }
    try:
        cfg = load_config(config, overrides=overrides)
    except ValueError as exc:
        typer.echo(f"panda server: {exc}", err=True)
        raise typer.Exit(2) from None
    problem = check_workers(cfg)
    if problem is not None:
        typer.echo(f"panda server: {problem}", err=True)
        raise typer.Exit(2)
    configure_logging(cfg.log_level)
    scheme = "https" if cfg.ssl_certfile else "http"
    typer.echo(
        f"pandawms {__version__} on {scheme}://{cfg.host}:{cfg.port}/api/v1/ (db {cfg.resolved_db_url}, "
        f"{cfg.workers} worker{'s' if cfg.workers > 1 else ''})"
    )
    status = serve(
        cfg,
        host=cfg.host,
        port=cfg.port,
        log_level=cfg.log_level,
        access_log=False,
        ssl_certfile=str(cfg.ssl_certfile) if cfg.ssl_certfile else None,
        ssl_keyfile=str(cfg.ssl_keyfile) if cfg.ssl_keyfile else None,
        ssl_ca_certs=str(cfg.ssl_ca_certs) if cfg.ssl_ca_certs else None,
        ssl_cert_reqs=ssl.CERT_OPTIONAL if cfg.ssl_ca_certs else ssl.CERT_NONE,
        **({"http": ClientCertProtocol} if cfg.ssl_ca_certs else {}),
    )
    if status:
        raise typer.Exit(status)


@app.command()
def agents(
    db: Annotated[
        str | None, typer.Option("--db", help="SQLAlchemy URL; default a SQLite file in the data dir.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default ~/.local/share/pandawms).")
    ] = None,
    queues: Annotated[Path | None, typer.Option(help="Queue file (TOML, [[queue]] tables).")] = None,
    rses: Annotated[
        Path | None, typer.Option(help="RSE file (TOML: rse tables and a distances table).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Config file (TOML, [server] table).")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
) -> None:
    """Run the periodic agents without the API, until SIGTERM/Ctrl-C (servers then run `--no-agents`,
    or keep theirs: the agents run in one process of all of them, the holder of a database lease)."""
    import signal
    import threading

    from pandawms.config import load_config
    from pandawms.server.processes import configure_logging, run_agents

    overrides = {"db_url": db, "data_dir": data_dir, "queues_file": queues, "rses_file": rses}
    try:
        cfg = load_config(config, overrides={**overrides, "log_level": log_level})
    except ValueError as exc:
        typer.echo(f"panda agents: {exc}", err=True)
        raise typer.Exit(2) from None
    configure_logging(cfg.log_level)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    typer.echo(f"pandawms {__version__} agents on {cfg.resolved_db_url}")
    try:
        run_agents(cfg, stop)
    except ValueError as exc:
        typer.echo(f"panda agents: {exc}", err=True)
        raise typer.Exit(2) from None


def _pilot_flag(name: str) -> Any:
    """The flag of one pilot option, with the help and minimum of its definition (PilotOptions)."""
    meta = option_field(name).metadata
    return typer.Option(help=meta["help"], min=meta["min"])


@app.command()
def pilot(
    queue: Annotated[str, typer.Option(help="PanDA queue (computingSite) to take jobs from.")],
    server: Annotated[
        str | None, typer.Option(help="Server URL (default $PANDA_URL or http://127.0.0.1:25080).")
    ] = None,
    workdir: Annotated[Path | None, typer.Option(help="Work directory (default ./pandawms-pilot).")] = None,
    worker_id: Annotated[int | None, typer.Option(help="Factory worker id this pilot runs as.")] = None,
    # the launcher's options: protocol.pilot_options.PilotOptions (names, defaults and help live there)
    lifetime: Annotated[float, _pilot_flag("lifetime")] = _PILOT.lifetime,
    heartbeat: Annotated[float, _pilot_flag("heartbeat")] = _PILOT.heartbeat_interval,
    memory: Annotated[int, _pilot_flag("memory")] = _PILOT.memory_mb,
    disk: Annotated[int, _pilot_flag("disk")] = _PILOT.disk_mb,
    cores: Annotated[int, _pilot_flag("cores")] = _PILOT.cores,
    max_jobs: Annotated[int, _pilot_flag("max_jobs")] = _PILOT.max_jobs,
    memory_factor: Annotated[float, _pilot_flag("memory_factor")] = _PILOT.memory_limit_factor,
    kill_grace: Annotated[float, _pilot_flag("kill_grace")] = _PILOT.kill_grace,
    looping_timeout: Annotated[float, _pilot_flag("looping_timeout")] = _PILOT.looping_timeout,
    storage_dir: Annotated[Path | None, _pilot_flag("storage_dir")] = _PILOT.storage_dir,
    storage_config: Annotated[Path | None, _pilot_flag("storage_config")] = _PILOT.storage_config,
    token_file: Annotated[Path | None, _pilot_flag("token_file")] = _PILOT.token_file,
    ca_file: Annotated[Path | None, _pilot_flag("ca_file")] = _PILOT.ca_file,
    cert_file: Annotated[Path | None, _pilot_flag("cert_file")] = _PILOT.cert_file,
    stageout_attempts: Annotated[int, _pilot_flag("stageout_attempts")] = _PILOT.stageout_attempts,
    max_empty: Annotated[int, _pilot_flag("max_empty")] = _PILOT.max_empty_acquires,
    label: Annotated[str | None, _pilot_flag("label")] = _PILOT.prod_source_label,
) -> None:
    """Run a pilot: take jobs for QUEUE, run them under limits, report, and exit with the shell contract."""
    import os
    import sys

    from pandawms.pilot import PilotConfig, run_pilot
    from pandawms.pilot.config import batch_id_from_env
    from pandawms.pilot.slots import batch_resources_from_env

    options = PilotOptions(
        lifetime=lifetime,
        heartbeat_interval=heartbeat,
        memory_mb=memory,
        disk_mb=disk,
        cores=cores,
        max_jobs=max_jobs,
        memory_limit_factor=memory_factor,
        kill_grace=kill_grace,
        looping_timeout=looping_timeout,
        storage_dir=storage_dir,
        storage_config=storage_config,
        token_file=token_file,
        ca_file=ca_file,
        cert_file=cert_file,
        stageout_attempts=stageout_attempts,
        max_empty_acquires=max_empty,
        prod_source_label=label,
    )
    cfg = PilotConfig.launched(
        options,
        server_url=server or os.environ.get("PANDA_URL") or "http://127.0.0.1:25080",
        queue=queue,
        workdir=workdir or Path.cwd() / "pandawms-pilot",
        worker_id=worker_id,
        batch_id=batch_id_from_env(os.environ),
        batch_resources=batch_resources_from_env(os.environ),
    )
    sys.exit(run_pilot(cfg))


@app.command()
def factory(
    config: Annotated[
        Path,
        typer.Option(help="Factory config (TOML: [factory], [factory.pilot], [[queue]] + [queue.backend])."),
    ],
    server: Annotated[
        str | None, typer.Option(help="Server URL (default $PANDA_URL, else server_url in the file).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    status: Annotated[
        bool, typer.Option("--status", help="Print the running factory's workers per batch state and exit.")
    ] = False,
) -> None:
    """Keep pilots flowing to the configured queues until SIGTERM/Ctrl-C (or, with --status, show them)."""
    import os
    import sys

    from pandawms.factory import load_factory_config, run_factory
    from pandawms.factory.status import read_status, render_status

    level = log_level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        typer.echo(f"panda factory: --log-level: unknown level {log_level!r}", err=True)
        raise typer.Exit(2)
    try:
        cfg = load_factory_config(config, server_url=server or os.environ.get("PANDA_URL"))
    except ValueError as exc:
        typer.echo(f"panda factory: {exc}", err=True)
        raise typer.Exit(2) from None
    if status:
        try:
            typer.echo(render_status(read_status(cfg.workdir)))
        except ValueError as exc:
            typer.echo(f"panda factory --status: {exc}", err=True)
            raise typer.Exit(1) from None
        return
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    sys.exit(run_factory(cfg))


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit when the tasks are over (0 = all done or finished).")
    ] = False,
    jobs: Annotated[
        int, typer.Option(min=1, max=1000, help="Jobs of the Monte Carlo generation task (its output files).")
    ] = 12,
    port: Annotated[int, typer.Option(help="Server port.")] = 25080,
    data_dir: Annotated[Path | None, typer.Option(help="Data directory (default: a new temp dir).")] = None,
    timeout: Annotated[
        float, typer.Option(help="Give up on unfinished tasks after this many seconds.")
    ] = 900.0,
) -> None:
    """Run the whole system on this machine: server, local pilot factory and a real workload."""
    import tempfile

    from rich.console import Console

    from pandawms.cli.demo import DemoConfig, run_demo

    folder = data_dir or Path(tempfile.mkdtemp(prefix="panda-demo-"))
    cfg = DemoConfig(port=port, data_dir=folder, jobs=jobs, once=once, timeout=timeout)
    raise typer.Exit(run_demo(cfg, Console()))


@app.command()
def seed(
    jobs: Annotated[int, typer.Option(min=1, max=50_000_000, help="Jobs to create (retries included).")],
    db: Annotated[
        str | None, typer.Option("--db", help="SQLAlchemy URL; default the server's SQLite file.")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (default ~/.local/share/pandawms).")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="Config file (TOML, [server] table).")] = None,
    random_seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same history).")] = 1,
) -> None:
    """Fill a task buffer with a realistic history (states, queues, users, errors, retries over weeks).

    For demos and monitor benchmarks: about 35,000 jobs a day ending now, on 12 queues with their own
    error mixes, from 19 users. Adds to what is there; use a fresh --db or --data-dir for a clean history.
    """
    import time
    from datetime import UTC, datetime

    from pandawms.config import load_config
    from pandawms.monitor.seed import seed_url

    try:
        cfg = load_config(config, overrides={"db_url": db, "data_dir": data_dir})
    except ValueError as exc:
        typer.echo(f"panda seed: {exc}", err=True)
        raise typer.Exit(2) from None
    cfg.data_dir.expanduser().mkdir(parents=True, exist_ok=True)
    url = cfg.resolved_db_url
    typer.echo(f"seeding {jobs:,} jobs into {url} ...")
    started = time.perf_counter()
    seed_url(url, jobs, now=datetime.now(UTC).replace(tzinfo=None), seed=random_seed)
    took = time.perf_counter() - started
    typer.echo(f"seeded {jobs:,} jobs in {took:.1f} s ({jobs / took:,.0f} jobs/s)")


@bench_app.command("dispatch")
def bench_dispatch(
    backend: Annotated[str, typer.Option(help="sqlite or postgresql.")] = "sqlite",
    jobs: Annotated[int, typer.Option(min=1, help="Jobs per phase.")] = 5000,
    pilots: Annotated[int, typer.Option(min=1, help="Concurrent simulated pilots.")] = 16,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: a fresh private one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    auth: Annotated[bool, typer.Option("--auth", help="Server requires tokens; clients send them.")] = False,
    workers: Annotated[
        int, typer.Option(min=1, max=256, help="Server processes (panda server --workers; >1: PostgreSQL).")
    ] = 1,
    server_path: Annotated[
        str | None,
        typer.Option(help="Run the server from this checkout's src (old vs new in one sitting)."),
    ] = None,
    bulk: Annotated[
        int,
        typer.Option(
            min=0, max=500, help="K > 0: each pilot is a factory acquiring and updating K jobs per call."
        ),
    ] = 0,
    backlog: Annotated[
        int,
        typer.Option(
            min=0,
            max=10_000_000,
            help="B activated jobs kept in the table throughout (1/50 on the bench queue at a lower "
            "priority, the rest on 49 other queues), to measure dispatch at scale.",
        ),
    ] = 0,
    agents: Annotated[
        bool,
        typer.Option(
            "--agents", help="The server runs its periodic agents (default settings), as in production."
        ),
    ] = False,
) -> None:
    """Submit N jobs, then K pilots claim and cycle them over real HTTP against a real server process."""
    import json

    from pandawms.bench.dispatch import bench_dispatch as run
    from pandawms.bench.jedi import server_env
    from pandawms.bench.servers import database_for

    if backend not in ("sqlite", "postgresql"):
        typer.echo(f"panda bench dispatch: --backend must be sqlite or postgresql, not {backend!r}", err=True)
        raise typer.Exit(2)
    with database_for(backend, db) as (url, workdir):
        env = server_env(server_path)
        result = run(
            backend,
            url,
            jobs,
            pilots,
            workdir,
            auth=auth,
            env=env,
            bulk=bulk,
            workers=workers,
            backlog=backlog,
            agents=agents,
        )
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    for key, value in result.as_dict().items():
        typer.echo(f"{key:>25}: {value}")


bench_app.command("submit-inputs")(bench_submit_inputs)
bench_app.command("jedi")(bench_jedi)
bench_app.command("heartbeat")(bench_heartbeat)


@bench_app.command("transfers")
def bench_transfers(
    files: Annotated[int, typer.Option(min=1, help="Files per case.")] = 200,
    size: Annotated[int, typer.Option(min=16, help="Bytes per file (e.g. 10000, 1000000000).")] = 10_000,
    concurrency: Annotated[int, typer.Option(min=1, help="Agent copies (and raw tool threads) at once.")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """The transfer agent (POSIX->POSIX, ->XRootD, ->S3) against cp, xrdcp and boto3 on the same files."""
    import json

    from pandawms.bench.transfers import bench_transfers as run

    rows = run(files, size, concurrency)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows]))
        return
    typer.echo(f"{files} files of {size:,} bytes, concurrency {concurrency}")
    typer.echo(
        f"{'case':<16} {'agent files/s':>13} {'MB/s':>8}   {'raw tool':<16} {'files/s':>8} {'MB/s':>8}"
    )
    for r in rows:
        typer.echo(
            f"{r.case:<16} {r.agent_files_per_s:>13,.1f} {r.agent_mb_per_s:>8.2f}   {r.raw_tool:<16} "
            f"{r.raw_files_per_s:>8,.1f} {r.raw_mb_per_s:>8.2f}"
        )


@bench_app.command("latency")
def bench_latency(
    pilots: Annotated[int, typer.Option(min=1, help="Simulated pilots.")] = 16,
    rate: Annotated[float, typer.Option(min=1, help="Pilot requests/s, all pilots together.")] = 100.0,
    submit: Annotated[int, typer.Option(min=1, help="Jobs in the one big submit.")] = 10_000,
    watchdog_jobs: Annotated[int, typer.Option(min=1, help="Jobs the watchdog ends in one batch.")] = 1000,
    server_pythonpath: Annotated[
        str | None, typer.Option(help="PYTHONPATH of the server process (to measure another checkout).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Pilot acquire/update latency (SQLite) while a big submit and a watchdog batch run."""
    import json
    import os

    from pandawms.bench.latency import bench_latency as run
    from pandawms.bench.servers import database_for

    env = None if server_pythonpath is None else {**os.environ, "PYTHONPATH": server_pythonpath}
    with database_for("sqlite", None) as (url, workdir):
        result = run(url, workdir, pilots=pilots, rate=rate, submit_n=submit, stale_n=watchdog_jobs, env=env)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    for key, value in result.as_dict().items():
        typer.echo(f"{key:>15}: {value}")


@bench_app.command("monitor")
def bench_monitor_pages(
    server: Annotated[
        str | None, typer.Option(help="Server root URL (default $PANDA_URL or http://127.0.0.1:25080).")
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, max=1000, help="Timed requests per page.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """Time the monitor's pages (JSON twins and HTML) on a running, seeded server over HTTP."""
    import json
    import os

    from pandawms.bench.monitor import as_dicts, bench_monitor

    url = server or os.environ.get("PANDA_URL") or "http://127.0.0.1:25080"
    try:
        timings = bench_monitor(url.removesuffix("/api/v1"), repeat)
    except (RuntimeError, OSError) as exc:
        typer.echo(f"panda bench monitor: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(as_dicts(timings)))
        return
    typer.echo(f"{'page':24s} {'median':>9s} {'worst':>9s} {'cached':>9s} {'bytes':>10s}  path")
    for t in timings:
        flag = "  <-- over 300 ms" if t.median_ms > 300 else ""
        typer.echo(
            f"{t.label:24s} {t.median_ms:7.1f}ms {t.worst_ms:7.1f}ms {t.cached_ms:7.1f}ms "
            f"{t.bytes:10,d}  {t.path}{flag}"
        )


def main() -> None:
    app()


register_user_commands(app)
register_data_commands(app)
register_transfer_commands(app)
register_upload_commands(app)
register_task_commands(app)
register_auth_commands(app)
register_login_command(app)


if __name__ == "__main__":
    main()
