"""User commands of ``panda``: submit, jobs, job, kill, retry, queues, queue-status (watch and logs:
cli/follow.py). Exit codes and the shared session: cli/common.py.
"""

from __future__ import annotations

import getpass
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError

from pandawms.cli import render
from pandawms.cli.client import JobFilter, QueueSummary
from pandawms.cli.common import (
    _SHELL_CHARS,
    EXIT_FAILED,
    FINAL,
    AsJson,
    Hours,
    JobIds,
    Labels,
    Queues,
    Server,
    Statuses,
    UsageError,
    Users,
    emit_json,
    fail,
    make_console,
    session,
    split_values,
)
from pandawms.cli.follow import logs, watch
from pandawms.cli.job_list import jobs_table
from pandawms.core.specs import QueueStatus
from pandawms.protocol.jobs import JobActionResult, JobSubmission
from pandawms.protocol.suggest import did_you_mean

# --- submit --------------------------------------------------------------------------------------------


def exec_job(command: str) -> dict[str, Any]:
    """transformation + jobParameters for ``--exec``: argv[0] and the rest, or ``/bin/sh -c`` when the
    command needs a shell (pipes, redirections, ``;``/``&&``, variables, globs, ``VAR=value`` prefixes)."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise UsageError(f"--exec: cannot parse {command!r}: {exc}") from None
    if not argv:
        raise UsageError("--exec: empty command")
    if _SHELL_CHARS & set(command) or "=" in argv[0]:
        return {"transformation": "/bin/sh", "jobParameters": "-c " + shlex.quote(command)}
    return {"transformation": argv[0], "jobParameters": shlex.join(argv[1:])}


def _source_name(path: Path) -> str:
    return "stdin" if str(path) == "-" else str(path)


def read_job_file(path: Path) -> list[dict[str, Any]]:
    """A JSON or YAML file (``-`` = stdin) holding one job, a list of jobs or ``{"jobs": [...]}``."""
    name = _source_name(path)
    try:
        text = sys.stdin.read() if name == "stdin" else path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read job file {name}: {exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{name}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    if isinstance(data, dict) and "jobs" in data:
        data = data["jobs"]
    jobs = [data] if isinstance(data, dict) else data
    if not isinstance(jobs, list) or not jobs:
        raise UsageError(f"{name}: expected a job object, a list of jobs or {{'jobs': [...]}}")
    for i, job in enumerate(jobs):
        if not isinstance(job, dict):
            raise UsageError(f"{name}: job #{i + 1}: expected an object with job fields, got {job!r:.80}")
    return jobs


def validate_jobs(source: str, jobs: Sequence[dict[str, Any]]) -> list[JobSubmission]:
    out = []
    for i, job in enumerate(jobs):
        try:
            out.append(JobSubmission.model_validate(job))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "job"
            got = f" (got {err['input']!r:.60})" if err["type"] != "missing" else ""
            hint = did_you_mean(JobSubmission, err)
            raise UsageError(f"{source}: job #{i + 1}: {field}: {err['msg']}{got}{hint}") from None
    return out


def submit(
    job_file: Annotated[
        Path | None,
        typer.Argument(help="Job file, JSON or YAML: one job, a list, or {jobs: [...]}; '-' reads stdin."),
    ] = None,
    exec_: Annotated[str | None, typer.Option("--exec", help="Command to run, e.g. 'python ana.py'.")] = None,
    njobs: Annotated[int, typer.Option("--njobs", min=1, max=100_000, help="Copies of the --exec job.")] = 1,
    memory: Annotated[int | None, typer.Option("--memory", min=0, help="minRamCount, MB.")] = None,
    cores: Annotated[int | None, typer.Option("--cores", min=1, help="coreCount.")] = None,
    walltime: Annotated[int | None, typer.Option("--walltime", min=0, help="maxWalltime, s.")] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="Allowed queue (repeatable).")] = None,
    exclude_site: Annotated[
        list[str] | None, typer.Option("--exclude-site", help="Excluded queue (repeatable).")
    ] = None,
    max_attempts: Annotated[int | None, typer.Option("--max-attempts", min=1, help="maxAttempt.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="prodSourceLabel (default: user).")] = None,
    user: Annotated[str | None, typer.Option("--user", help="prodUserName (default: your login).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="jobName (.N appended for --njobs > 1).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the jobs, do not submit.")] = False,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Submit jobs from a job file or an --exec command; prints each new PandaID and its queue.

    Options given with a job file override those fields in every job of the file.
    """
    overrides = {
        "minRamCount": memory,
        "coreCount": cores,
        "maxWalltime": walltime,
        "includedSites": list(site) if site else None,
        "excludedSites": list(exclude_site) if exclude_site else None,
        "maxAttempt": max_attempts,
        "prodSourceLabel": label,
        "prodUserName": user,
    }
    given = {k: v for k, v in overrides.items() if v is not None}
    with session("submit", server) as client:
        source, raw = _job_dicts(job_file, exec_, njobs, name)
        for job in raw:
            job.update(given)
            job.setdefault("prodUserName", getpass.getuser())
        jobs = validate_jobs(source, raw)
        if dry_run:
            emit_json({"jobs": [j.model_dump(by_alias=True, exclude_unset=True, mode="json") for j in jobs]})
            return
        results = client.submit(jobs)
    if as_json:
        emit_json(results)
    else:
        make_console().print(render.submitted_table(results))
    failed = [r.panda_id for r in results if r.job_status in FINAL]
    if failed:
        fail(
            "submit", f"{len(failed)} job(s) could not be placed: {', '.join(map(str, failed))}", EXIT_FAILED
        )


