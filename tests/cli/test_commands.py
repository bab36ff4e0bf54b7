"""`panda` user commands against a real server over HTTP (jobs moved through states by a fake pilot)."""

from __future__ import annotations

import io
import json
import socket
import tarfile
from pathlib import Path

import click
import pytest

from pandawms.protocol import errorcodes
from tests.cli.conftest import Panda


def _ids(stdout: str) -> list[int]:
    return [j["PandaID"] for j in json.loads(stdout)]


def _submit(panda: Panda, *args: str) -> list[int]:
    result = panda("submit", *args, "--json")
    assert result.exit_code == 0, result.output
    return _ids(result.stdout)


def _describe(panda: Panda, job_id: int) -> dict[str, object]:
    result = panda("job", str(job_id), "--json")
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


# --- submit ------------------------------------------------------------------------------------------


def test_submit_exec_prints_each_new_pandaid_and_its_queue(panda: Panda) -> None:
    result = panda(
        "submit", "--exec", "python ana.py --n 5", "--njobs", "2", "--memory", "1000", "--cores", "2",
        "--walltime", "600", "--name", "demo", "--user", "alice", "--max-attempts", "2",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "2 job(s) submitted" in result.stdout
    assert result.stdout.count("TEST_QUEUE") == 2
    listed = json.loads(panda("jobs", "--user", "alice", "--json").stdout)["jobs"]
    assert sorted(j["jobName"] for j in listed) == ["demo.1", "demo.2"]
    job = listed[0]
    assert (job["transformation"], job["jobParameters"]) == ("python", "ana.py --n 5")
    assert (job["minRamCount"], job["coreCount"], job["maxWalltime"], job["maxAttempt"]) == (1000, 2, 600, 2)
    assert job["prodUserName"] == "alice" and job["jobStatus"] == "activated"


def test_submit_exec_with_shell_syntax_and_site_lists_as_json(panda: Panda) -> None:
    result = panda(
        "submit", "--exec", "echo hi | wc -c", "--site", "TEST_QUEUE", "--exclude-site", "OTHER", "--json"
    )

    assert result.exit_code == 0, result.output
    (submitted,) = json.loads(result.stdout)
    assert submitted["computingSite"] == "TEST_QUEUE"
    job = _describe(panda, submitted["PandaID"])["job"]
    assert isinstance(job, dict)
    assert job["transformation"] == "/bin/sh"
    assert job["jobParameters"] == "-c 'echo hi | wc -c'"


def test_submit_yaml_file_with_a_jobs_list(panda: Panda, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "jobs:\n"
        "  - transformation: /bin/echo\n    jobParameters: one\n"
        "    minRamCount: 500\n    prodUserName: yuki\n"
        "  - transformation: /bin/echo\n    jobParameters: two\n    coreCount: 4\n"
    )

    ids = _submit(panda, str(path))

    assert len(ids) == 2
    first, second = (_describe(panda, i)["job"] for i in ids)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert (first["jobParameters"], first["minRamCount"], first["prodUserName"]) == ("one", 500, "yuki")
    assert (second["jobParameters"], second["coreCount"]) == ("two", 4)
    assert second["prodUserName"]  # defaults to the login name


def test_submit_json_file_single_job_with_option_override(panda: Panda, tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"transformation": "/bin/true", "coreCount": 1, "jobName": "j"}))

    result = panda("submit", str(path), "--cores", "3")

    assert result.exit_code == 0, result.output
    assert "TEST_QUEUE" in result.stdout
    listed = json.loads(panda("jobs", "--json").stdout)["jobs"]
    assert [(j["jobName"], j["coreCount"]) for j in listed] == [("j", 3)]


def test_bad_job_file_exits_2_naming_the_field(panda: Panda, tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text("- transformation: /bin/true\n- transformation: /bin/true\n  minRamCount: lots\n")

    result = panda("submit", str(path))

    assert result.exit_code == 2
    assert "jobs.yaml: job #2: minRamCount: Input should be a valid integer" in result.stderr
    assert "Traceback" not in result.output
    assert json.loads(panda("jobs", "--json").stdout)["jobs"] == []  # nothing half-submitted


def test_unknown_field_and_server_side_refusal_exit_2(panda: Panda, tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"transformation": "/bin/true", "ramCount": 10}))
    unknown = panda("submit", str(path))
    # The server refuses this one (a queue both included and excluded): its 4xx message is shown.
    refused = panda("submit", "--exec", "true", "--site", "TEST_QUEUE", "--exclude-site", "TEST_QUEUE")
    bad_site = panda("submit", "-", input='{"transformation": "/bin/true", "computingSite": "NOPE"}')

    assert unknown.exit_code == 2 and "job #1: ramCount: Extra inputs are not permitted" in unknown.stderr
    assert refused.exit_code == 2 and "both included and excluded: TEST_QUEUE" in refused.stderr
    assert bad_site.exit_code == 2 and "computingSite: unknown queue 'NOPE'" in bad_site.stderr


