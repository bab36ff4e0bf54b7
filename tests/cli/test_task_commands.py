"""`panda task submit`, `panda run`, `panda tasks`, `panda task ID` and `panda watch --task` against a
real server over HTTP; the task is moved along its states through services/lifecycle_tasks (the agents
that would do it are not this test's subject)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from pandawms.cli import task_watch
from pandawms.cli.tasks import register as register_tasks
from pandawms.cli.user import register as register_user
from pandawms.core.tasks import TaskStatus
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from tests.cli.conftest import Panda
from tests.db.task_helpers import move, task_params
from tests.livesupport.live_server import live_server

T = TaskStatus
NOW = datetime(2026, 1, 1, 12, 0, 0)


@dataclass
class TaskWorld:
    panda: Panda
    db: Database

    def submit(self, name: str = "user.alice.ana.v1", **over: Any) -> int:
        result = self.panda("task", "submit", "-", input=json.dumps(task_params(name, **over)))
        assert result.exit_code == 0, result.output
        return int(result.stdout.strip())

    def counters(self, task_id: int, **values: int) -> None:
        with self.db.write() as conn:
            master = next(d for d in tasks_db.datasets_of(conn, task_id) if d.type.value == "input")
            tasks_db.update_dataset(conn, master.dataset_id, NOW, values)

    def details(self, task_id: int) -> dict[str, Any]:
        result = self.panda("task", str(task_id), "--json")
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data


@pytest.fixture
def world(tmp_path: Path) -> Iterator[TaskWorld]:
    app = typer.Typer()
    register_user(app)
    register_tasks(app)
    with live_server(tmp_path / "srv") as srv:
        db = Database(f"sqlite:///{srv.data_dir / 'panda.db'}")
        try:
            yield TaskWorld(Panda(srv, app, CliRunner()), db)
        finally:
            db.dispose()


# --- task submit ---------------------------------------------------------------------------------------


def test_task_submit_reads_yaml_or_json_and_prints_the_task_id(world: TaskWorld, tmp_path: Path) -> None:
    as_yaml = tmp_path / "task.yaml"
    as_yaml.write_text(yaml.safe_dump(task_params("user.alice.from.yaml")))
    as_json = tmp_path / "task.json"
    as_json.write_text(json.dumps({k: v for k, v in task_params("user.alice.j").items() if k != "userName"}))

    first = world.panda("task", "submit", str(as_yaml))
    second = world.panda("task", "submit", str(as_json), "--json")

    assert first.exit_code == 0, first.output
    task_id = int(first.stdout.strip())
    assert f"task {task_id} submitted (defined)" in first.stderr
    assert second.exit_code == 0, second.output
    answer = json.loads(second.stdout)
    assert answer["status"] == "defined" and answer["jediTaskID"] > task_id
    assert world.details(answer["jediTaskID"])["userName"]  # defaulted to the login name


def test_task_submit_errors_name_the_problem(world: TaskWorld, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("taskName: [unclosed")
    no_sn = task_params("user.alice.nosn")
    no_sn["log"]["value"] = "log.tgz"
    world.submit("user.alice.dup")

    unreadable = world.panda("task", "submit", str(bad))
    refused = world.panda("task", "submit", "-", input=json.dumps(no_sn))
    duplicate = world.panda("task", "submit", "-", input=json.dumps(task_params("user.alice.dup")))

    assert unreadable.exit_code == 2 and "bad.yaml: not valid YAML" in unreadable.stderr
    assert refused.exit_code == 2 and "log.value" in refused.stderr and "${SN}" in refused.stderr
    assert duplicate.exit_code == 2 and "taskName: alice already has an active task" in duplicate.stderr


# --- run -----------------------------------------------------------------------------------------------


RUN = (
    "run", "--exec", "python3 ana.py %IN --out %OUT", "--inDS", "user.alice:in.v1",
    "--outDS", "user.alice:user.alice.run1", "--nFilesPerJob", "2", "--outputs", "out.root",
    "--maxAttempt", "5", "--memory", "1500", "--nCore", "2", "--site", "TEST_QUEUE", "--user", "alice",
)  # fmt: skip


def test_run_dry_run_prints_prun_shaped_task_parameters(world: TaskWorld) -> None:
    result = world.panda(*RUN, "--dry-run")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "taskName": "user.alice.run1",
        "userName": "alice",
        "vo": "atlas",
        "prodSourceLabel": "user",
        "taskType": "anal",
        "processingType": "pandawms-0.1.0-jedi-run",
        "transPath": "python3",
        "jobParameters": [
            {"type": "constant", "value": "ana.py ${IN} --out ${OUTPUT0}"},
            {
                "type": "template",
                "param_type": "input",
                "value": "${IN}",
                "dataset": "user.alice:in.v1",
                "hidden": True,
            },
            {
                "type": "template",
                "param_type": "output",
                "value": "user.alice.run1.${SN}.out.root",
                "dataset": "user.alice:user.alice.run1",
                "hidden": True,
            },
        ],
        "log": {"dataset": "user.alice:user.alice.run1.log", "value": "user.alice.run1.log.${SN}.log.tgz"},
        "nFilesPerJob": 2,
        "maxAttempt": 5,
        "ramCount": 1500,
        "coreCount": 2,
        "includedSite": ["TEST_QUEUE"],
    }
    assert json.loads(world.panda("tasks", "--json").stdout)["tasks"] == []  # nothing submitted


def test_run_without_input_and_with_merging(world: TaskWorld) -> None:
    result = world.panda(
        "run", "--exec", "gen.sh --seed 1 -o %OUT", "--noInput", "--nEvents", "1000",
        "--nEventsPerJob", "100", "--outDS", "user.alice:user.alice.gen", "--outputs", "evt.root",
        "--mergeOutput", "--dry-run",
    )  # fmt: skip
    missing = world.panda("run", "--exec", "x.sh", "--outDS", "user.alice:user.alice.x", "--dry-run")
    no_events = world.panda("run", "--exec", "x.sh", "--noInput", "--outDS", "user.alice:user.alice.x")

    assert result.exit_code == 0, result.output
    p = json.loads(result.stdout)
    assert (p["noInput"], p["nEvents"], p["nEventsPerJob"], p["mergeOutput"]) == (True, 1000, 100, True)
    assert p["mergeSpec"] == {"transPath": "hadd", "jobParameters": "-f ${OUTPUT0} ${IN}"}
    assert [i["param_type"] for i in p["jobParameters"][1:]] == ["output"]
    assert missing.exit_code == 2 and "give --inDS, or --noInput" in missing.stderr
    assert no_events.exit_code == 2 and "noInput: a task without input needs nEvents" in no_events.stderr


def test_run_submits_the_task(world: TaskWorld) -> None:
    result = world.panda(*RUN)

    assert result.exit_code == 0, result.output
    d = world.details(int(result.stdout.strip()))
    assert (d["taskName"], d["status"], d["transPath"], d["splitRule"]) == (
        "user.alice.run1",
        "defined",
        "python3",
        "NF=2",
    )
    assert [(s["type"], s["datasetName"]) for s in d["datasets"]] == [
        ("input", "user.alice:in.v1"),
        ("output", "user.alice:user.alice.run1"),
        ("log", "user.alice:user.alice.run1.log"),
    ]
    assert (d["maxAttempt"], d["ramCount"], d["coreCount"], d["includedSite"]) == (5, 1500, 2, ["TEST_QUEUE"])


# --- tasks and task ID ------------------------------------------------------------------------------


def test_tasks_lists_with_filters_and_task_shows_the_details(world: TaskWorld) -> None:
    old = world.submit("user.alice.old.one")
    task_id = world.submit("user.alice.with.a.rather.long.task.name.that.must.fold.v1")
    move(world.db, task_id, (T.READY, T.SCOUTING), NOW)
    move(world.db, task_id, (T.SCOUTED,), NOW, "scouts: cpuTime 3.2 HS06s/event, ramCount 1200 MB")
    move(world.db, task_id, (T.RUNNING,), NOW)
    world.counters(task_id, n_files=10, n_files_finished=6, n_files_failed=1)
    world.panda.post("/job/submit", {"jobs": [{"transformation": "x", "taskID": task_id}] * 2})
    narrow = {"COLUMNS": "80"}

    listed = world.panda("tasks", env=narrow)
    running = json.loads(world.panda("tasks", "--status", "running", "--json").stdout)["tasks"]
    shown = world.panda("task", str(task_id), env=narrow)

    assert listed.exit_code == 0, listed.output
    assert "2 task(s)" in listed.stdout and str(old) in listed.stdout
    assert "6/10" in listed.stdout and "scouted" not in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    assert [t["jediTaskID"] for t in running] == [task_id]
    assert shown.exit_code == 0, shown.output
    for part in ("Task ", "running", "Datasets", "6/10", "Jobs:", "activated 2", "Scouts (", "cpuTime 0"):
        assert part in shown.stdout, part
    assert "scouts: cpuTime 3.2" in shown.stdout and "Status history" in shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80
    unknown = world.panda("task", "999")
    assert unknown.exit_code == 2 and "task 999 not found" in unknown.stderr


# --- watch --task ------------------------------------------------------------------------------------


def test_watch_task_follows_the_files_until_the_task_is_done(
    world: TaskWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = world.submit()

    def feed() -> None:
        move(world.db, task_id, (T.READY, T.RUNNING), NOW)
        world.counters(task_id, n_files=4)

    def progress() -> None:
        world.counters(task_id, n_files_finished=2, n_files_failed=1)

    def last() -> None:
        world.counters(task_id, n_files_finished=3)
        move(world.db, task_id, (T.PREPARED,), NOW)

    def done() -> None:
        move(world.db, task_id, (T.DONE,), NOW)

    steps: list[Callable[[], None]] = [feed, progress, last, done]
    monkeypatch.setattr(task_watch, "_sleep", lambda _s: steps.pop(0)())

    result = world.panda("watch", "--task", str(task_id), "--interval", "0.1")

    assert result.exit_code == 0, result.output
    assert not steps
    lines = result.stdout.splitlines()
    assert f"task {task_id} defined: files 0/? ended" in lines[0]
    assert any("running: files 3/4 ended (2 finished, 1 failed)" in line for line in lines)
    assert lines[-1] == f"task {task_id} done: files 4/4 ended (3 finished, 1 failed), 0 job(s) running"


def test_watch_task_exit_codes_and_usage(world: TaskWorld) -> None:
    task_id = world.submit()
    move(world.db, task_id, (T.ABORTING, T.ABORTED), NOW)

    ended = world.panda("watch", "--task", str(task_id), "--json")
    mixed = world.panda("watch", "--task", str(task_id), "123")
    unknown = world.panda("watch", "--task", "999")

    assert ended.exit_code == 1 and json.loads(ended.stdout)["status"] == "aborted"
    assert mixed.exit_code == 2 and "--task follows one task" in mixed.stderr
    assert unknown.exit_code == 2 and "task 999 not found" in unknown.stderr
