"""Client side of the task commands without a server: what `panda task kill|finish|...` send and how the
answer's code becomes the exit code (a mock transport plays the server), the live bar of `watch --task`
on a terminal, `panda task ID` routing and prun-like parameters that are refused before sending."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from pandawms.cli import common, task_watch
from pandawms.cli.client import PandaClient
from pandawms.cli.common import UsageError
from pandawms.cli.task_params import RunOptions, build_run_task
from pandawms.cli.tasks import register
from pandawms.core.tasks import TaskStatus
from pandawms.core.taskspecs import Task, TaskSpec
from pandawms.protocol.task_records import TaskRecord

NOW = datetime(2026, 1, 1, 12, 0, 0)


class FakeServer:
    """Answers every task command with ``code`` and records the requests."""

    def __init__(self, code: int = 0, message: str = "command queued") -> None:
        self.code, self.message = code, message
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append((request.url.path, body))
        command = request.url.path.rsplit("/", 1)[-1]
        data = {
            "jediTaskID": body["jediTaskID"],
            "command": command,
            "code": self.code,
            "message": self.message,
        }
        return httpx.Response(200, json={"success": True, "message": "", "data": {**data, "commandID": 7}})


@pytest.fixture
def app() -> typer.Typer:
    out = typer.Typer()
    register(out)
    return out


def _run(app: typer.Typer, server: FakeServer, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    def client(url: str, **_options: Any) -> PandaClient:  # auth, verify: not needed by the mock
        return PandaClient(url, transport=httpx.MockTransport(server.handle), retries=0)

    monkeypatch.setattr(common, "PandaClient", client)
    return CliRunner().invoke(app, [*args, "--server", "http://127.0.0.1:1"])


def test_commands_send_the_task_command_request(app: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FakeServer()
    runs = [
        _run(app, server, monkeypatch, "task", "kill", "5"),
        _run(app, server, monkeypatch, "task", "finish", "5", "--soft"),
        _run(app, server, monkeypatch, "task", "retry", "5", "--param", "ramCount=4000", "--param", "x=a"),
        _run(app, server, monkeypatch, "task", "reassign", "5", "--site", "BIG", "--exclude-site", "A,B"),
        _run(app, server, monkeypatch, "task", "pause", "5"),
        _run(app, server, monkeypatch, "task", "resume", "5"),
        _run(app, server, monkeypatch, "task", "avalanche", "5"),
    ]
    assert [r.exit_code for r in runs] == [0] * 7, [r.output for r in runs]
    assert all(r.stdout == "command queued\n" for r in runs)
    assert server.requests == [
        ("/api/v1/task/kill", {"jediTaskID": 5}),
        ("/api/v1/task/finish", {"jediTaskID": 5, "soft": True}),
        ("/api/v1/task/retry", {"jediTaskID": 5, "newParams": {"ramCount": 4000, "x": "a"}}),
        ("/api/v1/task/reassign", {"jediTaskID": 5, "site": "BIG", "excludedSite": ["A", "B"]}),
        ("/api/v1/task/pause", {"jediTaskID": 5}),
        ("/api/v1/task/resume", {"jediTaskID": 5}),
        ("/api/v1/task/avalanche", {"jediTaskID": 5}),
    ]


@pytest.mark.parametrize(("code", "exit_code"), [(4, 1), (3, 1), (2, 2), (101, 2)])
def test_a_refused_command_says_why_and_exits_nonzero(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch, code: int, exit_code: int
) -> None:
    server = FakeServer(code, "kill is not allowed for a done task")
    result = _run(app, server, monkeypatch, "task", "kill", "5")
    assert result.exit_code == exit_code
    assert "panda task kill: kill is not allowed for a done task" in result.stderr


def test_bad_retry_params_are_refused_before_sending(
    app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = FakeServer()
    result = _run(app, server, monkeypatch, "task", "retry", "5", "--param", "ramCount")
    assert result.exit_code == 2 and "--param: expected KEY=VALUE" in result.stderr
    assert server.requests == []


def _record(status: TaskStatus, finished: int, failed: int, total: int = 4) -> TaskRecord:
    task = Task(
        task_id=3,
        spec=TaskSpec(task_name="t", user_name="alice", transformation="run.sh"),
        status=status,
        old_status=None,
        error_dialog="",
        current_priority=1000,
        scout_jobs=0,
        locked_by="",
        creation_time=NOW,
        modification_time=NOW,
        state_change_time=NOW,
        start_time=None,
        end_time=None,
    )
    record = TaskRecord.record(task, [], [], {}, None)
    return record.model_copy(
        update={"n_files": total, "n_files_finished": finished, "n_files_failed": failed}
    )


def test_watch_task_draws_a_bar_of_files_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [
        _record(TaskStatus.RUNNING, 1, 0),
        _record(TaskStatus.RUNNING, 2, 1),
        _record(TaskStatus.FINISHED, 3, 1),
    ]
    monkeypatch.setattr(task_watch, "_sleep", lambda _s: None)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, highlight=False)

    code = task_watch.follow_task(lambda: frames.pop(0), console, 0.1, once=False, as_json=False)

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())  # every redraw, without the escapes
    assert code == 1 and not frames  # finished with a failed file: not done
    assert "task 3 running" in text and "1 failed, 0 running" in text
    assert "4/4" in text and "task 3 finished: files 4/4 ended (3 finished, 1 failed)" in text


def test_prun_like_parameters_refused_on_the_client() -> None:
    base = RunOptions(exec_="run.sh %OUT", out_ds="user.alice:user.alice.x", user="alice", in_ds="u:in")
    with pytest.raises(UsageError, match="--exec: %OUT needs --outputs"):
        build_run_task(base)
    with pytest.raises(UsageError, match="--outputs: 'a b' is not a file name"):
        build_run_task(replace(base, outputs=("a b",)))
    with pytest.raises(UsageError, match="--outDS: cannot tell the scope"):
        build_run_task(replace(base, out_ds="noscope", outputs=("o.root",)))
    two = build_run_task(replace(base, outputs=("a.root", "b.root")))
    assert [i["dataset"] for i in two["jobParameters"][2:]] == [
        "user.alice:user.alice.x_a.root",
        "user.alice:user.alice.x_b.root",
    ]
    assert two["jobParameters"][0]["value"] == "${OUTPUT0},${OUTPUT1}"