def _job_dicts(
    job_file: Path | None, command: str | None, njobs: int, name: str | None
) -> tuple[str, list[dict[str, Any]]]:
    if (job_file is None) == (command is None):
        raise UsageError("give either a job file or --exec 'command ...'")
    if job_file is not None:
        if njobs != 1:
            raise UsageError("--njobs works with --exec only (a job file lists its jobs)")
        jobs = read_job_file(job_file)
        if name:
            for i, job in enumerate(jobs):
                job["jobName"] = name if len(jobs) == 1 else f"{name}.{i + 1}"
        return _source_name(job_file), jobs
    assert command is not None
    base = exec_job(command)
    stem = name or exec_name(command)
    names = [stem if njobs == 1 else f"{stem}.{i + 1}" for i in range(njobs)]
    return "--exec", [{**base, "jobName": n} for n in names]


MAX_EXEC_NAME = 120  # well inside jobName's 256 characters, with room for ".N"


def exec_name(command: str) -> str:
    """The default jobName of an --exec job: the command with its program's directory dropped
    (``/usr/bin/python3 ana.py`` -> ``python3 ana.py``), so the lists show what ran."""
    program, sep, rest = " ".join(command.split()).partition(" ")
    short = f"{program.rstrip('/').rsplit('/', 1)[-1] or program}{sep}{rest}"
    return short if len(short) <= MAX_EXEC_NAME else short[: MAX_EXEC_NAME - 1] + "…"


# --- listings and details ---------------------------------------------------------------------------


def jobs(
    status: Statuses = None,
    queue: Queues = None,
    user: Users = None,
    label: Labels = None,
    hours: Hours = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most N jobs.")] = 100,
    before_id: Annotated[
        int | None, typer.Option("--before-id", min=1, help="Next page: jobs older than this PandaID.")
    ] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """List jobs, newest first."""
    selection = JobFilter(
        split_values(status),
        split_values(queue),
        split_values(user),
        split_values(label),
        hours,
        limit,
        before_id,
    )
    with session("jobs", server) as client:
        page = client.list_jobs(selection)
        unknown = _unknown_queues(client.list_queues(), selection.queues) if not page.jobs else []
    for name in unknown:
        typer.echo(f"panda jobs: warning: no queue named {name!r} (see `panda queues`)", err=True)
    if as_json:
        emit_json(page)
        return
    make_console().print(jobs_table(page.jobs))
    if page.next_before_id is not None:
        typer.echo(f"more jobs: add --before-id {page.next_before_id}", err=True)


def _unknown_queues(known: Sequence[QueueSummary], asked: Sequence[str]) -> list[str]:
    """The queue names (not patterns) given to --queue that no queue has: why a list came back empty."""
    names = {q.name for q in known}
    return [a for a in asked if not set("*?[") & set(a) and a not in names]


def job(
    job_id: Annotated[int, typer.Argument(help="PandaID.", min=1)],
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """One job: attributes, resources requested and used, errors, status history, brokerage, retries."""
    with session("job", server) as client:
        desc = client.describe(job_id)
    if as_json:
        emit_json(desc)
    else:
        make_console().print(render.job_detail(desc))


def queues(server: Server = None, as_json: AsJson = False) -> None:
    """Queues with their status, limits and job counts."""
    with session("queues", server) as client:
        found = client.list_queues()
    if as_json:
        emit_json(found)
    else:
        make_console().print(render.queues_table(found))


def queue_status(
    name: Annotated[str, typer.Argument(help="Queue name.")],
    status: Annotated[QueueStatus, typer.Argument(help="New status.")],
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Set a queue online, brokeroff, offline or test (brokerage and dispatch follow at once)."""
    with session("queue-status", server) as client:
        queue = client.set_queue_status(name, status.value)
    if as_json:
        emit_json(queue)
    else:
        typer.echo(f"queue {queue.name} is now {queue.status}")


# --- actions -----------------------------------------------------------------------------------------


def _report_actions(command: str, results: Sequence[JobActionResult], as_json: bool) -> None:
    if as_json:
        emit_json(results)
    else:
        make_console().print(render.actions_table(results))
    bad = [r.panda_id for r in results if r.outcome in ("rejected", "notfound")]
    if bad:
        fail(command, f"{len(bad)} of {len(results)} job(s) refused: {', '.join(map(str, bad))}", EXIT_FAILED)


def kill(
    job_ids: JobIds,
    code: Annotated[int, typer.Option("--code", help="PanDA kill code (3 aborted, 9 force kill).")] = 3,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the job's diagnostics).")] = "",
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Kill jobs; jobs held by a pilot end at its next heartbeat (outcome 'requested')."""
    with session("kill", server) as client:
        results = client.kill(job_ids, code, reason)
    _report_actions("kill", results, as_json)


def retry(job_ids: JobIds, server: Server = None, as_json: AsJson = False) -> None:
    """Retry failed, cancelled or closed jobs as new attempts."""
    with session("retry", server) as client:
        results = client.retry(job_ids)
    _report_actions("retry", results, as_json)


def register(app: typer.Typer) -> None:
    """Add the user commands to the ``panda`` app."""
    for name, fn in (
        ("submit", submit),
        ("jobs", jobs),
        ("job", job),
        ("kill", kill),
        ("retry", retry),
        ("watch", watch),
        ("logs", logs),
        ("queues", queues),
        ("queue-status", queue_status),
    ):
        app.command(name)(fn)
