"""``panda bench submit-inputs`` (submission with catalog inputs beside plain submission), ``panda bench
jedi`` (a task through the feeder and the generator) and ``panda bench heartbeat`` (running -> running
updates)."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def bench_submit_inputs(
    backend: Annotated[str, typer.Option(help="sqlite or postgresql.")] = "sqlite",
    jobs: Annotated[int, typer.Option(min=1, help="Jobs per phase.")] = 10_000,
    files_per_job: Annotated[int, typer.Option(min=1, max=100, help="Catalog inputs per job.")] = 5,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: a fresh private one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Submit N plain, N brokered and N jobs with catalog inputs (brokerage by input locality) over real
    HTTP against a real server process; jobs/s of each, side by side."""
    import json

    from pandawms.bench.servers import database_for
    from pandawms.bench.submit_inputs import bench_submit_inputs as run

    if backend not in ("sqlite", "postgresql"):
        typer.echo(
            f"panda bench submit-inputs: --backend must be sqlite or postgresql, not {backend!r}", err=True
        )
        raise typer.Exit(2)
    with database_for(backend, db) as (url, workdir):
        result = run(backend, url, jobs, files_per_job, workdir)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    for key, value in result.as_dict().items():
        typer.echo(f"{key:>15}: {value}")


def bench_jedi(
    backend: Annotated[str, typer.Option(help="sqlite or postgresql.")] = "sqlite",
    files: Annotated[int, typer.Option(min=1, help="Input files of the task.")] = 100_000,
    files_per_job: Annotated[int, typer.Option(min=1, max=200, help="nFilesPerJob of the task.")] = 1,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: a fresh private one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    run_files: Annotated[
        int | None,
        typer.Option(
            "--run",
            min=1,
            help="Instead: a task of this many files (1 per job) run to done by simulated pilots, every "
            "file checked; wall time and jobs/s.",
        ),
    ] = None,
    pilots: Annotated[int, typer.Option(min=1, max=64, help="Pilot threads of --run.")] = 4,
    server_path: Annotated[
        str | None,
        typer.Option(help="Run the server from this checkout's src (e.g. main's, for a before/after)."),
    ] = None,
) -> None:
    """A task of N catalog files through a real server's ContentsFeeder and JobGenerator: files loaded/s,
    time from task/submit to the first activated job, jobs generated/s, the server's memory (samples
    during generation, peak). With --run N: a task run end to end by simulated pilots."""
    import json

    from pandawms.bench.jedi import bench_jedi as run
    from pandawms.bench.jedi_run import bench_jedi_run
    from pandawms.bench.servers import database_for

    if backend not in ("sqlite", "postgresql"):
        typer.echo(f"panda bench jedi: --backend must be sqlite or postgresql, not {backend!r}", err=True)
        raise typer.Exit(2)
    with database_for(backend, db) as (url, workdir):
        if run_files is not None:
            result: Any = bench_jedi_run(backend, url, run_files, workdir, pilots, server_path=server_path)
        else:
            result = run(backend, url, files, files_per_job, workdir, server_path=server_path)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    for key, value in result.as_dict().items():
        typer.echo(f"{key:>28}: {value}")


def bench_heartbeat(
    backend: Annotated[str, typer.Option(help="sqlite or postgresql.")] = "sqlite",
    jobs: Annotated[int, typer.Option(min=1, help="Running jobs the heartbeats are for.")] = 2000,
    pilots: Annotated[int, typer.Option(min=1, help="Concurrent simulated pilots.")] = 8,
    beats: Annotated[int, typer.Option(min=1, help="Heartbeats to send, all pilots together.")] = 20_000,
    bulk: Annotated[
        int,
        typer.Option(min=0, max=500, help="K > 0: heartbeats of K jobs per call (pilot/update_jobs_bulk)."),
    ] = 0,
    auth: Annotated[bool, typer.Option("--auth", help="Server requires tokens; clients send them.")] = False,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: a fresh private one).")
    ] = None,
    server_path: Annotated[
        str | None,
        typer.Option(help="Run the server from this checkout's src (old vs new in one sitting)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Start N jobs, then K pilots send running -> running updates for them over real HTTP against a real
    server process: heartbeats/s, p50/p99 and the server's CPU per heartbeat."""
    import json

    from pandawms.bench.heartbeat import bench_heartbeat as run
    from pandawms.bench.jedi import server_env
    from pandawms.bench.servers import database_for

    if backend not in ("sqlite", "postgresql"):
        typer.echo(
            f"panda bench heartbeat: --backend must be sqlite or postgresql, not {backend!r}", err=True
        )
        raise typer.Exit(2)
    with database_for(backend, db) as (url, workdir):
        env = server_env(server_path)
        result = run(backend, url, jobs, pilots, beats, workdir, bulk=bulk, auth=auth, env=env)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    for key, value in result.as_dict().items():
        typer.echo(f"{key:>28}: {value}")
