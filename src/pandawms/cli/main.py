"""``panda``: one command for the server, benchmarks and (later) pilots, factory and users."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from pandawms import __version__

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
    config: Annotated[Path | None, typer.Option(help="Config file (TOML, [server] table).")] = None,
    no_agents: Annotated[
        bool, typer.Option("--no-agents", help="Do not run watchdog agents in-process.")
    ] = False,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
) -> None:
    """Serve the REST API under /api/v1/ (and run the watchdog agents)."""
    import uvicorn

    from pandawms.config import load_config
    from pandawms.server.app import create_app

    overrides = {
        "host": host,
        "port": port,
        "db_url": db,
        "data_dir": data_dir,
        "queues_file": queues,
        "log_level": log_level,
        "agents": False if no_agents else None,
    }
    try:
        cfg = load_config(config, overrides=overrides)
    except ValueError as exc:
        typer.echo(f"panda server: {exc}", err=True)
        raise typer.Exit(2) from None
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    typer.echo(f"pandawms {__version__} on http://{cfg.host}:{cfg.port}/api/v1/ (db {cfg.resolved_db_url})")
    uvicorn.run(create_app(cfg), host=cfg.host, port=cfg.port, log_level=cfg.log_level, access_log=False)


@bench_app.command("dispatch")
def bench_dispatch(
    backend: Annotated[str, typer.Option(help="sqlite or postgresql.")] = "sqlite",
    jobs: Annotated[int, typer.Option(min=1, help="Jobs per phase.")] = 5000,
    pilots: Annotated[int, typer.Option(min=1, help="Concurrent simulated pilots.")] = 16,
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (default: a fresh private one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Submit N jobs, then K pilots claim and cycle them over real HTTP against a real server process."""
    import json

    from pandawms.bench.dispatch import bench_dispatch as run
    from pandawms.bench.dispatch import database_for

    if backend not in ("sqlite", "postgresql"):
        typer.echo(f"panda bench dispatch: --backend must be sqlite or postgresql, not {backend!r}", err=True)
        raise typer.Exit(2)
    with database_for(backend, db) as (url, workdir):
        result = run(backend, url, jobs, pilots, workdir)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
        return
    for key, value in result.as_dict().items():
        typer.echo(f"{key:>15}: {value}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
