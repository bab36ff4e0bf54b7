"""Task commands: queue() follows COMMAND_ALLOWED_FROM with PanDA's codes; the commando carries each one
out (kill, finish soft/hard, pause/resume, reassign, avalanche) through the task and job lifecycles."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Connection

from pandawms.core.errors import InvalidInput
from pandawms.core.states import JobStatus
from pandawms.core.task_commands import CommandOutcome
from pandawms.core.tasks import COMMAND_ALLOWED_FROM, TaskCommand, TaskFileStatus, TaskStatus
from pandawms.db import task_commands as commands_db
from pandawms.db import tasks as tasks_db
from pandawms.db.engine import Database
from pandawms.protocol.task_commands import TaskCommandCode, TaskCommandRequest
from pandawms.services import postprocessor, task_commands
from tests.conftest import DEFAULT_QUEUES, add_queues
from tests.db.task_control_helpers import add_rows, dispatch, drive, end_job, job_status, new_task, task_jobs

NOW = datetime(2026, 12, 2, 8, 0, 0)
T = TaskStatus
C = TaskCommand
F = TaskFileStatus


def _request(task_id: int, **kw: object) -> TaskCommandRequest:
    return TaskCommandRequest.model_validate({"jediTaskID": task_id, "requestedBy": "alice", **kw})


def _status(conn: Connection, task_id: int) -> TaskStatus:
    task = tasks_db.get_task(conn, task_id)
    assert task is not None
    return task.status


def _run(conn: Connection, task_id: int, command: TaskCommand, **kw: object) -> tuple[CommandOutcome, str]:
    answer = task_commands.queue(conn, command, _request(task_id, **kw), NOW)
    assert answer.code is TaskCommandCode.ACCEPTED, answer
    assert task_commands.execute_pending(conn, NOW, 10) >= 1
    [row] = [c for c in commands_db.commands_of(conn, task_id) if c.command_id == answer.command_id]
    assert row.outcome is not None and row.processed_at == NOW
    return row.outcome, row.reason


@pytest.fixture
def queues(db: Database) -> Database:
    add_queues(db, DEFAULT_QUEUES, NOW)
    return db


def test_queue_answers_by_the_command_table(queues: Database) -> None:
    with queues.write() as conn:
        tasks = {}
        for status in TaskStatus:
            tasks[status] = new_task(conn, NOW, name=f"t.{status.value}").task_id
            drive(conn, tasks[status], status, NOW)
        answers = {
            (command, status): task_commands.queue(conn, command, _request(task_id, site="SMALL"), NOW)
            for command in TaskCommand
            for status, task_id in tasks.items()
        }
    for (command, status), answer in answers.items():
        allowed = status in COMMAND_ALLOWED_FROM[command]
        expected = TaskCommandCode.ACCEPTED if allowed else TaskCommandCode.NOT_ALLOWED
        assert answer.code is expected, (command, status, answer)
        assert (answer.command_id is not None) == allowed
        if not allowed:
            assert f"{command.value} is not allowed for a {status.value} task" in answer.message


ARGS: dict[TaskCommand, dict[str, object]] = {C.REASSIGN: {"site": "BIG"}, C.FINISH: {"soft": True}}


def test_every_command_runs_from_every_status_it_is_allowed_from(queues: Database) -> None:
    with queues.write() as conn:
        cases = []
        for command, allowed in COMMAND_ALLOWED_FROM.items():
            for status in sorted(allowed):
                task_id = new_task(conn, NOW, name=f"t.{command.value}.{status.value}").task_id
                drive(conn, task_id, status, NOW)
                answer = task_commands.queue(conn, command, _request(task_id, **ARGS.get(command, {})), NOW)
                assert answer.code is TaskCommandCode.ACCEPTED, answer
                cases.append((command, status, task_id))
        task_commands.execute_pending(conn, NOW, 1000)
        outcomes = {
            (command, status): (row.outcome, row.reason)
            for command, status, task_id in cases
            for row in commands_db.commands_of(conn, task_id)
        }
    failed = {k: v for k, v in outcomes.items() if v[0] is not CommandOutcome.DONE}
    assert failed == {} and len(outcomes) == len(cases)


def test_unknown_task_repeat_and_bad_arguments(queues: Database) -> None:
    with queues.write() as conn:
        task_id = new_task(conn, NOW).task_id
        drive(conn, task_id, T.RUNNING, NOW)
        missing = task_commands.queue(conn, C.KILL, _request(999), NOW)
        first = task_commands.queue(conn, C.PAUSE, _request(task_id), NOW)
        again = task_commands.queue(conn, C.PAUSE, _request(task_id), NOW)
        other = task_commands.queue(conn, C.KILL, _request(task_id), NOW)
        failed = new_task(conn, NOW, name="t2").task_id
        drive(conn, failed, T.FAILED, NOW)
        with pytest.raises(InvalidInput, match=r"newParams\.nope: not a parameter") as bad:
            task_commands.queue(conn, C.RETRY, _request(failed, newParams={"nope": 1}), NOW)
        with pytest.raises(InvalidInput, match="site: unknown queue 'NOWHERE'"):
            task_commands.queue(conn, C.REASSIGN, _request(task_id, site="NOWHERE"), NOW)
        with pytest.raises(InvalidInput, match="newParams: only a retry"):
            task_commands.queue(conn, C.PAUSE, _request(task_id, newParams={"ramCount": 1}), NOW)
        queued = commands_db.commands_of(conn, task_id)
    assert missing.code is TaskCommandCode.NOT_FOUND and missing.message == "task 999 not found"
    assert first.code is again.code is TaskCommandCode.ACCEPTED
    assert again.command_id == first.command_id and "already queued" in again.message
    assert other.command_id not in (None, first.command_id)
    assert bad.value.field == "newParams.nope"
    assert [(c.command, c.requested_by, c.outcome) for c in queued] == [
        (C.PAUSE, "alice", None),
        (C.KILL, "alice", None),
    ]


def test_kill_ends_queued_jobs_at_once_and_aborts_when_the_last_job_ends(queues: Database) -> None:
    with queues.write() as conn:
        task_id = new_task(conn, NOW).task_id
        drive(conn, task_id, T.RUNNING, NOW)
        queued, running = task_jobs(conn, task_id, 2, NOW)
        dispatch(conn, running, NOW)
        outcome, reason = _run(conn, task_id, C.KILL)
        during = _status(conn, task_id), job_status(conn, queued), job_status(conn, running)
        end_job(conn, running, JobStatus.CANCELLED, NOW)  # the pilot obeyed tobekilled
        batch = postprocessor.postprocess(conn, NOW, 10)
        after = tasks_db.get_task(conn, task_id)
    assert outcome is CommandOutcome.DONE and reason == "aborting: 2 job(s) killed"
    assert during == (T.ABORTING, ("cancelled", "tobekilled"), ("running", "tobekilled"))
    assert batch.moved == 1
    assert (
        after is not None
        and after.status is T.ABORTED
        and after.error_dialog == "killed by alice; no job left"
    )


def test_kill_without_active_jobs_aborts_at_once(queues: Database) -> None:
    with queues.write() as conn:
        task_id = new_task(conn, NOW).task_id
        drive(conn, task_id, T.PENDING, NOW)
        outcome, reason = _run(conn, task_id, C.KILL)
        status = _status(conn, task_id)
    assert (outcome, reason, status) == (
        CommandOutcome.DONE,
        "aborting: 0 job(s) killed; aborted: no job left",
        T.ABORTED,
    )


def _finishing_task(conn: Connection) -> tuple[int, int]:
    ids = new_task(conn, NOW)
    drive(conn, ids.task_id, T.RUNNING, NOW)
    add_rows(conn, ids.task_id, ids.input_id, [("a", F.FINISHED), ("b", F.READY), ("c", F.RUNNING)], NOW)
    [running] = task_jobs(conn, ids.task_id, 1, NOW)
    dispatch(conn, running, NOW)
    return ids.task_id, running


def test_soft_finish_waits_for_running_jobs(queues: Database) -> None:
    with queues.write() as conn:
        task_id, running = _finishing_task(conn)
        outcome, reason = _run(conn, task_id, C.FINISH, soft=True)
        during = _status(conn, task_id), job_status(conn, running)
        postprocessor.postprocess(conn, NOW, 10)
        still = _status(conn, task_id)
        end_job(conn, running, JobStatus.FINISHED, NOW)
        postprocessor.postprocess(conn, NOW, 10)
        after = tasks_db.get_task(conn, task_id)
        history = [h.status for h in tasks_db.history(conn, task_id)]
    assert (outcome, reason) == (CommandOutcome.DONE, "finishing (soft): running jobs may end")
    assert during == (T.FINISHING, ("running", "")) and still is T.FINISHING
    assert after is not None and after.status is T.FINISHED
    assert after.error_dialog == "2 of 3 input files did not finish: b, c"
    assert history[-3:] == ["finishing", "passed", "finished"]


def test_hard_finish_kills_the_jobs_and_finalises_at_once(queues: Database) -> None:
    with queues.write() as conn:
        task_id, running = _finishing_task(conn)
        outcome, reason = _run(conn, task_id, C.FINISH)
        job = job_status(conn, running)
        status = _status(conn, task_id)
    assert outcome is CommandOutcome.DONE
    assert reason == "finishing (hard): 1 job(s) killed; finished: no job left"
    assert job[0] == "cancelled" and status is T.FINISHED


def test_pause_and_resume_round_trip(queues: Database) -> None:
    with queues.write() as conn:
        task_id = new_task(conn, NOW).task_id
        drive(conn, task_id, T.SCOUTING, NOW)
        paused = _run(conn, task_id, C.PAUSE)
        during = tasks_db.get_task(conn, task_id)
        resumed = _run(conn, task_id, C.RESUME)
        status = _status(conn, task_id)
    assert paused == (CommandOutcome.DONE, "paused (was scouting)")
    assert during is not None and during.status is T.PAUSED and during.old_status is T.SCOUTING
    assert resumed == (CommandOutcome.DONE, "resumed: scouting") and status is T.SCOUTING


def test_reassign_closes_queued_jobs_and_changes_the_sites(queues: Database) -> None:
    with queues.write() as conn:
        task_id = new_task(conn, NOW, included_sites=("SMALL",), excluded_sites=("X",)).task_id
        drive(conn, task_id, T.RUNNING, NOW)
        queued, running = task_jobs(conn, task_id, 2, NOW)
        dispatch(conn, running, NOW)
        outcome, reason = _run(conn, task_id, C.REASSIGN, site="BIG", excludedSite=["SMALL"])
        task = tasks_db.get_task(conn, task_id)
        jobs = job_status(conn, queued), job_status(conn, running)
        history = [(h.status, h.reason) for h in tasks_db.history(conn, task_id)][-2:]
    assert outcome is CommandOutcome.DONE, reason
    assert reason == "1 queued job(s) closed; running with sites BIG, excluding X, SMALL"
    assert task is not None and task.status is T.RUNNING
    assert (task.spec.included_sites, task.spec.excluded_sites) == (("BIG",), ("X", "SMALL"))
    assert jobs == (("closed", "tobekilled"), ("running", ""))
    assert history == [
        ("toreassign", "reassigned to BIG by alice"),
        ("running", "reassigned to BIG by alice: 1 queued job(s) closed"),
    ]


def test_reassign_of_a_pending_task_goes_back_to_ready(queues: Database) -> None:
    with queues.write() as conn:
        task_id = new_task(conn, NOW).task_id
        drive(conn, task_id, T.PENDING, NOW)
        outcome, _reason = _run(conn, task_id, C.REASSIGN, excludedSite=["SMALL"])
        status = _status(conn, task_id)
    assert outcome is CommandOutcome.DONE and status is T.READY


@pytest.mark.parametrize("start", [T.SCOUTING, T.READY])
def test_avalanche_skips_scouting(queues: Database, start: TaskStatus) -> None:
    with queues.write() as conn:
        task_id = new_task(conn, NOW, split_rule="NF=2").task_id
        drive(conn, task_id, start, NOW)
        outcome, reason = _run(conn, task_id, C.AVALANCHE)
        task = tasks_db.get_task(conn, task_id)
    assert outcome is CommandOutcome.DONE
    assert task is not None and task.spec.split_rule == "NF=2,SK=1"
    expected = (
        (T.RUNNING, "scouting skipped: running")
        if start is T.SCOUTING
        else (T.READY, "scouting will be skipped")
    )
    assert (task.status, reason) == expected


def test_a_command_the_task_outgrew_is_refused_when_it_runs(queues: Database) -> None:
    with queues.write() as conn:
        task_id = new_task(conn, NOW).task_id
        drive(conn, task_id, T.RUNNING, NOW)
        task_commands.queue(conn, C.PAUSE, _request(task_id), NOW)
        task_commands.queue(conn, C.KILL, _request(task_id), NOW)
        task_commands.execute_pending(conn, NOW + timedelta(seconds=5), 1)  # the pause
        rows_after_pause = commands_db.pending(conn, 10)
        task_commands.queue(conn, C.RESUME, _request(task_id), NOW)  # queued while paused
        assert task_commands.execute_pending(conn, NOW, 10) == 2  # kill, then resume (refused)
        rows = commands_db.commands_of(conn, task_id)
    assert [r.command for r in rows_after_pause] == [C.KILL]
    assert [(r.command, r.outcome) for r in rows] == [
        (C.PAUSE, CommandOutcome.DONE),
        (C.KILL, CommandOutcome.DONE),
        (C.RESUME, CommandOutcome.REFUSED),
    ]
    assert rows[2].reason.startswith("resume is not allowed for a aborted task")


def test_a_broken_command_row_fails_without_blocking_the_queue(queues: Database) -> None:
    with queues.write() as conn:
        task_id = new_task(conn, NOW).task_id
        drive(conn, task_id, T.RUNNING, NOW)
        commands_db.insert_command(conn, task_id, C.PAUSE, "not json", "", NOW)
        task_commands.queue(conn, C.KILL, _request(task_id), NOW)
        assert task_commands.execute_pending(conn, NOW, 10) == 2
        rows = commands_db.commands_of(conn, task_id)
        status = _status(conn, task_id)
    assert [(r.command, r.outcome) for r in rows] == [
        (C.PAUSE, CommandOutcome.FAILED),
        (C.KILL, CommandOutcome.DONE),
    ]
    assert rows[0].reason.startswith("pause failed: ValidationError") and status is T.ABORTED
