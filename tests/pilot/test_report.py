"""Update requests built from a job's state, and final updates parked on disk until acknowledged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pandawms.pilot.report import (
    JOB_REPORT,
    Identity,
    PendingUpdates,
    Usage,
    final_update,
    format_time,
    job_report,
    progress_update,
    report_events,
)
from pandawms.pilot.state import JobState
from pandawms.protocol.pilot import MAX_REPORT_TEXT, OutputFileReport, PilotJob, UpdateRequest

WHO = Identity("Q", "node1", "pilot-1")
T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


def _job() -> PilotJob:
    return PilotJob.model_validate(
        {
            "PandaID": 9,
            "attemptNr": 2,
            "jobName": "j",
            "taskID": None,
            "jobsetID": None,
            "prodSourceLabel": "user",
            "prodUserID": "",
            "currentPriority": 1,
            "computingSite": "Q",
            "transformation": "python3",
            "jobPars": "",
            "coreCount": 2,
            "minRamCount": 0,
            "maxDiskCount": 0,
            "maxWalltime": 60,
            "inFiles": "",
            "outFiles": "",
            "logFile": "",
            "files": [],
        }
    )


def test_format_time_is_utc_panda_format() -> None:
    assert format_time(T0) == "2026-01-01 00:00:00"


def test_progress_update_carries_identity_and_usage() -> None:
    usage = Usage(max_rss_kb=2048, max_pss_kb=1024, cpu_time_s=1.6, max_processes=3, workdir_mb=5)
    req = progress_update(_job(), "running", WHO, T0, usage)
    assert (req.job_id, req.job_status, req.attempt_nr, req.node, req.pilot_id) == (
        9,
        "running",
        2,
        "node1",
        "pilot-1",
    )
    assert (req.max_rss, req.max_pss, req.cpu_consumption_time, req.core_count) == (2048, 1024, 2, 2)
    assert req.job_metrics == "actualCoreCount=2 workDirSize=5 maxNProcesses=3"
    assert req.start_time == "2026-01-01 00:00:00"


def test_final_update_of_a_failed_job() -> None:
    state = JobState(9)
    state.record_error(1235, "payload exceeded the memory limit")
    state.record_error(1165, "expected output x was not produced")
    state.trans_exit_code = 143
    req = final_update(_job(), state, WHO, (T0, T0 + 65), Usage(), {})
    assert (req.job_status, req.pilot_error_code, req.trans_exit_code) == ("failed", 1235, 143)
    assert req.pilot_error_diag == "payload exceeded the memory limit"
    assert req.end_time == "2026-01-01 00:01:05"
    assert req.pilot_log is not None and "1165" in req.pilot_log
    assert req.job_output_report is None


def test_final_update_of_a_finished_job() -> None:
    outputs = {
        "o": OutputFileReport(guid="g", fsize=5, adler32="062c0215", surl="file:///s/o", endpoint="SE")
    }
    state = JobState(9)
    state.trans_exit_code = 0
    req = final_update(_job(), state, WHO, (T0, T0 + 1), None, outputs)
    assert (req.job_status, req.pilot_error_code, req.pilot_error_diag) == ("finished", 0, None)
    assert req.job_output_report == outputs


def test_pending_updates_roundtrip(tmp_path: Path) -> None:
    pending = PendingUpdates(tmp_path / "pending")
    req = UpdateRequest(job_id=3, job_status="finished", attempt_nr=1, pilot_error_code=0)
    path = pending.save(req)
    assert path.exists() and pending.load_all() == [req]
    pending.remove(req)
    assert pending.load_all() == []
    pending.save(req)
    pending.reject(req)
    assert pending.load_all() == [] and (tmp_path / "pending" / "rejected-final-3-1.json").exists()


def test_the_payloads_job_report_goes_with_the_final_update(tmp_path: Path) -> None:
    assert job_report(tmp_path) is None  # the payload wrote none
    (tmp_path / JOB_REPORT).write_text('{"exitCode": 0, "resource": {"executor": {"nevents": 10}}}')
    report = job_report(tmp_path)
    state = JobState(9)
    state.trans_exit_code = 0
    req = final_update(_job(), state, WHO, (T0, T0 + 1), None, {}, report)
    assert req.meta_data == {"exitCode": 0, "resource": {"executor": {"nevents": 10}}}
    assert req.n_events == 10  # what the scouts divide by
    assert PendingUpdates(tmp_path / "p").load_all() == []
    PendingUpdates(tmp_path / "p").save(req)
    assert PendingUpdates(tmp_path / "p").load_all()[0].meta_data == req.meta_data


def test_an_unreadable_or_oversized_job_report_is_left_out(tmp_path: Path) -> None:
    (tmp_path / JOB_REPORT).write_text("{not json")
    assert job_report(tmp_path) is None
    (tmp_path / JOB_REPORT).write_text('"x' + "y" * MAX_REPORT_TEXT + '"')
    assert job_report(tmp_path) is None


@pytest.mark.parametrize(
    ("report", "events"),
    [
        (None, None),
        ({"exitCode": 0}, None),
        ({"nevents": 200}, 200),
        ({"nevents": True}, None),
        ({"nevents": "12"}, None),
        ({"resource": {"executor": {"nevents": 7}}}, 7),
        ({"resource": {"executor": {"EVNTtoHITS": {"nevents": 50}, "HITStoRDO": {"nevents": 40}}}}, 50),
        ({"resource": {"executor": "x"}}, None),
        ({"resource": []}, None),
    ],
)
def test_the_events_come_from_the_job_report(report: dict[str, Any] | None, events: int | None) -> None:
    assert report_events(report) == events
