"""User commands of ``panda``: submit, jobs, job, kill, retry, watch, logs, queues, queue-status.

Exit codes: 0 success; 1 the operation ran but something failed (a job not brokered, a kill or retry
refused, a watched job ended unsuccessfully, no log yet); 2 bad usage or bad input (the server's 4xx
message on stderr); 3 the server could not be reached. Errors are one line on stderr, never a traceback.
The server URL is resolved once per invocation: ``--server`` > ``$PANDA_URL`` > http://127.0.0.1:25080.
"""

from __future__ import annotations

import getpass
import io
import json
import os
import shlex
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, NoReturn

import pydantic_core
import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.live import Live

from pandawms.cli import render
from pandawms.cli.client import JobFilter, PandaClient, PandaClientError, resolve_server
from pandawms.cli.render import WatchRow
from pandawms.core.specs import QueueStatus
from pandawms.core.states import FINAL_STATES
from pandawms.protocol.jobs import JobActionResult, JobRecord, JobSubmission

EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 1, 2, 3
LOG_MEMBERS = ("payload.stdout", "payload.stderr", "pilotlog.txt")
FINAL = frozenset(s.value for s in FINAL_STATES)
_SHELL_CHARS = set("|&;<>()$`*?[]#~\n")
_MAX_RETRY_CHAIN = 50

