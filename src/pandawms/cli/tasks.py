"""Task commands of ``panda``: ``task submit FILE``, ``run`` (prun-like), ``tasks``, ``task ID`` and
the task commands (kill, finish, retry, pause, resume, reassign, avalanche); ``watch --task ID`` is
cli/task_watch.py.

Exit codes as cli/common.py: a command the server refused (not allowed in the task's status) exits 1;
an unknown task or bad input 2.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from pandawms.cli import task_render
from pandawms.cli.client import TaskFilter
from pandawms.cli.common import (
    EXIT_FAILED,
    EXIT_USAGE,
    AsJson,
    Labels,
    Server,
    UsageError,
    Users,
    emit_json,
    fail,
    make_console,
    session,
    split_values,
)
from pandawms.cli.task_params import DEFAULT_MERGE, RunOptions, build_run_task, check_params, read_task_file
from pandawms.core.tasks import TaskCommand
from pandawms.protocol.task_commands import TaskCommandAnswer, TaskCommandCode, TaskCommandRequest

TaskArg = Annotated[int, typer.Argument(help="jediTaskID.", min=1, show_default=False)]
TaskStatuses = Annotated[list[str] | None, typer.Option("--status", help="Task status (repeatable or a,b).")]


class TaskGroup(TyperGroup):
    """``panda task ID`` shows the task; ``panda task submit|kill|...`` are the subcommands."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # click's or typer's own Context
        if args and args[0].isdigit():
            args = ["show", *args]
        return super().parse_args(ctx, args)


task_app = typer.Typer(
    cls=TaskGroup,
    no_args_is_help=True,
    help="One task: `panda task ID` shows it; submit a task file; kill, finish, retry, pause, resume, "
    "reassign or avalanche it.",
)


# --- submit and run ----------------------------------------------------------------------------------


def _submit(command: str, params: dict[str, Any], server: str | None, as_json: bool) -> None:
    with session(command, server) as client:
        answer = client.submit_task(params)
    if as_json:
        emit_json(answer)
        return
    typer.echo(str(answer.task_id))
    typer.echo(f"task {answer.task_id} submitted ({answer.status.value})", err=True)