def test_submit_usage_errors(panda: Panda, tmp_path: Path) -> None:
    neither = panda("submit")
    missing = panda("submit", str(tmp_path / "nope.yaml"))
    njobs_with_file = panda("submit", str(tmp_path / "nope.yaml"), "--njobs", "3")

    assert neither.exit_code == 2 and "give either a job file or --exec" in neither.stderr
    assert missing.exit_code == 2 and "cannot read job file" in missing.stderr
    assert njobs_with_file.exit_code == 2 and "--njobs works with --exec only" in njobs_with_file.stderr


def test_job_that_fits_no_queue_is_reported_and_exits_1(panda: Panda) -> None:
    result = panda("submit", "--exec", "true", "--memory", "100000")

    assert result.exit_code == 1
    assert "failed" in result.stdout and "exceeds queue limit" in result.stdout
    assert "1 job(s) could not be placed" in result.stderr


def test_dry_run_prints_the_resolved_jobs_and_submits_nothing(panda: Panda) -> None:
    result = panda("submit", "--exec", "true", "--njobs", "2", "--user", "kim", "--dry-run")

    assert result.exit_code == 0, result.output
    jobs = json.loads(result.stdout)["jobs"]
    assert [(j["transformation"], j["prodUserName"]) for j in jobs] == [("true", "kim")] * 2
    assert json.loads(panda("jobs", "--json").stdout)["jobs"] == []


# --- jobs / job --------------------------------------------------------------------------------------


def test_jobs_table_json_and_filters(panda: Panda) -> None:
    a1, a2 = _submit(panda, "--exec", "true", "--njobs", "2", "--user", "alice", "--max-attempts", "1")
    (b1,) = _submit(panda, "--exec", "true", "--user", "bob")
    panda.dispatch()
    panda.fail(a1)

    table = panda("jobs", "--user", "alice")
    failed = panda("jobs", "--status", "failed", "--json")
    both = panda("jobs", "--user", "alice,bob", "--status", "activated|sent", "--json")
    paged = panda("jobs", "--limit", "1")

    assert table.exit_code == 0, table.output
    assert str(a1) in table.stdout and str(a2) in table.stdout and "bob" not in table.stdout
    assert "pilot:1305 PAYLOADEXECUTIONFAILURE" in table.stdout
    assert [j["PandaID"] for j in json.loads(failed.stdout)["jobs"]] == [a1]
    assert sorted(j["PandaID"] for j in json.loads(both.stdout)["jobs"]) == [a2, b1]
    assert f"more jobs: add --before-id {b1}" in paged.stderr


def test_jobs_bad_status_exits_2_with_the_server_message(panda: Panda) -> None:
    result = panda("jobs", "--status", "nonsense")

    assert result.exit_code == 2
    assert "status: unknown job status 'nonsense'" in result.stderr


def test_job_details_show_errors_resources_history_brokerage_and_retries(panda: Panda) -> None:
    (pid,) = _submit(panda, "--exec", "true", "--memory", "1500", "--max-attempts", "2")
    panda.dispatch()
    panda.report(pid, "running", max_pss=307200)
    panda.report(pid, "failed", pilot_error_code=1305, pilot_error_diag="exit code 3")

    result = panda("job", str(pid))
    data = _describe(panda, pid)

    assert result.exit_code == 0, result.output
    out = result.stdout
    info = errorcodes.describe("pilot", 1305)
    assert "pilot:1305 PAYLOADEXECUTIONFAILURE" in out and info.description in out and "exit code 3" in out
    assert errorcodes.category_info(info.category).name in out
    assert "1500 MB" in out and "max PSS 300 MB" in out
    assert "Status history" in out and "running" in out and "holding" in out
    assert "Brokerage" in out and "chosen" in out
    retries = data["retries"]
    assert isinstance(retries, list) and len(retries) == 1
    assert f"retries: {retries[0]}" in out
    child = _describe(panda, retries[0])["job"]
    assert isinstance(child, dict) and child["parentID"] == pid and child["attemptNr"] == 2
    assert f"parent: {pid}" in panda("job", str(retries[0])).stdout


def test_job_text_that_looks_like_markup_is_printed_verbatim(panda: Panda) -> None:
    (pid,) = _submit(panda, "--exec", "echo '[/x] [bold]y'", "--name", "[red]n")

    detail = panda("job", str(pid))
    listing = panda("jobs")

    assert detail.exit_code == 0, detail.output
    assert "[/x] [bold]y" in detail.stdout
    assert "[red]n" in listing.stdout


