"""How the pilot turns what happened into codes: signals -> pilot error codes, the payload's exit status
-> a pilot error, and why the pilot stopped -> its shell exit status (errors.md §3.6 and §4). Pure tables.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from pandawms.pilot.payload import PayloadExit
from pandawms.pilot.state import PilotError
from pandawms.protocol import errorcodes as ec

# A signal the pilot itself receives (pilot.md §5): the job ends failed with this code.
SIGNAL_CODES: Mapping[int, int] = MappingProxyType(
    {
        signal.SIGTERM: ec.PilotCode.SIGTERM,
        signal.SIGQUIT: ec.PilotCode.SIGQUIT,
        signal.SIGSEGV: ec.PilotCode.SIGSEGV,
        signal.SIGXCPU: ec.PilotCode.SIGXCPU,
        signal.SIGBUS: ec.PilotCode.SIGBUS,
        signal.SIGUSR1: ec.PilotCode.SIGUSR1,
        signal.SIGINT: ec.PilotCode.SIGINT,
    }
)
# A payload killed by a signal nobody in the pilot sent: segfaults have their own payload code.
PAYLOAD_SIGNAL_CODES: Mapping[int, int] = MappingProxyType({signal.SIGSEGV: ec.PilotCode.PAYLOADSIGSEGV})


def signal_code(signum: int) -> int:
    """The pilot error code for a signal the pilot received (1200 KILLSIGNAL when it has no own code)."""
    return SIGNAL_CODES.get(signum, ec.PilotCode.KILLSIGNAL)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def payload_error(result: PayloadExit) -> PilotError | None:
    """None for exit 0; 1305 PAYLOADEXECUTIONFAILURE for a non-zero exit; the signal's code for a signal."""
    sig = result.signal
    if sig is not None:
        code = PAYLOAD_SIGNAL_CODES.get(sig) or signal_code(sig)
        return PilotError(code, f"payload killed by {_signal_name(sig)}")
    if result.returncode != 0:
        return PilotError(
            ec.PilotCode.PAYLOADEXECUTIONFAILURE, f"payload exited with code {result.returncode}"
        )
    return None


class StopReason(StrEnum):
    """Why the pilot's job loop ended."""

    NO_MORE_JOBS = "no_more_jobs"  # the server had nothing (more) for us
    LIFETIME = "lifetime"  # too little lifetime left to ask for another job
    REACHED_MAX_TIME = "reached_max_time"  # a job was killed because the pilot's lifetime ended
    SIGNAL = "signal"
    SERVER_UNREACHABLE = "server_unreachable"
    QUEUE_UNKNOWN = "queue_unknown"
    QUEUE_NOT_ACTIVE = "queue_not_active"
    QUEUE_OFFLINE = "queue_offline"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class PilotOutcome:
    reason: StopReason
    jobs_run: int = 0
    signum: int | None = None
    lost_final_updates: int = 0  # final updates parked on disk because the server never took them


_FIXED_EXITS: Mapping[StopReason, int] = MappingProxyType(
    {
        StopReason.REACHED_MAX_TIME: ec.PilotExit.REACHED_MAX_TIME,
        StopReason.SERVER_UNREACHABLE: ec.PilotExit.SERVER_COMMUNICATION,
        StopReason.QUEUE_UNKNOWN: ec.PilotExit.QUEUEDATA,
        StopReason.QUEUE_NOT_ACTIVE: ec.PilotExit.QUEUE_NOT_ACTIVE,
        StopReason.QUEUE_OFFLINE: ec.PilotExit.QUEUE_OFFLINE,
        StopReason.ERROR: ec.PilotExit.GENERAL_ERROR,
    }
)


def exit_code(outcome: PilotOutcome) -> int:
    """The pilot's shell exit status: 128+signal, the contract's code for the reason, or 0 when the pilot
    ran at least one job and every final update reached the server."""
    if outcome.reason is StopReason.SIGNAL and outcome.signum is not None:
        return 128 + outcome.signum
    if outcome.reason in _FIXED_EXITS:
        return _FIXED_EXITS[outcome.reason]
    if outcome.lost_final_updates:
        return ec.PilotExit.SERVER_COMMUNICATION
    if outcome.jobs_run == 0:
        return (
            ec.PilotExit.NO_JOBS
            if outcome.reason is StopReason.NO_MORE_JOBS
            else ec.PilotExit.REACHED_MAX_TIME
        )
    return ec.PilotExit.OK