Server = Annotated[
    str | None,
    typer.Option(
        "--server", help="Server URL (default: $PANDA_URL, else http://127.0.0.1:25080).", show_default=False
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
JobIds = Annotated[list[int], typer.Argument(help="PandaID(s).", min=1, show_default=False)]
Statuses = Annotated[list[str] | None, typer.Option("--status", help="Job status (repeatable or a,b).")]
Queues = Annotated[list[str] | None, typer.Option("--queue", help="Queue / computingSite (repeatable).")]
Users = Annotated[list[str] | None, typer.Option("--user", help="prodUserName (repeatable).")]
Labels = Annotated[list[str] | None, typer.Option("--label", help="prodSourceLabel (repeatable).")]
Hours = Annotated[float | None, typer.Option("--hours", min=0.001, help="Modified in the last N hours.")]


class UsageError(Exception):
    """Bad input found on the client side (exit 2)."""


def _fail(command: str, message: str, code: int) -> NoReturn:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"panda {command}: {message}", markup=False)
    raise typer.Exit(code)


def exit_code(err: PandaClientError) -> int:
    if err.unreachable:
        return EXIT_UNREACHABLE
    if err.status is not None and 400 <= err.status < 500:
        return EXIT_USAGE
    return EXIT_FAILED


@contextmanager
def session(command: str, server: str | None) -> Iterator[PandaClient]:
    """A client for this invocation; client and usage errors become a message and an exit code."""
    try:
        url = resolve_server(server, os.environ)
    except ValueError as exc:
        _fail(command, str(exc), EXIT_USAGE)
    try:
        with PandaClient(url) as client:
            yield client
    except PandaClientError as exc:
        _fail(command, exc.message, exit_code(exc))
    except UsageError as exc:
        _fail(command, str(exc), EXIT_USAGE)


def _emit_json(value: object) -> None:
    typer.echo(pydantic_core.to_json(value, by_alias=True, indent=2).decode())


def _console() -> Console:
    return Console(highlight=False, markup=False)  # job data may hold "[...]": never read as markup


def _split(values: Sequence[str] | None) -> tuple[str, ...]:
    return tuple(p.strip() for v in values or () for p in v.replace("|", ",").split(",") if p.strip())


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
            raise UsageError(f"{source}: job #{i + 1}: {field}: {err['msg']}{got}") from None
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
            _emit_json({"jobs": [j.model_dump(by_alias=True, exclude_unset=True, mode="json") for j in jobs]})
            return
        results = client.submit(jobs)
    if as_json:
        _emit_json(results)
    else:
        _console().print(render.submitted_table(results))
    failed = [r.panda_id for r in results if r.job_status in FINAL]
    if failed:
        _fail(
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
    names = [name if njobs == 1 else f"{name}.{i + 1}" for i in range(njobs)] if name else [None] * njobs
    return "--exec", [{**base, **({"jobName": n} if n else {})} for n in names]


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
    selection = JobFilter(_split(status), _split(queue), _split(user), _split(label), hours, limit, before_id)
    with session("jobs", server) as client:
        page = client.list_jobs(selection)
    if as_json:
        _emit_json(page)
        return
    _console().print(render.jobs_table(page.jobs))
    if page.next_before_id is not None:
        typer.echo(f"more jobs: add --before-id {page.next_before_id}", err=True)


def job(
    job_id: Annotated[int, typer.Argument(help="PandaID.", min=1)],
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """One job: attributes, resources requested and used, errors, status history, brokerage, retries."""
    with session("job", server) as client:
        desc = client.describe(job_id)
    if as_json:
        _emit_json(desc)
    else:
        _console().print(render.job_detail(desc))


def queues(server: Server = None, as_json: AsJson = False) -> None:
    """Queues with their status, limits and job counts."""
    with session("queues", server) as client:
        found = client.list_queues()
    if as_json:
        _emit_json(found)
    else:
        _console().print(render.queues_table(found))


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
        _emit_json(queue)
    else:
        typer.echo(f"queue {queue.name} is now {queue.status}")


# --- actions -----------------------------------------------------------------------------------------


def _report_actions(command: str, results: Sequence[JobActionResult], as_json: bool) -> None:
    if as_json:
        _emit_json(results)
    else:
        _console().print(render.actions_table(results))
    bad = [r.panda_id for r in results if r.outcome in ("rejected", "notfound")]
    if bad:
        _fail(
            command, f"{len(bad)} of {len(results)} job(s) refused: {', '.join(map(str, bad))}", EXIT_FAILED
        )


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


# --- watch -------------------------------------------------------------------------------------------


class IdSelection:
    """Jobs named by ID, each followed along its retry chain to the latest attempt."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.current = {i: i for i in dict.fromkeys(ids)}
        self.known: dict[int, WatchRow] = {}  # details fetched once: site, and final rows

    def rows(self, client: PandaClient) -> list[WatchRow]:
        for _ in range(_MAX_RETRY_CHAIN):
            pending = [c for c in dict.fromkeys(self.current.values()) if not self._settled(c)]
            entries = client.get_status(pending) if pending else []
            missing = [e.panda_id for e in entries if e.job_status is None]
            if missing:
                raise UsageError(f"job(s) not found: {', '.join(map(str, missing))}")
            moved = False
            for e in entries:
                assert e.job_status is not None
                known = self.known.get(e.panda_id)
                if e.job_status in FINAL or known is None or known.site is None:
                    moved |= self._refresh(client, e.panda_id)
                else:
                    self.known[e.panda_id] = WatchRow(e.panda_id, e.job_status, e.attempt_nr, known.site)
            if not moved:
                break
        return [self._row(origin, cur) for origin, cur in self.current.items()]

    def _settled(self, pid: int) -> bool:
        row = self.known.get(pid)
        return row is not None and row.status in FINAL

    def _refresh(self, client: PandaClient, pid: int) -> bool:
        """Fetch one job's details; follow it to its retry when it ended unsuccessfully (True)."""
        desc = client.describe(pid)
        j = desc.job
        if j.job_status in FINAL and j.job_status != "finished" and desc.retries:
            for origin, cur in self.current.items():
                if cur == pid:
                    self.current[origin] = desc.retries[-1]
            return True
        self.known[pid] = _row_of(j)
        return False

    def _row(self, origin: int, current: int) -> WatchRow:
        row = self.known.get(current) or WatchRow(current, None)  # None: still being followed
        return WatchRow(
            row.panda_id, row.status, row.attempt, row.site, origin if origin != current else None, row.error
        )


def _row_of(j: JobRecord) -> WatchRow:
    return WatchRow(j.panda_id, j.job_status, j.attempt_nr, j.computing_site, error=render.first_error(j))


def filter_rows(client: PandaClient, selection: JobFilter) -> list[WatchRow]:
    """Every job matching the filter (up to its limit), minus attempts superseded by a retry."""
    records: list[JobRecord] = []
    cursor: int | None = None
    while len(records) < selection.limit:
        page = client.list_jobs(replace(selection, before_id=cursor))
        records.extend(page.jobs)
        cursor = page.next_before_id
        if cursor is None:
            break
    parents = {r.parent_id for r in records if r.parent_id}
    return [_row_of(r) for r in records[: selection.limit] if r.panda_id not in parents]


def watch_exit(rows: Sequence[WatchRow]) -> int:
    """1 when a selected job ended unsuccessfully for good (its latest attempt), else 0."""
    return EXIT_FAILED if any(r.status in FINAL and r.status != "finished" for r in rows) else 0


def _all_final(rows: Sequence[WatchRow]) -> bool:
    return all(r.status in FINAL for r in rows)


def watch(
    job_ids: Annotated[
        list[int] | None, typer.Argument(help="PandaID(s) to watch.", show_default=False)
    ] = None,
    status: Statuses = None,
    queue: Queues = None,
    user: Users = None,
    label: Labels = None,
    hours: Hours = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most N jobs for a filter.")] = 1000,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between refreshes.")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Follow jobs (by ID, along their retries, or by filter) until all are final.

    Exit 0 when every selected job finished, 1 when one ended failed/cancelled/closed (with --once: 1
    as soon as one has ended so, else 0).
    """
    selection = JobFilter(_split(status), _split(queue), _split(user), _split(label), hours, limit)
    has_filter = bool(selection.params().keys() - {"limit"})
    with session("watch", server) as client:
        if bool(job_ids) == has_filter:
            raise UsageError("give job IDs or a filter (--status, --queue, --user, --label, --hours)")
        by_id = IdSelection(job_ids or [])
        fetch: Callable[[], list[WatchRow]] = (
            (lambda: by_id.rows(client)) if job_ids else (lambda: filter_rows(client, selection))
        )
        what = f"jobs {', '.join(map(str, job_ids))}" if job_ids else _describe_filter(selection)
        rows = _watch_loop(fetch, f"watching {what}", interval, once, as_json)
    raise typer.Exit(watch_exit(rows))


def _describe_filter(selection: JobFilter) -> str:
    params = selection.params()
    params.pop("limit")
    return " ".join(f"{k}={v}" for k, v in params.items())


def _sleep(seconds: float) -> None:
    """Between watch frames (a seam for tests that move jobs on while the watch waits)."""
    time.sleep(seconds)


def _watch_loop(
    fetch: Callable[[], list[WatchRow]], header: str, interval: float, once: bool, as_json: bool
) -> list[WatchRow]:
    console = _console()
    rows = fetch()
    if once or _all_final(rows):
        _show_frame(console, rows, header, as_json)
        return rows
    if console.is_terminal and not as_json:
        with Live(render.watch_frame(rows, header), console=console, auto_refresh=False) as live:
            while not _all_final(rows):
                _sleep(interval)
                rows = fetch()
                live.update(render.watch_frame(rows, header), refresh=True)
        return rows
    last = ""
    while True:
        line = render.counts_line(render.count_states(r.status for r in rows)).plain
        if line != last and not as_json:
            typer.echo(f"{time.strftime('%H:%M:%S')} {line}")
            last = line
        if _all_final(rows):
            break
        _sleep(interval)
        rows = fetch()
    _show_frame(console, rows, header, as_json)
    return rows


def _show_frame(console: Console, rows: Sequence[WatchRow], header: str, as_json: bool) -> None:
    if as_json:
        counts = render.count_states(r.status for r in rows)
        _emit_json({"final": _all_final(rows), "counts": counts, "jobs": [r.as_json() for r in rows]})
    else:
        console.print(render.watch_frame(rows, header))


# --- logs --------------------------------------------------------------------------------------------


def logs(
    job_id: Annotated[int, typer.Argument(help="PandaID.", min=1)],
    out: Annotated[
        Path | None, typer.Option("--out", help="Extract the log tarball into this directory instead.")
    ] = None,
    server: Server = None,
) -> None:
    """Print the job's payload stdout/stderr and pilot log from its log tarball (or extract it).

    Exit 1 when the job exists but has no log yet (pilots upload it when the job ends); 2 when no such job.
    """
    with session("logs", server) as client:
        try:
            data = client.download_log(job_id)
        except PandaClientError as exc:
            if exc.status != 404:
                raise
            status = client.describe(job_id).job.job_status  # 404 here: no such job -> exit 2
            _fail("logs", f"no log for job {job_id} ({status}): {exc.message}", EXIT_FAILED)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            if out is not None:
                _extract(archive, out)
            else:
                _print_members(archive)
    except tarfile.TarError as exc:
        _fail("logs", f"cannot read the log tarball of job {job_id}: {exc}", EXIT_FAILED)


def _extract(archive: tarfile.TarFile, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    try:
        archive.extractall(out, filter="data")
    except (tarfile.TarError, OSError) as exc:
        _fail("logs", f"cannot extract into {out}: {exc}", EXIT_FAILED)
    for member in archive.getmembers():
        if member.isfile():
            typer.echo(str(out / member.name))


def _print_members(archive: tarfile.TarFile) -> None:
    files = [m for m in archive.getmembers() if m.isfile()]
    known = {PurePosixPath(m.name).name: m for m in files}
    chosen = [known[n] for n in LOG_MEMBERS if n in known] or files
    if not chosen:
        typer.echo("(the log tarball is empty)", err=True)
    for member in chosen:
        handle = archive.extractfile(member)
        text = handle.read().decode("utf-8", errors="replace") if handle else ""
        typer.echo(f"==> {member.name} <==")
        typer.echo(text if text.endswith("\n") or not text else text + "\n", nl=False)


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