@task_app.command("submit")
def submit(
    task_file: Annotated[
        Path, typer.Argument(help="Task-parameter file, JSON or YAML ('-' reads stdin).", show_default=False)
    ],
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Submit a task from its task-parameter file; prints the new jediTaskID."""
    try:
        params = read_task_file(task_file)
    except UsageError as exc:
        fail("task submit", str(exc), EXIT_USAGE)
    params.setdefault("userName", getpass.getuser())
    _submit("task submit", params, server, as_json)


def _opt(name: str, help_: str, **kw: Any) -> Any:
    return typer.Option(name, help=help_, show_default=False, **kw)


def run(
    exec_: Annotated[str, _opt("--exec", "Command per job; %IN = its inputs, %OUT = its outputs.")],
    out_ds: Annotated[str, _opt("--outDS", "Output dataset (scope:name); also the taskName.")],
    in_ds: Annotated[str | None, _opt("--inDS", "Input dataset (scope:name).")] = None,
    outputs: Annotated[str | None, _opt("--outputs", "Output file names, comma-separated.")] = None,
    n_files_per_job: Annotated[int | None, _opt("--nFilesPerJob", "Input files per job.", min=1)] = None,
    n_gb_per_job: Annotated[float | None, _opt("--nGBPerJob", "Input GB per job.", min=0.001)] = None,
    n_events_per_job: Annotated[int | None, _opt("--nEventsPerJob", "Events per job.", min=1)] = None,
    n_events: Annotated[int | None, _opt("--nEvents", "Events in all (with --noInput).", min=1)] = None,
    max_attempt: Annotated[int | None, _opt("--maxAttempt", "Attempts per file.", min=1)] = None,
    site: Annotated[list[str] | None, _opt("--site", "Allowed queue (repeatable or a,b).")] = None,
    excluded_site: Annotated[list[str] | None, _opt("--excludedSite", "Excluded queue (repeatable).")] = None,
    memory: Annotated[int | None, _opt("--memory", "MB per core.", min=0)] = None,
    n_core: Annotated[int | None, _opt("--nCore", "Cores per job.", min=1)] = None,
    parent_task_id: Annotated[int | None, _opt("--parentTaskID", "Parent task (chaining).", min=1)] = None,
    no_input: Annotated[bool, _opt("--noInput", "No input dataset: --nEvents in --nEventsPerJob.")] = False,
    merge_output: Annotated[bool, _opt("--mergeOutput", "Merge the outputs of the jobs.")] = False,
    merge_script: Annotated[str, _opt("--mergeScript", "Merge command (%IN, %OUT).")] = DEFAULT_MERGE,
    user: Annotated[str | None, _opt("--user", "userName (default: your login).")] = None,
    dry_run: Annotated[bool, _opt("--dry-run", "Print the task parameters, do not submit.")] = False,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Run a command over a dataset as a task, like prun; prints the new jediTaskID."""
    options = RunOptions(
        exec_=exec_,
        out_ds=out_ds,
        user=user or getpass.getuser(),
        in_ds=in_ds,
        outputs=split_values([outputs] if outputs else None),
        n_files_per_job=n_files_per_job,
        n_gb_per_job=n_gb_per_job,
        n_events_per_job=n_events_per_job,
        n_events=n_events,
        max_attempt=max_attempt,
        sites=split_values(site),
        excluded_sites=split_values(excluded_site),
        memory=memory,
        cores=n_core,
        parent_task_id=parent_task_id,
        no_input=no_input,
        merge_output=merge_output,
        merge_exec=merge_script,
    )
    try:
        params = build_run_task(options)
        check_params("run", params)
    except UsageError as exc:
        fail("run", str(exc), EXIT_USAGE)
    if dry_run:
        emit_json(params)
        return
    _submit("run", params, server, as_json)


# --- listings and details ----------------------------------------------------------------------------


def tasks(
    status: TaskStatuses = None,
    user: Users = None,
    label: Labels = None,
    name: Annotated[str | None, typer.Option("--name", help="taskName or a glob (user.alice.*).")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most N tasks.")] = 100,
    before_id: Annotated[
        int | None, typer.Option("--before-id", min=1, help="Next page: tasks older than this jediTaskID.")
    ] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """List tasks, newest first, with their progress in files."""
    selection = TaskFilter(
        split_values(status), split_values(user), split_values(label), name or "", limit, before_id
    )
    with session("tasks", server) as client:
        page = client.list_tasks(selection)
    if as_json:
        emit_json(page)
        return
    make_console().print(task_render.tasks_table(page.tasks))
    if page.next_before_id is not None:
        typer.echo(f"more tasks: add --before-id {page.next_before_id}", err=True)


@task_app.command("show")
def show(task_id: TaskArg, server: Server = None, as_json: AsJson = False) -> None:
    """One task: status, progress in files per dataset, jobs by state, scouts, history, error dialog."""
    with session("task", server) as client:
        record = client.task_details(task_id)
    if as_json:
        emit_json(record)
    else:
        make_console().print(task_render.task_detail(record))


# --- commands ----------------------------------------------------------------------------------------


def _request(task_id: int, **fields: Any) -> TaskCommandRequest:
    return TaskCommandRequest.model_validate({"task_id": task_id, **fields})


_REFUSED_USAGE = frozenset({TaskCommandCode.NOT_FOUND, TaskCommandCode.BAD_TASK_ID})


def send_command(
    command: TaskCommand, request: TaskCommandRequest, server: str | None, as_json: bool
) -> None:
    name = f"task {command.value}"
    with session(name, server) as client:
        answer: TaskCommandAnswer = client.task_command(command, request)
    if as_json:
        emit_json(answer)
    if answer.code is TaskCommandCode.ACCEPTED:
        if not as_json:
            typer.echo(answer.message)
        return
    fail(name, answer.message, EXIT_USAGE if answer.code in _REFUSED_USAGE else EXIT_FAILED)


def _simple(command: TaskCommand, doc: str) -> Callable[..., None]:
    def action(task_id: TaskArg, server: Server = None, as_json: AsJson = False) -> None:
        send_command(command, _request(task_id), server, as_json)

    action.__doc__ = doc
    return action


@task_app.command("finish")
def finish(
    task_id: TaskArg,
    soft: Annotated[
        bool, typer.Option("--soft", help="Let running jobs end instead of killing them.")
    ] = False,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Finish the task: no new jobs; its running jobs are killed (or, with --soft, left to end)."""
    send_command(TaskCommand.FINISH, _request(task_id, soft=soft), server, as_json)


@task_app.command("reassign")
def reassign(
    task_id: TaskArg,
    site: Annotated[str | None, typer.Option("--site", help="Queue the jobs go to instead.")] = None,
    exclude_site: Annotated[
        list[str] | None, typer.Option("--exclude-site", help="Queue to avoid (repeatable).")
    ] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Reassign the task's not-yet-running jobs (to --site, or re-brokered without --exclude-site)."""
    request = _request(task_id, site=site, excluded_sites=list(split_values(exclude_site)))
    send_command(TaskCommand.REASSIGN, request, server, as_json)


def _new_params(values: list[str] | None) -> dict[str, int | float | str | bool]:
    out: dict[str, int | float | str | bool] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param: expected KEY=VALUE, got {item!r}")
        out[key] = int(raw) if raw.lstrip("-").isdigit() else raw
    return out


@task_app.command("retry")
def retry(
    task_id: TaskArg,
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Task parameter to change, KEY=VALUE (ramCount=4000).")
    ] = None,
    server: Server = None,
    as_json: AsJson = False,
) -> None:
    """Retry the task's failed files (a finished, failed, aborted or exhausted task)."""
    try:
        request = _request(task_id, new_params=_new_params(param))
    except UsageError as exc:
        fail("task retry", str(exc), EXIT_USAGE)
    send_command(TaskCommand.RETRY, request, server, as_json)


for _cmd, _doc in (
    (TaskCommand.KILL, "Kill the task: its active jobs are killed, then it is aborted."),
    (TaskCommand.PAUSE, "Pause the task: no new jobs until it is resumed."),
    (TaskCommand.RESUME, "Resume a paused task."),
    (TaskCommand.AVALANCHE, "Skip the rest of scouting: generate all jobs now."),
):
    task_app.command(_cmd.value)(_simple(_cmd, _doc))


def register(app: typer.Typer) -> None:
    """Add ``task ...``, ``tasks`` and ``run`` to the ``panda`` app."""
    app.add_typer(task_app, name="task")
    app.command("tasks")(tasks)
    app.command("run")(run)
