"""A walltime violation's message never reads like no violation ("ran 8 s > 8 s", issue 13)."""

from __future__ import annotations

from pandawms.pilot.limits import JobLimits, check_walltime


def test_walltime_message_rounds_up() -> None:
    got = check_walltime(JobLimits(walltime_s=8), job_started=100.0, now=108.04)
    assert got is not None and got.diag == "job exceeded its maxWalltime: ran 8.1 s > 8 s"
