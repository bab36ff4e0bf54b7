"""The pilot's shell exit-code contract (errors.md §4): how the factory classifies a dead pilot from its
exit status. Each exit is one row naming the pilot codes that end with it; the first one listed is the
code a factory records for that exit, so both directions of the map are derived from the rows.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Mapping
from enum import IntEnum, unique
from types import MappingProxyType
from typing import Self, TypeVar

from pandawms.protocol.errorcodes.pilot_codes import PilotCode

_P = PilotCode


class ExitStatus(IntEnum):
    """A shell exit status with its meaning and the pilot codes that end with it:
    ``NAME = status, "meaning", *pilot_codes``."""

    meaning: str
    pilot_codes: tuple[PilotCode, ...]

    def __new__(cls, status: int, *row: object) -> Self:
        if type(status) is not int or not row or not isinstance(row[0], str) or not row[0]:
            raise TypeError(f"{cls.__name__} {status!r}: a row is (status, meaning, *pilot codes): {row!r}")
        codes = tuple(c for c in row[1:] if isinstance(c, PilotCode))
        if len(codes) != len(row) - 1:
            raise TypeError(f"{cls.__name__} {status}: pilot codes must be PilotCode members: {row[1:]!r}")
        member = int.__new__(cls, status)
        member._value_ = status
        member.meaning, member.pilot_codes = row[0], codes
        return member


@unique
class PilotExit(ExitStatus):
    """Exit statuses of the pilot. Several codes share an exit (68: any proxy problem; 137: unknown signal
    and user kill); pilot codes not listed exit with GENERAL_ERROR. 74 has no pilot code in the reference."""

    OK = 0, "success"
    SITE_OFFLINE = 64, "site offline / CVMFS", _P.CVMFSISNOTALIVE
    GENERAL_ERROR = 65, "general error", _P.GENERALERROR
    MKDIR = 66, "mkdir", _P.MKDIR
    NO_SUCH_FILE = 67, "no such file", _P.NOSUCHFILE
    PROXY_INVALID = 68, "proxy invalid / expired", _P.NOPROXY, _P.NOVOMSPROXY, _P.CERTIFICATEHASEXPIRED
    NO_LOCAL_SPACE = 69, "no local space", _P.NOLOCALSPACE
    EXCEPTION = 70, "exception", _P.UNKNOWNEXCEPTION
    QUEUEDATA = 71, "queuedata", _P.QUEUEDATA
    BAD_QUEUEDATA = 72, "bad queuedata", _P.QUEUEDATANOTOK
    NO_SOFTWARE_DIR = 73, "no software dir", _P.NOSOFTWAREDIR
    JSON_TIMEOUT = 74, "JSON retrieval timeout"
    BLACK_HOLE = 75, "black hole", _P.BLACKHOLE
    MIDDLEWARE_IMPORT = 76, "middleware import", _P.MIDDLEWAREIMPORTFAILURE
    MISSING_INPUT = 77, "missing input", _P.MISSINGINPUTFILE
    QUEUE_NOT_ACTIVE = 78, "queue not active", _P.PANDAQUEUENOTACTIVE
    SERVER_COMMUNICATION = 79, "server communication", _P.COMMUNICATIONFAILURE
    PROXY_TOO_SHORT = 80, "proxy too short", _P.PROXYTOOSHORT
    REACHED_MAX_TIME = 81, "reached max time", _P.REACHEDMAXTIME
    NO_JOBS = 82, "no jobs in PanDA", _P.NOJOBSINPANDA
    QUEUE_OFFLINE = 83, "queue offline", _P.NOTONLINE
    # 128 + signal, with Linux's signal numbers (the contract's numbers, whatever the platform).
    SIGINT = 130, "killed by signal SIGINT", _P.SIGINT
    SIGQUIT = 131, "killed by signal SIGQUIT", _P.SIGQUIT
    SIGBUS = 135, "killed by signal SIGBUS", _P.SIGBUS
    SIGKILL = 137, "killed by signal SIGKILL", _P.KILLSIGNAL, _P.USERKILL
    SIGUSR1 = 138, "killed by signal SIGUSR1", _P.SIGUSR1
    SIGSEGV = 139, "killed by signal SIGSEGV", _P.SIGSEGV
    SIGTERM = 143, "killed by signal SIGTERM", _P.SIGTERM
    SIGXCPU = 152, "killed by signal SIGXCPU", _P.SIGXCPU


@unique
class WrapperExit(ExitStatus):
    """Exit statuses the pilot wrapper sets itself (it also uses 64, CVMFS, like the pilot)."""

    FAULT = 1, "wrapper fault"
    KILLED_STUCK_PILOT = 2, "wrapper killed a stuck pilot"


E = TypeVar("E", bound=ExitStatus)


def exits_by_code(statuses: Iterable[E]) -> Mapping[int, E]:
    """pilot code -> the exit listing it; ValueError if a code is listed under two exits."""
    out: dict[int, E] = {}
    for status in statuses:
        for code in status.pilot_codes:
            if code in out:
                raise ValueError(f"pilot code {code.name} is listed under exits {out[code]} and {status}")
            out[code] = status
    return MappingProxyType(out)


def codes_by_exit(statuses: Iterable[ExitStatus]) -> Mapping[int, PilotCode]:
    """exit -> the pilot code a factory records for it: the first one the exit lists."""
    return MappingProxyType({status: status.pilot_codes[0] for status in statuses if status.pilot_codes})


# pilot error code -> shell exit status, and back.
EXIT_FOR_PILOT_CODE: Mapping[int, PilotExit] = exits_by_code(PilotExit)
PILOT_CODE_FOR_EXIT: Mapping[int, PilotCode] = codes_by_exit(PilotExit)
_MEANINGS: Mapping[int, str] = MappingProxyType({s: s.meaning for s in (*PilotExit, *WrapperExit)})


def _signal_name(exit_code: int) -> str | None:
    """The signal name behind a 128+N exit status, or None if it is not one."""
    if exit_code <= 128:
        return None
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return None


def exit_meaning(code: int) -> str:
    """What a pilot (or wrapper) exit status means; 128+N is read as "killed by signal N"."""
    known = _MEANINGS.get(code)
    if known is not None:
        return known
    name = _signal_name(code)
    return f"killed by signal {name}" if name else f"unknown exit code {code}"


def pilot_code_for_exit(exit_code: int) -> PilotCode | None:
    """The pilot error code a factory records for a dead pilot's exit status; None when there is none."""
    code = PILOT_CODE_FOR_EXIT.get(exit_code)
    if code is None and _signal_name(exit_code) is not None:
        return PilotCode.KILLSIGNAL
    return code


def exit_code_for_pilot(pilot_code: int) -> PilotExit:
    """The shell exit status a pilot ends with after a fatal pilot error (OK for no error)."""
    if pilot_code == 0:
        return PilotExit.OK
    return EXIT_FOR_PILOT_CODE.get(pilot_code, PilotExit.GENERAL_ERROR)
