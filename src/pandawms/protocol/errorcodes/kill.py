"""Kill codes (errors.md §2.1): the `killJobs` code argument, the final state it leads to, and whether the
kill is forced (the server ends the job at once instead of asking the pilot to kill it)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

from pandawms.core.states import JobStatus


class KillCode(NamedTuple):
    meaning: str
    final_state: JobStatus  # closed (not a user failure) or cancelled
    force: bool = False


_CLOSED = JobStatus.CLOSED
_CANCELLED = JobStatus.CANCELLED

KILL_CODES: Mapping[int, KillCode] = MappingProxyType(
    {
        2: KillCode("expire", _CLOSED),
        3: KillCode("aborted", _CANCELLED),
        4: KillCode("expire in waiting", _CLOSED),
        7: KillCode("server retry", _CANCELLED),
        8: KillCode("rebrokerage", _CANCELLED),
        9: KillCode("force kill", _CANCELLED, force=True),
        10: KillCode("fast rebrokerage", _CLOSED),
        50: KillCode("kill by JEDI", _CANCELLED),
        51: KillCode("reassigned by JEDI", _CLOSED),
        52: KillCode("force kill by JEDI", _CANCELLED, force=True),
        55: KillCode("task (almost) done", _CLOSED),
        60: KillCode("terminated by pilot without work", _CLOSED),
        91: KillCode("kill user jobs with production role", _CANCELLED),
        99: KillCode("force-kill user jobs with production role", _CANCELLED, force=True),
    }
)

KILL_FORCE_CODES: frozenset[int] = frozenset(code for code, kill in KILL_CODES.items() if kill.force)


def kill_final_state(code: int) -> JobStatus:
    """The state (closed or cancelled) a kill with this code leads to; ValueError lists the valid codes."""
    entry = KILL_CODES.get(code)
    if entry is None:
        valid = ", ".join(str(c) for c in sorted(KILL_CODES))
        raise ValueError(f"unknown kill code {code}; valid codes: {valid}")
    return entry.final_state
