"""``panda bench jedi --run``: a small task run to done by simulated pilots against a real server process
(so the end-to-end mode cannot rot), and its accounting refusing a task with a file missing."""

from __future__ import annotations

import pytest

from pandawms.bench.jedi_run import _check, bench_jedi_run
from pandawms.bench.servers import database_for


def test_fifty_files_run_to_done_with_every_file_accounted_for() -> None:
    with database_for("sqlite", None) as (url, workdir):
        result = bench_jedi_run("sqlite", url, 50, workdir, pilots=2, timeout=300)
    assert (result.files, result.jobs, result.files_finished) == (50, 50, 50)
    assert result.outputs_registered == result.logs_registered == 50
    assert result.wall_s > 0 and result.jobs_per_s > 0


def _details(finished: int, failed: int, jobs: dict[str, int]) -> dict[str, object]:
    master = {"type": "input", "nFilesFinished": finished, "nFilesFailed": failed}
    return {"datasets": [master, {"type": "output"}], "jobStatusCounts": jobs}


@pytest.mark.parametrize(
    ("details", "outputs", "logs", "problem"),
    [
        (_details(49, 1, {"finished": 49, "failed": 1}), 49, 49, "49 finished, 1 failed"),
        (_details(50, 0, {"finished": 50}), 49, 50, "49 outputs and 50 logs registered for 50 jobs"),
        (_details(50, 0, {"finished": 49, "closed": 1}), 49, 49, "jobs not all finished"),
    ],
)
def test_a_file_not_accounted_for_is_an_error(
    details: dict[str, object], outputs: int, logs: int, problem: str
) -> None:
    with pytest.raises(RuntimeError, match=problem):
        _check(details, 50, outputs, logs)
    _check(_details(50, 0, {"finished": 50}), 50, 50, 50)  # and the complete task passes
