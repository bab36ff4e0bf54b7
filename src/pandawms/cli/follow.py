"""Following jobs: ``panda watch`` (live table until the jobs end) and ``panda logs`` (the log tarball,
or the pilot log the server kept while there is no tarball yet).
"""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live

from pandawms.cli import render
from pandawms.cli.client import JobFilter, PandaClient, PandaClientError
from pandawms.cli.common import (
    _MAX_RETRY_CHAIN,
    EXIT_FAILED,
    FINAL,
    LOG_MEMBERS,
    AsJson,
    Hours,
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
from pandawms.cli.render import WatchRow
from pandawms.cli.task_watch import watch_task
from pandawms.protocol.jobs import JobRecord

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
    task: Annotated[
        int | None, typer.Option("--task", min=1, help="Follow a task's progress in files instead.")
    ] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between refreshes.")] = 5.0,
    once: Annotated[bool, typer.Option("--once", help="Print one frame and exit.")] = False,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Follow jobs (by ID, along their retries, or by filter) until all are final.

    Exit 0 when every selected job finished, 1 when one ended failed/cancelled/closed (with --once: 1
    as soon as one has ended so, else 0). With --task: until the task is final; 0 when it is done.
    """
    selection = JobFilter(
        split_values(status), split_values(queue), split_values(user), split_values(label), hours, limit
    )
    has_filter = bool(selection.params().keys() - {"limit"})
    with session("watch", server) as client:
        if task is not None:
            if job_ids or has_filter:
                raise UsageError("--task follows one task: give no job IDs or job filters with it")
            raise typer.Exit(watch_task(client, task, interval, once, as_json))
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
    console = make_console()
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
        emit_json({"final": _all_final(rows), "counts": counts, "jobs": [r.as_json() for r in rows]})
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
            desc = client.describe(job_id)  # 404 here: no such job -> exit 2
            if out is None and desc.pilot_log:
                _print_text("pilot log (sent with the last update; no tarball yet)", desc.pilot_log)
            fail("logs", f"no log for job {job_id} ({desc.job.job_status}): {exc.message}", EXIT_FAILED)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            if out is not None:
                _extract(archive, out)
            else:
                _print_members(archive)
    except tarfile.TarError as exc:
        fail("logs", f"cannot read the log tarball of job {job_id}: {exc}", EXIT_FAILED)


def _extract(archive: tarfile.TarFile, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    try:
        archive.extractall(out, filter="data")
    except (tarfile.TarError, OSError) as exc:
        fail("logs", f"cannot extract into {out}: {exc}", EXIT_FAILED)
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
        _print_text(member.name, handle.read().decode("utf-8", errors="replace") if handle else "")


def _print_text(name: str, text: str) -> None:
    typer.echo(f"==> {name} <==")
    typer.echo(text if text.endswith("\n") or not text else text + "\n", nl=False)
