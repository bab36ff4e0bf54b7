"""A pilot process that receives SIGTERM / SIGINT while a payload runs: it kills the payload, reports the
signal's pilot code in the final update and exits with 128 + signal."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from pandawms.protocol import errorcodes as ec
from tests.pilot.conftest import Site

PILOT = (
    "import sys; from pathlib import Path; from pandawms.pilot import PilotConfig, run_pilot; "
    "sys.exit(run_pilot(PilotConfig(server_url=sys.argv[1], queue=sys.argv[2], workdir=Path(sys.argv[3]), "
    "heartbeat_interval=1.0, monitor_interval=0.2, kill_grace=1.0, max_empty_acquires=1, "
    "backoff_base=0.05, backoff_cap=0.2, backoff_budget=3.0)))"
)


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, ec.PilotCode.SIGTERM), (signal.SIGINT, ec.PilotCode.SIGINT)]
)
def test_signal_kills_the_payload_and_is_reported(
    site: Site, tmp_path: Path, signum: signal.Signals, code: int
) -> None:
    # given a pilot process running a long payload
    pid_file = tmp_path / "payload.pid"
    payload = f"import os, time; open('{pid_file}', 'w').write(str(os.getpid())); time.sleep(60)"
    pid = site.submit(jobParameters="-c " + shlex.quote(payload), maxAttempt=1)
    pilot = subprocess.Popen([sys.executable, "-c", PILOT, site.srv.url, site.name, str(site.workdir)])
    try:
        assert site.wait_for(pid, {"running"})["jobStatus"] == "running"
        deadline = time.monotonic() + 10
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        payload_pid = int(pid_file.read_text())
        # when the batch system signals the pilot
        pilot.send_signal(signum)
        # then the pilot exits with 128 + signal after reporting the job failed with the signal's code
        assert pilot.wait(20) == 128 + signum
    finally:
        if pilot.poll() is None:
            pilot.kill()
            pilot.wait()
    job = site.job(pid)
    assert job["jobStatus"] == "failed"
    assert site.pilot_errors(pid) == [code]
    assert not psutil.pid_exists(payload_pid)