def test_unknown_job_exits_2(panda: Panda) -> None:
    result = panda("job", "999")

    assert result.exit_code == 2
    assert result.stderr.strip() == "panda job: job 999 not found"


# --- kill / retry ------------------------------------------------------------------------------------


def test_kill_reports_per_job_outcomes(panda: Panda) -> None:
    (running,) = _submit(panda, "--exec", "true")
    panda.dispatch()
    panda.report(running, "running")
    (waiting,) = _submit(panda, "--exec", "true")

    table = panda("kill", str(waiting), "--reason", "not needed")
    as_json = panda("kill", str(running), "--code", "9", "--json")

    assert table.exit_code == 0, table.output
    assert "done" in table.stdout and "cancelled" in table.stdout
    assert as_json.exit_code == 0, as_json.output
    (outcome,) = json.loads(as_json.stdout)
    assert (outcome["PandaID"], outcome["outcome"], outcome["jobStatus"]) == (running, "done", "cancelled")
    job = _describe(panda, waiting)["job"]
    assert isinstance(job, dict) and "not needed" in json.dumps(job["errors"])


def test_kill_of_running_job_is_requested_and_unknown_ids_exit_1(panda: Panda) -> None:
    (pid,) = _submit(panda, "--exec", "true")
    panda.dispatch()
    panda.report(pid, "running")

    result = panda("kill", str(pid), "424242", "--json")

    assert result.exit_code == 1
    outcomes = {r["PandaID"]: r["outcome"] for r in json.loads(result.stdout)}
    assert outcomes == {pid: "requested", 424242: "notfound"}
    assert "1 of 2 job(s) refused: 424242" in result.stderr


def test_bad_kill_code_exits_2(panda: Panda) -> None:
    (pid,) = _submit(panda, "--exec", "true")

    result = panda("kill", str(pid), "--code", "12345")

    assert result.exit_code == 2
    assert "code: unknown kill code 12345" in result.stderr


def test_retry_creates_a_new_attempt_then_is_a_noop(panda: Panda) -> None:
    (pid,) = _submit(panda, "--exec", "true", "--max-attempts", "1")
    panda.dispatch()
    panda.fail(pid)

    first = panda("retry", str(pid), "--json")
    again = panda("retry", str(pid))

    assert first.exit_code == 0, first.output
    (outcome,) = json.loads(first.stdout)
    assert outcome["outcome"] == "done" and outcome["newPandaID"]
    assert again.exit_code == 0, again.output
    assert "noop" in again.stdout and f"already retried as {outcome['newPandaID']}" in again.stdout


def test_retry_of_an_active_job_is_refused_with_exit_1(panda: Panda) -> None:
    (pid,) = _submit(panda, "--exec", "true")

    result = panda("retry", str(pid))

    assert result.exit_code == 1
    assert "rejected" in result.stdout and "only failed, cancelled or closed jobs" in result.stdout


# --- watch -------------------------------------------------------------------------------------------


def test_watch_once_prints_counts_and_jobs_and_follows_retries(panda: Panda) -> None:
    first, second = _submit(panda, "--exec", "true", "--njobs", "2", "--user", "wen", "--max-attempts", "2")
    panda.dispatch()
    panda.report(second, "running")
    panda.fail(first)  # retried automatically as a new job

    by_id = panda("watch", str(first), str(second), "--once")
    by_filter = panda("watch", "--user", "wen", "--once", "--json")

    assert by_id.exit_code == 0, by_id.output
    assert "activated 1" in by_id.stdout and "running 1" in by_id.stdout
    assert f"(from {first})" in by_id.stdout
    frame = json.loads(by_filter.stdout)
    assert frame["final"] is False
    assert frame["counts"] == {"activated": 1, "running": 1}  # the failed first attempt is superseded
    assert {j["PandaID"] for j in frame["jobs"]} == {second, first + 2}


def test_watch_exits_0_when_all_finished_and_1_when_one_failed(panda: Panda) -> None:
    good, bad = _submit(panda, "--exec", "true", "--njobs", "2", "--max-attempts", "1")
    panda.dispatch()
    panda.report(good, "running")
    panda.report(good, "finished")
    panda.fail(bad)

    finished = panda("watch", str(good), "--interval", "0.1")
    mixed = panda("watch", str(good), str(bad), "--interval", "0.1", "--json")

    assert finished.exit_code == 0, finished.output
    assert "finished 1" in finished.stdout
    assert mixed.exit_code == 1
    assert json.loads(mixed.stdout)["counts"] == {"finished": 1, "failed": 1}


