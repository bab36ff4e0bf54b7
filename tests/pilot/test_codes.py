"""Code mapping: payload exit -> pilot error, signals -> pilot codes, why the pilot stopped -> exit status."""

from __future__ import annotations

import signal

import pytest

from pandawms.pilot.codes import (
    PilotOutcome,
    StopReason,
    exit_code,
    payload_error,
    signal_code,
)
from pandawms.pilot.payload import PayloadExit
from pandawms.protocol import errorcodes as ec


@pytest.mark.parametrize(
    ("returncode", "code", "trans"),
    [
        (0, None, 0),
        (3, 1305, 3),
        (-signal.SIGSEGV, 1328, 139),
        (-signal.SIGTERM, 1201, 143),
        (-signal.SIGKILL, 1200, 137),
        (-signal.SIGINT, 1208, 130),
    ],
)
def test_payload_exit_to_pilot_error(returncode: int, code: int | None, trans: int) -> None:
    result = PayloadExit(returncode, 0.0)
    error = payload_error(result)
    assert (error.code if error else None) == code
    assert result.trans_exit_code == trans


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGTERM, 1201), (signal.SIGQUIT, 1202), (signal.SIGINT, 1208), (signal.SIGUSR1, 1207)],
)
def test_signal_the_pilot_receives(signum: int, code: int) -> None:
    assert signal_code(signum) == code
    # and the pilot's exit for that signal is the one the factory reads back as the same code
    assert ec.pilot_code_for_exit(exit_code(PilotOutcome(StopReason.SIGNAL, 1, signum))) == code


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (PilotOutcome(StopReason.NO_MORE_JOBS, jobs_run=0), 82),
        (PilotOutcome(StopReason.NO_MORE_JOBS, jobs_run=3), 0),
        (PilotOutcome(StopReason.LIFETIME, jobs_run=2), 0),
        (PilotOutcome(StopReason.LIFETIME, jobs_run=0), 81),
        (PilotOutcome(StopReason.REACHED_MAX_TIME, jobs_run=1), 81),
        (PilotOutcome(StopReason.SIGNAL, jobs_run=1, signum=signal.SIGTERM), 143),
        (PilotOutcome(StopReason.SIGNAL, jobs_run=0, signum=signal.SIGINT), 130),
        (PilotOutcome(StopReason.SERVER_UNREACHABLE, jobs_run=5), 79),
        (PilotOutcome(StopReason.NO_MORE_JOBS, jobs_run=2, lost_final_updates=1), 79),
        (PilotOutcome(StopReason.QUEUE_OFFLINE), 83),
        (PilotOutcome(StopReason.QUEUE_NOT_ACTIVE), 78),
        (PilotOutcome(StopReason.QUEUE_UNKNOWN), 71),
        (PilotOutcome(StopReason.ERROR, jobs_run=1), 65),
    ],
)
def test_exit_code_contract(outcome: PilotOutcome, expected: int) -> None:
    assert exit_code(outcome) == expected
    assert ec.exit_meaning(expected)


def test_local_code_names_match_the_catalog() -> None:
    assert ec.describe("pilot", ec.PilotCode.UNRECOGNIZEDTRFARGUMENTS).acronym == "UNRECOGNIZEDTRFARGUMENTS"