@pytest.mark.parametrize("terminal", ["0", "1"])
def test_watch_refreshes_until_every_job_is_final(
    panda: Panda, monkeypatch: pytest.MonkeyPatch, terminal: str
) -> None:
    (pid,) = _submit(panda, "--exec", "true", "--max-attempts", "1")
    panda.dispatch()
    steps = iter(["running", "finished"])
    waits: list[float] = []

    def pilot_moves_on(seconds: float) -> None:  # the pilot acts while the watch sleeps
        waits.append(seconds)
        panda.report(pid, next(steps))

    monkeypatch.setattr("pandawms.cli.follow._sleep", pilot_moves_on)

    result = panda("watch", str(pid), "--interval", "2", env={"TTY_COMPATIBLE": terminal})

    assert result.exit_code == 0, result.output
    assert waits == [2.0, 2.0]
    if terminal == "0":  # a log: one line per change of the counts, then the final table
        lines = [line.split(" ", 1)[1] for line in result.stdout.splitlines()[:3]]
        assert lines == ["sent 1", "running 1", "finished 1"]
    assert "finished 1" in click.unstyle(result.stdout)


def test_watch_needs_ids_or_a_filter_and_known_ids(panda: Panda) -> None:
    nothing = panda("watch")
    unknown = panda("watch", "777", "--once")

    assert nothing.exit_code == 2 and "give job IDs or a filter" in nothing.stderr
    assert unknown.exit_code == 2 and "job(s) not found: 777" in unknown.stderr


# --- logs --------------------------------------------------------------------------------------------


def _tarball(pid: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in (
            ("pilotlog.txt", b"pilot log\n"),
            ("payload.stdout", b"hello\n"),
            ("payload.stderr", b"warn\n"),
        ):
            info = tarfile.TarInfo(f"tarball_PandaJob_{pid}_TEST_QUEUE/{name}")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    return buf.getvalue()


def test_logs_of_a_job_without_a_log_exit_1_and_of_no_job_exit_2(panda: Panda) -> None:
    (pid,) = _submit(panda, "--exec", "true")

    no_log = panda("logs", str(pid))
    no_job = panda("logs", "999")

    assert no_log.exit_code == 1
    assert f"no log for job {pid} (activated): job {pid} has no log uploaded" in no_log.stderr
    assert no_job.exit_code == 2 and "job 999 not found" in no_job.stderr


def test_logs_print_payload_output_then_pilot_log_or_extract(panda: Panda, tmp_path: Path) -> None:
    (pid,) = _submit(panda, "--exec", "true")
    panda.upload_log(pid, _tarball(pid))

    printed = panda("logs", str(pid))
    extracted = panda("logs", str(pid), "--out", str(tmp_path / "out"))

    assert printed.exit_code == 0, printed.output
    out = printed.stdout
    assert (
        out.index("payload.stdout <==\nhello")
        < out.index("payload.stderr <==\nwarn")
        < out.index("pilot log")
    )
    assert extracted.exit_code == 0, extracted.output
    assert (
        tmp_path / "out" / f"tarball_PandaJob_{pid}_TEST_QUEUE" / "payload.stdout"
    ).read_text() == "hello\n"


# --- queues ------------------------------------------------------------------------------------------


def test_queues_and_queue_status(panda: Panda) -> None:
    _submit(panda, "--exec", "true", "--njobs", "3")

    table = panda("queues")
    offline = panda("queue-status", "TEST_QUEUE", "offline", "--json")
    listed = panda("queues", "--json")
    unknown = panda("queue-status", "NOPE", "online")
    bad_status = panda("queue-status", "TEST_QUEUE", "sleepy")

    assert table.exit_code == 0, table.output
    assert "TEST_QUEUE" in table.stdout and "online" in table.stdout and "activated 3" in table.stdout
    assert json.loads(offline.stdout)["status"] == "offline"
    (queue,) = json.loads(listed.stdout)
    assert (queue["name"], queue["status"], queue["cores"], queue["jobs"]["activated"]) == (
        "TEST_QUEUE", "offline", 4, 3,
    )  # fmt: skip
    assert unknown.exit_code == 2 and "NOPE" in unknown.stderr
    assert bad_status.exit_code == 2


# --- server resolution and reachability --------------------------------------------------------------


def test_panda_url_from_the_environment(panda: Panda) -> None:
    result = panda("queues", "--json", env={"PANDA_URL": panda.srv.url})

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["name"] == "TEST_QUEUE"


def test_server_down_exits_3_with_a_clear_message(panda: Panda) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connections are refused

        result = panda("jobs", env={"PANDA_URL": f"http://127.0.0.1:{port}"})

    assert result.exit_code == 3
    assert f"panda jobs: cannot reach the server at http://127.0.0.1:{port}/api/v1" in result.stderr
    assert "Traceback" not in result.output


def test_malformed_server_url_exits_2(panda: Panda) -> None:
    result = panda("jobs", env={"PANDA_URL": "panda.example.org"})

    assert result.exit_code == 2
    assert "PANDA_URL: 'panda.example.org' is not an http(s):// URL" in result.stderr
